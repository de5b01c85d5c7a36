/**
 * The real-prose QA set (eval/realprose): documentation written by others, installed on this
 * machine, with hand-written questions whose answers are spans of it.
 *
 *   manifest.json    documents: id, split (dev | test), kind (man | pydoc | license), source, path,
 *                    package, license; written by scripts/fixtures/make_realprose_docs.py
 *   docs/ID.txt      the documents (rendered manual pages, docstrings, license texts)
 *   questions.json   answerable: { id, doc, question, answers[] }, every answer a span of the
 *                    document `doc` up to runs of whitespace (manual pages wrap their lines)
 *                    unanswerable: { id, about, question }, answered by no document of the set
 *
 * Splits go by document: a question belongs to the split of its document (`about` for the
 * unanswerable ones), so no document is seen in both. dev is for tuning; test is reported once.
 *
 * The documents are held out of every training corpus (src/train/held_out.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Split = 'dev' | 'test';
export const SPLITS: readonly Split[] = ['dev', 'test'];

export interface RealProseDoc {
  id: string;
  split: Split;
  kind: string;
  source: string;
  path: string;
  package: string;
  license: string;
}

export interface RealProseQuestion {
  id: string;
  /** The document holding the answer (answerable) or the one the question is about (unanswerable). */
  doc: string;
  question: string;
  /** Accepted answers; empty for an unanswerable question. */
  answers: string[];
}

export interface RealProseSet {
  dir: string;
  docs: RealProseDoc[];
  /** Document text by id. */
  text: Map<string, string>;
  answerable: RealProseQuestion[];
  unanswerable: RealProseQuestion[];
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

function field(o: unknown, key: string, where: string): string {
  const v = (o as Record<string, unknown>)[key];
  if (typeof v !== 'string' || v === '')
    throw new Error(`${where}: field "${key}" is missing or not a string`);
  return v;
}

function list(o: Record<string, unknown>, key: string, where: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Error(`${where}: field "${key}" is missing or not an array`);
  return v;
}

/** Reads and checks the set under `dir`: ids, splits, and that every question names a known document. */
export function loadRealProse(dir: string): RealProseSet {
  const mPath = join(dir, 'manifest.json');
  const docs = list(readJson(mPath), 'documents', mPath).map((d, i) => {
    const where = `${mPath}: documents[${i}]`;
    const split = field(d, 'split', where);
    if (split !== 'dev' && split !== 'test')
      throw new Error(`${where}: split must be dev or test, got ${split}`);
    return {
      id: field(d, 'id', where),
      split: split as Split,
      kind: field(d, 'kind', where),
      source: field(d, 'source', where),
      path: field(d, 'path', where),
      package: field(d, 'package', where),
      license: field(d, 'license', where),
    };
  });
  const text = new Map<string, string>();
  for (const d of docs) {
    if (text.has(d.id)) throw new Error(`${mPath}: document id ${d.id} appears twice`);
    text.set(d.id, readFileSync(join(dir, 'docs', `${d.id}.txt`), 'utf8'));
  }
  const qPath = join(dir, 'questions.json');
  const q = readJson(qPath);
  const known = (id: string, where: string) => {
    if (!text.has(id)) throw new Error(`${where}: unknown document ${id}`);
    return id;
  };
  const answerable = list(q, 'answerable', qPath).map((o, i) => {
    const where = `${qPath}: answerable[${i}]`;
    const answers = (o as Record<string, unknown>).answers;
    if (!Array.isArray(answers) || answers.length === 0 || !answers.every((a) => typeof a === 'string' && a))
      throw new Error(`${where}: field "answers" must be a non-empty array of strings`);
    return {
      id: field(o, 'id', where),
      doc: known(field(o, 'doc', where), where),
      question: field(o, 'question', where),
      answers: answers as string[],
    };
  });
  const unanswerable = list(q, 'unanswerable', qPath).map((o, i) => {
    const where = `${qPath}: unanswerable[${i}]`;
    return {
      id: field(o, 'id', where),
      doc: known(field(o, 'about', where), where),
      question: field(o, 'question', where),
      answers: [],
    };
  });
  return { dir, docs, text, answerable, unanswerable };
}

/** The split of each document id. */
export function splitOf(set: RealProseSet): Map<string, Split> {
  return new Map(set.docs.map((d) => [d.id, d.split]));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Where `answer` occurs in `text` as a span: its words separated by any whitespace, and not glued
 * to a letter, digit, '-' or '_' on either side (so "-t" is not found inside "--time"). Returns
 * [start, end) of the first such occurrence, or undefined.
 */
export function findSpan(text: string, answer: string): [number, number] | undefined {
  const words = answer.trim().split(/\s+/).map(escapeRegExp);
  if (words.length === 0 || words[0] === '') return undefined;
  const re = new RegExp(`(?<![\\p{L}\\p{N}_-])${words.join('\\s+')}(?![\\p{L}\\p{N}_])`, 'u');
  const m = re.exec(text);
  return m ? [m.index, m.index + m[0].length] : undefined;
}

/** Whether `answer` occurs in `text` (findSpan, falling back to containment up to whitespace). */
export function containsAnswer(text: string, answer: string): boolean {
  if (findSpan(text, answer)) return true;
  const squash = (s: string) => s.replace(/\s+/g, ' ');
  return squash(text).includes(squash(answer.trim()));
}

/** Most words in a gold passage (about one retrieval chunk of 80 tokens). */
export const GOLD_WORDS = 80;

/**
 * The passage that holds an answer: the lines of the first occurrence of the longest answer (the
 * most specific: "--reverse" rather than "-r"), grown by whole lines after and before it while
 * the passage stays within GOLD_WORDS words.
 */
export function goldPassage(text: string, answers: readonly string[]): string {
  const longest = [...answers].sort((a, b) => b.length - a.length);
  let span: [number, number] | undefined;
  for (const a of longest) {
    span = findSpan(text, a);
    if (span) break;
  }
  if (!span) throw new Error(`none of the answers ${JSON.stringify(answers)} occurs in the document`);
  const count = (s: string) => s.split(/\s+/).filter(Boolean).length;
  // The lines that hold the answer, then one more line after, one before, ... while they fit.
  const lines = text.split('\n');
  const starts: number[] = [];
  let at = 0;
  for (const l of lines) {
    starts.push(at);
    at += l.length + 1;
  }
  const lineAt = (pos: number) => {
    let i = 0;
    while (i + 1 < lines.length && starts[i + 1] <= pos) i++;
    return i;
  };
  let first = lineAt(span[0]);
  let last = lineAt(span[1] - 1);
  let words = count(lines.slice(first, last + 1).join('\n'));
  for (let after = true, failed = 0; failed < 2; after = !after) {
    const i = after ? last + 1 : first - 1;
    const n = i >= 0 && i < lines.length ? count(lines[i]) : Number.POSITIVE_INFINITY;
    if (words + n > GOLD_WORDS) {
      failed++;
      continue;
    }
    failed = 0;
    words += n;
    if (after) last = i;
    else first = i;
  }
  return lines
    .slice(first, last + 1)
    .join('\n')
    .trim();
}
