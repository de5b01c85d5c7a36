/**
 * The reward model: the Bradley-Terry loss and its gradient against the closed form, the head
 * reading the last token of each row (padding after it changes nothing), save/load, a tiny
 * model learning to prefer responses holding a marker token, and exact resume.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { gatherRows, RewardModel } from '../../src/models/heads.ts';
import { loadRewardModel, saveRewardModel } from '../../src/models/load_reward.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { backward, Rng, Tensor } from '../../src/tensor/index.ts';
import { responseBatch } from '../../src/train/logprobs.ts';
import type { PreferenceExample } from '../../src/train/preference_data.ts';
import { bradleyTerryLoss, rewardPairMetrics } from '../../src/train/preference_loss.ts';
import {
  evaluateRewardModel,
  normalizeRewardModel,
  type RewardTrainOptions,
  scoreResponses,
  trainRewardModel,
} from '../../src/train/reward.ts';
import { tempDir } from '../cli/helpers.ts';
import { gradcheck, input } from '../tensor/gradcheck.ts';
import { crashAt, snapshot } from './interrupt.ts';

const sig = (x: number) => 1 / (1 + Math.exp(-x));

test('Bradley-Terry: loss mean -log sigmoid(r_c - r_r), gradient -(1 - sigmoid(d)) / B', () => {
  const rc = Tensor.from([2, -1, 0.5, 30]);
  const rr = Tensor.from([1, 1, 0.5, -30]);
  rc.requiresGrad = true;
  rr.requiresGrad = true;
  const d = [1, -2, 0, 60];
  const loss = bradleyTerryLoss(rc, rr);
  const expected = d.reduce((a, x) => a - Math.log(sig(x)), 0) / 4;
  assert.ok(Math.abs(loss.item() - expected) < 1e-6, `${loss.item()} vs ${expected}`);
  backward(loss);
  d.forEach((x, b) => {
    const g = -(1 - sig(x)) / 4;
    assert.ok(Math.abs((rc.grad?.data[b] ?? 0) - g) < 1e-7);
    assert.ok(Math.abs((rr.grad?.data[b] ?? 0) + g) < 1e-7);
  });
  const m = rewardPairMetrics(rc.data, rr.data);
  assert.equal(m.accuracy, 0.5, 'a tie counts as wrong');
  assert.equal(m.margin, (1 - 2 + 0 + 60) / 4);
  const rng = new Rng(3);
  gradcheck('bradleyTerryLoss', [input([5], rng), input([5], rng)], (a, b) => bradleyTerryLoss(a, b), {
    eps: 1e-3,
    rtol: 1e-2,
  });
});

test('gatherRows: picks h[b, last[b]] and scatters the gradient back', () => {
  const rng = new Rng(1);
  gradcheck('gatherRows', [input([2, 3, 4], rng)], (h) => gatherRows(h, Int32Array.of(2, 0)));
});

const config = llamaConfig({
  vocabSize: 10,
  contextLength: 12,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 32,
});

test('the reward model reads the last token: padding after it changes nothing; save/load round-trips', () => {
  const rm = new RewardModel(new DecoderLM(config, 1), 2);
  const alone = responseBatch([{ prompt: [1, 2], response: [3] }], 12);
  const padded = responseBatch(
    [
      { prompt: [1, 2], response: [3] },
      { prompt: [1, 2, 4, 5, 6], response: [7, 8] },
    ],
    12,
  );
  const a = scoreResponses(rm, alone)[0];
  const b = scoreResponses(rm, padded)[0];
  assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-rm-'));
  try {
    saveRewardModel(dir, rm);
    const { rm: back } = loadRewardModel(dir);
    assert.deepEqual(scoreResponses(back, padded), scoreResponses(rm, padded));
    assert.throws(() => loadRewardModel(join(dir, 'nope')), /not a reward model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tiny reward model learns that responses with token 7 are preferred (held-out pairs)', async () => {
  const rng = new Rng(5);
  const make = (): PreferenceExample => {
    const prompt = [1 + rng.int(3)];
    const filler = () => Array.from({ length: 1 + rng.int(3) }, () => 2 + rng.int(4));
    const good = filler();
    good.splice(rng.int(good.length + 1), 0, 7);
    return { prompt, chosen: [...good, 9], rejected: [...filler(), 9] };
  };
  const train = Array.from({ length: 64 }, make);
  const held = Array.from({ length: 32 }, make);
  const rm = new RewardModel(new DecoderLM(config, 3), 4);
  const before = evaluateRewardModel(rm, held, 12);
  const r = await trainRewardModel(rm, train, held, {
    steps: 40,
    batchSize: 16,
    lr: 3e-3,
    maxLen: 12,
    seed: 1,
    out: tempDir('xfmr-rm-train-'),
    progress: false,
  });
  const e = r.evals.at(-1);
  assert.ok(e !== undefined && e.step === 40, 'evaluated after the last step');
  assert.ok(e.val_accuracy >= 0.9, `held-out accuracy ${e.val_accuracy}`);
  assert.ok(e.val_loss < before.loss, `loss ${before.loss} -> ${e.val_loss}`);
  assert.ok(e.val_margin > 0);
});

test('normalizeRewardModel: scores get mean 0 and std 1 on the given samples, order unchanged', () => {
  const rm = new RewardModel(new DecoderLM(config, 6), 7);
  const rows = Array.from({ length: 20 }, (_, i) => ({
    prompt: [1 + (i % 3)],
    response: [2 + (i % 5), 3 + (i % 4), 9],
  }));
  const before = scoreResponses(rm, responseBatch(rows, 12));
  normalizeRewardModel(rm, rows, 12, 8);
  const after = scoreResponses(rm, responseBatch(rows, 12));
  const mean = after.reduce((a, x) => a + x, 0) / after.length;
  const std = Math.sqrt(after.reduce((a, x) => a + (x - mean) ** 2, 0) / (after.length - 1));
  assert.ok(Math.abs(mean) < 1e-4 && Math.abs(std - 1) < 1e-4, `mean ${mean}, std ${std}`);
  for (let i = 1; i < rows.length; i++) assert.equal(after[i] > after[0], before[i] > before[0]);
});

test('trainRewardModel resumes exactly after a crash: trunk and head, evaluations', async () => {
  const rng = new Rng(8);
  const pairs: PreferenceExample[] = Array.from({ length: 10 }, () => ({
    prompt: [1 + rng.int(3)],
    chosen: [7, 2 + rng.int(4), 9],
    rejected: [2 + rng.int(4), 9],
  }));
  const run = async (out: string, extra: Partial<RewardTrainOptions> = {}) => {
    const rm = new RewardModel(new DecoderLM({ ...config, dropout: 0.1 }, 3), 4);
    const r = await trainRewardModel(rm, pairs.slice(3), pairs.slice(0, 3), {
      steps: 7,
      batchSize: 3,
      lr: 3e-3,
      maxLen: 12,
      seed: 1,
      evalEvery: 2,
      checkpointEvery: 2,
      out,
      progress: false,
      ...extra,
    });
    return { r, weights: snapshot(rm.parameters()) };
  };
  const a = await run(tempDir('xfmr-rm-a-'));
  const out = tempDir('xfmr-rm-b-');
  await crashAt(5, (onStep) => run(out, { onStep }));
  const b = await run(out, { resume: true });
  assert.equal(b.r.startStep, 4);
  assert.deepEqual(b.r.losses, a.r.losses.slice(4));
  assert.deepEqual(b.r.evals, a.r.evals.slice(2));
  assert.deepEqual(b.weights, a.weights);
});
