/**
 * Direct Preference Optimization (Rafailov et al. 2023), as TRL's DPOTrainer: no reward model and
 * no sampling; the policy is trained on preference pairs with
 *
 *   L = -log sigmoid(beta ((pi_c - ref_c) - (pi_r - ref_r)))      (or IPO / conservative DPO)
 *
 * where pi and ref are sequence log-probabilities of the responses (summed over response tokens
 * only; IPO averages them over the response length, as TRL does). The reference log-probs never
 * change, so they are computed once, before training, and cached: the reference model can be
 * disposed before the first step, and each step costs one forward/backward of the policy on 2B rows.
 */
import type { DecoderLM } from '../models/decoder.ts';
import { saveModel } from '../models/load.ts';
import type { LoraAdapters } from '../models/lora.ts';
import { div, noGrad, slice, Tensor, tidy } from '../tensor/index.ts';
import { AdamW } from './adamw.ts';
import { EpochSampler } from './data.ts';
import { type ResponseBatch, responseBatch, scoreSequences, sequenceLogProbs } from './logprobs.ts';
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
import { loraTask } from './lora.ts';
import { type PreferenceExample, preferenceRows } from './preference_data.ts';
import {
  checkDpoOptions,
  type DpoLossOptions,
  type DpoMetrics,
  dpoLoss,
  dpoMetrics,
} from './preference_loss.ts';

/** Reference sequence log-probs (sums over response tokens), one per example. */
export interface ReferenceLogProbs {
  chosen: Float32Array;
  rejected: Float32Array;
}

/** Runs the frozen reference once over every pair (no tape) and keeps the sums. */
export function cacheReferenceLogProbs(
  ref: DecoderLM,
  examples: readonly PreferenceExample[],
  maxLen: number,
  B = 32,
): ReferenceLogProbs {
  const chosen = new Float32Array(examples.length);
  const rejected = new Float32Array(examples.length);
  const was = ref.training;
  ref.training = false;
  for (let i = 0; i < examples.length; i += B) {
    const part = examples.slice(i, i + B);
    const batch = responseBatch(preferenceRows(part), maxLen);
    const lp = scoreSequences(ref, batch);
    chosen.set(lp.subarray(0, part.length), i);
    rejected.set(lp.subarray(part.length), i);
  }
  ref.training = was;
  return { chosen, rejected };
}

export interface DpoTrainOptions extends DpoLossOptions, RunOptions<DpoMetrics> {
  steps: number;
  /** Pairs per step. */
  batchSize: number;
  lr: number;
  maxLen: number;
  /** Linear warmup, then a constant rate (TRL's default schedule is linear decay; constant keeps beta sweeps comparable). */
  warmupSteps?: number;
  weightDecay?: number;
  /**
   * Train these LoRA adapters (attached to the policy, base frozen) instead of the policy: the
   * reference is then the base without them, and the end writes a PEFT adapter directory for
   * base model `base`.
   */
  lora?: { adapters: LoraAdapters; base: string };
  seed?: number;
  /** Held-out pairs and their reference log-probs: evaluated every evalEvery steps and at the end. */
  heldOut?: { examples: readonly PreferenceExample[]; cache: ReferenceLogProbs };
  /** 0 (default): only at the end. */
  evalEvery?: number;
}

export type DpoEval = Val<{ loss: number } & DpoMetrics>;

/** Sequence log-probs of a preference batch as the loss uses them: summed, or averaged for IPO. */
function policyLogProbs(policy: DecoderLM, batch: ResponseBatch, average: boolean): Tensor {
  const lp = sequenceLogProbs(policy.forward(batch.ids, batch.B, batch.T), batch); // [2B]
  return average ? div(lp, Tensor.from(batch.responseLengths)) : lp;
}

function refFor(cache: ReferenceLogProbs, idx: readonly number[], batch: ResponseBatch, average: boolean) {
  const B = idx.length;
  const c = Float32Array.from(idx, (i) => cache.chosen[i]);
  const r = Float32Array.from(idx, (i) => cache.rejected[i]);
  if (average)
    for (let b = 0; b < B; b++) {
      c[b] /= batch.responseLengths[b];
      r[b] /= batch.responseLengths[B + b];
    }
  return { c, r };
}

