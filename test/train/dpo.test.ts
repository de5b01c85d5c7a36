/**
 * DPO, IPO and conservative DPO: the loss and its gradient against closed forms on hand-made
 * sequence log-probs, the TRL metrics, a tiny model whose preference margin grows under
 * trainDpo with reference log-probs cached once, exact resume and non-finite steps skipped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { backward, Tensor } from '../../src/tensor/index.ts';
import { cacheReferenceLogProbs, type DpoTrainOptions, evaluateDpo, trainDpo } from '../../src/train/dpo.ts';
import { referenceModel } from '../../src/train/logprobs.ts';
import type { PreferenceExample } from '../../src/train/preference_data.ts';
import { dpoLoss, dpoMetrics } from '../../src/train/preference_loss.ts';
import { tempDir } from '../cli/helpers.ts';
import { gradcheck } from '../tensor/gradcheck.ts';
import { crashAt, snapshot } from './interrupt.ts';

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const close = (a: number, b: number, tol = 1e-5, what = '') =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

// Hand-made sequence log-probs for 3 pairs.
const PC = [-4.0, -10.0, -2.5];
const PR = [-6.0, -9.0, -2.5];
const RC = [-5.0, -9.5, -3.0];
const RR = [-5.5, -9.5, -2.0];
// h = (pc - rc) - (pr - rr) = [1 - (-0.5), -0.5 - 0.5, 0.5 - (-0.5)] = [1.5, -1.0, 1.0]
const H = [1.5, -1.0, 1.0];

function leaves(): [Tensor, Tensor] {
  const c = Tensor.from(PC);
  const r = Tensor.from(PR);
  c.requiresGrad = true;
  r.requiresGrad = true;
  return [c, r];
}

function check(
  options: Parameters<typeof dpoLoss>[4],
  lossOf: (h: number) => number,
  dOf: (h: number) => number,
) {
  const [c, r] = leaves();
  const loss = dpoLoss(c, r, RC, RR, options);
  const expected = H.reduce((a, h) => a + lossOf(h), 0) / 3;
  close(loss.item(), expected, 1e-6, 'loss');
  backward(loss);
  H.forEach((h, b) => {
    close(c.grad?.data[b] ?? 0, dOf(h) / 3, 1e-6, `d/d pi_c[${b}]`);
    close(r.grad?.data[b] ?? 0, -dOf(h) / 3, 1e-6, `d/d pi_r[${b}]`);
  });
  const [c2, r2] = leaves();
  gradcheck('dpoLoss', [c2, r2], (x, y) => dpoLoss(x, y, RC, RR, options), { eps: 1e-3, rtol: 1e-2 });
}

test('DPO (sigmoid): loss -log sigmoid(beta h) and gradient -beta (1 - sigmoid(beta h))', () => {
  const beta = 0.5;
  check(
    { beta },
    (h) => -Math.log(sig(beta * h)),
    (h) => -beta * (1 - sig(beta * h)),
  );
});

test('conservative DPO: label smoothing mixes in the flipped label', () => {
  const beta = 0.3;
  const ls = 0.1;
  check(
    { beta, labelSmoothing: ls },
    (h) => -(1 - ls) * Math.log(sig(beta * h)) - ls * Math.log(sig(-beta * h)),
    (h) => beta * (sig(beta * h) - (1 - ls)),
  );
  // At h = 0 the smoothed gradient is the plain one; far out it changes sign (the loss has a minimum).
  const [c, r] = [Tensor.from([20]), Tensor.from([0])];
  c.requiresGrad = true;
  backward(dpoLoss(c, r, [0], [0], { beta: 1, labelSmoothing: 0.1 }));
  assert.ok((c.grad?.data[0] ?? 0) > 0, 'with smoothing a huge margin is pushed back');
});

test('IPO: loss (h - 1/(2 beta))^2 and gradient 2 (h - 1/(2 beta))', () => {
  const beta = 0.25;
  check(
    { beta, loss: 'ipo' },
    (h) => (h - 1 / (2 * beta)) ** 2,
    (h) => 2 * (h - 1 / (2 * beta)),
  );
});

test('DPO options are checked', () => {
  const [c, r] = leaves();
  assert.throws(() => dpoLoss(c, r, RC, RR, { beta: 0 }), /beta/);
  assert.throws(() => dpoLoss(c, r, RC, RR, { beta: 1, labelSmoothing: 0.5 }), /label smoothing/);
  assert.throws(() => dpoLoss(c, r, RC, RR, { beta: 1, loss: 'ipo', labelSmoothing: 0.1 }), /ipo/);
  assert.throws(() => dpoLoss(c, r, [1], RR, { beta: 1 }), /reference/);
});

test('DPO metrics: implicit rewards beta (pi - ref), accuracies and margins as TRL', () => {
  const m = dpoMetrics(PC, PR, RC, RR, 2);
  // chosen rewards 2 * [1, -0.5, 0.5], rejected 2 * [-0.5, 0.5, -0.5]
  close(m['rewards/chosen'], (2 * (1 - 0.5 + 0.5)) / 3);
  close(m['rewards/rejected'], (2 * (-0.5 + 0.5 - 0.5)) / 3);
  close(m['rewards/accuracies'], 2 / 3);
  close(m['rewards/margins'], (2 * (1.5 - 1 + 1)) / 3);
});

test('trainDpo: cached reference log-probs, and the margin of the training pairs grows', async () => {
  const config = llamaConfig({
    vocabSize: 12,
    contextLength: 16,
    dModel: 16,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 32,
  });
  const policy = new DecoderLM(config, 3);
  const ref = referenceModel(policy);
  assert.ok(
    ref.parameters().every((p) => !p.requiresGrad),
    'the reference is frozen',
  );
  const examples: PreferenceExample[] = [
    { prompt: [1, 2], chosen: [3, 4, 11], rejected: [5, 6, 11] },
    { prompt: [1, 7], chosen: [3, 11], rejected: [6, 6, 6, 11] },
    { prompt: [2, 8], chosen: [4, 3, 11], rejected: [5, 11] },
  ];
  const cache = cacheReferenceLogProbs(ref, examples, 16);
  const out = tempDir('xfmr-dpo-');
  const o = {
    beta: 0.5,
    steps: 15,
    batchSize: 3,
    lr: 1e-2,
    maxLen: 16,
    warmupSteps: 0,
    out,
    progress: false,
  };
  const before = evaluateDpo(policy, examples, cache, o);
  close(before['rewards/margins'], 0, 1e-5, 'policy == reference at the start');
  close(before.loss, Math.log(2), 1e-5, 'loss log 2 at the start');
  const logs = (await trainDpo(policy, examples, cache, o)).steps;
  const after = evaluateDpo(policy, examples, cache, o);
  assert.ok(after.loss < 0.5 * before.loss, `loss ${before.loss} -> ${after.loss}`);
  assert.equal(after['rewards/accuracies'], 1);
  assert.ok(logs.length === 15 && logs.every((l) => Number.isFinite(l.loss)));
});

const dropoutConfig = llamaConfig({
  vocabSize: 12,
  contextLength: 16,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 32,
  dropout: 0.1,
});
const PAIRS: PreferenceExample[] = [
  { prompt: [1, 2], chosen: [3, 4, 11], rejected: [5, 6, 11] },
  { prompt: [1, 7], chosen: [3, 11], rejected: [6, 6, 6, 11] },
  { prompt: [2, 8], chosen: [4, 3, 11], rejected: [5, 11] },
];

test('trainDpo resumes exactly after a crash (mid-epoch, dropout on, held-out evaluations)', async () => {
  const cache = cacheReferenceLogProbs(referenceModel(new DecoderLM(dropoutConfig, 3)), PAIRS, 16);
  const run = async (out: string, extra: Partial<DpoTrainOptions> = {}) => {
    const policy = new DecoderLM(dropoutConfig, 3);
    const r = await trainDpo(policy, PAIRS, cache, {
      beta: 0.5,
      steps: 8,
      batchSize: 2,
      lr: 1e-2,
      maxLen: 16,
      seed: 2,
      heldOut: {
        examples: PAIRS.slice(0, 2),
        cache: { chosen: cache.chosen.slice(0, 2), rejected: cache.rejected.slice(0, 2) },
      },
      evalEvery: 2,
      checkpointEvery: 3,
      out,
      progress: false,
      ...extra,
    });
    return { r, weights: snapshot(policy.parameters()) };
  };
  const a = await run(tempDir('xfmr-dpo-a-'));
  const out = tempDir('xfmr-dpo-b-');
  await crashAt(5, (onStep) => run(out, { onStep }));
  const b = await run(out, { resume: true });
  assert.equal(b.r.startStep, 3);
  assert.deepEqual(b.r.losses, a.r.losses.slice(3));
  assert.deepEqual(
    b.r.steps.map((s) => s['rewards/margins']),
    a.r.steps.slice(3).map((s) => s['rewards/margins']),
  );
  assert.deepEqual(b.r.evals, a.r.evals.slice(1));
  assert.deepEqual(b.weights, a.weights);
});

test('trainDpo skips the steps whose pairs give a non-finite loss', async () => {
  const cache = cacheReferenceLogProbs(referenceModel(new DecoderLM(dropoutConfig, 3)), PAIRS, 16);
  cache.chosen[1] = Number.NaN;
  const policy = new DecoderLM(dropoutConfig, 3);
  const r = await trainDpo(policy, PAIRS, cache, {
    beta: 0.5,
    steps: 6,
    batchSize: 1,
    lr: 1e-2,
    maxLen: 16,
    out: tempDir('xfmr-dpo-nan-'),
    progress: false,
  });
  assert.equal(r.skipped, 2, 'pair 1 comes once an epoch, two epochs');
  assert.equal(r.losses.length, 4);
  assert.ok(policy.parameters().every((p) => p.data.every(Number.isFinite)));
});
