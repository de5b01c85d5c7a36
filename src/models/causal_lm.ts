/**
 * What generation needs from a language model, and nothing more: a KV cache and a way to feed
 * tokens to it. The decoder in models/decoder.ts implements it; tests may use tiny fakes.
 */

/** Keys and values of past tokens, per sequence of a batch (sequences may have different lengths). */
export interface KVCache {
  readonly batch: number;
  /** Capacity in tokens of each sequence. */
  readonly maxLen: number;
  /** Tokens held for each sequence. */
  readonly lengths: Int32Array;
  /** Bytes allocated: layers x 2 x nKvHeads x headDim x maxLen x batch x 4. */
  readonly bytes: number;
  /** Forgets sequence b (its slot can take a new sequence). */
  reset(b: number): void;
  /** Makes sequence `to` a copy of sequence `from` (beam search forks a hypothesis this way). */
  copy(from: number, to: number): void;
}

export interface CausalLM {
  readonly vocabSize: number;
  readonly contextLength: number;
  /** A cache for `batch` sequences of up to `maxLen` tokens each (allocated up front). */
  createCache(batch: number, maxLen: number): KVCache;
  /**
   * Feeds tokens[b] (any length, possibly 0) to sequence b, appending to its cache, and returns for
   * each b the logits [V] after its last fed token (null when tokens[b] is empty). A prompt is a
   * prefill (one call with all its tokens); decoding feeds one token per call.
   */
  extend(tokens: readonly Int32Array[], cache: KVCache): (Float32Array | null)[];
}
