/**
 * The held-out paraphrase retrieval sets (eval/paraphrase, and eval/paraphrase-fresh in the same
 * format, all of it split test): documentation written by others (manual pages, Python docstrings,
 * license texts) cut into passages, and hand-written questions that name the passages answering
 * them. `loadPassageSet` takes the set's folder.
 *
 *   manifest.json    documents: id, split (dev | test), kind, source, path, package, license;
 *                    written by scripts/fixtures/make_paraphrase_docs.py (make_paraphrase_fresh_docs.py)
 *   docs/ID.txt      a document's passages in order, separated by two blank lines (a document has
 *                    at most one blank line in a row); passage N (from 1) of document D is `D#N`
 *   questions.json   { id, style (paraphrase | keyword), question, gold[], evidence[] }: gold are
 *                    the passages that answer it (any counts), evidence spans of them that show why
 *
 * Retrieval is judged by passage id, not by containment of an answer span: a paraphrase question
 * often has no short answer span, and passages are the retrieval units (one chunk each).
 * Splits go by document, as in eval/realprose: dev is for tuning, test is reported once.
 *
 * The documents are held out of every training corpus (src/train/held_out.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lexicalOverlap } from './overlap.ts';
import { readJsonObject } from './sentence_transformers.ts';

/** As in eval/realprose (src/recipe/realprose.ts, a layer above this one). */
export type Split = 'dev' | 'test';

export type QuestionStyle = 'paraphrase' | 'keyword';
export const QUESTION_STYLES: readonly QuestionStyle[] = ['paraphrase', 'keyword'];

export interface SetDocument {
  id: string;
  split: Split;
  kind: string;
  source: string;
}

export interface Passage {
  /** `DOC#N`, N from 1. */
  id: string;
  doc: string;
  split: Split;
  text: string;
}

export interface PassageQuestion {
  id: string;
  style: QuestionStyle;
  question: string;
  /** Passage ids that answer the question; retrieving any of them counts. */
  gold: string[];
  /** Spans of the gold passages (up to runs of whitespace) that show why they answer it. */
  evidence: string[];
  /** The split of the gold passages' documents. */
  split: Split;
}

export interface PassageSet {
  dir: string;
  docs: SetDocument[];
  passages: Passage[];
  questions: PassageQuestion[];
}

/** Runs of whitespace made one space: man pages wrap their lines, so spans are compared so. */
export function squashSpace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** A JSON object from `path` (required); errors name the file. */
function readJson(path: string): Record<string, unknown> {
  const o = readJsonObject(path);
  if (!o) throw new Error(`${path}: no such file`);
  return o;
}

function str(o: unknown, key: string, where: string): string {
  const v = (o as Record<string, unknown>)[key];
  if (typeof v !== 'string' || v === '')
    throw new Error(`${where}: field "${key}" is missing or not a string`);
  return v;
}

function strings(o: unknown, key: string, where: string): string[] {
  const v = (o as Record<string, unknown>)[key];
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || x === ''))
    throw new Error(`${where}: field "${key}" must be a non-empty array of strings`);
  return v as string[];
}

/** A document file's passages (see the file comment). */
export function splitPassages(text: string): string[] {
  return text
    .replace(/\r\n/g, '\n')
    .split(/\n[ \t]*\n[ \t]*\n+/)
    .map((p) => p.replace(/^\n+|\s+$/g, ''))
    .filter((p) => p !== '');
}

/**
 * Reads the set under `dir` and checks it: known splits and styles, unique ids, every gold passage
 * exists, a question's gold passages all lie in one split, and every evidence span lies in a gold
 * passage. Throws naming the file and question at fault.
 */
export function loadPassageSet(dir: string): PassageSet {
  const mPath = join(dir, 'manifest.json');
  const rawDocs = (readJson(mPath).documents ?? null) as unknown;
  if (!Array.isArray(rawDocs)) throw new Error(`${mPath}: field "documents" is missing or not an array`);
  const docs: SetDocument[] = rawDocs.map((d, i) => {
    const where = `${mPath}: documents[${i}]`;
    const split = str(d, 'split', where);
    if (split !== 'dev' && split !== 'test')
      throw new Error(`${where}: split must be dev or test, got ${split}`);
    return { id: str(d, 'id', where), split, kind: str(d, 'kind', where), source: str(d, 'source', where) };
  });
  const passages: Passage[] = [];
  const byId = new Map<string, Passage>();
  for (const d of docs) {
    if (!/^[a-z0-9.-]+$/.test(d.id))
      throw new Error(`${mPath}: document id ${JSON.stringify(d.id)} is not [a-z0-9.-]+`);
    const path = join(dir, 'docs', `${d.id}.txt`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    splitPassages(text).forEach((t, i) => {
      const p = { id: `${d.id}#${i + 1}`, doc: d.id, split: d.split, text: t };
      passages.push(p);
      byId.set(p.id, p);
    });
  }
  if (new Set(docs.map((d) => d.id)).size !== docs.length) throw new Error(`${mPath}: document ids repeat`);

  const qPath = join(dir, 'questions.json');
  const rawQs = (readJson(qPath).questions ?? null) as unknown;
  if (!Array.isArray(rawQs)) throw new Error(`${qPath}: field "questions" is missing or not an array`);
  const seen = new Set<string>();
  const questions: PassageQuestion[] = rawQs.map((q, i) => {
    const id = str(q, 'id', `${qPath}: questions[${i}]`);
    const where = `${qPath}: question ${id}`;
    if (seen.has(id)) throw new Error(`${where}: id repeats`);
    seen.add(id);
    const style = str(q, 'style', where);
    if (!QUESTION_STYLES.includes(style as QuestionStyle))
      throw new Error(`${where}: style must be one of ${QUESTION_STYLES.join(', ')}, got ${style}`);
    const gold = strings(q, 'gold', where);
    const golds = gold.map((g) => {
      const p = byId.get(g);
      if (!p) throw new Error(`${where}: gold passage ${g} is not in ${join(dir, 'docs')}`);
      return p;
    });
    const splits = new Set(golds.map((p) => p.split));
    if (splits.size !== 1) throw new Error(`${where}: gold passages lie in both splits`);
    const evidence = strings(q, 'evidence', where);
    for (const e of evidence)
      if (!golds.some((p) => squashSpace(p.text).includes(squashSpace(e))))
        throw new Error(`${where}: evidence ${JSON.stringify(e)} is in none of its gold passages`);
    return {
      id,
      style: style as QuestionStyle,
      question: str(q, 'question', where),
      gold,
      evidence,
      split: golds[0].split,
    };
  });
  return { dir, docs, passages, questions };
}

/** Rank (from 1) of the first result whose passage id is gold, or 0. */
export function goldRank(gold: readonly string[], resultIds: readonly string[]): number {
  const g = new Set(gold);
  return resultIds.findIndex((id) => g.has(id)) + 1;
}

/** Each question's lexical overlap with its gold (src/rag/overlap.ts lexicalOverlap, best gold passage). */
export function goldOverlap(set: PassageSet): Map<string, number> {
  const text = new Map(set.passages.map((p) => [p.id, p.text]));
  return new Map(
    set.questions.map((q) => [
      q.id,
      Math.max(...q.gold.map((g) => lexicalOverlap(q.question, text.get(g) ?? ''))),
    ]),
  );
}
