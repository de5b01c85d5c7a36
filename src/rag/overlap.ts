/**
 * Lexical overlap of a question with a passage: how many of the question's own words a passage
 * holds. It measures how paraphrased a question set is (eval/paraphrase keeps it low), and hybrid
 * retrieval reads it off BM25's first hit to judge whether the question is asked in the
 * documents' words (retriever.ts).
 */
import { stem } from './hash_embedder.ts';
import { STOPWORDS } from './word_prior.ts';

/**
 * Lexical overlap of a question with a passage: the share of the question's content words
 * (stopwords dropped) that the passage also has, after the hash embedder's light stemming; two
 * stems also match when they share their first 5 letters (compress/compression,
 * configure/configuration), which a Porter stemmer would join and this one does not. It counts
 * generously on purpose: a paraphrase set whose overlap is low by this count is low for BM25 too.
 * 0 when the question has no content word.
 */
export function lexicalOverlap(question: string, passage: string): number {
  const content = (t: string) =>
    (t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOPWORDS.has(w)).map(stem);
  const q = [...new Set(content(question))];
  if (q.length === 0) return 0;
  const p = new Set(content(passage));
  const prefixes = new Set([...p].filter((w) => w.length >= 5).map((w) => w.slice(0, 5)));
  const found = q.filter((w) => p.has(w) || (w.length >= 5 && prefixes.has(w.slice(0, 5))));
  return found.length / q.length;
}
