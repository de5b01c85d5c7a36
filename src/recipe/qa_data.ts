/**
 * Synthetic reading-comprehension data for the RAG model: documents about invented entities, and
 * questions whose answers are exact spans of those documents, in the prompt format the server uses
 * (src/rag/prompt.ts DEFAULT_TEMPLATE):
 *
 *   [ctx: {gold and distractor passages, separated by a blank line}] Answer the question: {question}
 *   -> " {answer span}" + EOS
 *
 * Two sources of examples:
 *   entities  templated paragraphs about people, towns, companies and software tools; names,
 *             numbers, dates and places are generated, so an answer can only come from the context.
 *             Distractors are mostly entities of the same kind (same attributes, other values), so
 *             the model must match the entity named in the question, not just the relation.
 *   kjv       questions made from real sentences of the King James Bible: a span (a number, a name,
 *             the object after "is/was/called"...) is replaced in place by a wh-word and the clause
 *             is cut after it ("And Adam knew Eve his wife" -> "And Adam knew who?" -> "Eve").
 *
 * Names are split between training and evaluation by a hash (`nameSplit`), so held-out documents
 * talk about entities the model has never seen. Everything is drawn from a seeded Rng: the same
 * seed gives the same data.
 */
import { Rng } from '../tensor/random.ts';
import { ENTITY_KINDS, makeEntity } from './entities.ts';
import { type DebianPackage, type DocParagraph, packageDocument } from './prose.ts';
import { packageQuestions, paragraphQuestions, type QaPair } from './reading.ts';
import { cap, type Split, Values, type ValueType } from './values.ts';

export { ENTITY_KINDS, type Entity, type EntityKind, type Fact, makeEntity } from './entities.ts';
export { nameSplit, type Split, Values, type ValueType } from './values.ts';

export const RAG_TEMPLATE = '[ctx: {docs}] Answer the question: {query}';
export const DOC_SEPARATOR = '\n\n';

export interface QaExample {
  prompt: string;
  /** The answer span (no leading space, no EOS). */
  answer: string;
  question: string;
  /** Passages in prompt order; `gold` indexes the one holding the answer (-1 when there is none). */
  passages: string[];
  gold: number;
  source: 'entity' | 'kjv' | 'doc' | 'package';
  /** The value type, for entity questions. */
  type?: ValueType;
}

export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
}

export function fillPrompt(passages: readonly string[], question: string): string {
  const docs = passages.join(DOC_SEPARATOR);
  return RAG_TEMPLATE.replace(/\{(docs|query)\}/g, (_, n: string) => (n === 'docs' ? docs : question));
}

/** Small variations of a question a user might type. */
function vary(q: string, rng: Rng): string {
  const r = rng.random();
  if (r < 0.1) return q.replace(/\?$/, '');
  if (r < 0.18) return q.charAt(0).toLowerCase() + q.slice(1);
  return q;
}

/**
 * Passages in prompt order: the gold passage first half of the time (retrieval usually ranks it
 * first), otherwise at a random place among the distractors.
 */
function arrange(gold: string, distractors: string[], rng: Rng): { passages: string[]; gold: number } {
  const at = rng.random() < 0.5 ? 0 : rng.int(distractors.length + 1);
  const passages = [...distractors];
  passages.splice(at, 0, gold);
  return { passages, gold: at };
}

function distractorCount(rng: Rng): number {
  const r = rng.random();
  return r < 0.15 ? 0 : r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
}

/** Real-prose questions get up to 4 distractors: a 2,048-token window holds 3-5 chunks. */
function proseDistractorCount(rng: Rng): number {
  const r = rng.random();
  return r < 0.15 ? 0 : r < 0.45 ? 1 : r < 0.7 ? 2 : r < 0.88 ? 3 : 4;
}

/** One entity question with 0-3 distractor entities (mostly of the same kind). */
export function entityExample(vals: Values): QaExample {
  const rng = vals.rng;
  const kind = vals.pick(ENTITY_KINDS);
  const e = makeEntity(vals, kind);
  const fact = vals.pick(e.facts);
  const distractors: string[] = [];
  const nd = distractorCount(rng);
  for (let i = 0; i < nd; i++) {
    const d = makeEntity(vals, rng.random() < 0.7 ? kind : vals.pick(ENTITY_KINDS));
    if (d.name !== e.name) distractors.push(d.text);
  }
  const { passages, gold } = arrange(e.text, distractors, rng);
  const question = vary(vals.pick(fact.questions), rng);
  return {
    prompt: fillPrompt(passages, question),
    answer: fact.value,
    question,
    passages,
    gold,
    source: 'entity',
    type: fact.type,
  };
}

// ---------------------------------------------------------------------------------------------
// KJV questions

export interface Verse {
  ref: string;
  text: string;
}

