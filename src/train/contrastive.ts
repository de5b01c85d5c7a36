/**
 * Contrastive training of a sentence embedder (the BERT-style Encoder, mean pooled), as
 * sentence-transformers' MultipleNegativesRankingLoss with hard negatives (Karpukhin et al. 2020,
 * DPR; Henderson et al. 2017): for a batch of B (query, positive, hard negative) triples,
 *
 *   q = normalise(meanpool(encoder(query_i)))        [B, C]
 *   p = normalise(meanpool(encoder(passage_j)))      [P, C]   the B positives, then the negatives
 *   S = q p^T / tau                                  [B, P]   cosine / temperature
 *   loss = mean_i -log softmax(S_i)[pos(i)]                   InfoNCE (cross-entropy over passages)
 *
 * Every other query's positive and every mined negative is a negative of query i: in-batch
 * negatives come free, and the hard negatives (BM25's best wrong passage for the query,
 * hard_negatives.ts) teach what lexical overlap alone gets wrong.
 *
 * The encoder's training forward takes [B, T] batches with no padding mask, so sequences are
 * grouped by exact length: each group of equal-length texts is one forward pass, and mean
 * pooling over its T rows is then exactly what the packed inference pass (Encoder.embedBatch)
 * computes for the same text. Normalisation is rmsNorm with unit weight (x / rms(x) =
 * sqrt(C) x / |x|), so the cosine is the dot product divided by C.
 */
import type { Encoder } from '../models/encoder.ts';
import {
  concat,
  crossEntropy,
  matmul,
  meanLast,
  noGrad,
  permute,
  rmsNorm,
  scale,
  type Tensor,
  tidy,
} from '../tensor/index.ts';
import { Tensor as T } from '../tensor/tensor.ts';

/** Rows of `seqs` pooled by the mean over each sequence's tokens -> [S, C] on the tape. */
export function meanPoolTrain(model: Encoder, seqs: readonly Int32Array[]): Tensor {
  if (seqs.length === 0) throw new Error('meanPoolTrain: no sequences');
  const byLen = new Map<number, number[]>();
  for (const [i, s] of seqs.entries()) {
    if (s.length === 0) throw new Error(`meanPoolTrain: sequence ${i} is empty`);
    const g = byLen.get(s.length) ?? [];
    g.push(i);
    byLen.set(s.length, g);
  }
  const parts: Tensor[] = [];
  const order: number[] = [];
  for (const [len, idx] of byLen) {
    const ids = new Int32Array(idx.length * len);
    for (const [b, i] of idx.entries()) ids.set(seqs[i], b * len);
    const h = model.forward(ids, idx.length, len); // [B, T, C]
    parts.push(meanLast(permute(h, [0, 2, 1]))); // [B, C]
    order.push(...idx);
  }
  const pooled = parts.length === 1 ? parts[0] : concat(parts, 0); // [S, C], rows in `order`
  // Put the rows back in the order of `seqs` with a permutation matrix (a gather on the tape).
  if (order.every((o, i) => o === i)) return pooled;
  const S = seqs.length;
  const perm = new Float32Array(S * S);
  order.forEach((o, r) => {
    perm[o * S + r] = 1;
  });
  return matmul(T.wrap(perm, [S, S]), pooled); // [S, C]
}

/** Rows of x [N, C] scaled to unit length (times sqrt(C): rmsNorm with weight 1). */
function unitRows(x: Tensor): Tensor {
  const C = x.shape[1];
  return scale(rmsNorm(x, T.ones([C]), 1e-12), 1 / Math.sqrt(C));
}

/**
 * InfoNCE of pooled queries q [B, C] against passages p [P, C]: the cross-entropy of
 * cos(q_i, p_j) / tau over j with target `positives[i]`. Returns a scalar on the tape.
 */
export function infoNceLoss(q: Tensor, p: Tensor, positives: Int32Array, temperature: number): Tensor {
  if (q.ndim !== 2 || p.ndim !== 2 || q.shape[1] !== p.shape[1])
    throw new Error(`infoNceLoss: q [B, C] and p [P, C] expected, got [${q.shape}] and [${p.shape}]`);
  if (positives.length !== q.shape[0])
    throw new Error(`infoNceLoss: ${positives.length} positives for ${q.shape[0]} queries`);
  if (!(temperature > 0)) throw new Error(`infoNceLoss: temperature must be > 0, got ${temperature}`);
  const scores = scale(matmul(unitRows(q), unitRows(p), { transB: true }), 1 / temperature); // [B, P]
  return crossEntropy(scores, positives);
}

/** One batch of token ids: queries, then passages; query i's positive is passages[i]. */
export interface TripletBatch {
  queries: Int32Array[];
  /** B positives, then any hard negatives. */
  passages: Int32Array[];
}

export interface ContrastiveMetrics extends Record<string, number> {
  /** Fraction of queries whose positive scores highest among the batch's passages. */
  acc: number;
}

/** The InfoNCE loss of a batch and its in-batch top-1 accuracy. */
export function contrastiveBatchLoss(
  model: Encoder,
  b: TripletBatch,
  temperature: number,
): { loss: Tensor; metrics: ContrastiveMetrics; tokens: number } {
  const B = b.queries.length;
  const q = meanPoolTrain(model, b.queries);
  const p = meanPoolTrain(model, b.passages);
  const positives = Int32Array.from({ length: B }, (_, i) => i);
  const loss = infoNceLoss(q, p, positives, temperature);
  let correct = 0;
  noGrad(() =>
    tidy(() => {
      const s = matmul(unitRows(q), unitRows(p), { transB: true }).data; // [B, P]
      const P = b.passages.length;
      for (let i = 0; i < B; i++) {
        let best = 0;
        for (let j = 1; j < P; j++) if (s[i * P + j] > s[i * P + best]) best = j;
        if (best === i) correct++;
      }
    }),
  );
  let tokens = 0;
  for (const s of [...b.queries, ...b.passages]) tokens += s.length;
  return { loss, metrics: { acc: correct / B }, tokens };
}
