/**
 * The embedder's contrastive training (src/train/contrastive.ts, embedder_train.ts):
 * - infoNceLoss equals a float64 reference computed here from its definition
 *   (mean_i -log softmax_j(cos(q_i, p_j) / tau)[pos_i]) and its gradients match central finite
 *   differences (a missing 1/tau, a cosine without normalisation or a wrong target would not);
 * - meanPoolTrain gives, for texts of several lengths in any order, the vectors the packed
 *   inference pass (Encoder.embedBatch, unnormalised) gives: grouping by length and putting the
 *   rows back in order lose nothing;
 * - a tiny training run lowers the loss and ranks each query's own passage first.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Encoder } from '../../src/models/encoder.ts';
import { bertConfig } from '../../src/models/presets.ts';
import { noGrad, Rng, Tensor, tidy } from '../../src/tensor/index.ts';
import { infoNceLoss, meanPoolTrain } from '../../src/train/contrastive.ts';
import { ladderLength, trainEmbedder, tripletBatch } from '../../src/train/embedder_train.ts';
import { gradcheck } from '../tensor/gradcheck.ts';

/** The InfoNCE loss in float64, straight from its definition. */
function referenceInfoNce(q: number[][], p: number[][], pos: number[], tau: number): number {
  const unit = (v: number[]) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / n);
  };
  const qu = q.map(unit);
  const pu = p.map(unit);
  let total = 0;
  for (const [i, qi] of qu.entries()) {
    const s = pu.map((pj) => pj.reduce((acc, x, c) => acc + x * qi[c], 0) / tau);
    const m = Math.max(...s);
    const lse = m + Math.log(s.reduce((acc, x) => acc + Math.exp(x - m), 0));
    total += lse - s[pos[i]];
  }
  return total / q.length;
}

function rows(t: Tensor): number[][] {
  const [n, c] = t.shape;
  return Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * c, (i + 1) * c)));
}

test('infoNceLoss equals the float64 reference and its gradients match finite differences', () => {
  const rng = new Rng(3);
  const q = Tensor.param(Tensor.randn([3, 5], rng));
  const p = Tensor.param(Tensor.randn([4, 5], rng));
  const pos = Int32Array.from([2, 0, 3]);
  for (const tau of [1, 0.2]) {
    const got = noGrad(() => infoNceLoss(q, p, pos, tau).item());
    const want = referenceInfoNce(rows(q), rows(p), [...pos], tau);
    // float32 cosines (|error| ~1e-7) divided by tau, through a log-sum-exp: 1e-5 is ample
    assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, 1 / tau), `tau ${tau}: ${got} vs ${want}`);
  }
  gradcheck('infoNce', [q, p], (a, b) => infoNceLoss(a, b, pos, 0.5), { eps: 1e-2, rtol: 2e-2, atol: 2e-3 });
});

test('infoNceLoss refuses mismatched shapes, positives and temperatures', () => {
  const q = Tensor.zeros([2, 3]);
  assert.throws(
    () => infoNceLoss(q, Tensor.zeros([2, 4]), Int32Array.from([0, 1]), 1),
    /q \[B, C\] and p \[P, C\]/,
  );
  assert.throws(
    () => infoNceLoss(q, Tensor.zeros([2, 3]), Int32Array.from([0]), 1),
    /1 positives for 2 queries/,
  );
  assert.throws(
    () => infoNceLoss(q, Tensor.zeros([2, 3]), Int32Array.from([0, 1]), 0),
    /temperature must be > 0/,
  );
});

const tinyConfig = () =>
  bertConfig({ vocabSize: 40, dModel: 16, nHeads: 2, nLayers: 1, ffnDim: 32, contextLength: 16 });

test('meanPoolTrain gives the packed inference pass its vectors, rows in the order given', () => {
  const model = new Encoder(tinyConfig(), 5);
  const seqs = [
    Int32Array.from([2, 7, 9, 3]),
    Int32Array.from([2, 11, 3]),
    Int32Array.from([2, 5, 6, 8, 3]),
    Int32Array.from([2, 12, 13, 3]),
  ];
  const want = model.embedBatch(seqs, 'mean', false);
  tidy(() => {
    const got = noGrad(() => meanPoolTrain(model, seqs));
    assert.deepEqual(got.shape, [4, 16]);
    for (const [i, w] of want.entries())
      for (let c = 0; c < 16; c++)
        assert.ok(Math.abs(got.data[i * 16 + c] - w[c]) < 1e-5, `row ${i} col ${c}`);
  });
});

test('ladderLength: exact to 16, then steps of a quarter of the power of two, never above n', () => {
  assert.deepEqual(
    [1, 16, 17, 19, 20, 23, 24, 31, 32, 39, 40, 63, 64, 100, 128].map(ladderLength),
    [1, 16, 16, 16, 20, 20, 24, 28, 32, 32, 40, 56, 64, 96, 128],
  );
});

test('tripletBatch: queries, positives, then hard negatives not already in the batch', () => {
  const ids = (n: number) => Int32Array.from([n]);
  const data = {
    queries: [ids(10), ids(11), ids(12)],
    passages: [ids(20), ids(21), ids(22)],
    negatives: Int32Array.from([2, 0, -1]),
  };
  const b = tripletBatch(data, [0, 1]);
  assert.deepEqual(
    b.queries.map((q) => q[0]),
    [10, 11],
  );
  // pair 0's negative (passage 2) is added; pair 1's (passage 0) is already pair 0's positive
  assert.deepEqual(
    b.passages.map((p) => p[0]),
    [20, 21, 22],
  );
});

test('a tiny training run lowers the loss and ranks each query above the other passages', async () => {
  // 6 topics; a query is two topic words, its passage four other words of the same topic, so
  // only what training learns (which words go together) can match them.
  const topic = (t: number, k: number) => 5 + t * 5 + (k % 5);
  const n = 6;
  const seq = (t: number, ks: number[]) => Int32Array.from([2, ...ks.map((k) => topic(t, k)), 3]);
  const data = {
    queries: Array.from({ length: n }, (_, t) => seq(t, [0, 1])),
    passages: Array.from({ length: n }, (_, t) => seq(t, [2, 3, 4, 2])),
    negatives: new Int32Array(n).fill(-1),
  };
  const model = new Encoder(tinyConfig(), 1);
  const out = mkdtempSync(join(tmpdir(), 'xfmr-contrastive-'));
  try {
    const r = await trainEmbedder(model, data, {
      out,
      steps: 60,
      batchSize: n,
      lr: 1e-2,
      maxLen: 16,
      temperature: 0.1,
      progress: false,
    });
    const first = r.losses[0];
    const last = r.losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    // at the start all cosines are near 1, so the loss is near log(6) = 1.79; learned, it falls
    assert.ok(first > 1.2, `first loss ${first}`);
    assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
    const qv = model.embedBatch(data.queries, 'mean', true);
    const pv = model.embedBatch(data.passages, 'mean', true);
    for (const [i, q] of qv.entries()) {
      const s = pv.map((p) => p.reduce((acc, x, c) => acc + x * q[c], 0));
      const best = s.indexOf(Math.max(...s));
      assert.equal(best, i, `query ${i}: scores ${s.map((x) => x.toFixed(3)).join(' ')}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
