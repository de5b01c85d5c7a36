/**
 * Choosing the next token from the logits [V] of one sequence: greedy (argmax) or a draw from the
 * softmax of the processed logits with a seeded RNG, as llama2.c's sample_argmax / sample_mult.
 *
 * Order of application (Hugging Face `generate`'s order: logits processors, then warpers):
 *   1. repetition penalty                 (prompt + output tokens)
 *   2. frequency and presence penalties   (output tokens; OpenAI, applied with the penalties as vLLM)
 *   3. temperature == 0 ? argmax, done    (greedy sees the penalties but no filter)
 *   4. temperature                        (logits / T)
 *   5. top-k
 *   6. top-p                              (on the softmax after temperature and top-k)
 *   7. min-p                              (relative to the top probability after the above)
 *   8. draw from softmax of what is left
 * llama.cpp's default chain differs in one place: it filters (top-k, top-p, min-p) before it applies
 * the temperature, so there a temperature does not change which tokens survive top-p / min-p.
 *
 * Log-probabilities (OpenAI `logprobs` / `top_logprobs`) are those of the model's raw distribution,
 * log_softmax(logits) before penalties, temperature and filters (vLLM's default, `raw_logprobs`):
 * they describe the model, whatever the sampling options.
 */
import { Rng } from '../tensor/random.ts';
import {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  type TokenHistory,
  topIndices,
} from './logits_processors.ts';

export interface SamplerOptions {
  /** Softmax temperature; 0 means greedy (argmax). Default 1 (the model's distribution). */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = off (default). */
  topK?: number;
  /** Nucleus: keep the most likely tokens up to cumulative probability p; 1 = off (default). */
  topP?: number;
  /** Drop tokens less likely than minP x the top probability; 0 = off (default). */
  minP?: number;
  /** CTRL repetition penalty (> 0; 1 = off, default; 1.1 to 1.3 is typical). */
  repetitionPenalty?: number;
  /** OpenAI frequency penalty (subtracted per occurrence in the output); 0 = off (default). */
  frequencyPenalty?: number;
  /** OpenAI presence penalty (subtracted once if in the output); 0 = off (default). */
  presencePenalty?: number;
  /** Seed of the RNG; the same seed and inputs give the same draws. Default: a random seed. */
  seed?: number;
}

export interface TopLogprob {
  tokenId: number;
  logprob: number;
}

export interface SampleResult {
  tokenId: number;
  /** log p(tokenId) under the model's raw distribution. */
  logprob: number;
  /** The most likely tokens of the raw distribution, most likely first (when asked for). */
  topLogprobs?: TopLogprob[];
}

/** Checks sampler options, with messages naming the option. */
export function validateSamplerOptions(o: SamplerOptions): void {
  const bad = (name: string, v: unknown, want: string) => {
    throw new Error(`${name} must be ${want} (got ${v})`);
  };
  const fin = (v: number | undefined) => v === undefined || Number.isFinite(v);
  if (o.temperature !== undefined && !(o.temperature >= 0 && fin(o.temperature)))
    bad('temperature', o.temperature, 'a number >= 0');
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    bad('topK', o.topK, 'an integer >= 0');
  if (o.topP !== undefined && !(o.topP >= 0 && o.topP <= 1)) bad('topP', o.topP, 'in [0, 1]');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) bad('minP', o.minP, 'in [0, 1]');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && fin(o.repetitionPenalty)))
    bad('repetitionPenalty', o.repetitionPenalty, 'a number > 0');
  if (!fin(o.frequencyPenalty)) bad('frequencyPenalty', o.frequencyPenalty, 'a finite number');
  if (!fin(o.presencePenalty)) bad('presencePenalty', o.presencePenalty, 'a finite number');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) bad('seed', o.seed, 'an integer');
}

/** Index of the largest logit, the lowest id on ties (NaN never wins). -1 if none is > -Infinity. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > max) {
      max = logits[i];
      best = i;
    }
  }
  return best;
}

/** log(sum(exp(logits))), stable: the normaliser of log_softmax. */
export function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i] - max);
  return max + Math.log(s);
}

/**
 * Draws a token from softmax(logits) with one uniform number from rng (masked tokens, -Infinity,
 * have probability 0 and are never drawn). Walks the ids in order, like llama2.c's sample_mult.
 */
export function sampleFromLogits(logits: ArrayLike<number>, rng: Rng): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] > -Infinity) sum += Math.exp(logits[i] - max);
  const u = rng.random() * sum;
  let cum = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    if (!(logits[i] > -Infinity)) continue; // masked (the common case after top-k): skip the exp
    const w = Math.exp(logits[i] - max);
    if (w === 0) continue;
    cum += w;
    last = i;
    if (u < cum) return i;
  }
  return last; // u rounded past the total: the last possible token
}

/** A random 32-bit seed, for when the user gives none. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/**
 * The sampling pipeline of one sequence, with its own RNG (so its draws do not depend on other
 * sequences of a batch). Reusable across steps; holds one scratch buffer of V floats.
 */
export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repetitionPenalty: number;
  readonly frequencyPenalty: number;
  readonly presencePenalty: number;
  readonly seed: number;
  /** The RNG (getState/setState to checkpoint a sampling run). */
  readonly rng: Rng;
  private work = new Float32Array(0);

  constructor(options: SamplerOptions = {}) {
    validateSamplerOptions(options);
    this.temperature = options.temperature ?? 1;
    this.topK = options.topK ?? 0;
    this.topP = options.topP ?? 1;
    this.minP = options.minP ?? 0;
    this.repetitionPenalty = options.repetitionPenalty ?? 1;
    this.frequencyPenalty = options.frequencyPenalty ?? 0;
    this.presencePenalty = options.presencePenalty ?? 0;
    this.seed = options.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
  }

  /**
   * The processed logits (steps 1 to 7 of the order above) for raw logits [V], in a scratch buffer
   * that the next call overwrites. With temperature 0 only the penalties are applied.
   */
  process(logits: Float32Array, history?: TokenHistory): Float32Array {
    if (this.work.length !== logits.length) this.work = new Float32Array(logits.length);
    const x = this.work;
    x.set(logits);
    if (history) {
      applyRepetitionPenalty(x, history.seen, this.repetitionPenalty);
      applyFrequencyPresencePenalty(x, history.generatedCounts, this.frequencyPenalty, this.presencePenalty);
    }
    if (this.temperature === 0) return x;
    applyTemperature(x, this.temperature);
    applyTopK(x, this.topK);
    applyTopP(x, this.topP);
    applyMinP(x, this.minP);
    return x;
  }

  /**
   * Chooses the next token from raw logits [V] (left unchanged). `history` feeds the penalties;
   * `topLogprobs` > 0 also returns that many alternatives from the raw distribution.
   */
  sample(logits: Float32Array, history?: TokenHistory, topLogprobs = 0): SampleResult {
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i];
      if (Number.isNaN(v) || v === Infinity)
        throw new Error(`Sampler: the model returned a ${v} logit (token ${i})`);
    }
    const x = this.process(logits, history);
    const tokenId = this.temperature === 0 ? argmax(x) : sampleFromLogits(x, this.rng);
    if (tokenId < 0) throw new Error('Sampler: every token has probability 0 (all logits are -Infinity)');
    const lse = logSumExp(logits);
    const result: SampleResult = { tokenId, logprob: logits[tokenId] - lse };
    if (topLogprobs > 0) {
      result.topLogprobs = Array.from(topIndices(logits, topLogprobs), (id) => ({
        tokenId: id,
        logprob: logits[id] - lse,
      }));
    }
    return result;
  }
}
