/**
 * Element types of tensors. f32 is the compute type: every op returns f32 and only f32 tensors
 * take part in autograd. The others hold inference weights (the matrices of Linear and Embedding
 * layers) in less memory and are read by the ops that know them (linear, embedding):
 *
 *   dtype  block  bytes  storage
 *   f32    1      4      Float32Array from the pool (storage.ts)
 *   bf16   1      2      Uint16Array of bfloat16 bit patterns (bf16.ts), not pooled
 *
 * GGUF's quantized types (Q8_0: 32 elements in 34 bytes, Q4_K: 256 in 144) are the planned
 * additions: raw blocks of `blockElems` elements in `blockBytes` bytes, so a tensor's byte size is
 * computed here for every type, and everything that holds weights asks for it rather than
 * assuming 4 or 2 bytes an element.
 */
export type DType = 'f32' | 'bf16';

/** The low-precision types: what a weight matrix may be stored in besides f32. */
export type LowDType = Exclude<DType, 'f32'>;

export const DTYPES: readonly DType[] = ['f32', 'bf16'];

export interface DTypeLayout {
  /** Elements per block (1 for plain element types). */
  blockElems: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const DTYPE_LAYOUT: Readonly<Record<DType, DTypeLayout>> = {
  f32: { blockElems: 1, blockBytes: 4 },
  bf16: { blockElems: 1, blockBytes: 2 },
};

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

/** Bytes that n elements of `dtype` take (n must fill whole blocks). */
export function dtypeBytes(dtype: DType, n: number): number {
  const { blockElems, blockBytes } = DTYPE_LAYOUT[dtype];
  if (n % blockElems !== 0)
    throw new Error(`${n} elements do not fill whole ${dtype} blocks of ${blockElems}`);
  return (n / blockElems) * blockBytes;
}
