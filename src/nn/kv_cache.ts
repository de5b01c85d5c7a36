/**
 * The KV cache: for every layer, keys and values of past tokens, [batch, maxLen, nKvHeads, headDim],
 * allocated once up front. Sequences of a batch grow independently (`lengths`).
 */
import type { KVStore } from '../tensor/index.ts';

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
  /** Releases the buffers; the cache must not be used afterwards. Idempotent. */
  dispose(): void;
}

export class StaticKVCache implements KVCache {
  /** Per layer: [batch, maxLen, nKvHeads, headDim]. Emptied by dispose(). */
  k: Float32Array[];
  v: Float32Array[];
  readonly lengths: Int32Array;
  /** Floats between the starts of two sequences in k[layer] / v[layer]. */
  readonly batchStride: number;

  constructor(
    readonly nLayers: number,
    readonly batch: number,
    readonly maxLen: number,
    readonly nKvHeads: number,
    readonly headDim: number,
  ) {
    this.batchStride = maxLen * nKvHeads * headDim;
    this.k = Array.from({ length: nLayers }, () => new Float32Array(batch * this.batchStride));
    this.v = Array.from({ length: nLayers }, () => new Float32Array(batch * this.batchStride));
    this.lengths = new Int32Array(batch);
  }

  /** layers x 2 x nKvHeads x headDim x maxLen x batch x 4 bytes. */
  get bytes(): number {
    return this.nLayers * 2 * this.nKvHeads * this.headDim * this.maxLen * this.batch * 4;
  }

  /** The keys and values of `layer`, as the cached attention op reads them. */
  store(layer: number): KVStore {
    this.check();
    return { k: this.k[layer], v: this.v[layer], nKvHeads: this.nKvHeads, seqStride: this.batchStride };
  }

  /**
   * Writes rows [from, from + n) of k and v ([*, nKvHeads, headDim]) after sequence `seq`'s past
   * tokens in `layer` (lengths advance separately, once every layer has its rows).
   */
  append(layer: number, seq: number, k: Float32Array, v: Float32Array, from: number, n: number): void {
    this.check();
    const past = this.lengths[seq];
    if (past + n > this.maxLen)
      throw new Error(`KV cache full: sequence ${seq} has ${past} tokens, ${n} more exceed ${this.maxLen}`);
    const row = this.nKvHeads * this.headDim;
    const at = seq * this.batchStride + past * row;
    this.k[layer].set(k.subarray(from * row, (from + n) * row), at);
    this.v[layer].set(v.subarray(from * row, (from + n) * row), at);
  }

  private check(): void {
    if (this.disposed) throw new Error('KV cache used after dispose()');
  }

  reset(b: number): void {
    this.lengths[b] = 0;
  }

  copy(from: number, to: number): void {
    if (from === to) return;
    // A sequence's rows are contiguous: [maxLen, nKvHeads, headDim] from b * batchStride.
    const n = this.lengths[from] * this.nKvHeads * this.headDim;
    const src = from * this.batchStride;
    const dst = to * this.batchStride;
    for (let l = 0; l < this.nLayers; l++) {
      this.k[l].copyWithin(dst, src, src + n);
      this.v[l].copyWithin(dst, src, src + n);
    }
    this.lengths[to] = this.lengths[from];
  }

  dispose(): void {
    // Dropping the references lets the GC take the (often hundreds of MB of) buffers at once,
    // even while the model or a scheduler still holds this object.
    this.k = [];
    this.v = [];
    this.lengths.fill(0);
    this.disposed = true;
  }

  /** True once dispose() has run. */
  disposed = false;
}
