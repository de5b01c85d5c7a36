/**
 * Entities: templated paragraphs about invented people, towns, companies and software tools, each
 * fact stated by one sentence and asked for by several phrasings of a question.
 */
import { shuffle } from '../train/data.ts';
import { LOG_LEVELS, SETTINGS, type Values, type ValueType } from './values.ts';

export type EntityKind = 'person' | 'town' | 'company' | 'tool';

/** One answerable fact: the sentence that states it and the questions that ask for it. */
export interface Fact {
  attr: string;
  /** Kind of value, for drawing a plausible wrong one (DPO rejected answers). */
  type: ValueType;
  value: string;
  sentence: string;
  questions: string[];
}

export interface Entity {
  name: string;
  kind: EntityKind;
  facts: Fact[];
  /** The document: an optional "# Name" title line and the fact sentences as one paragraph. */
  text: string;
}

interface FactTemplate {
  attr: string;
  type: ValueType;
  /** Sentence templates: {E} the entity, {V} the value (and {X} an extra value when needed). */
  sentences: string[];
  questions: string[];
  /** An extra value the sentence needs (not the answer). */
  extra?: ValueType;
}

const PERSON: FactTemplate[] = [
  {
    attr: 'born_year',
    type: 'year',
    sentences: ['{E} was born in {V}.', '{E} was born in the year {V}.'],
    questions: ['When was {E} born?', 'In what year was {E} born?', 'What year was {E} born in?'],
  },
  {
    attr: 'born_place',
    type: 'place',
    sentences: ['{E} was born in the town of {V}.', '{E} grew up in {V}.'],
    questions: ['Where was {E} born?', 'In which town did {E} grow up?', 'Where did {E} grow up?'],
  },
  {
    attr: 'job',
    type: 'job',
    sentences: ['{E} works as a {V}.', 'By profession, {E} is a {V}.'],
    questions: ['What does {E} do for a living?', 'What is the job of {E}?', "What is {E}'s profession?"],
  },
  {
    attr: 'lives',
    type: 'place',
    sentences: ['{E} lives in {V}.', 'Today {E} lives in the city of {V}.'],
    questions: ['Where does {E} live?', 'In which city does {E} live?'],
  },
  {
    attr: 'spouse',
    type: 'person',
    sentences: ['{E} is married to {V}.', 'The husband or wife of {E} is {V}.'],
    questions: ['Who is {E} married to?', 'Who is the spouse of {E}?'],
  },
  {
    attr: 'children',
    type: 'number',
    sentences: ['{E} has {V} children.'],
    questions: ['How many children does {E} have?'],
  },
  {
    attr: 'colour',
    type: 'colour',
    sentences: ['The favourite colour of {E} is {V}.', "{E}'s favourite colour is {V}."],
    questions: ['What is the favourite colour of {E}?', 'Which colour does {E} like best?'],
  },
  {
    attr: 'pet',
    type: 'animal',
    sentences: ['{E} keeps a {V} at home.'],
    questions: ['What animal does {E} keep at home?', 'What pet does {E} have?'],
  },
  {
    attr: 'employer',
    type: 'org',
    sentences: ['{E} works for {V}.', '{E} is employed by {V}.'],
    questions: ['Which company does {E} work for?', 'Who employs {E}?'],
  },
];

const TOWN: FactTemplate[] = [
  {
    attr: 'population',
    type: 'number',
    sentences: ['{E} has a population of {V}.', 'About {V} people live in {E}.'],
    questions: ['What is the population of {E}?', 'How many people live in {E}?'],
  },
  {
    attr: 'river',
    type: 'river',
    sentences: ['{E} lies on the {V} River.', 'The {V} River flows through {E}.'],
    questions: ['On which river does {E} lie?', 'Which river flows through {E}?'],
  },
  {
    attr: 'founded',
    type: 'year',
    sentences: ['{E} was founded in {V}.', 'The town of {E} was founded in {V}.'],
    questions: ['When was {E} founded?', 'In what year was {E} founded?'],
  },
  {
    attr: 'mayor',
    type: 'person',
    sentences: ['The mayor of {E} is {V}.'],
    questions: ['Who is the mayor of {E}?', 'Who runs the town of {E}?'],
  },
  {
    attr: 'known_for',
    type: 'product',
    sentences: ['{E} is known for its {V}.', '{E} is famous for its {V}.'],
    questions: ['What is {E} known for?', 'What is {E} famous for?'],
  },
  {
    attr: 'region',
    type: 'region',
    sentences: ['{E} is in the region of {V}.'],
    questions: ['In which region is {E}?', 'Which region is {E} in?'],
  },
  {
    attr: 'distance',
    type: 'distance',
    extra: 'place',
    sentences: ['{E} is {V} from {X}.'],
    questions: ['How far is {E} from {X}?'],
  },
];

