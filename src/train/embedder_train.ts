/**
 * Trains a sentence embedder (an Encoder, mean pooled) on query/passage pairs with the InfoNCE
 * loss of contrastive.ts, through the one training loop (loop.ts: schedule, clipping, AdamW,
 * checkpoints with exact resume, metrics.jsonl, progress on stderr).
 *
 * A batch is B pairs drawn without replacement (a new shuffle each epoch): the B queries, their B
 * positives and, for pairs that have one, their mined hard negative (so P is between B and 2B).
 * Texts are tokenized once up front: [CLS] ... [SEP], truncated to maxLen keeping the final [SEP],
 * as EncoderEmbedder.ids does at inference.
 */
import type { JsonValue } from '../io/files.ts';
import type { Encoder } from '../models/encoder.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { AdamW } from './adamw.ts';
import { type ContrastiveMetrics, contrastiveBatchLoss, type TripletBatch } from './contrastive.ts';
import { EpochSampler } from './data.ts';
import { type LoopResult, loopOptions, type RunOptions, type TrainTask, trainLoop } from './loop.ts';

export interface EmbedderTrainOptions extends RunOptions<ContrastiveMetrics> {
  steps: number;
  /** Pairs per step. */
  batchSize: number;
  lr: number;
  /** Tokens per text, [CLS] and [SEP] included. */
  maxLen: number;
  /** Softmax temperature of the cosine scores (sentence-transformers' default scale 20 = 1/0.05). */
  temperature: number;
  warmupSteps?: number;
  weightDecay?: number;
  seed?: number;
}

/**
 * Token ids of `text`: the tokenizer's [CLS] ... [SEP], cut to at most maxLen keeping the last
 * special, and past 16 tokens cut down to the nearest length of a ladder (20, 24, 28, 32, 40,
 * 48, ... each step at most 1/4 of the length). contrastive.ts runs one forward pass per distinct
 * length, so the ladder bounds the passes per batch (~25 instead of one per length) at the cost
 * of at most a fifth of a long passage's tail.
 */
export function embedIds(tokenizer: Tokenizer, text: string, maxLen: number): Int32Array {
  const ids = tokenizer.encode(text);
  const len = ladderLength(Math.min(ids.length, maxLen));
  if (ids.length <= len) return Int32Array.from(ids);
  return Int32Array.from([...ids.slice(0, len - 1), ids[ids.length - 1]]);
}

/** The largest ladder length <= n: n itself up to 16, then steps of a quarter of the power of two. */
export function ladderLength(n: number): number {
  if (n <= 16) return n;
  const p = 2 ** Math.floor(Math.log2(n)); // 16 <= p <= n
  const step = p / 4;
  return p + Math.floor((n - p) / step) * step;
}

export interface TokenizedPairs {
  queries: Int32Array[];
  passages: Int32Array[];
  /** Index into `passages` of each pair's hard negative, -1 where there is none. */
  negatives: Int32Array;
}

/** The batch of pairs `idx`: queries, their positives, then the hard negatives they have. */
export function tripletBatch(data: TokenizedPairs, idx: readonly number[]): TripletBatch {
  const chosen = new Set(idx);
  const negs: Int32Array[] = [];
  for (const i of idx) {
    const n = data.negatives[i];
    // A negative that is another pair's positive in this batch is already there as a passage.
    if (n >= 0 && !chosen.has(n)) negs.push(data.passages[n]);
  }
  return {
    queries: idx.map((i) => data.queries[i]),
    passages: [...idx.map((i) => data.passages[i]), ...negs],
  };
}

/** Trains `model` in place; the caller writes the model directory (its sentence-transformers files). */
export async function trainEmbedder(
  model: Encoder,
  data: TokenizedPairs,
  o: EmbedderTrainOptions,
): Promise<LoopResult<ContrastiveMetrics>> {
  const n = data.queries.length;
  if (n < 2) throw new Error('embedder training: needs at least 2 pairs');
  if (data.passages.length !== n || data.negatives.length !== n)
    throw new Error('embedder training: queries, passages and negatives differ in length');
  const sampler = new EpochSampler(n, o.seed ?? 0);
  const B = Math.min(o.batchSize, n);
  const opt = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 0.01 });
  const task: TrainTask<number[], ContrastiveMetrics> = {
    modules: { model },
    next: () => sampler.take(B),
    loss: (idx) => contrastiveBatchLoss(model, tripletBatch(data, idx), o.temperature),
    setTraining: () => {
      // The encoder has no dropout.
    },
    state: (): JsonValue => ({ data: sampler.state() }),
    setState: (s) => sampler.setState((s as { data: JsonValue }).data),
  };
  return trainLoop(
    task,
    opt,
    loopOptions(o, {
      steps: o.steps,
      schedule: { lr: o.lr, warmupSteps: o.warmupSteps ?? Math.floor(o.steps / 20), totalSteps: o.steps },
      evalEvery: 0,
      label: 'embedder',
    }),
  );
}
