/**
 * How a KV cache stores its keys and values, and where value e of a store lies in its array.
 *
 *   type   array        bytes/value  layout
 *   f32    Float32Array  4           value e at index e
 *   f16    Uint16Array   2           value e at index e, IEEE binary16 bits (round to nearest even)
 *   q8_0   Uint8Array    34/32       ggml's Q8_0 blocks of 32 consecutive values (f16 scale d,
 *                                    then 32 int8 q; value = q * d): value e is q[e % 32] of
 *                                    block floor(e / 32), which starts at byte 34 floor(e / 32)
 *
 * Values are counted along the store's rows ([maxLen, nKvHeads, headDim] per sequence), so a q8_0
 * block runs along one token's row of nKvHeads x headDim values, as ggml quantizes a row of
 * llama.cpp's K cache; a row must then be a whole number of blocks (the writer checks it). The
 * attention kernels read any value e of either layout (Kernels.attentionForwardKV).
 *
 * Storage error per value x (what the cached attention then reads instead of x):
 *   f16   |x16 - x| <= 2^-11 |x| (normal range, |x| >= 2^-14; below, 2^-25 absolute)
 *   q8_0  |q d - x| <= amax / 254 + 127 |d - amax / 127| <= amax / 254 + amax 2^-11, amax the
 *         largest |x| of the block (half a step, plus the f16 rounding of the stored scale)
 *
 * Not handled: q8_0 for rows that are not whole blocks (nKvHeads x headDim not a multiple of 32;
 * llama.cpp refuses those too); 4-bit cache types; K and V in different types (llama.cpp's
 * --cache-type-k / --cache-type-v may differ).
 */
import { ggmlType, rowBytes } from './quant_types.ts';

/** The storage types, cheapest last; `f32` is exact. */
export const KV_TYPES = ['f32', 'f16', 'q8_0'] as const;
export type KVType = (typeof KV_TYPES)[number];
/** The types the attention reads through Kernels.attentionForwardKV (f32 takes attentionForward). */
export type LowKVType = Exclude<KVType, 'f32'>;

export function isKVType(s: string): s is KVType {
  return (KV_TYPES as readonly string[]).includes(s);
}

const Q8 = ggmlType('Q8_0'); // 32 values in 34 bytes

/**
 * The index in the store's array where value e lies (f32, f16), or where the block holding it
 * starts (q8_0, for e a multiple of 32: the start of a row or of a sequence).
 */
export function kvIndex(type: KVType, e: number): number {
  return type === 'q8_0' ? (e / Q8.blockSize) * Q8.typeSize : e;
}

/** Bytes of n values of `type` (q8_0: n a whole number of blocks). */
export function kvBytes(type: KVType, n: number): number {
  if (type === 'f32') return 4 * n;
  if (type === 'f16') return 2 * n;
  return rowBytes(Q8, n, 'q8_0 KV storage');
}
