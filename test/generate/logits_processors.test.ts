/**
 * Each logits processor against its formula, on small hand-made vectors: the penalties change
 * exactly the logits the formulas say, and the filters keep exactly the expected set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  TokenHistory,
  topIndices,
} from '../../src/generate/logits_processors.ts';
import { Sampler } from '../../src/generate/sampler.ts';
import { Rng } from '../../src/tensor/random.ts';

const f32 = (xs: number[]) => Float32Array.from(xs);
/** The ids left unmasked. */
const kept = (l: Float32Array) => [...l.keys()].filter((i) => l[i] > -Infinity);

test('repetition penalty divides positive and multiplies negative logits of seen tokens only', () => {
  const l = f32([4, -1, 0, 3, -2]);
  applyRepetitionPenalty(l, new Set([0, 1, 2]), 2);
  assert.deepEqual([...l], [2, -2, 0, 3, -2]);
  const same = f32([4, -1]);
  applyRepetitionPenalty(same, [0, 1], 1);
  assert.deepEqual([...same], [4, -1]);
});

test('frequency and presence penalties: logit -= frequency * count + presence * (count > 0)', () => {
  const l = f32([1, 1, 1, 1]);
  const counts = new Map([
    [0, 3],
    [2, 1],
  ]);
  applyFrequencyPresencePenalty(l, counts, 0.5, 0.25);
  assert.deepEqual([...l], [1 - 1.5 - 0.25, 1, 1 - 0.5 - 0.25, 1]);
  const neg = f32([0, 0]);
  applyFrequencyPresencePenalty(neg, new Map([[1, 2]]), -1, 0); // negative: encourages repeats
  assert.deepEqual([...neg], [0, 2]);
});

test('TokenHistory: repetition sees prompt and output, frequency/presence count the output only', () => {
  const h = new TokenHistory([5, 6, 5]);
  h.push(7);
  h.push(7);
  h.push(5);
  assert.deepEqual([...h.seen].sort(), [5, 6, 7]);
  assert.deepEqual([...h.generatedCounts].sort(), [
    [5, 1],
    [7, 2],
  ]);
  // Through the Sampler: the penalties are applied with the formulas above, before temperature.
  const s = new Sampler({ repetitionPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 1, temperature: 2 });
  const logits = f32([0, 0, 0, 0, 0, 4, -4, 2, 1]);
  const x = s.process(logits, h);
  const want = [0, 0, 0, 0, 0, (4 / 2 - 0.5 - 1) / 2, (-4 * 2) / 2, (2 / 2 - 1 - 1) / 2, 1 / 2];
  assert.deepEqual([...x], want.map(Math.fround));
  assert.deepEqual([...logits], [0, 0, 0, 0, 0, 4, -4, 2, 1], 'the raw logits are left alone');
});

test('temperature divides every logit', () => {
  const l = f32([1, -2, 0.5]);
  applyTemperature(l, 0.5);
  assert.deepEqual([...l], [2, -4, 1]);
  assert.throws(() => applyTemperature(f32([1]), 0), /temperature/);
});

test('top-k keeps exactly the k largest, lower id first on ties', () => {
  const l = f32([0.1, 3, -1, 2, 3, 0.5]);
  applyTopK(l, 2);
  assert.deepEqual(kept(l), [1, 4]);
  const ties = f32([1, 1, 1, 1]);
  applyTopK(ties, 3);
  assert.deepEqual(kept(ties), [0, 1, 2]);
  const off = f32([1, 2, 3]);
  applyTopK(off, 0);
  assert.deepEqual(kept(off), [0, 1, 2]);
  assert.deepEqual([...off], [1, 2, 3]);
});

test('top-p keeps the smallest most-likely set reaching p, and always the top token', () => {
  // probabilities 0.5, 0.25, 0.125, 0.125 (ids 2, 0, 1, 3)
  const p = [0.25, 0.125, 0.5, 0.125];
  const logits = () => f32(p.map(Math.log));
  const run = (top: number) => {
    const l = logits();
    applyTopP(l, top);
    return kept(l);
  };
  assert.deepEqual(run(0.5), [2]);
  assert.deepEqual(run(0.6), [0, 2]);
  assert.deepEqual(run(0.75), [0, 2]);
  assert.deepEqual(run(0.8), [0, 1, 2]); // the tie 1/3 goes to the lower id
  assert.deepEqual(run(1e-9), [2]);
  assert.deepEqual(run(0), [2]);
  assert.deepEqual(run(1), [0, 1, 2, 3]);
  // Already-masked tokens count for nothing (top-p after top-k renormalises).
  const l = f32([Math.log(0.3), -Infinity, Math.log(0.1), Math.log(0.6)]);
  applyTopP(l, 0.85); // renormalised over {0, 2, 3}: 0.6, 0.3 reach 0.9
  assert.deepEqual(kept(l), [0, 3]);
});

test('min-p keeps tokens with p >= minP * p_max', () => {
  const probs = [0.4, 0.21, 0.09, 0.19, 0.11];
  const run = (minP: number) => {
    const l = f32(probs.map(Math.log));
    applyMinP(l, minP);
    return kept(l);
  };
  assert.deepEqual(run(0.5), [0, 1]); // threshold 0.2
  assert.deepEqual(run(0.25), [0, 1, 3, 4]); // threshold 0.1
  assert.deepEqual(run(0.2), [0, 1, 2, 3, 4]); // threshold 0.08
  assert.deepEqual(run(1), [0]);
  assert.deepEqual(run(0), [0, 1, 2, 3, 4]);
});

test('topIndices: largest first, ties by lower id, never -Infinity or NaN', () => {
  assert.deepEqual([...topIndices([1, 3, 3, 0], 2)], [1, 2]);
  assert.deepEqual([...topIndices([-Infinity, 2, Number.NaN, 1], 4)], [1, 3]);
  const xs = Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 100);
  const want = [...xs.keys()].sort((a, b) => xs[b] - xs[a] || a - b).slice(0, 37);
  assert.deepEqual([...topIndices(xs, 37)], want);
});

test('top-p and top-k equal a sort-based reference on random vectors with ties and masked tokens', () => {
  const rng = new Rng(5);
  for (let k = 0; k < 300; k++) {
    const V = 2 + rng.int(300);
    const levels = 1 + rng.int(40); // few levels: many ties
    const l = Float32Array.from({ length: V }, () =>
      rng.random() < 0.1 ? -Infinity : rng.int(levels) * 0.37,
    );
    const order = [...l.keys()].filter((i) => l[i] > -Infinity).sort((a, b) => l[b] - l[a] || a - b);
    if (order.length === 0) continue;
    const p = rng.random();
    const m = l[order[0]];
    const sum = order.reduce((a, i) => a + Math.exp(l[i] - m), 0);
    let cum = 0;
    let n = 0;
    while (n < order.length) {
      cum += Math.exp(l[order[n++]] - m) / sum;
      if (cum >= p) break;
    }
    const x = Float32Array.from(l);
    applyTopP(x, p);
    assert.deepEqual(
      kept(x),
      order.slice(0, n).sort((a, b) => a - b),
      `top-p case ${k}`,
    );
    const topK = 1 + rng.int(V);
    const y = Float32Array.from(l);
    applyTopK(y, topK);
    assert.deepEqual(
      kept(y),
      order.slice(0, topK).sort((a, b) => a - b),
      `top-k case ${k}`,
    );
  }
});
