/**
 * Rule-based reading comprehension over real prose (issue 17): questions whose answers are spans
 * of a passage, made from its sentences by rules, so that answering means finding the sentence the
 * question is about and copying from it.
 *
 *   cloze       a span of a sentence (a name, a number, an option, a quoted word, a path) replaced
 *               by a wh-word: "The file is read from /etc/foo.conf." -> "The file is read from what?"
 *   wh          subject-verb-object sentences turned around: "Foo supports IPv6 and TLS." ->
 *               "What does Foo support?"; "written by Ann Lee" -> "Who wrote Foo?"; definitions
 *   options     command-line option lines ("-v, --verbose  print more") both ways: "How do I print
 *               more?" -> "-v"; "What does --verbose do?" -> "print more"
 *   packages    Debian package records: maintainer, homepage, section, version, what it is
 *
 * Each rule has several question forms (paraphrases a user might type), picked at random. Answers
 * are cut at clause boundaries, so they stay short spans or one clause.
 */
import type { Rng } from '../tensor/random.ts';
import type { DebianPackage } from './prose.ts';
import { cap } from './values.ts';

export interface QaPair {
  question: string;
  answer: string;
}

const pick = <T>(xs: readonly T[], rng: Rng): T => xs[rng.int(xs.length)];

/** Sentences of a paragraph (newlines kept out). */
export function sentences(paragraph: string): string[] {
  return paragraph
    .replace(/\s*\n\s*/g, ' ')
    .split(/(?<=[.!?])\s+(?=[A-Z"'(`])/)
    .map((s) => s.trim())
    .filter((s) => s.length >= 20 && s.length <= 300);
}

/** The first clause of a span: up to a comma, semicolon, "which", "that", " and then"..., at most `maxWords`. */
export function clause(span: string, maxWords = 12): string {
  let s = span.replace(/[.!?:;]+$/, '');
  const cut = /(,|;|:| - | -- |\(| which | that | so that | because | when | if | but | where )/.exec(s);
  if (cut && cut.index > 0) s = s.slice(0, cut.index);
  const ws = s.trim().split(/\s+/);
  if (ws.length > maxWords) return '';
  return s.trim();
}

const VERBS: Record<string, string> = {
  supports: 'support',
  provides: 'provide',
  allows: 'allow',
  includes: 'include',
  contains: 'contain',
  uses: 'use',
  requires: 'require',
  offers: 'offer',
  implements: 'implement',
  handles: 'handle',
  generates: 'generate',
  reads: 'read',
  writes: 'write',
  creates: 'create',
  displays: 'display',
  converts: 'convert',
  produces: 'produce',
  prints: 'print',
  returns: 'return',
  needs: 'need',
  manages: 'manage',
  parses: 'parse',
  enables: 'enable',
  lets: 'let',
  adds: 'add',
  removes: 'remove',
  checks: 'check',
  stores: 'store',
  controls: 'control',
  describes: 'describe',
};
const VERB_RE = new RegExp(`^(.{2,70}?) (${Object.keys(VERBS).join('|')}) (.{3,})$`);

const AGENT_RE =
  /\b(written|developed|maintained|created|designed|developed and maintained|originally written|contributed|invented) by ((?:[A-Z][\w'.-]*\.? ?){1,4}(?:(?:and|&) (?:[A-Z][\w'.-]*\.? ?){1,4})?)/;
const AGENT_Q: Record<string, string> = {
  written: 'wrote',
  'originally written': 'originally wrote',
  developed: 'developed',
  'developed and maintained': 'develops',
  maintained: 'maintains',
  created: 'created',
  designed: 'designed',
  contributed: 'contributed',
  invented: 'invented',
};

/** Spans worth asking for in a cloze: options, paths, URLs, quoted or code words, numbers, names. */
const CLOZE_RE =
  /(?<![\w.-])(--?[A-Za-z][\w-]*(?:=\w+)?|(?:~|\.)?\/[\w.+-]+(?:\/[\w.+-]+)+\/?|https?:\/\/\S+[^\s.,;)]|"[^"]{2,40}"|'[^']{2,40}'|`[^`]{2,40}`|\b\d[\d.,:]*(?: ?(?:[A-Za-z]+))?\b|\b[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}\b)(?![\w-]|\.\w)/g;

function whWord(span: string): string {
  if (/^\d/.test(span)) return /^\d{4}$/.test(span) ? 'when' : 'how many';
  if (/^[A-Z][a-z]+( [A-Z][a-z]+)+$/.test(span)) return 'who';
  return 'what';
}

/** Cloze questions of one sentence: a span replaced by a wh-word, the rest kept. */
export function clozeQuestions(sentence: string): QaPair[] {
  const out: QaPair[] = [];
  const body = sentence.replace(/[.!?]+$/, '');
  if (body.split(/\s+/).length > 40) return out;
  for (const m of body.matchAll(CLOZE_RE)) {
    const span = m[1].replace(/[.,]+$/, '');
    if (span.length < 2 || m.index === undefined) continue;
    const before = body.slice(0, m.index);
    const after = body.slice(m.index + span.length);
    if (before.trim().split(/\s+/).length < 2 && after.trim().split(/\s+/).length < 3) continue;
    // A sentence-initial capitalised word is usually not a name.
    if (m.index === 0 && /^[A-Z][a-z]+$/.test(span)) continue;
    let wh = whWord(span);
    let answer = span;
    if (wh === 'how many') {
      const num = /^\d[\d.,:]*/.exec(span)?.[0] ?? span;
      const unit = span.slice(num.length).trim();
      if (!unit) wh = 'what';
      else {
        answer = num;
        out.push({ question: `${before}how many ${unit}${after}?`, answer });
        continue;
      }
    }
    out.push({ question: `${before}${wh}${after}?`, answer });
  }
  return out;
}

/** Wh-questions of one sentence (subject-verb-object, definitions, authors). */
export function whQuestions(sentence: string, topic: string, rng: Rng): QaPair[] {
  const out: QaPair[] = [];
  const s = sentence.replace(/[.!?]+$/, '');
  const v = VERB_RE.exec(s);
  if (v && !/[,;:]/.test(v[1]) && v[1].split(' ').length <= 8) {
    const subj = /^(It|This|This package|The package|This program|This tool|This library)$/i.test(v[1])
      ? topic
      : v[1].replace(/^The /, 'the ');
    const obj = clause(v[3]);
    if (obj && subj) {
      const base = VERBS[v[2]];
      const q = pick(
        [
          `What does ${subj} ${base}?`,
          `What does ${subj} ${base}?`,
          `Which things does ${subj} ${base}?`,
          `Tell me what ${subj} ${v[2]}.`,
          `${cap(subj)} ${v[2]} what?`,
        ],
        rng,
      );
      out.push({ question: q, answer: obj });
    }
  }
  const def = /^(.{2,60}?) (is|are) ((?:a|an|the) .{3,})$/.exec(s);
  if (def && !/[,;:]/.test(def[1]) && def[1].split(' ').length <= 6) {
    const subj = /^(It|This)$/i.test(def[1]) ? topic : def[1];
    const obj = clause(def[3], 16);
    if (obj && subj)
      out.push({
        question: pick(
          [`What ${def[2]} ${subj}?`, `What ${def[2]} ${subj} exactly?`, `Explain what ${subj} ${def[2]}.`],
          rng,
        ),
        answer: obj,
      });
  }
  const a = AGENT_RE.exec(s);
  if (a) {
    const name = a[2].trim().replace(/[.,]+$/, '');
    out.push({
      question: pick([`Who ${AGENT_Q[a[1]] ?? 'wrote'} ${topic}?`, `By whom was ${topic} ${a[1]}?`], rng),
      answer: name,
    });
  }
  const dflt = /\b(?:defaults? to|default is|by default,? (?:it |this )?(?:is|uses)) ([^,;]{1,40})/.exec(s);
  if (dflt) {
    const val = clause(dflt[1], 6);
    if (val) {
      const what = s.slice(0, dflt.index).trim().split(/\s+/).slice(-4).join(' ');
      out.push({ question: `What is the default${what ? ` for ${what}` : ''}?`, answer: val });
    }
  }
  return out;
}

/** An option line: "-v, --verbose  text", "--color[=WHEN]  text", "-n NUM  text". */
const OPTION_LINE =
  /^\s{0,8}((?:-[A-Za-z0-9](?: [A-Z]+)?)(?:, ?--[\w-]+(?:\[?=[\w]+\]?)?)?|--[\w-]+(?:\[?=[\w]+\]?)?)(?:\s{2,}|\t+)(\S.{5,120})$/;

/** Questions over option lines of a paragraph (the option for a description, and back). */
export function optionQuestions(paragraph: string, topic: string, rng: Rng): QaPair[] {
  const out: QaPair[] = [];
  for (const line of paragraph.split('\n')) {
    const m = OPTION_LINE.exec(line);
    if (!m) continue;
    const opts = m[1].split(/, ?/);
    const desc = clause(m[2].trim(), 14);
    if (!desc) continue;
    const lower = desc.charAt(0).toLowerCase() + desc.slice(1);
    const opt = opts[0].split(' ')[0];
    out.push({
      question: pick(
        [
          `Which option ${/^[a-z]+s\b/.test(lower) ? lower : `makes ${topic} ${lower}`}?`,
          `How do I ${lower.replace(/^(\w+)s\b/, '$1')}?`,
          `What flag do I use to ${lower.replace(/^(\w+)s\b/, '$1')}?`,
          `Which option of ${topic} is for: ${lower}?`,
        ],
        rng,
      ),
      answer: opt,
    });
    out.push({
      question: pick([`What does ${opts.at(-1)} do?`, `What is ${opts[0].split(' ')[0]} for?`], rng),
      answer: desc,
    });
  }
  return out;
}

/** "Key: value" lines ("Author: Ann Lee", "Version: 1.2") as questions about `topic`. */
export function fieldQuestions(paragraph: string, topic: string, rng: Rng): QaPair[] {
  const out: QaPair[] = [];
  for (const line of paragraph.split('\n')) {
    const m = /^\s*([A-Z][A-Za-z -]{1,25}): +(\S.{0,80})$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    out.push({
      question: pick(
        [`What is the ${key} of ${topic}?`, `${cap(key)} of ${topic}?`, `What ${key} does ${topic} list?`],
        rng,
      ),
      answer: m[2].trim(),
    });
  }
  return out;
}

/** All candidate questions of a paragraph about `topic`. */
export function paragraphQuestions(paragraph: string, topic: string, rng: Rng): QaPair[] {
  const out = [...optionQuestions(paragraph, topic, rng), ...fieldQuestions(paragraph, topic, rng)];
  for (const s of sentences(paragraph)) {
    out.push(...whQuestions(s, topic, rng));
    // Clozes are plentiful: keep a few per sentence so wh-questions are not drowned.
    const c = clozeQuestions(s);
    for (let i = 0; i < Math.min(2, c.length); i++) out.push(c.splice(rng.int(c.length), 1)[0]);
  }
  return out.filter((q) => q.answer.length >= 1 && q.question.length <= 300 && paragraph.includes(q.answer));
}

/** Questions over a Debian package record (as packageDocument writes it). */
export function packageQuestions(p: DebianPackage, rng: Rng): QaPair[] {
  const n = p.name;
  const out: QaPair[] = [];
  if (p.maintainer) {
    const who = p.maintainer.replace(/\s*<[^>]*>/, '').trim();
    out.push({
      question: pick(
        [
          `Who maintains ${n}?`,
          `Who is the maintainer of the ${n} package?`,
          `Who looks after ${n} in Debian?`,
        ],
        rng,
      ),
      answer: who,
    });
    const mail = /<([^>]+)>/.exec(p.maintainer)?.[1];
    if (mail)
      out.push({
        question: pick(
          [`What is the email address of ${n}'s maintainer?`, `How do I contact the maintainer of ${n}?`],
          rng,
        ),
        answer: mail,
      });
  }
  if (p.homepage)
    out.push({
      question: pick(
        [
          `What is the homepage of ${n}?`,
          `Where is ${n}'s website?`,
          `Which URL is the upstream site of ${n}?`,
        ],
        rng,
      ),
      answer: p.homepage,
    });
  if (p.section)
    out.push({
      question: pick([`Which section is ${n} in?`, `What archive section does ${n} belong to?`], rng),
      answer: p.section,
    });
  if (p.version)
    out.push({
      question: pick([`Which version of ${n} is available?`, `What version is the ${n} package?`], rng),
      answer: p.version,
    });
  out.push({
    question: pick([`What is ${n}?`, `What is the ${n} package for?`, `Describe ${n} in one line.`], rng),
    answer: p.synopsis,
  });
  if (p.description)
    for (const para of p.description.split('\n\n')) out.push(...paragraphQuestions(para, n, rng));
  return out.filter((q) => q.answer.length >= 1);
}

/**
 * A lookup table and a question about one row, as pretraining text: the model learns to find a
 * key in its context and copy what follows it.
 *
 *   "Table: alpha = 3 | beta = river | ... \nLook up beta: river"
 */
export function lookupText(words: readonly string[], rng: Rng): string {
  const n = 4 + rng.int(12);
  const rows: [string, string][] = [];
  for (let i = 0; i < n; i++)
    rows.push([pick(words, rng), rng.random() < 0.4 ? String(rng.int(10000)) : pick(words, rng)]);
  const [k, v] = pick(rows, rng);
  const first = rows.find((r) => r[0] === k) as [string, string];
  return `Table: ${rows.map(([a, b]) => `${a} = ${b}`).join(' | ')}\nLook up ${k}: ${first[1] ?? v}`;
}

/** A passage and its copy, as pretraining text. */
export function copyText(passage: string, rng: Rng): string {
  const ws = passage.split(/\s+/);
  const start = rng.int(Math.max(1, ws.length - 8));
  const piece = ws.slice(start, start + 4 + rng.int(20)).join(' ');
  return `${passage}\nQuote: "${piece}"\nAgain: "${piece}"`;
}
