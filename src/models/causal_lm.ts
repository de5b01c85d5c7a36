/**
 * What generation needs from a language model, and nothing more: a KV cache and a way to feed
 * tokens to it. The decoder in models/decoder.ts implements it; tests may use tiny fakes.
 */
import type { KVCache } from '../nn/kv_cache.ts';

export type { KVCache };

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
