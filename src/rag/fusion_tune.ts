/**
 * Tuning hybrid retrieval's reciprocal rank fusion (retriever.ts) for one embedder on a dev set
 * of (query, passage) pairs: each query's relevant passage is its own, among all the set's
 * passages.
 *
 *   vector   exact cosine ranking of the passages (the embedder's 'query' and 'passage' vectors)
 *   bm25     SQLite FTS5 BM25 (porter, unicode61; the store's query form, ftsQuery)
 *   fused    score = w_v / (k + rank_v) + w_b / (k + rank_b) over the top `depth` of each list
 *
 * The grid search keeps the (k, w_v, w_b) with the best MRR@10 (ties: recall@5, then the grid's
 * order), with w_b fixed at 1: only the ratio of the weights matters, and k sets how flat the
 * rank discount is. The metrics are eval.ts's (recall@k, MRR@10 from the first relevant rank).
 */
import Database from 'better-sqlite3';
import type { Embedder, FusionWeights } from './embedder.ts';
import { type Metrics, metricsFromRanks } from './eval.ts';
import { ftsQuery } from './sqlite_store.ts';

/** Top-`depth` passage indices per query, best first, by each method. */
export interface RankedLists {
  vector: Int32Array[];
  bm25: Int32Array[];
}

/** The ranked lists of the dev set: queries[i]'s relevant passage is passages[i]. */
export async function devRankedLists(
  embedder: Embedder,
  queries: readonly string[],
  passages: readonly string[],
  depth = 100,
): Promise<RankedLists> {
  if (queries.length !== passages.length)
    throw new Error(`devRankedLists: ${queries.length} queries for ${passages.length} passages`);
  const pv = await embedder.embed(passages, 'passage');
  const qv = await embedder.embed(queries, 'query');
  const n = passages.length;
  const vector = qv.map((q) => {
    const scores = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      const p = pv[j];
      for (let c = 0; c < p.length; c++) s += q[c] * p[c];
      scores[j] = s;
    }
    return topIndices(scores, depth);
  });
  const db = new Database(':memory:');
  try {
    db.exec("CREATE VIRTUAL TABLE p USING fts5(text, tokenize='porter unicode61')");
    const ins = db.prepare('INSERT INTO p (rowid, text) VALUES (?, ?)');
    db.transaction(() => {
      for (const [i, t] of passages.entries()) ins.run(i + 1, t);
    })();
    const search = db.prepare('SELECT rowid AS id FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?');
    const bm25 = queries.map((q) => {
      const fq = ftsQuery(q);
      return fq
        ? Int32Array.from((search.all(fq, depth) as { id: number }[]).map((r) => r.id - 1))
        : new Int32Array(0);
    });
    return { vector, bm25 };
  } finally {
    db.close();
  }
}

/** Indices of the `k` largest scores, largest first (ties: lower index first). */
function topIndices(scores: Float64Array, k: number): Int32Array {
  const idx = Array.from(scores.keys());
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return Int32Array.from(idx.slice(0, k));
}

/** Rank (from 1) of passage i in list, 0 when absent. */
function rankIn(list: Int32Array, i: number): number {
  const r = list.indexOf(i);
  return r + 1;
}

/** Fused ranking of two lists by weighted RRF (ties: order of first appearance, vector first). */
export function fuseLists(v: Int32Array, b: Int32Array, f: FusionWeights): Int32Array {
  const score = new Map<number, number>();
  for (const [r, j] of v.entries()) score.set(j, (score.get(j) ?? 0) + f.vectorWeight / (f.rrfK + r + 1));
  for (const [r, j] of b.entries()) score.set(j, (score.get(j) ?? 0) + f.bm25Weight / (f.rrfK + r + 1));
  const order = [...score.keys()];
  const first = new Map(order.map((j, i) => [j, i]));
  order.sort(
    (x, y) => (score.get(y) ?? 0) - (score.get(x) ?? 0) || (first.get(x) ?? 0) - (first.get(y) ?? 0),
  );
  return Int32Array.from(order);
}

export interface DevReport {
  vector: Metrics;
  bm25: Metrics;
  /** RRF with k = 60 and equal weights (the untuned default). */
  hybrid60: Metrics;
  /** RRF with the chosen constants. */
  tuned: Metrics;
}

/** The default grid: k from sharp to flat, the vector list from a third of BM25's weight to 4x. */
export const FUSION_GRID = {
  rrfK: [1, 3, 10, 20, 40, 60, 100],
  vectorWeight: [0, 0.33, 0.5, 0.75, 1, 1.5, 2, 3, 4],
};

/** Metrics of the queries of one set, ranked by `list(i)`. */
function metricsOf(lists: RankedLists, list: (i: number) => Int32Array): Metrics {
  return metricsFromRanks(Array.from({ length: lists.vector.length }, (_, i) => rankIn(list(i), i)));
}

/**
 * Metrics of each method on each dev set, and the fusion constants on the grid with the best mean
 * MRR@10 over the sets (each set counts the same, whatever its size; ties: mean recall@5, then
 * the grid's order).
 */
export function tuneFusion(
  sets: Readonly<Record<string, RankedLists>>,
  grid = FUSION_GRID,
): { fusion: FusionWeights; sets: Record<string, DevReport> } {
  const names = Object.keys(sets);
  if (names.length === 0) throw new Error('tuneFusion: no dev set');
  const fused = (l: RankedLists, w: FusionWeights) =>
    metricsOf(l, (i) => fuseLists(l.vector[i], l.bm25[i], w));
  const mean = (ms: Metrics[], k: 'mrrAt10' | 'recallAt5') => ms.reduce((a, m) => a + m[k], 0) / ms.length;
  let best: { mrr: number; r5: number; f: FusionWeights } | null = null;
  for (const rrfK of grid.rrfK)
    for (const vectorWeight of grid.vectorWeight) {
      const f = { rrfK, vectorWeight, bm25Weight: 1 };
      const ms = names.map((n) => fused(sets[n], f));
      const mrr = mean(ms, 'mrrAt10');
      const r5 = mean(ms, 'recallAt5');
      if (!best || mrr > best.mrr || (mrr === best.mrr && r5 > best.r5)) best = { mrr, r5, f };
    }
  if (!best) throw new Error('tuneFusion: empty grid');
  const fusion = best.f;
  const reports: Record<string, DevReport> = {};
  for (const n of names) {
    const l = sets[n];
    reports[n] = {
      vector: metricsOf(l, (i) => l.vector[i]),
      bm25: metricsOf(l, (i) => l.bm25[i]),
      hybrid60: fused(l, { rrfK: 60, vectorWeight: 1, bm25Weight: 1 }),
      tuned: fused(l, fusion),
    };
  }
  return { fusion, sets: reports };
}
