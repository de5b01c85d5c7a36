/**
 * Behavioural tests of the sampler: each option changes what is drawn, as it should.
 *
 * The reference distribution is computed here independently (sort, cut, renormalise), and the
 * empirical frequencies of many seeded draws are compared to it with a chi-squared test at
 * significance 0.001: the statistic must stay under the 0.999 quantile of chi2(df), computed with
 * the Wilson-Hilferty approximation. Draws are seeded, so the test is deterministic; a sampler that
 * ignored an option (temperature, top-k, top-p, min-p) would draw from another distribution and
 * either draw a token outside the expected support or exceed the quantile by far.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, Sampler, type SamplerOptions } from '../../src/generate/sampler.ts';
import { Rng } from '../../src/tensor/random.ts';

const V = 40;

/** A spread-out distribution: logits ~ N(0, 1.5^2), no ties. */
function spreadLogits(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: V }, () => 1.5 * rng.normal());
}

/** The filtered, renormalised distribution, in the documented order: T -> top-k -> top-p -> min-p. */
function reference(logits: Float32Array, o: SamplerOptions): number[] {
  const t = o.temperature ?? 1;
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  let keep = o.topK ? order.slice(0, o.topK) : order;
  const probsOf = (ids: number[]) => {
    const m = Math.max(...ids.map((i) => logits[i] / t));
    const w = ids.map((i) => Math.exp(logits[i] / t - m));
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / s);
  };
  if (o.topP !== undefined && o.topP < 1) {
    const p = probsOf(keep);
    let cum = 0;
    let n = 0;
    while (n < keep.length) {
      cum += p[n++];
      if (cum >= o.topP) break;
    }
    keep = keep.slice(0, n);
  }
  if (o.minP) {
    const p = probsOf(keep);
    keep = keep.filter((_, j) => p[j] >= (o.minP ?? 0) * p[0]);
  }
  const p = probsOf(keep);
  const out = new Array<number>(V).fill(0);
  keep.forEach((id, j) => {
    out[id] = p[j];
  });
  return out;
}

