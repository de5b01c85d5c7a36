/**
 * Retrieval evaluation: question sets and the usual metrics.
 *
 *   A question has an `answer`: a span of the collection's text. A retrieved chunk is relevant
 *   when it contains the whole span (so the judgement does not depend on how the text was
 *   chunked, and overlapping chunks that both hold the span both count).
 *
 *   recall@k   share of questions with a relevant chunk among the first k results
 *   MRR@k      mean of 1 / rank of the first relevant chunk (0 when none in the first k)
 *
 * `generateQuestions` makes a question set from any collection, for collections nobody has
 * written questions for: it picks sentences that occur once in the collection and asks with
 * about half of their content words (stopwords and the rest dropped, order kept). Such questions
 * share words with the answer by construction, which favours lexical methods (BM25, the hash
 * embedder): read its figures next to a hand-written, paraphrased set.
 */
import { STOPWORDS } from './word_prior.ts';

export interface Question {
  q: string;
  /** A span of the collection's text that answers the question. */
  answer: string;
}

export interface Metrics {
  questions: number;
  recallAt1: number;
  recallAt5: number;
  recallAt10: number;
  mrrAt10: number;
}

/** Whitespace-insensitive containment (chunk edges and extraction may change line breaks). */
function squash(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Rank (from 1) of the first result containing the answer, or 0. */
export function firstRelevantRank(answer: string, results: readonly { text: string }[]): number {
  const a = squash(answer);
  const i = results.findIndex((r) => squash(r.text).includes(a));
  return i + 1;
}

/** Metrics from the rank of the first relevant result of each question (0 = not found). */
export function metricsFromRanks(ranks: readonly number[]): Metrics {
  const n = ranks.length;
  const within = (k: number) => ranks.filter((r) => r > 0 && r <= k).length / Math.max(n, 1);
  const mrr = ranks.reduce((s, r) => s + (r > 0 && r <= 10 ? 1 / r : 0), 0) / Math.max(n, 1);
  return { questions: n, recallAt1: within(1), recallAt5: within(5), recallAt10: within(10), mrrAt10: mrr };
}

/** A small seeded PRNG (mulberry32): the same seed gives the same question set. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenerateOptions {
  count: number;
  seed?: number;
  /** Sentence length range in words (default 10..35). */
  minWords?: number;
  maxWords?: number;
  /** Share of content words kept in the question (default 0.5, at least 3 words). */
  keep?: number;
}

/** Generates questions over a collection (see the file comment). */
export function generateQuestions(texts: readonly string[], options: GenerateOptions): Question[] {
  const rnd = mulberry32(options.seed ?? 1);
  const minW = options.minWords ?? 10;
  const maxW = options.maxWords ?? 35;
  const keep = options.keep ?? 0.5;
  const seen = new Map<string, number>();
  const candidates: string[] = [];
  for (const t of texts) {
    for (const para of t.split(/\n\s*\n/)) {
      if (/^\s*#/.test(para)) continue;
      for (const s of para.split(/(?<=[.!?])\s+(?=[A-Z])/)) {
        const sentence = s.replace(/\s+/g, ' ').trim();
        const words = sentence.split(' ');
        if (words.length < minW || words.length > maxW) continue;
        // prose only: mostly letters, ends like a sentence, no list marker or code
        if (!/[.!?]$/.test(sentence) || /^[-*]|[{};=<>]|\(\)/.test(sentence)) continue;
        const letters = sentence.replace(/[^\p{L}]/gu, '').length;
        if (letters < 0.7 * sentence.length) continue;
        const n = seen.get(sentence) ?? 0;
        seen.set(sentence, n + 1);
        if (n === 0) candidates.push(sentence);
      }
    }
  }
  const unique = candidates.filter((s) => seen.get(s) === 1);
  // Seeded shuffle, then the first `count` whose question keeps enough words.
  for (let i = unique.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [unique[i], unique[j]] = [unique[j], unique[i]];
  }
  const out: Question[] = [];
  for (const s of unique) {
    if (out.length >= options.count) break;
    const content = (s.match(/[\p{L}\p{N}][\p{L}\p{N}_'-]*/gu) ?? []).filter(
      (w) => !STOPWORDS.has(w.toLowerCase()),
    );
    if (content.length < 5) continue;
    let kept = content.filter(() => rnd() < keep);
    if (kept.length < 3) kept = content.slice(0, 3);
    out.push({ q: kept.join(' '), answer: s });
  }
  return out;
}
