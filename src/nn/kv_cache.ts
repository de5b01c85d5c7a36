/**
 * The KV cache: for every layer, keys and values of past tokens, [batch, maxLen, nKvHeads, headDim],
 * allocated once up front. Sequences of a batch grow independently (`lengths`). Values are stored
 * as f32 (exact), f16 or q8_0 (`type`, converted when appended: src/kernels/kv_types.ts gives each
 * type's bytes and storage error); the cached attention reads them in place.
 */
import {
  allocKVStore,
  checkKVRow,
  copyKV,
  type KVStore,
  type KVType,
  kvBytes,
  writeKV,
} from '../tensor/index.ts';

/** Keys and values of past tokens, per sequence of a batch (sequences may have different lengths). */
export interface KVCache {
  readonly batch: number;
  /** Capacity in tokens of each sequence. */
  readonly maxLen: number;
  /** Tokens held for each sequence. */
  readonly lengths: Int32Array;
  /** Bytes allocated: layers x 2 x nKvHeads x headDim x maxLen x batch x (bytes per value). */
  readonly bytes: number;
  /** Forgets sequence b (its slot can take a new sequence). */
  reset(b: number): void;
  /** Makes sequence `to` a copy of sequence `from` (beam search forks a hypothesis this way). */
  copy(from: number, to: number): void;
  /** Releases the buffers; the cache must not be used afterwards. Idempotent. */
  dispose(): void;
}

/** The shape of a model's cache: what its size depends on besides tokens and sequences. */
export interface KVCacheDims {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
}

/**
 * Bytes of a cache of `type` for `batch` sequences of `maxLen` tokens: layers x 2 (K and V) x
 * nKvHeads x headDim x maxLen x batch x 4 (f32), 2 (f16) or 34/32 (q8_0) bytes. E.g. Qwen2.5-0.5B
 * (24 layers, 2 KV heads of 64) at 32,768 tokens: 768 MiB in f32, 384 MiB in f16, 204 MiB in q8_0.
 */
export function kvCacheBytes(d: KVCacheDims, type: KVType, maxLen: number, batch: number): number {
  checkKVRow(type, d.nKvHeads * d.headDim);
  return d.nLayers * 2 * kvBytes(type, d.nKvHeads * d.headDim * maxLen * batch);
}

export class StaticKVCache implements KVCache {
  /** Per layer: keys and values, [batch, maxLen, nKvHeads, headDim] values of `type`. Emptied by dispose(). */
  private stores: KVStore[];
  readonly lengths: Int32Array;
  /** Values between the starts of two sequences in a layer's keys (or values). */
  readonly batchStride: number;

  constructor(
    readonly nLayers: number,
    readonly batch: number,
    readonly maxLen: number,
    readonly nKvHeads: number,
    readonly headDim: number,
    readonly type: KVType = 'f32',
  ) {
    this.batchStride = maxLen * nKvHeads * headDim;
    const row = nKvHeads * headDim;
    this.stores = Array.from({ length: nLayers }, () =>
      allocKVStore(type, batch * this.batchStride, row, nKvHeads, this.batchStride),
    );
    this.lengths = new Int32Array(batch);
  }

  /** layers x 2 x nKvHeads x headDim x maxLen x batch x (4, 2 or 34/32) bytes (kvCacheBytes). */
  get bytes(): number {
    return kvCacheBytes(this, this.type, this.maxLen, this.batch);
  }

  /** The keys and values of `layer`, as the cached attention op reads them. */
  store(layer: number): KVStore {
    this.check();
    return this.stores[layer];
  }

  /**
   * Writes rows [from, from + n) of k and v ([*, nKvHeads, headDim], f32) after sequence `seq`'s
   * past tokens in `layer`, converted to the cache's type (lengths advance separately, once every
   * layer has its rows).
   */
  append(layer: number, seq: number, k: Float32Array, v: Float32Array, from: number, n: number): void {
    this.check();
    const past = this.lengths[seq];
    if (past + n > this.maxLen)
      throw new Error(`KV cache full: sequence ${seq} has ${past} tokens, ${n} more exceed ${this.maxLen}`);
    const row = this.nKvHeads * this.headDim;
    const at = seq * this.batchStride + past * row;
    writeKV(
      this.stores[layer],
      k.subarray(from * row, (from + n) * row),
      v.subarray(from * row, (from + n) * row),
      at,
    );
  }

  private check(): void {
    if (this.disposed) throw new Error('KV cache used after dispose()');
  }

  reset(b: number): void {
    this.lengths[b] = 0;
  }

  copy(from: number, to: number): void {
    if (from === to) return;
    this.check();
    // A sequence's rows are contiguous: [maxLen, nKvHeads, headDim] values from b * batchStride.
    const n = this.lengths[from] * this.nKvHeads * this.headDim;
    for (const s of this.stores) copyKV(s, from * this.batchStride, to * this.batchStride, n);
    this.lengths[to] = this.lengths[from];
  }

  dispose(): void {
    // Dropping the references lets the GC take the (often hundreds of MB of) buffers at once,
    // even while the model or a scheduler still holds this object.
    this.stores = [];
    this.lengths.fill(0);
    this.disposed = true;
  }

  /** True once dispose() has run. */
  disposed = false;
}
