/**
 * Word vectors tuned on paraphrase pairs (issue 18): the sentence model is a weighted mean of word
 * vectors, unit length, and the vectors are trained so that a query's mean lands nearest its own
 * passage's. Wieting et al. (2016, "Towards universal paraphrastic sentence embeddings") found such
 * word averages, trained on paraphrase pairs, carry out of domain better than recurrent encoders.
 *
 *   text   -> bag: word rows ids[k] with weights a[k] (the caller's tokenisation and weighting)
 *   v      =  sum_k a[k] W[ids[k]]         u = v / |v|                          // u: [dim]
 *   S[i,j] =  u_q[i] . u_p[j] / tau          // S: [B, B], in-batch negatives
 *   loss   =  (CE(S rows, diagonal) + CE(S columns, diagonal)) / 2     (InfoNCE both ways)
 *            + lambda / 2 |W - W0|^2 over the rows the batch touches (a pull to the start)
 *
 * Rows are updated with Adagrad (one accumulator per row), only the rows a batch touches: the
 * vocabulary is large and a batch sees a few thousand words.
 */
import { Rng } from '../tensor/random.ts';

/** A text as word rows and their weights. */
export interface TextBag {
  ids: Int32Array;
  weights: Float32Array;
}

export interface BagPair {
  q: TextBag;
  p: TextBag;
}

export interface WordTuningOptions {
  /** Passes over the pairs (default 2). */
  epochs?: number;
  /** Adagrad's learning rate (default 0.05). */
  lr?: number;
  /** InfoNCE temperature over cosines (default 0.05). */
  tau?: number;
  /** Pairs per batch; the other pairs' passages are a pair's negatives (default 256). */
  batchSize?: number;
  /** Weight of the pull back to the starting vectors (default 1e-3). */
  lambda?: number;
  /** Shuffling seed (default 1). */
  seed?: number;
  onStep?: (step: number, epoch: number, loss: number) => void;
}

const DEFAULTS = { epochs: 2, lr: 0.05, tau: 0.05, batchSize: 256, lambda: 1e-3, seed: 1 } as const;

/** u = unit(sum_k a[k] W[ids[k]]) written at out[o..o+dim); returns |v| (1 for a zero sum). */
export function bagVector(W: Float32Array, dim: number, b: TextBag, out: Float32Array, o = 0): number {
  out.fill(0, o, o + dim);
  for (let k = 0; k < b.ids.length; k++) {
    const row = b.ids[k] * dim;
    const a = b.weights[k];
    for (let j = 0; j < dim; j++) out[o + j] += a * W[row + j];
  }
  let n = 0;
  for (let j = 0; j < dim; j++) n += out[o + j] * out[o + j];
  n = Math.sqrt(n) || 1;
  for (let j = 0; j < dim; j++) out[o + j] /= n;
  return n;
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[ao + j] * b[bo + j];
  return s;
}

/**
 * The InfoNCE loss of a batch (without the pull to the start) and its gradient for each row the
 * batch touches.
 */
export function infoNce(
  W: Float32Array,
  dim: number,
  batch: readonly BagPair[],
  tau: number,
): { loss: number; grad: Map<number, Float32Array> } {
  const B = batch.length;
  const Uq = new Float32Array(B * dim);
  const Up = new Float32Array(B * dim);
  const nq = new Float32Array(B);
  const np = new Float32Array(B);
  batch.forEach((x, i) => {
    nq[i] = bagVector(W, dim, x.q, Uq, i * dim);
    np[i] = bagVector(W, dim, x.p, Up, i * dim);
  });
  const S = new Float64Array(B * B);
  for (let i = 0; i < B; i++)
    for (let j = 0; j < B; j++) S[i * B + j] = dot(Uq, i * dim, Up, j * dim, dim) / tau;
  // dL/dS = (softmax - I) / (2 B) per direction, then / tau for dL/d(cosine)
  const dS = new Float64Array(B * B);
  let loss = 0;
  for (const rows of [true, false])
    for (let i = 0; i < B; i++) {
      const at = (j: number) => (rows ? i * B + j : j * B + i);
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < B; j++) m = Math.max(m, S[at(j)]);
      let z = 0;
      for (let j = 0; j < B; j++) z += Math.exp(S[at(j)] - m);
      loss -= S[at(i)] - m - Math.log(z);
      for (let j = 0; j < B; j++)
        dS[at(j)] += (Math.exp(S[at(j)] - m) / z - (i === j ? 1 : 0)) / (2 * B * tau);
    }
  // dL/du_q = dS u_p, dL/du_p = dS^T u_q
  const gq = new Float32Array(B * dim);
  const gp = new Float32Array(B * dim);
  for (let i = 0; i < B; i++)
    for (let j = 0; j < B; j++) {
      const d = dS[i * B + j];
      for (let k = 0; k < dim; k++) {
        gq[i * dim + k] += d * Up[j * dim + k];
        gp[j * dim + k] += d * Uq[i * dim + k];
      }
    }
  // through u = v / |v|: dL/dv = (g - (g . u) u) / |v|; dL/dW[w] += a_w dL/dv
  const grad = new Map<number, Float32Array>();
  const back = (U: Float32Array, g: Float32Array, n: Float32Array, i: number, b: TextBag) => {
    const o = i * dim;
    const gu = dot(g, o, U, o, dim);
    for (let k = 0; k < b.ids.length; k++) {
      let r = grad.get(b.ids[k]);
      if (!r) {
        r = new Float32Array(dim);
        grad.set(b.ids[k], r);
      }
      const a = b.weights[k] / n[i];
      for (let j = 0; j < dim; j++) r[j] += a * (g[o + j] - gu * U[o + j]);
    }
  };
  batch.forEach((x, i) => {
    back(Uq, gq, nq, i, x.q);
    back(Up, gp, np, i, x.p);
  });
  return { loss: loss / (2 * B), grad };
}

/** Tunes a copy of `start` (rows of `dim`) on the pairs; returns the tuned rows (not unit length). */
export function tuneWordVectors(
  start: Float32Array,
  dim: number,
  pairs: readonly BagPair[],
  options: WordTuningOptions = {},
): Float32Array {
  const o = { ...DEFAULTS, ...options };
  if (pairs.length < o.batchSize)
    throw new Error(`word tuning: ${pairs.length} pairs, fewer than one batch of ${o.batchSize}`);
  const W = Float32Array.from(start);
  const G = new Float32Array(start.length / dim).fill(1e-8);
  const rng = new Rng(o.seed);
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = Array.from(pairs.keys());
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let b0 = 0; b0 + o.batchSize <= order.length; b0 += o.batchSize) {
      const { loss, grad } = infoNce(
        W,
        dim,
        order.slice(b0, b0 + o.batchSize).map((i) => pairs[i]),
        o.tau,
      );
      for (const [w, r] of grad) {
        const row = w * dim;
        let sq = 0;
        for (let j = 0; j < dim; j++) {
          r[j] += o.lambda * (W[row + j] - start[row + j]);
          sq += r[j] * r[j];
        }
        G[w] += sq / dim;
        const eta = o.lr / Math.sqrt(G[w]);
        for (let j = 0; j < dim; j++) W[row + j] -= eta * r[j];
      }
      o.onStep?.(++step, epoch, loss);
    }
  }
  return W;
}
