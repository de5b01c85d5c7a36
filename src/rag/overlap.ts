/**
 * Lexical overlap of a question with a passage: how many of the question's own words a passage
 * holds. It measures how paraphrased a question set is (eval/paraphrase keeps it low), and hybrid
 * retrieval reads it off BM25's first hit to judge whether the question is asked in the
 * documents' words (retriever.ts).
 */
import { stem } from './hash_embedder.ts';
import { STOPWORDS } from './word_prior.ts';

/** The stems of a text's content words (lowercased, stopwords dropped, stemmed), in order. */
export function contentStems(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOPWORDS.has(w)).map(stem);
}

/**
 * A set of stems that also matches a stem sharing the first 5 letters of one of at least 5 letters
 * (compress/compression, configure/configuration), which a Porter stemmer would join and the hash
 * embedder's light stemmer does not.
 */
export class StemSet {
  private readonly stems: Set<string>;
  private readonly prefixes: Set<string>;

  constructor(stems: Iterable<string>) {
    this.stems = new Set(stems);
    this.prefixes = new Set([...this.stems].filter((w) => w.length >= 5).map((w) => w.slice(0, 5)));
  }

  has(stem: string): boolean {
    return this.stems.has(stem) || (stem.length >= 5 && this.prefixes.has(stem.slice(0, 5)));
  }
}

/**
 * Lexical overlap of a question with a passage: the share of the question's content words
 * (contentStems) that the passage also has, matched as StemSet matches. It counts generously on
 * purpose: a paraphrase set whose overlap is low by this count is low for BM25 too. 0 when the
 * question has no content word.
 */
export function lexicalOverlap(question: string, passage: string): number {
  const q = [...new Set(contentStems(question))];
  if (q.length === 0) return 0;
  const p = new StemSet(contentStems(passage));
  return q.filter((w) => p.has(w)).length / q.length;
}
