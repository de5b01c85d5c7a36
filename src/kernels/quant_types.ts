/**
 * ggml tensor types as they lie in GGUF files: the type id, and how many elements one block of
 * `typeSize` bytes holds. A row of n elements takes n / blockSize blocks, so n must be a multiple
 * of the block size (256 for the K-quants, 32 for Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1). The table is ggml's
 * (ggml.h's enum ggml_type, ggml.c's type_traits); test/kernels/quant/types.test.ts checks it
 * against ggml's own `ggml_blck_size` / `ggml_type_size` dump.
 *
 * It lists every type a GGUF file may hold, so a reader can size and skip any tensor; the types
 * xfmr decodes and encodes are `QuantType` (codecs in `js/quant/`). Ids 4, 5 and 31-33, 36-38
 * are removed types that no file may use.
 *
 * This lives in `kernels/` because the quantized kernels (the js twins now, native ones later)
 * and `io` both need it, and kernels may import nothing above them.
 */

export interface GgmlTypeInfo {
  /** ggml type id (the u32 in a GGUF tensor info). */
  readonly id: number;
  /** Name as llama.cpp prints it, upper case (`Q4_K`, `F16`). */
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

// [id, name, block size, bytes per block]
const TABLE: readonly (readonly [number, string, number, number])[] = [
  [0, 'F32', 1, 4],
  [1, 'F16', 1, 2],
  [2, 'Q4_0', 32, 18], // f16 d, 16 bytes of nibbles
  [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24],
  [8, 'Q8_0', 32, 34], // f16 d, 32 int8
  [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84],
  [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144], // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
  [13, 'Q5_K', 256, 176], // as Q4_K plus 32 bytes of high bits
  [14, 'Q6_K', 256, 210], // 128 bytes low nibbles, 64 bytes 2-bit highs, 16 int8 scales, f16 d
  [15, 'Q8_K', 256, 292], // f32 d, 256 int8, 16 int16 sums (activations only)
  [16, 'IQ2_XXS', 256, 66],
  [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98],
  [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18],
  [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82],
  [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1],
  [25, 'I16', 1, 2],
  [26, 'I32', 1, 4],
  [27, 'I64', 1, 8],
  [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2],
  [34, 'TQ1_0', 256, 54],
  [35, 'TQ2_0', 256, 66],
  [39, 'MXFP4', 32, 17],
  [40, 'NVFP4', 64, 36],
  [41, 'Q1_0', 128, 18],
  [42, 'Q2_0', 64, 18],
];

const BY_ID = new Map<number, GgmlTypeInfo>(
  TABLE.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]),
);
const BY_NAME = new Map<string, GgmlTypeInfo>([...BY_ID.values()].map((t) => [t.name, t]));

/** Every ggml type a GGUF file may hold, by id order. */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [...BY_ID.values()];

/** The type with this id, or undefined for an id ggml does not define (or has removed). */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** The type with this name (`Q4_K`); throws for an unknown name. */
export function ggmlType(name: string): GgmlTypeInfo {
  const t = BY_NAME.get(name);
  if (t === undefined) throw new Error(`unknown ggml type ${JSON.stringify(name)}`);
  return t;
}

/** The quantized and half-precision types xfmr encodes and decodes (see `js/quant/`). */
export const QUANT_TYPES = [
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q4_K',
  'Q5_K',
  'Q6_K',
] as const;
export type QuantType = (typeof QUANT_TYPES)[number];

/** The block types a Linear layer computes with directly (Kernels.linearQuant). */
export const LINEAR_QUANT_TYPES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const;
export type LinearQuantType = (typeof LINEAR_QUANT_TYPES)[number];

export function isQuantType(name: string): name is QuantType {
  return (QUANT_TYPES as readonly string[]).includes(name);
}

/**
 * Bytes of a row of `n` elements of type `t`. Throws, naming `what`, when n is not a multiple of
 * the block size: ggml cannot store a partial block.
 */
export function rowBytes(t: GgmlTypeInfo, n: number, what = 'row'): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what}: invalid length ${n}`);
  if (n % t.blockSize !== 0) {
    throw new Error(`${what}: row length ${n} is not a multiple of ${t.name}'s block size ${t.blockSize}`);
  }
  return (n / t.blockSize) * t.typeSize;
}
