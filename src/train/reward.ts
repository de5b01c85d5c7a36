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
import { slice } from '../tensor/index.ts';
import { AdamW } from './adamw.ts';
import { EpochSampler } from './data.ts';
import { type PromptResponse, type ResponseBatch, responseBatch, withoutTape } from './logprobs.ts';
import {
  type BatchLoss,
  dataAndDropout,
  type LoopResult,
  loopOptions,
  type RunOptions,
  type TrainTask,
  trainLoop,
  type Val,
  val,
} from './loop.ts';
import { type PreferenceExample, preferenceRows } from './preference_data.ts';
import {
  bradleyTerryLoss,
  logSigmoid,
  type RewardPairMetrics,
  rewardPairMetrics,
} from './preference_loss.ts';

export interface RewardTrainOptions extends RunOptions<RewardPairMetrics> {
  steps: number;
  /** Pairs per step (the forward pass holds twice as many rows). */
  batchSize: number;
  lr: number;
  maxLen: number;
  /** Linear warmup steps, then cosine decay to lr / 10. */
  warmupSteps?: number;
  weightDecay?: number;
  seed?: number;
  /** Evaluate on the held-out pairs every N steps (0: only at the end). */
  evalEvery?: number;
}

export type RewardMetrics = { loss: number } & RewardPairMetrics;
export type RewardEval = Val<RewardMetrics>;

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

/** The Bradley-Terry loss of a batch of pairs (on the tape), with accuracy and margin. */
export function rewardBatchLoss(
  rm: RewardModel,
  pairs: readonly PreferenceExample[],
  maxLen: number,
): BatchLoss<RewardPairMetrics> {
  const batch = responseBatch(preferenceRows(pairs), maxLen);
  const B = pairs.length;
  const r = rm.score(batch.ids, batch.B, batch.T, batch.last); // [2B]: chosen, then rejected
  const chosen = slice(r, 0, 0, B);
  const rejected = slice(r, 0, B, 2 * B);
  return {
    loss: bradleyTerryLoss(chosen, rejected),
    metrics: rewardPairMetrics(chosen.data, rejected.data),
    tokens: batch.B * batch.T,
  };
}

/**
 * Trains rm on pairs (a new shuffle each epoch) through the training loop; evaluates on heldOut
 * when given. The model is not written to `o.out`: callers normalise it first (normalizeRewardModel).
 */
export async function trainRewardModel(
  rm: RewardModel,
  train: readonly PreferenceExample[],
  heldOut: readonly PreferenceExample[],
  o: RewardTrainOptions,
): Promise<LoopResult<RewardPairMetrics, RewardEval>> {
  if (train.length === 0) throw new Error('reward model: no training pairs');
  const sampler = new EpochSampler(train.length, o.seed ?? 0);
  const B = Math.min(o.batchSize, train.length);
  const opt = new AdamW(rm.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 0 });
  const task: TrainTask<number[], RewardPairMetrics, RewardEval> = {
    modules: { trunk: rm.trunk, head: rm.head },
    next: () => sampler.take(B),
    loss: (idx) =>
      rewardBatchLoss(
        rm,
        idx.map((i) => train[i]),
        o.maxLen,
      ),
    setTraining: (on) => {
      rm.training = on;
    },
    evaluate:
      heldOut.length > 0 ? () => val(evaluateRewardModel(rm, heldOut, o.maxLen, o.batchSize)) : undefined,
    ...dataAndDropout(sampler, rm.trunk),
  };
  return trainLoop(
    task,
    opt,
    loopOptions(o, {
      steps: o.steps,
      schedule: { lr: o.lr, warmupSteps: o.warmupSteps ?? Math.floor(o.steps / 10), totalSteps: o.steps },
      evalEvery: o.evalEvery || o.steps,
      label: 'reward',
    }),
  );
}
