/**
 * Retrieval: a question -> the k most relevant chunks, with scores.
 *
 *   vector   embed the question ('query'), exact top-k by cosine          score = cosine similarity
 *   bm25     keyword search over the chunk texts                          score = BM25
 *   hybrid   both lists (each `candidates` long), fused by reciprocal rank fusion (Cormack et al.
 *            2009):  score(c) = sum over lists of w_list / (rrfK + rank_list(c)),  rank from 1
 *
 * The fusion constants: the options' if given, else the embedder's own (`Embedder.fusion`: a
 * trained embedder's directory records values tuned on its dev split, xfmr_retrieval.json), else
 * the paper's rrfK = 60 with equal weights. Two per-question adjustments:
 *   - an embedder with `vectorTrust` scales the vector list's weight (the word-vector embedder
 *     trusts its ranking less for a question naming words it has no vectors for);
 *   - with `bm25MinCoverage`, the BM25 list counts only when its first hit holds at least that
 *     share of the question's content words (overlap.ts). A question asked in the documents' words
 *     ("gzip --name") is then ranked by both; one asked in the asker's own words ("how do I shrink
 *     a file"), where BM25 matches stray words, by the vectors alone.
 *
 * RRF needs no score calibration between cosine and BM25 (their scales differ), which is why it
 * is the usual way to combine them. Each result also carries the per-method ranks and scores it
 * came from.
 */
import type { Embedder } from './embedder.ts';
import { lexicalOverlap } from './overlap.ts';
import type { MetadataFilter, SearchHit, VectorStore } from './store.ts';

export type RetrievalMode = 'vector' | 'bm25' | 'hybrid';
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ['vector', 'bm25', 'hybrid'];

export interface RetrieveOptions {
  k?: number;
  mode?: RetrievalMode;
  filter?: MetadataFilter;
  /** RRF constant (default: the embedder's tuned value, else 60, the paper's). */
  rrfK?: number;
  /** Weight of the vector list in RRF (default: the embedder's tuned value, else 1). */
  vectorWeight?: number;
  /** Weight of the BM25 list in RRF (default: the embedder's tuned value, else 1). */
  bm25Weight?: number;
  /**
   * Least share of the question's content words that BM25's first hit must hold for the BM25 list
   * to count, in [0, 1] (default: the embedder's tuned value, else 0: always).
   */
  bm25MinCoverage?: number;
  /** Length of each list fused in hybrid mode (default max(50, 4k)). */
  candidates?: number;
}

export interface RetrievedChunk extends SearchHit {
  /** Rank (from 1) and score in the vector list, when the chunk is in it. */
  vector?: { rank: number; score: number };
  /** Rank (from 1) and score in the BM25 list, when the chunk is in it. */
  bm25?: { rank: number; score: number };
}

/**
 * Fuses ranked lists by reciprocal rank fusion, list j weighted by weights[j] (default 1 each);
 * ties keep the order of first appearance.
 */
export function reciprocalRankFusion(
  lists: readonly (readonly SearchHit[])[],
  rrfK = 60,
  weights: readonly number[] = [],
): { hit: SearchHit; score: number }[] {
  const acc = new Map<number, { hit: SearchHit; score: number; first: number }>();
  let order = 0;
  for (const [j, list] of lists.entries()) {
    const w = weights[j] ?? 1;
    list.forEach((hit, i) => {
      const e = acc.get(hit.chunkId) ?? { hit, score: 0, first: order++ };
      e.score += w / (rrfK + i + 1);
      acc.set(hit.chunkId, e);
    });
  }
  return [...acc.values()].sort((a, b) => b.score - a.score || a.first - b.first);
}

export async function retrieve(
  store: VectorStore,
  embedder: Embedder,
  question: string,
  options: RetrieveOptions = {},
): Promise<RetrievedChunk[]> {
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  const mode = options.mode ?? 'hybrid';
  if (!RETRIEVAL_MODES.includes(mode))
    throw new Error(`mode must be one of ${RETRIEVAL_MODES.join(', ')}, got ${mode}`);
  const byVector = async (n: number): Promise<SearchHit[]> => {
    const [q] = await embedder.embed([question], 'query');
    // A question with nothing to embed (only stopwords for the hash embedder) is similar to nothing.
    if (q.every((x) => x === 0)) return [];
    return store.searchVector(q, n, options.filter);
  };
  const byText = async (n: number): Promise<SearchHit[]> => {
    if (!store.searchText)
      throw new Error('this store has no keyword index: BM25 and hybrid retrieval need one');
    return store.searchText(question, n, options.filter);
  };
  if (mode === 'vector')
    return (await byVector(k)).map((h, i) => ({ ...h, vector: { rank: i + 1, score: h.score } }));
  if (mode === 'bm25')
    return (await byText(k)).map((h, i) => ({ ...h, bm25: { rank: i + 1, score: h.score } }));
  const n = options.candidates ?? Math.max(50, 4 * k);
  const [v, t] = [await byVector(n), await byText(n)];
  const vRank = new Map(v.map((h, i) => [h.chunkId, { rank: i + 1, score: h.score }]));
  const tRank = new Map(t.map((h, i) => [h.chunkId, { rank: i + 1, score: h.score }]));
  const f = embedder.fusion;
  const rrfK = options.rrfK ?? f?.rrfK ?? 60;
  const trust = embedder.vectorTrust?.(question) ?? 1;
  const weights = [
    (options.vectorWeight ?? f?.vectorWeight ?? 1) * trust,
    options.bm25Weight ?? f?.bm25Weight ?? 1,
  ];
  for (const [name, w] of [
    ['rrfK', rrfK],
    ['vectorWeight', weights[0]],
    ['bm25Weight', weights[1]],
  ] as const)
    if (!(Number.isFinite(w) && w >= 0)) throw new Error(`${name} must be a finite number >= 0, got ${w}`);
  const minCoverage = options.bm25MinCoverage ?? f?.bm25MinCoverage ?? 0;
  if (!(minCoverage >= 0 && minCoverage <= 1))
    throw new Error(`bm25MinCoverage must be a number in [0, 1], got ${minCoverage}`);
  // Keyword evidence too thin to trust: the vectors rank alone (when they rank at all).
  if (minCoverage > 0 && t.length > 0 && v.length > 0 && weights[0] > 0)
    if (lexicalOverlap(question, t[0].text) < minCoverage) weights[1] = 0;
  return reciprocalRankFusion([v, t], rrfK, weights)
    .slice(0, k)
    .map(({ hit, score }) => {
      const r: RetrievedChunk = { ...hit, score };
      const vr = vRank.get(hit.chunkId);
      const tr = tRank.get(hit.chunkId);
      if (vr) r.vector = vr;
      if (tr) r.bm25 = tr;
      return r;
    });
}