/** The DPO loss of the pairs `idx` (on the tape), with TRL's metrics. */
export function dpoBatchLoss(
  policy: DecoderLM,
  examples: readonly PreferenceExample[],
  cache: ReferenceLogProbs,
  idx: readonly number[],
  o: DpoLossOptions & { maxLen: number },
): BatchLoss<DpoMetrics> {
  const opts = checkDpoOptions(o);
  const batch = responseBatch(preferenceRows(idx.map((i) => examples[i])), o.maxLen);
  const B = idx.length;
  const average = opts.loss === 'ipo';
  const ref = refFor(cache, idx, batch, average);
  const lp = policyLogProbs(policy, batch, average); // [2B]: chosen, then rejected
  const pc = slice(lp, 0, 0, B);
  const pr = slice(lp, 0, B, 2 * B);
  return {
    loss: dpoLoss(pc, pr, ref.c, ref.r, opts),
    metrics: dpoMetrics(pc.data, pr.data, ref.c, ref.r, opts.beta),
    tokens: batch.B * batch.T,
  };
}

/** Loss and TRL's metrics on a set of pairs, without the tape (e.g. held-out pairs). */
export function evaluateDpo(
  policy: DecoderLM,
  examples: readonly PreferenceExample[],
  cache: ReferenceLogProbs,
  o: DpoLossOptions & { maxLen: number },
  B = 32,
): { loss: number } & DpoMetrics {
  const opts = checkDpoOptions(o);
  const average = opts.loss === 'ipo';
  const all = { pc: [] as number[], pr: [] as number[], rc: [] as number[], rr: [] as number[] };
  let loss = 0;
  for (let i = 0; i < examples.length; i += B) {
    const idx = Array.from({ length: Math.min(B, examples.length - i) }, (_, j) => i + j);
    const batch = responseBatch(preferenceRows(idx.map((k) => examples[k])), o.maxLen);
    const ref = refFor(cache, idx, batch, average);
    noGrad(() =>
      tidy(() => {
        const lp = policyLogProbs(policy, batch, average);
        const pc = slice(lp, 0, 0, idx.length);
        const pr = slice(lp, 0, idx.length, 2 * idx.length);
        loss += dpoLoss(pc, pr, ref.c, ref.r, opts).item() * idx.length;
        all.pc.push(...pc.data);
        all.pr.push(...pr.data);
        all.rc.push(...ref.c);
        all.rr.push(...ref.r);
      }),
    );
  }
  return { loss: loss / examples.length, ...dpoMetrics(all.pc, all.pr, all.rc, all.rr, opts.beta) };
}

/**
 * Trains the policy with DPO on `examples` (a new shuffle each epoch) through the training loop;
 * the policy is written to `o.out` at the end.
 */
export async function trainDpo(
  policy: DecoderLM,
  examples: readonly PreferenceExample[],
  cache: ReferenceLogProbs,
  o: DpoTrainOptions,
): Promise<LoopResult<DpoMetrics, DpoEval>> {
  if (examples.length === 0) throw new Error('DPO: no training pairs');
  if (cache.chosen.length !== examples.length)
    throw new Error(`DPO: ${cache.chosen.length} cached reference log-probs for ${examples.length} pairs`);
  checkDpoOptions(o);
  const held = o.heldOut;
  if (held && held.cache.chosen.length !== held.examples.length)
    throw new Error(
      `DPO: ${held.cache.chosen.length} cached reference log-probs for ${held.examples.length} held-out pairs`,
    );
  const sampler = new EpochSampler(examples.length, o.seed ?? 0);
  const B = Math.min(o.batchSize, examples.length);
  const opt = new AdamW((o.lora?.adapters ?? policy).parameters(), {
    lr: o.lr,
    weightDecay: o.weightDecay ?? 0,
  });
  const full: TrainTask<number[], DpoMetrics, DpoEval> = {
    modules: { policy },
    next: () => sampler.take(B),
    loss: (idx) => dpoBatchLoss(policy, examples, cache, idx, o),
    setTraining: (on) => {
      policy.training = on;
    },
    evaluate:
      held && held.examples.length > 0
        ? () => val(evaluateDpo(policy, held.examples, held.cache, o, o.batchSize))
        : undefined,
    ...dataAndDropout(sampler, policy),
    save: (out, files) => saveModel(out, policy, files),
  };
  const task = o.lora ? loraTask(full, o.lora.adapters, o.lora.base) : full;
  const warmup = o.warmupSteps ?? Math.floor(o.steps / 10);
  return trainLoop(
    task,
    opt,
    loopOptions(o, {
      steps: o.steps,
      schedule: { lr: o.lr, minLr: o.lr, warmupSteps: warmup, totalSteps: o.steps },
      evalEvery: o.evalEvery || o.steps,
      label: 'dpo',
    }),
  );
}
