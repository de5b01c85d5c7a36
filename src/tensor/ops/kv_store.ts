/**
 * The keys and values a KV cache holds for one layer, in its storage type: f32, f16 or ggml's
 * q8_0 blocks (src/kernels/kv_types.ts gives the layouts and the storage error of each). Rows get
 * in through `writeKV`, which converts f32 rows as they are appended (f16: round to nearest even;
 * q8_0: d = amax / 127 as f16, q = round(x / d), as llama.cpp's CPU backend quantizes a q8_0 KV
 * cache); `attentionCached` (attention.ts) reads them in place.
 */

import { f32ArrayToF16 } from '../../kernels/float16.ts';
import { quantizeQ8_0Activations } from '../../kernels/js/quant/q8_0.ts';
import type { KVType } from '../../kernels/kv_types.ts';
import { kvBytes, kvIndex } from '../../kernels/kv_types.ts';

interface StoreShape {
  nKvHeads: number;
  /** Values (not array elements) from the start of one sequence to the next. */
  seqStride: number;
}

/** Keys and values of several sequences, each [S, maxLen, Hkv, D] values, owned by a KV cache. */
export type KVStore = StoreShape &
  (
    | { type: 'f32'; k: Float32Array; v: Float32Array }
    | { type: 'f16'; k: Uint16Array; v: Uint16Array }
    | { type: 'q8_0'; k: Uint8Array; v: Uint8Array }
  );

/** Throws unless a token's row of `row` values (Hkv x D) can be stored as `type`. */
export function checkKVRow(type: KVType, row: number): void {
  if (type === 'q8_0' && row % 32 !== 0)
    throw new Error(
      `q8_0 KV cache: a token's row of ${row} values (KV heads x head dim) is not a whole number of ` +
        '32-value blocks; use --kv-type f16 or f32',
    );
}

/**
 * A store of `values` values each for k and v (zeroed). q8_0 needs whole blocks: `values` and
 * `row` (the values of one token, Hkv x D, which writeKV quantizes together) multiples of 32.
 */
export function allocKVStore(
  type: KVType,
  values: number,
  row: number,
  nKvHeads: number,
  seqStride: number,
): KVStore {
  checkKVRow(type, row);
  const shape = { nKvHeads, seqStride };
  if (type === 'f32') return { type, k: new Float32Array(values), v: new Float32Array(values), ...shape };
  if (type === 'f16') return { type, k: new Uint16Array(values), v: new Uint16Array(values), ...shape };
  const bytes = kvBytes(type, values);
  return { type, k: new Uint8Array(bytes), v: new Uint8Array(bytes), ...shape };
}

/** Writes k and v ([n, Hkv, D] values, f32) into `store` from value `at` on (a row start), converted. */
export function writeKV(store: KVStore, k: Float32Array, v: Float32Array, at: number): void {
  const n = k.length;
  switch (store.type) {
    case 'f32':
      store.k.set(k, at);
      store.v.set(v, at);
      return;
    case 'f16':
      f32ArrayToF16(k, store.k.subarray(at, at + n));
      f32ArrayToF16(v, store.v.subarray(at, at + n));
      return;
    case 'q8_0': {
      const [from, to] = [kvIndex('q8_0', at), kvIndex('q8_0', at + n)];
      quantizeQ8_0Activations(k, n, store.k.subarray(from, to));
      quantizeQ8_0Activations(v, n, store.v.subarray(from, to));
    }
  }
}

/** Copies values [src, src + n) of k and v to [dst, dst + n) (whole rows; beam search forks). */
export function copyKV(store: KVStore, src: number, dst: number, n: number): void {
  const [s, d, e] = [src, dst, src + n].map((x) => kvIndex(store.type, x));
  store.k.copyWithin(d, s, e);
  store.v.copyWithin(d, s, e);
}