/** Verses of the `bible` dump (scripts/corpus/kjv.sh): "  12 text..." lines with continuations. */
export function parseKjv(text: string): Verse[] {
  const verses: Verse[] = [];
  let chapter = '';
  for (const line of text.split('\n')) {
    const m = /^\s+(\d+) (.*)$/.exec(line);
    if (m) verses.push({ ref: `${chapter}:${m[1]}`, text: m[2].trim() });
    else if (/^\S.* \d+$/.test(line.trim()) && !line.startsWith(' ')) chapter = line.trim();
    else if (line.trim() && verses.length > 0) verses[verses.length - 1].text += ` ${line.trim()}`;
  }
  return verses;
}

const NUMBER_WORDS =
  '(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|hundred|thousand)';
const NUMBER_RE = new RegExp(
  `\\b(${NUMBER_WORDS}(?:(?: and)? ${NUMBER_WORDS})*) (?!of\\b|and\\b|the\\b|or\\b)([a-z]{3,})`,
  'g',
);
const STOP_CAPS = new Set([
  'I',
  'O',
  'And',
  'The',
  'But',
  'For',
  'Then',
  'LORD',
  'God',
  'Lord',
  'Behold',
  'Thou',
  'Ye',
]);

/** Candidate (question, answer) pairs from one clause of real text; the answer is a span of it. */
export function clauseQuestions(clause: string): { question: string; answer: string }[] {
  const out: { question: string; answer: string }[] = [];
  const prefixOk = (p: string) => p.trim().split(/\s+/).length >= 3;
  for (const m of clause.matchAll(NUMBER_RE)) {
    const prefix = clause.slice(0, m.index);
    if (prefixOk(prefix)) out.push({ question: `${prefix}how many ${m[2]}?`, answer: m[1] });
  }
  for (const m of clause.matchAll(
    /\b(called|named|is|was|are|were) (?!called |named )((?:[a-z]+ ){0,2}[A-Za-z]+)(?=[,;:.?!]|$)/g,
  )) {
    const prefix = clause.slice(0, m.index + m[1].length + 1);
    if (prefixOk(prefix) && m[2].split(' ').length <= 3)
      out.push({ question: `${prefix}what?`, answer: m[2] });
  }
  for (const m of clause.matchAll(/\b(to|unto|into|in|from|at) ([A-Z][a-z]{2,})\b/g)) {
    const prefix = clause.slice(0, m.index);
    if (!STOP_CAPS.has(m[2]) && prefixOk(prefix))
      out.push({ question: `${prefix.trimEnd()} where?`, answer: m[2] });
  }
  for (const m of clause.matchAll(/ ([a-z]+) ([A-Z][a-z]{2,})\b/g)) {
    const prefix = clause.slice(0, m.index + m[1].length + 2);
    if (
      !STOP_CAPS.has(m[2]) &&
      !/^(to|unto|into|in|from|at|of|called|named|is|was|are|were)$/.test(m[1]) &&
      prefixOk(prefix)
    )
      out.push({ question: `${prefix}who?`, answer: m[2] });
  }
  return out;
}

/** A window of consecutive verses as one passage (verse numbers dropped). */
function window(verses: readonly Verse[], start: number, n: number): string {
  return verses
    .slice(start, start + n)
    .map((v) => v.text)
    .join(' ');
}

