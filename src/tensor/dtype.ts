/**
 * Element types of tensors. f32 is the compute type: every op returns f32 and only f32 tensors
 * take part in autograd. The others hold inference weights (the matrices of Linear and Embedding
 * layers) in less memory and are read by the ops that know them (linear, embedding):
 *
 *   dtype  block  bytes  storage
 *   f32    1      4      Float32Array from the pool (storage.ts)
 *   bf16   1      2      Uint16Array of bfloat16 bit patterns (bf16.ts), not pooled
 *   q8_0   32     34     Uint8Array of ggml blocks, as they lie in a GGUF file, not pooled
 *   q4_0   32     18     (the block layouts: kernels/js/quant/*.ts)
 *   q4_1   32     20
 *   q5_0   32     22
 *   q5_1   32     24
 *   q4_k   256    144
 *   q5_k   256    176
 *   q6_k   256    210
 *
 * A quantized tensor's rows (its last dim) must be whole blocks; it holds ggml's bytes untouched,
 * so a GGUF file's matrices are used in place of an f32 copy, and the memory of a model's matrices
 * is the file's tensor bytes. Linear computes with them directly (Kernels.linearQuant).
 */
import type { LinearQuantType } from '../kernels/quant_types.ts';

export type QuantDType = 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q4_k' | 'q5_k' | 'q6_k';
export type DType = 'f32' | 'bf16' | QuantDType;

/** The low-precision types: what a weight matrix may be stored in besides f32. */
export type LowDType = Exclude<DType, 'f32'>;

export const QUANT_DTYPES: readonly QuantDType[] = [
  'q8_0',
  'q4_0',
  'q4_1',
  'q5_0',
  'q5_1',
  'q4_k',
  'q5_k',
  'q6_k',
];
export const DTYPES: readonly DType[] = ['f32', 'bf16', ...QUANT_DTYPES];

export interface DTypeLayout {
  /** Elements per block (1 for plain element types). */
  blockElems: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const DTYPE_LAYOUT: Readonly<Record<DType, DTypeLayout>> = {
  f32: { blockElems: 1, blockBytes: 4 },
  bf16: { blockElems: 1, blockBytes: 2 },
  q8_0: { blockElems: 32, blockBytes: 34 },
  q4_0: { blockElems: 32, blockBytes: 18 },
  q4_1: { blockElems: 32, blockBytes: 20 },
  q5_0: { blockElems: 32, blockBytes: 22 },
  q5_1: { blockElems: 32, blockBytes: 24 },
  q4_k: { blockElems: 256, blockBytes: 144 },
  q5_k: { blockElems: 256, blockBytes: 176 },
  q6_k: { blockElems: 256, blockBytes: 210 },
};

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

export function isQuantDType(d: DType): d is QuantDType {
  return (QUANT_DTYPES as readonly string[]).includes(d);
}

/** The ggml type of a quantized dtype ('q4_k' -> 'Q4_K'). */
export function ggmlTypeOf(d: QuantDType): LinearQuantType {
  return d.toUpperCase() as LinearQuantType;
}

/** The quantized dtype of a ggml type name, or undefined for one that is not a quantized dtype. */
export function quantDTypeOf(ggml: string): QuantDType | undefined {
  const d = ggml.toLowerCase();
  return (QUANT_DTYPES as readonly string[]).includes(d) ? (d as QuantDType) : undefined;
}

/** Bytes that n elements of `dtype` take (n must fill whole blocks). */
export function dtypeBytes(dtype: DType, n: number): number {
  const { blockElems, blockBytes } = DTYPE_LAYOUT[dtype];
  if (n % blockElems !== 0)
    throw new Error(`${n} elements do not fill whole ${dtype} blocks of ${blockElems}`);
  return (n / blockElems) * blockBytes;
}