/** The 0.999 quantile of chi-squared with df degrees of freedom (Wilson-Hilferty). */
function chi2Quantile999(df: number): number {
  const z = 3.090232306167813; // standard normal 0.999 quantile
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

function draw(logits: Float32Array, o: SamplerOptions, n: number): number[] {
  const s = new Sampler(o);
  const counts = new Array<number>(V).fill(0);
  for (let i = 0; i < n; i++) counts[s.sample(logits).tokenId]++;
  return counts;
}

/** Draws n tokens and checks support and frequencies against the reference distribution. */
function checkDistribution(logits: Float32Array, o: SamplerOptions, n = 20000): number[] {
  const want = reference(logits, o);
  const counts = draw(logits, o, n);
  let chi2 = 0;
  let df = -1;
  for (let i = 0; i < V; i++) {
    if (want[i] === 0) {
      assert.equal(counts[i], 0, `token ${i} is outside the filtered support but was drawn`);
      continue;
    }
    const e = n * want[i];
    chi2 += (counts[i] - e) ** 2 / e;
    df++;
  }
  if (df > 0) {
    const q = chi2Quantile999(df);
    assert.ok(chi2 < q, `chi2 = ${chi2.toFixed(1)} >= ${q.toFixed(1)} (df ${df}) for ${JSON.stringify(o)}`);
  }
  return counts;
}

test('Wilson-Hilferty quantiles are close to the tabulated chi-squared 0.999 quantiles', () => {
  const table: [number, number][] = [
    [1, 10.828],
    [5, 20.515],
    [10, 29.588],
    [39, 72.055],
  ];
  // Within 1.5% from df 5 on; 3% at df 1, where the approximation is worst.
  for (const [df, q] of table) assert.ok(Math.abs(chi2Quantile999(df) - q) / q < (df === 1 ? 0.035 : 0.015));
});

test('empirical frequencies match the filtered, renormalised distribution (chi-squared)', () => {
  const logits = spreadLogits(1);
  const cases: SamplerOptions[] = [
    { seed: 1 },
    { seed: 2, temperature: 0.6 },
    { seed: 3, temperature: 1.7 },
    { seed: 4, topK: 7 },
    { seed: 5, topP: 0.7 },
    { seed: 6, minP: 0.15 },
    { seed: 7, temperature: 0.8, topK: 12, topP: 0.9, minP: 0.05 },
    { seed: 8, temperature: 1.3, topK: 20, topP: 0.8 },
  ];
  for (const o of cases) checkDistribution(logits, o);
});

test('the chi-squared check rejects a sampler that ignores an option', () => {
  // Draws made without the temperature, judged against the distribution with it.
  const logits = spreadLogits(1);
  const counts = draw(logits, { seed: 9 }, 20000);
  const want = reference(logits, { temperature: 0.6 });
  let chi2 = 0;
  for (let i = 0; i < V; i++) chi2 += (counts[i] - 20000 * want[i]) ** 2 / (20000 * want[i]);
  assert.ok(chi2 > 10 * chi2Quantile999(V - 1));
});

test('top-k never samples outside the k most likely tokens', () => {
  const logits = spreadLogits(2);
  const top = new Set([...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5));
  const counts = draw(logits, { seed: 3, topK: 5, temperature: 2 }, 5000);
  counts.forEach((c, i) => {
    if (!top.has(i)) assert.equal(c, 0, `token ${i} is not in the top 5`);
    else assert.ok(c > 0, `top-5 token ${i} was never drawn`);
  });
  assert.deepEqual(
    draw(logits, { seed: 4, topK: 1, temperature: 5 }, 500)
      .map((c, i) => (c ? i : -1))
      .filter((i) => i >= 0),
    [argmax(logits)],
  );
});

test('top-p never samples outside the nucleus, and always keeps the top token', () => {
  const logits = spreadLogits(3);
  for (const p of [0.3, 0.6, 0.9]) {
    const nucleus = reference(logits, { topP: p });
    const counts = draw(logits, { seed: 5, topP: p }, 5000);
    counts.forEach((c, i) => {
      if (nucleus[i] === 0) assert.equal(c, 0, `p ${p}: token ${i} is outside the nucleus`);
      else assert.ok(c > 0, `p ${p}: nucleus token ${i} was never drawn`);
    });
    assert.ok(counts[argmax(logits)] > 0);
  }
  for (const p of [1e-6, 0]) {
    const counts = draw(logits, { seed: 6, topP: p, temperature: 3 }, 500);
    assert.equal(counts[argmax(logits)], 500, `p ${p}: only the top token`);
  }
});

test('min-p never samples a token below min_p x p_max', () => {
  const logits = spreadLogits(4);
  const probs = reference(logits, {});
  const pmax = Math.max(...probs);
  const counts = draw(logits, { seed: 7, minP: 0.3 }, 5000);
  counts.forEach((c, i) => {
    if (probs[i] < 0.3 * pmax) assert.equal(c, 0, `token ${i} is below min-p`);
    else assert.ok(c > 0, `token ${i} passes min-p but was never drawn`);
  });
});

test('temperature 0 is greedy: the argmax (lowest id on ties), drawing no random number', () => {
  const rng = new Rng(11);
  for (let k = 0; k < 200; k++) {
    // Few distinct values, so ties are common.
    const logits = Float32Array.from({ length: 30 }, () => rng.int(5));
    const s = new Sampler({ temperature: 0, seed: k, topK: 3, topP: 0.5 });
    const state = s.rng.getState();
    const want = logits.indexOf(Math.max(...logits));
    assert.equal(s.sample(logits).tokenId, want);
    assert.equal(argmax(logits), want);
    assert.deepEqual(s.rng.getState(), state);
  }
  // And at temperature 1 the same distribution is not always the argmax (so 0 matters).
  const logits = spreadLogits(5);
  const counts = draw(logits, { temperature: 1, seed: 1 }, 200);
  assert.ok(counts[argmax(logits)] < 200);
  assert.equal(draw(logits, { temperature: 0, seed: 1 }, 200)[argmax(logits)], 200);
});

test('a fixed seed reproduces the draws, a different seed changes them', () => {
  const logits = spreadLogits(6);
  const seq = (seed: number) => {
    const s = new Sampler({ seed, temperature: 1.2, topK: 30 });
    return Array.from({ length: 100 }, () => s.sample(logits).tokenId);
  };
  assert.deepEqual(seq(42), seq(42));
  assert.notDeepEqual(seq(42), seq(43));
  // The RNG state checkpoints a run.
  const s = new Sampler({ seed: 1 });
  s.sample(logits);
  const state = s.rng.getState();
  const a = Array.from({ length: 20 }, () => s.sample(logits).tokenId);
  s.rng.setState(state);
  assert.deepEqual(
    Array.from({ length: 20 }, () => s.sample(logits).tokenId),
    a,
  );
});

test('logprobs come from the raw distribution, with top alternatives most likely first', () => {
  const logits = spreadLogits(7);
  const m = Math.max(...logits);
  const lse = m + Math.log(logits.reduce((a, x) => a + Math.exp(x - m), 0));
  const s = new Sampler({ seed: 3, temperature: 0.5, topK: 3 });
  for (let k = 0; k < 20; k++) {
    const r = s.sample(logits, undefined, 5);
    assert.ok(Math.abs(r.logprob - (logits[r.tokenId] - lse)) < 1e-5);
    const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5);
    assert.deepEqual(
      r.topLogprobs?.map((t) => t.tokenId),
      order,
    );
    for (const t of r.topLogprobs ?? []) assert.ok(Math.abs(t.logprob - (logits[t.tokenId] - lse)) < 1e-5);
  }
  assert.equal(s.sample(logits).topLogprobs, undefined);
});

test('options are validated with messages naming them', () => {
  assert.throws(() => new Sampler({ temperature: -1 }), /temperature/);
  assert.throws(() => new Sampler({ topK: 1.5 }), /topK/);
  assert.throws(() => new Sampler({ topP: 1.5 }), /topP/);
  assert.throws(() => new Sampler({ minP: -0.1 }), /minP/);
  assert.throws(() => new Sampler({ repetitionPenalty: 0 }), /repetitionPenalty/);
  assert.throws(() => new Sampler({ frequencyPenalty: Number.NaN }), /frequencyPenalty/);
  assert.throws(() => new Sampler().sample(Float32Array.of(0, Number.NaN)), /NaN/);
});
