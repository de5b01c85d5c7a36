/**
 * Word vectors tuned on paraphrase pairs: the InfoNCE gradient through the weighted mean and its
 * normalisation against finite differences, the weighted mean itself, and a toy run that pulls a
 * paired word's vectors together, the same for the same seed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/tensor/random.ts';
import { type BagPair, bagVector, infoNce, tuneWordVectors } from '../../src/train/word_tuning.ts';

const bag = (ids: number[], weights: number[]) => ({
  ids: Int32Array.from(ids),
  weights: Float32Array.from(weights),
});

function randomRows(n: number, dim: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => r.normal());
}

test('bagVector: the unit weighted mean of the rows', () => {
  const W = Float32Array.from([1, 0, 0, 2]); // rows [1, 0] and [0, 2]
  const u = new Float32Array(2);
  const n = bagVector(W, 2, bag([0, 1], [3, 2]), u);
  // v = 3 [1, 0] + 2 [0, 2] = [3, 4]
  assert.ok(Math.abs(n - 5) < 1e-6);
  assert.ok(Math.abs(u[0] - 0.6) < 1e-6 && Math.abs(u[1] - 0.8) < 1e-6);
});

test('infoNce: the gradient of every touched row matches finite differences', () => {
  const dim = 4;
  const W = randomRows(6, dim, 3);
  const batch: BagPair[] = [
    { q: bag([0, 1], [1, 0.5]), p: bag([2, 3], [0.7, 1.2]) },
    { q: bag([1, 4], [0.3, 1]), p: bag([5], [1]) },
    { q: bag([3], [2]), p: bag([0, 5, 2], [1, 1, 0.4]) },
  ];
  const tau = 0.5;
  const { loss, grad } = infoNce(W, dim, batch, tau);
  assert.ok(loss > 0 && Number.isFinite(loss));
  assert.deepEqual([...grad.keys()].sort(), [0, 1, 2, 3, 4, 5]);
  const eps = 1e-2;
  let worst = 0;
  for (const [row, g] of grad)
    for (let j = 0; j < dim; j++) {
      const i = row * dim + j;
      const keep = W[i];
      W[i] = keep + eps;
      const up = infoNce(W, dim, batch, tau).loss;
      W[i] = keep - eps;
      const down = infoNce(W, dim, batch, tau).loss;
      W[i] = keep;
      const numeric = (up - down) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - g[j]) / Math.max(1e-3, Math.abs(numeric)));
    }
  assert.ok(worst < 2e-2, `largest relative difference ${worst}`);
});

test('tuneWordVectors: paired words move together; the same seed gives the same rows; too few pairs is an error', () => {
  const dim = 8;
  const n = 40;
  const start = randomRows(n, dim, 5);
  // word i pairs with word i + 20: a query of i should find the passage of i + 20
  const pairs: BagPair[] = Array.from({ length: 20 }, (_, i) => ({
    q: bag([i], [1]),
    p: bag([i + 20], [1]),
  }));
  const cos = (W: Float32Array, a: number, b: number) => {
    const u = new Float32Array(dim);
    const v = new Float32Array(dim);
    bagVector(W, dim, bag([a], [1]), u);
    bagVector(W, dim, bag([b], [1]), v);
    return u.reduce((s, x, k) => s + x * v[k], 0);
  };
  const mean = (W: Float32Array) => pairs.reduce((s, _, i) => s + cos(W, i, i + 20), 0) / pairs.length;
  const o = { epochs: 30, batchSize: 10, lr: 0.2, tau: 0.1, lambda: 0, seed: 7 };
  const tuned = tuneWordVectors(start, dim, pairs, o);
  assert.ok(mean(tuned) > 0.75 && mean(start) < 0.3, `mean cosine ${mean(start)} -> ${mean(tuned)}`);
  assert.deepEqual(tuneWordVectors(start, dim, pairs, o), tuned);
  assert.notDeepEqual(tuneWordVectors(start, dim, pairs, { ...o, seed: 8 }), tuned);
  // untouched rows keep their values (only the rows a batch touches move)
  const extra = randomRows(n + 1, dim, 5);
  const again = tuneWordVectors(extra, dim, pairs, o);
  assert.deepEqual(again.subarray(n * dim), extra.subarray(n * dim));
  assert.throws(
    () => tuneWordVectors(start, dim, pairs.slice(0, 5), o),
    /5 pairs, fewer than one batch of 10/,
  );
});
