/**
 * Reward-model training (Ouyang et al. 2022, as TRL's RewardTrainer): a decoder trunk with a
 * scalar head on the last token of prompt + response, trained on preference pairs with the
 * Bradley-Terry loss -log sigmoid(r_chosen - r_rejected). One forward pass scores a batch of
 * 2B rows (chosen responses, then rejected), so both halves see the same weights and padding.
 *
 * Reported: loss, accuracy (r_c > r_r) and mean margin (r_c - r_r), on training batches and on a
 * held-out set.
 */
import type { RewardModel } from '../models/heads.ts';
import { backward, slice, tidy } from '../tensor/index.ts';
import { Rng } from '../tensor/random.ts';
import { AdamW } from './adamw.ts';
import { type PromptResponse, type ResponseBatch, responseBatch, withoutTape } from './logprobs.ts';
import { type PreferenceExample, preferenceRows } from './preference_data.ts';
import { bradleyTerryLoss, logSigmoid, rewardPairMetrics } from './preference_loss.ts';
import { lrAt } from './schedule.ts';

export interface RewardTrainOptions {
  steps: number;
  /** Pairs per step (the forward pass holds twice as many rows). */
  batchSize: number;
  lr: number;
  maxLen: number;
  /** Linear warmup steps, then cosine decay to lr / 10. */
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  seed?: number;
  /** Evaluate on the held-out pairs every N steps (0: only at the end). */
  evalEvery?: number;
  /** Called after each step and each evaluation. */
  onLog?: (m: RewardStepLog) => void;
}

export interface RewardMetrics {
  loss: number;
  accuracy: number;
  margin: number;
}

export type RewardStepLog = {
  step: number;
  lr: number;
  grad_norm: number;
  split: 'train' | 'eval';
} & RewardMetrics;

export interface RewardTrainResult {
  train: RewardMetrics[];
  eval: RewardMetrics | null;
}

/** Rewards of a preference batch without the tape: chosen [B] and rejected [B]. */
export function scorePairs(
  rm: RewardModel,
  batch: ResponseBatch,
): { chosen: Float32Array; rejected: Float32Array } {
  const B = batch.B / 2;
  const r = withoutTape(() => Float32Array.from(rm.score(batch.ids, batch.B, batch.T, batch.last).data));
  return { chosen: r.slice(0, B), rejected: r.slice(B) };
}

/** Scores of prompt + response rows (the reward PPO maximises), without the tape: [B]. */
export function scoreResponses(rm: RewardModel, batch: ResponseBatch): Float32Array {
  return withoutTape(() => Float32Array.from(rm.score(batch.ids, batch.B, batch.T, batch.last).data));
}

/** Loss, accuracy and margin over a set of pairs (in batches of B pairs), without the tape. */
export function evaluateRewardModel(
  rm: RewardModel,
  examples: readonly PreferenceExample[],
  maxLen: number,
  B = 32,
): RewardMetrics {
  if (examples.length === 0) throw new Error('evaluateRewardModel: no examples');
  const chosen: number[] = [];
  const rejected: number[] = [];
  rm.training = false;
  for (let i = 0; i < examples.length; i += B) {
    const batch = responseBatch(preferenceRows(examples.slice(i, i + B)), maxLen);
    const s = scorePairs(rm, batch);
    chosen.push(...s.chosen);
    rejected.push(...s.rejected);
  }
  let loss = 0;
  for (let i = 0; i < chosen.length; i++) loss -= logSigmoid(chosen[i] - rejected[i]);
  return { loss: loss / chosen.length, ...rewardPairMetrics(chosen, rejected) };
}

/**
 * Shifts and scales the head so that scores have mean 0 and standard deviation 1 over `rows`
 * (samples of the policy PPO starts from), as Ziegler et al. (2019) do: the Bradley-Terry loss
 * fixes only differences of rewards, so their offset and scale are arbitrary, and a KL coefficient
 * means something only against a known reward scale. Returns the mean and std it removed.
 */
export function normalizeRewardModel(
  rm: RewardModel,
  rows: readonly PromptResponse[],
  maxLen: number,
  B = 64,
): { mean: number; std: number } {
  if (rows.length < 2) throw new Error('normalizeRewardModel: needs at least 2 samples');
  const scores: number[] = [];
  rm.training = false;
  for (let i = 0; i < rows.length; i += B)
    scores.push(...scoreResponses(rm, responseBatch(rows.slice(i, i + B), maxLen)));
  const mean = scores.reduce((a, x) => a + x, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, x) => a + (x - mean) ** 2, 0) / (scores.length - 1));
  if (!(std > 0)) throw new Error('normalizeRewardModel: the scores do not vary');
  const { weight, bias } = rm.head.proj;
  for (let i = 0; i < weight.size; i++) weight.data[i] /= std;
  if (bias) bias.data[0] = (bias.data[0] - mean) / std;
  return { mean, std };
}

/** Trains rm on pairs (shuffled each epoch by a seeded RNG); evaluates on heldOut when given. */
export function trainRewardModel(
  rm: RewardModel,
  train: readonly PreferenceExample[],
  heldOut: readonly PreferenceExample[],
  o: RewardTrainOptions,
): RewardTrainResult {
  if (train.length === 0) throw new Error('reward model: no training pairs');
  const rng = new Rng(o.seed ?? 0);
  const opt = new AdamW(rm.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 0 });
  const schedule = { lr: o.lr, warmupSteps: o.warmupSteps ?? Math.floor(o.steps / 10), totalSteps: o.steps };
  const result: RewardTrainResult = { train: [], eval: null };
  let order: number[] = [];
  let at = 0;
  for (let step = 1; step <= o.steps; step++) {
    const picked: PreferenceExample[] = [];
    while (picked.length < Math.min(o.batchSize, train.length)) {
      if (at >= order.length) {
        order = shuffle(train.length, rng);
        at = 0;
      }
      picked.push(train[order[at++]]);
    }
    const batch = responseBatch(preferenceRows(picked), o.maxLen);
    const B = picked.length;
    rm.training = true;
    const m = tidy(() => {
      const r = rm.score(batch.ids, batch.B, batch.T, batch.last); // [2B]
      const chosen = slice(r, 0, 0, B);
      const rejected = slice(r, 0, B, 2 * B);
      const loss = bradleyTerryLoss(chosen, rejected);
      backward(loss);
      return { loss: loss.item(), ...rewardPairMetrics(chosen.data, rejected.data) };
    });
    rm.training = false;
    const lr = lrAt(schedule, step - 1);
    const norm = opt.update({ lr, maxGradNorm: o.maxGradNorm ?? 1 });
    opt.zeroGrad();
    result.train.push(m);
    o.onLog?.({ step, lr, grad_norm: norm, split: 'train', ...m });
    const every = o.evalEvery ?? 0;
    if (heldOut.length > 0 && (step === o.steps || (every > 0 && step % every === 0))) {
      const e = evaluateRewardModel(rm, heldOut, o.maxLen, o.batchSize);
      if (step === o.steps) result.eval = e;
      o.onLog?.({ step, lr, grad_norm: norm, split: 'eval', ...e });
    }
  }
  return result;
}

export function shuffle(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
