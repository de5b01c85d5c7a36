/**
 * PPO: GAE against a hand-computed example, per-token rewards, whitening, the clipped surrogate
 * (a ratio outside [1 - eps, 1 + eps] in the favoured direction gets no gradient), the clipped value
 * loss, the KL controllers, iterations on a tiny model, a NaN reward skipped, and exact resume.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { PolicyWithValue } from '../../src/models/heads.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { backward, Tensor } from '../../src/tensor/index.ts';
import { referenceModel } from '../../src/train/logprobs.ts';
import { type PpoOptions, type RewardFn, trainPpo } from '../../src/train/ppo.ts';
import {
  AdaptiveKlController,
  FixedKlController,
  gae,
  perTokenRewards,
  whiten,
} from '../../src/train/ppo_advantages.ts';
import { ppoPolicyLoss, ppoValueLoss } from '../../src/train/ppo_loss.ts';
import { tempDir } from '../cli/helpers.ts';
import { gradcheck } from '../tensor/gradcheck.ts';
import { crashAt, snapshot } from './interrupt.ts';

const close = (a: number, b: number, tol = 1e-5, what = '') =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('GAE matches a hand-computed example (gamma 0.9, lambda 0.5)', () => {
  // One row, T = 5: position 0 is prompt, positions 1..3 predict response tokens, 4 is padding.
  const mask = [0, 1, 1, 1, 0];
  const rewards = [9, 1, 0, 2, 9]; // masked-out values must be ignored
  const values = [9, 0.5, 1.0, 1.5, 9];
  const { advantages, returns } = gae(rewards, values, mask, 1, 5, 0.9, 0.5);
  // t=3: delta = 2 + 0.9*0 - 1.5 = 0.5;                  A3 = 0.5
  // t=2: delta = 0 + 0.9*1.5 - 1.0 = 0.35;               A2 = 0.35 + 0.45*0.5 = 0.575
  // t=1: delta = 1 + 0.9*1.0 - 0.5 = 1.4;                A1 = 1.4 + 0.45*0.575 = 1.65875
  const A = [0, 1.65875, 0.575, 0.5, 0];
  A.forEach((a, i) => {
    close(advantages[i], a, 1e-6, `A[${i}]`);
  });
  [0, 1.65875 + 0.5, 0.575 + 1.0, 0.5 + 1.5, 0].forEach((r, i) => {
    close(returns[i], r, 1e-6, `R[${i}]`);
  });
});

test('GAE with gamma = lambda = 1 is reward-to-go minus value; rows are independent', () => {
  const mask = [1, 1, 0, 0, 1, 1];
  const { advantages } = gae([1, 2, 0, 0, 3, 4], [0.5, 0.5, 0, 0, 1, 1], mask, 2, 3, 1, 1);
  [2.5, 1.5, 0].forEach((a, i) => {
    close(advantages[i], a, 1e-6, `row 0 A[${i}]`);
  });
  [0, 6, 3].forEach((a, i) => {
    close(advantages[3 + i], a, 1e-6, `row 1 A[${i}]`);
  });
});

test('per-token rewards: -kl_coef (logp - ref) on response tokens, the score on the last one', () => {
  const r = perTokenRewards([0, -1, -2, 0], [0, -1.5, -1, 0], [0, 1, 1, 0], [10], 1, 4, 0.1);
  close(r[0], 0);
  close(r[1], -0.1 * 0.5);
  close(r[2], 0.1 + 10);
  close(r[3], 0);
});

test('whiten: zero mean, unit (unbiased) std over the mask, zeros elsewhere', () => {
  const w = whiten([1, 2, 3, 100], [1, 1, 1, 0]);
  close(w[0], -1, 1e-6);
  close(w[1], 0, 1e-6);
  close(w[2], 1, 1e-6);
  assert.equal(w[3], 0);
});

test('PPO clipping: no gradient for a ratio outside [1 - eps, 1 + eps] in the favoured direction', () => {
  const eps = 0.2;
  const old = [0, 0, 0, 0, 0, 0];
  // ratios e^d: 1.5 (A>0: clipped, no grad), 1.5 (A<0: unclipped, grad), 0.5 (A<0: clipped, no grad),
  // 0.5 (A>0: unclipped, grad), 1.1 (inside: grad), masked-out position (no grad).
  const d = [Math.log(1.5), Math.log(1.5), Math.log(0.5), Math.log(0.5), Math.log(1.1), 3];
  const adv = [1, -1, -1, 1, 2, 5];
  const mask = [1, 1, 1, 1, 1, 0];
  const logp = Tensor.from(d);
  logp.requiresGrad = true;
  const r = ppoPolicyLoss(logp, old, adv, mask, eps);
  const n = 5;
  // loss terms: max(-A r, -A clip(r)) = -1.2, 1.5, 0.8, -0.5, -2.2
  close(r.loss.item(), (-1.2 + 1.5 + 0.8 - 0.5 - 2.2) / n, 1e-6, 'loss');
  close(r.clipFrac, 2 / n, 1e-9, 'clip fraction');
  backward(r.loss);
  const g = logp.grad?.data as Float32Array;
  assert.equal(g[0], 0, 'ratio 1.5 with A > 0: clipped, no gradient');
  close(g[1], (1 * 1.5) / n, 1e-6, 'ratio 1.5 with A < 0 is pushed down');
  assert.equal(g[2], 0, 'ratio 0.5 with A < 0: clipped, no gradient');
  close(g[3], (-1 * 0.5) / n, 1e-6, 'ratio 0.5 with A > 0 is pushed up');
  close(g[4], (-2 * 1.1) / n, 1e-6, 'inside the range');
  assert.equal(g[5], 0, 'masked');
  close(r.approxKl, (0.5 * d.slice(0, 5).reduce((a, x) => a + x * x, 0)) / n, 1e-6, 'approx KL');
  const x = Tensor.from([0.1, -0.05, 0.3]);
  x.requiresGrad = true;
  gradcheck('ppoPolicyLoss', [x], (t) => ppoPolicyLoss(t, [0, 0, 0], [1, -2, -0.5], [1, 1, 1], 0.2).loss, {
    eps: 1e-3,
    rtol: 1e-2,
  });
});

test('PPO value loss: 0.5 max((v - R)^2, (v_clipped - R)^2), no gradient where the clipped term wins', () => {
  const v = Tensor.from([1.0, 0.5, 0.0]);
  v.requiresGrad = true;
  const old = [0.0, 0.0, 0.0];
  const R = [0.0, 2.0, 1.0];
  // v=1.0: clipped to 0.2; errors 1.0 vs 0.04 -> unclipped, grad (1 - 0) / 3
  // v=0.5: clipped to 0.2; errors 2.25 vs 3.24 -> clipped wins, no grad
  // v=0.0: inside; error 1 -> grad (0 - 1) / 3
  const r = ppoValueLoss(v, old, R, [1, 1, 1], 0.2);
  close(r.loss.item(), (0.5 * (1 + 3.24 + 1)) / 3, 1e-6);
  close(r.clipFrac, 1 / 3);
  backward(r.loss);
  const g = v.grad?.data as Float32Array;
  close(g[0], 1 / 3, 1e-6);
  assert.equal(g[1], 0);
  close(g[2], -1 / 3, 1e-6);
});

test('KL controllers: fixed stays, adaptive moves towards the target with a capped step', () => {
  const f = new FixedKlController(0.1);
  f.update();
  assert.equal(f.value, 0.1);
  const a = new AdaptiveKlController(0.2, 6, 100);
  a.update(12, 10); // err capped at 0.2 -> x (1 + 0.2 * 10/100)
  close(a.value, 0.2 * 1.02, 1e-12);
  a.update(3, 10); // err -0.5 capped at -0.2
  close(a.value, 0.2 * 1.02 * 0.98, 1e-12);
});

const tiny = llamaConfig({
  vocabSize: 10,
  contextLength: 16,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 32,
});
const PROMPTS = [[1], [2, 1], [4], [5, 6]];
// Reward: the number of token 3 in the response.
const countThrees: RewardFn = (_b, responses) =>
  Float32Array.from(responses, (r) => r.filter((t) => t === 3).length);
const ppoOptions = (out: string): PpoOptions => ({
  out,
  progress: false,
  iterations: 2,
  batchSize: 4,
  miniBatchSize: 2,
  ppoEpochs: 2,
  lr: 1e-3,
  maxNewTokens: 5,
  eos: 9,
  seed: 1,
});

test('PPO iterations on a tiny model: finite metrics; the reference stays untouched', async () => {
  const policy = new DecoderLM(tiny, 5);
  const ref = referenceModel(policy);
  const refBefore = Float32Array.from(ref.parameters()[0].data);
  const actor = new PolicyWithValue(policy, 1);
  const r = await trainPpo(actor, ref, countThrees, PROMPTS, ppoOptions(tempDir('xfmr-ppo-')));
  assert.equal(r.steps.length, 2 * 4, 'ppoEpochs x (batchSize / miniBatchSize) updates per iteration');
  const [s1, s2] = r.evals;
  assert.deepEqual([s1.iteration, s2.iteration], [1, 2]);
  for (const [k, v] of Object.entries(s1)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.equal(s1.kl, 0, 'the first rollout comes from a policy equal to the reference');
  assert.ok(s1.entropy > 0 && s1.entropy <= Math.log(10) + 1e-6);
  assert.ok(s2.kl !== 0, 'after an update the policy differs from the reference');
  assert.deepEqual(ref.parameters()[0].data, refBefore);
  assert.ok(ref.parameters().every((p) => p.grad === null));
});

test('PPO: an iteration whose rewards are NaN is skipped, update by update, and training goes on', async () => {
  const policy = new DecoderLM(tiny, 5);
  const actor = new PolicyWithValue(policy, 1);
  const before = Float32Array.from(policy.parameters()[0].data);
  let calls = 0;
  const poisoned: RewardFn = (b, responses) =>
    calls++ === 0 ? new Float32Array(b.B).fill(Number.NaN) : countThrees(b, responses);
  const after: Float32Array[] = [];
  const r = await trainPpo(actor, referenceModel(policy), poisoned, PROMPTS, {
    ...ppoOptions(tempDir('xfmr-ppo-nan-')),
    onIteration: () => {
      after.push(Float32Array.from(policy.parameters()[0].data));
    },
  });
  assert.equal(r.skipped, 4, 'every update of the first iteration');
  assert.equal(r.steps.length, 4, 'the second iteration trains');
  assert.deepEqual(after[0], before, 'no update from NaN advantages');
  assert.ok(after[1].some((x, i) => x !== before[i]));
  assert.ok(after[1].every(Number.isFinite));
});

test('PPO resumes exactly after a crash mid-iteration: rollouts, adaptive KL coefficient, weights', async () => {
  const run = async (out: string, extra: Partial<PpoOptions> = {}) => {
    const policy = new DecoderLM({ ...tiny, dropout: 0.1 }, 5);
    const actor = new PolicyWithValue(policy, 1);
    const r = await trainPpo(actor, referenceModel(policy), countThrees, PROMPTS, {
      ...ppoOptions(out),
      iterations: 4,
      targetKl: 0.01,
      horizon: 100,
      checkpointEvery: 1,
      ...extra,
    });
    return { r, weights: snapshot(actor.parameters()) };
  };
  const a = await run(tempDir('xfmr-ppo-a-'));
  assert.notEqual(a.r.evals[3].kl_coef, a.r.evals[0].kl_coef, 'the adaptive coefficient moved');
  const out = tempDir('xfmr-ppo-b-');
  // 4 updates an iteration: a crash at update 10 is in iteration 3; the last checkpoint ends iteration 2.
  await crashAt(10, (onStep) => run(out, { onStep }));
  const b = await run(out, { resume: true });
  assert.equal(b.r.startStep, 8);
  assert.deepEqual(b.r.losses, a.r.losses.slice(8));
  assert.deepEqual(b.r.evals, a.r.evals.slice(2));
  assert.deepEqual(b.weights, a.weights);
});