/** One question over a KJV passage, with distractor passages from the same chapter and elsewhere. */
export function kjvExample(verses: readonly Verse[], rng: Rng): QaExample {
  for (;;) {
    const n = 1 + rng.int(2);
    const start = rng.int(verses.length - n);
    const target = start + rng.int(n);
    const clauses = verses[target].text.split(/(?<=[;:.?!])\s+/).filter((c) => c.length > 15);
    if (clauses.length === 0) continue;
    const clause = clauses[rng.int(clauses.length)];
    const cands = clauseQuestions(clause);
    if (cands.length === 0) continue;
    const c = cands[rng.int(cands.length)];
    const gold = window(verses, start, n);
    const distractors: string[] = [];
    const nd = distractorCount(rng);
    for (let i = 0; i < nd; i++) {
      // Near the passage (the same chapter, usually) or anywhere in the book.
      const s =
        rng.random() < 0.5
          ? Math.max(
              0,
              Math.min(verses.length - n, start + (rng.random() < 0.5 ? -n - rng.int(8) : n + rng.int(8))),
            )
          : rng.int(verses.length - n);
      const d = window(verses, s, n);
      if (!d.includes(clause)) distractors.push(d);
    }
    const { passages, gold: at } = arrange(gold, distractors, rng);
    const question = cap(c.question.trim());
    return {
      prompt: fillPrompt(passages, question),
      answer: c.answer,
      question,
      passages,
      gold: at,
      source: 'kjv',
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Real prose (src/recipe/prose.ts): /usr/share/doc paragraphs and Debian package records

export interface ProsePools {
  paragraphs: readonly DocParagraph[];
  /** Installed packages, with long descriptions (/var/lib/dpkg/status). */
  installed: readonly DebianPackage[];
  /** Every package of the archive, sorted by name (synopsis and fields only). */
  catalog: readonly DebianPackage[];
}

/** The package a /usr/share/doc path belongs to. */
const docTopic = (path: string) => path.split('/')[4] ?? 'this package';

/** Neighbours first (the same file, or packages with similar names), else anywhere. */
function proseDistractors<T>(
  pool: readonly T[],
  at: number,
  n: number,
  rng: Rng,
  near: (j: number) => boolean,
): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const j =
      rng.random() < 0.6 ? at + (rng.random() < 0.5 ? -1 : 1) * (1 + rng.int(4)) : rng.int(pool.length);
    if (j >= 0 && j < pool.length && j !== at && (near(j) || rng.random() < 0.5)) out.push(pool[j]);
    else out.push(pool[rng.int(pool.length)]);
  }
  return out;
}

/** One question over real prose, with 0-4 distractor passages. */
export function proseExample(pools: ProsePools, rng: Rng): QaExample {
  for (;;) {
    const r = rng.random();
    let gold: string;
    let qs: QaPair[];
    let distractors: string[];
    let source: QaExample['source'];
    if (r < 0.5 && pools.paragraphs.length > 8) {
      const i = rng.int(pools.paragraphs.length);
      const p = pools.paragraphs[i];
      gold = p.text;
      qs = paragraphQuestions(gold, docTopic(p.source), rng);
      const ds = proseDistractors(
        pools.paragraphs,
        i,
        proseDistractorCount(rng),
        rng,
        (j) => pools.paragraphs[j].source === p.source,
      );
      distractors = ds.map((d) => d.text).filter((d) => d !== gold);
      source = 'doc';
    } else {
      const pool = r < 0.75 && pools.installed.length > 8 ? pools.installed : pools.catalog;
      if (pool.length < 8) continue;
      const i = rng.int(pool.length);
      gold = packageDocument(pool[i]);
      qs = packageQuestions(pool[i], rng);
      distractors = proseDistractors(pool, i, proseDistractorCount(rng), rng, () => true)
        .map(packageDocument)
        .filter((d) => d !== gold);
      source = 'package';
    }
    // A question whose answer also appears in a distractor is ambiguous: skip it.
    qs = qs.filter((q) => !distractors.some((d) => d.includes(q.answer)) || q.answer.length > 12);
    if (qs.length === 0) continue;
    const q = qs[rng.int(qs.length)];
    const placed = arrange(gold, distractors, rng);
    const question = vary(cap(q.question.trim()), rng);
    return { prompt: fillPrompt(placed.passages, question), answer: q.answer, question, ...placed, source };
  }
}

// ---------------------------------------------------------------------------------------------
// Data sets

export interface QaSetOptions {
  n: number;
  seed: number;
  split: Split;
  /** Share of KJV questions (needs `verses`). */
  kjvShare?: number;
  verses?: readonly Verse[];
  /** Share of real-prose questions (needs `prose`). */
  proseShare?: number;
  prose?: ProsePools;
}

/** `n` examples, deterministic in the seed. */
export function qaExamples(o: QaSetOptions): QaExample[] {
  const rng = new Rng(o.seed);
  const vals = new Values(rng, o.split);
  const share = o.verses && o.verses.length >= 8 ? (o.kjvShare ?? 0) : 0;
  const proseShare = o.prose ? (o.proseShare ?? 0) : 0;
  const out: QaExample[] = [];
  for (let i = 0; i < o.n; i++) {
    const r = rng.random();
    if (r < proseShare) out.push(proseExample(o.prose as ProsePools, rng));
    else if (r < proseShare + share) out.push(kjvExample(o.verses as Verse[], rng));
    else out.push(entityExample(vals));
  }
  return out;
}

/** Entity paragraphs for pretraining text (the same style the questions are asked over). */
export function entityDocuments(n: number, seed: number, split: Split = 'train'): string[] {
  const vals = new Values(new Rng(seed), split);
  return Array.from({ length: n }, () => makeEntity(vals, vals.pick(ENTITY_KINDS)).text);
}

/**
 * DPO pairs: the grounded span is chosen, a hallucinated value of the same type that appears
 * nowhere in the context is rejected.
 */
export function preferencePairs(n: number, seed: number): PreferencePair[] {
  const rng = new Rng(seed);
  const vals = new Values(rng, 'train');
  const out: PreferencePair[] = [];
  while (out.length < n) {
    const ex = entityExample(vals);
    const type = ex.type as ValueType;
    let rejected = '';
    for (let tries = 0; tries < 50; tries++) {
      const v = vals.of(type);
      if (!ex.prompt.includes(v) && v !== ex.answer) {
        rejected = v;
        break;
      }
    }
    if (rejected) out.push({ prompt: ex.prompt, chosen: ex.answer, rejected });
  }
  return out;
}