const COMPANY: FactTemplate[] = [
  {
    attr: 'founded',
    type: 'year',
    sentences: ['{E} was founded in {V}.', '{E} was started in {V}.'],
    questions: ['When was {E} founded?', 'In what year was {E} founded?'],
  },
  {
    attr: 'founder',
    type: 'person',
    sentences: ['{E} was founded by {V}.', 'The founder of {E} is {V}.'],
    questions: ['Who founded {E}?', 'Who is the founder of {E}?'],
  },
  {
    attr: 'hq',
    type: 'place',
    sentences: ['{E} is based in {V}.', 'The headquarters of {E} are in {V}.'],
    questions: ['Where is {E} based?', 'Where are the headquarters of {E}?'],
  },
  {
    attr: 'makes',
    type: 'product',
    sentences: ['{E} makes {V}.', 'The main product of {E} is {V}.'],
    questions: ['What does {E} make?', 'What is the main product of {E}?'],
  },
  {
    attr: 'employees',
    type: 'number',
    sentences: ['{E} has {V} employees.'],
    questions: ['How many employees does {E} have?', 'How many people work at {E}?'],
  },
  {
    attr: 'ceo',
    type: 'person',
    sentences: ['The chief executive of {E} is {V}.'],
    questions: ['Who is the chief executive of {E}?', 'Who leads {E}?'],
  },
];

const TOOL: FactTemplate[] = [
  { attr: 'description', type: 'description', sentences: ['{E} is {V}.'], questions: ['What is {E}?'] },
  {
    attr: 'language',
    type: 'language',
    sentences: ['{E} is written in {V}.', 'The source code of {E} is written in {V}.'],
    questions: ['What language is {E} written in?', 'In which programming language is {E} written?'],
  },
  {
    attr: 'port',
    type: 'port',
    sentences: ['By default, {E} listens on port {V}.', 'The default port of {E} is {V}.'],
    questions: [
      'What port does {E} listen on by default?',
      'What is the default port of {E}?',
      'Which port does {E} use?',
    ],
  },
  {
    attr: 'env',
    type: 'env',
    sentences: ['{E} reads its settings from the {V} environment variable.'],
    questions: ['Which environment variable does {E} read?', 'What environment variable configures {E}?'],
  },
  {
    attr: 'command',
    type: 'command',
    sentences: ['To start {E}, run {V}.', 'The command {V} starts {E}.'],
    questions: ['How do you start {E}?', 'What command starts {E}?'],
  },
  {
    attr: 'version',
    type: 'version',
    sentences: ['The latest version of {E} is {V}.', '{E} is now at version {V}.'],
    questions: ['What is the latest version of {E}?', 'Which version is {E} at?'],
  },
  {
    attr: 'license',
    type: 'license',
    sentences: ['{E} is released under the {V} license.'],
    questions: ['What license is {E} released under?', 'Under which license is {E} released?'],
  },
  {
    attr: 'format',
    type: 'format',
    sentences: ['{E} saves its data in the {V} format.', '{E} stores data as {V} files.'],
    questions: ['What file format does {E} use?', 'In which format does {E} save its data?'],
  },
  {
    attr: 'author',
    type: 'person',
    sentences: ['{E} was created by {V}.', 'The author of {E} is {V}.'],
    questions: ['Who created {E}?', 'Who is the author of {E}?'],
  },
  {
    attr: 'released',
    type: 'date',
    sentences: ['{E} was first released in {V}.'],
    questions: ['When was {E} first released?'],
  },
  {
    attr: 'setting',
    type: 'setting',
    sentences: ['The default {X} of {E} is {V}.'],
    questions: ['What is the default {X} of {E}?'],
  },
];

const KINDS: Record<EntityKind, FactTemplate[]> = {
  person: PERSON,
  town: TOWN,
  company: COMPANY,
  tool: TOOL,
};
export const ENTITY_KINDS: readonly EntityKind[] = ['person', 'town', 'company', 'tool'];

function fill(t: string, e: string, v: string, x: string): string {
  return t.replace(/\{([EVX])\}/g, (_, k: string) => (k === 'E' ? e : k === 'V' ? v : x));
}

/** A paragraph about a new entity of `kind` with 4-7 facts. */
export function makeEntity(vals: Values, kind: EntityKind): Entity {
  const name =
    kind === 'person'
      ? vals.person()
      : kind === 'town'
        ? vals.place()
        : kind === 'company'
          ? vals.org()
          : vals.tool();
  const rng = vals.rng;
  const templates = shuffle([...KINDS[kind]], rng);
  const n = Math.min(templates.length, vals.int(4, 7));
  const facts: Fact[] = [];
  for (const t of templates.slice(0, n)) {
    let value = vals.of(t.type);
    let extra = '';
    if (t.attr === 'setting') {
      const [setting, unit] = vals.pick(SETTINGS);
      extra = setting;
      value = setting === 'log level' ? vals.pick(LOG_LEVELS) : `${value}${unit}`;
    } else if (t.extra) extra = vals.of(t.extra);
    const sentence = fill(vals.pick(t.sentences), name, value, extra);
    facts.push({
      attr: t.attr,
      type: t.type,
      value,
      sentence,
      questions: t.questions.map((q) => fill(q, name, value, extra)),
    });
  }
  // Later sentences about a thing (not a person) sometimes say "It" instead of the name.
  const sentences = facts.map((f, i) =>
    i > 0 && kind !== 'person' && rng.random() < 0.2 && f.sentence.startsWith(`${name} `)
      ? `It ${f.sentence.slice(name.length + 1)}`
      : f.sentence,
  );
  const title = rng.random() < 0.4 ? `# ${kind === 'tool' ? name : name}\n\n` : '';
  return { name, kind, facts, text: title + sentences.join(' ') };
}
