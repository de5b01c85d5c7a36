/**
 * The pure-TypeScript codecs of the GGUF block types xfmr reads and writes: the oracle that the
 * native quantized kernels are tested against, and the encoder `io/gguf_export.ts` uses.
 *
 * For each type: its block format; `dequantize` (bit-exact with ggml's `to_float`); `quantize`
 * (byte-exact with `ggml_quantize_chunk` without an importance matrix, i.e. llama-quantize's
 * reference quantizers); and `vecDot`, the dot of a row of weights with activations already
 * quantized to the type's `dotType`, as llama.cpp's CPU matmul computes it: Q8_0 activations for
 * Q8_0/Q4_0/Q5_0, Q8_1 (with s = d * sum q) for Q4_1/Q5_1, Q8_K for the K-quants, the half type
 * itself for F16/BF16. `quantizeActivations`
 * makes those activations the way llama.cpp's x86 CPU backend does.
 *
 *   type  block  bytes  bits/value  dotType
 *   F16       1      2       16      F16
 *   BF16      1      2       16      BF16
 *   Q8_0     32     34        8.5    Q8_0
 *   Q4_0     32     18        4.5    Q8_0
 *   Q4_1     32     20        5      Q8_1
 *   Q5_0     32     22        5.5    Q8_0
 *   Q5_1     32     24        6      Q8_1
 *   Q4_K    256    144        4.5    Q8_K
 *   Q5_K    256    176        5.5    Q8_K
 *   Q6_K    256    210        6.5625 Q8_K
 *
 * (Q4_1 is found in old files; Q5_0 / Q5_1 are what llama-quantize writes for Q4_K / Q5_K
 * tensors whose rows are not whole 256-blocks.)
 *
 * All functions take n, the number of values (a whole number of blocks), and buffers starting at
 * the first block (pass a subarray for an offset); outputs may be given to avoid allocating.
 */
import type { QuantType } from '../../quant_types.ts';
import type { BlockFormat } from './block_math.ts';
import {
  BF16,
  dequantizeBF16,
  dequantizeF16,
  F16,
  quantizeBF16,
  quantizeF16,
  vecDotBF16,
  vecDotF16,
} from './float_types.ts';
import { dequantizeQ4_0, Q4_0, quantizeQ4_0, vecDotQ4_0 } from './q4_0.ts';
import { dequantizeQ4_1, Q4_1, quantizeQ4_1, vecDotQ4_1 } from './q4_1.ts';
import { dequantizeQ4_K, Q4_K, quantizeQ4_K, vecDotQ4_K } from './q4_k.ts';
import { dequantizeQ5_0, Q5_0, quantizeQ5_0, vecDotQ5_0 } from './q5_0.ts';
import { dequantizeQ5_1, Q5_1, quantizeQ5_1, vecDotQ5_1 } from './q5_1.ts';
import { dequantizeQ5_K, Q5_K, quantizeQ5_K, vecDotQ5_K } from './q5_k.ts';
import { dequantizeQ6_K, Q6_K, quantizeQ6_K, vecDotQ6_K } from './q6_k.ts';
import { dequantizeQ8_0, Q8_0, quantizeQ8_0, quantizeQ8_0Activations, vecDotQ8_0 } from './q8_0.ts';
import { Q8_1, quantizeQ8_1Activations } from './q8_1.ts';
import { Q8_K, quantizeQ8_K } from './q8_k.ts';

export type { BlockFormat } from './block_math.ts';

/** The activation types of the dot products. */
export type DotType = 'F16' | 'BF16' | 'Q8_0' | 'Q8_1' | 'Q8_K';

/** The encoder and decoder of one block type. */
export interface BlockCodec {
  readonly type: QuantType;
  readonly format: BlockFormat;
  /** Blocks -> float32 values. src: the blocks of n values; returns (or fills) [n]. */
  dequantize(src: Uint8Array, n: number, out?: Float32Array): Float32Array;
  /** float32 values -> blocks. x: [n]; returns (or fills) the n / blockSize blocks. */
  quantize(x: Float32Array, n: number, out?: Uint8Array): Uint8Array;
}

export interface QuantCodec extends BlockCodec {
  readonly type: QuantType;
  /** The type the activations are quantized to for `vecDot`. */
  readonly dotType: DotType;
  /** The dot of n weights `w` (blocks of this type) with activations `a` (blocks of dotType). */
  vecDot(w: Uint8Array, a: Uint8Array, n: number): number;
}

export const QUANT_CODECS: Readonly<Record<QuantType, QuantCodec>> = {
  F16: {
    type: 'F16',
    format: F16,
    dotType: 'F16',
    dequantize: dequantizeF16,
    quantize: quantizeF16,
    vecDot: vecDotF16,
  },
  BF16: {
    type: 'BF16',
    format: BF16,
    dotType: 'BF16',
    dequantize: dequantizeBF16,
    quantize: quantizeBF16,
    vecDot: vecDotBF16,
  },
  Q8_0: {
    type: 'Q8_0',
    format: Q8_0,
    dotType: 'Q8_0',
    dequantize: dequantizeQ8_0,
    quantize: quantizeQ8_0,
    vecDot: vecDotQ8_0,
  },
  Q4_0: {
    type: 'Q4_0',
    format: Q4_0,
    dotType: 'Q8_0',
    dequantize: dequantizeQ4_0,
    quantize: quantizeQ4_0,
    vecDot: vecDotQ4_0,
  },
  Q4_1: {
    type: 'Q4_1',
    format: Q4_1,
    dotType: 'Q8_1',
    dequantize: dequantizeQ4_1,
    quantize: quantizeQ4_1,
    vecDot: vecDotQ4_1,
  },
  Q5_0: {
    type: 'Q5_0',
    format: Q5_0,
    dotType: 'Q8_0',
    dequantize: dequantizeQ5_0,
    quantize: quantizeQ5_0,
    vecDot: vecDotQ5_0,
  },
  Q5_1: {
    type: 'Q5_1',
    format: Q5_1,
    dotType: 'Q8_1',
    dequantize: dequantizeQ5_1,
    quantize: quantizeQ5_1,
    vecDot: vecDotQ5_1,
  },
  Q4_K: {
    type: 'Q4_K',
    format: Q4_K,
    dotType: 'Q8_K',
    dequantize: dequantizeQ4_K,
    quantize: quantizeQ4_K,
    vecDot: vecDotQ4_K,
  },
  Q5_K: {
    type: 'Q5_K',
    format: Q5_K,
    dotType: 'Q8_K',
    dequantize: dequantizeQ5_K,
    quantize: quantizeQ5_K,
    vecDot: vecDotQ5_K,
  },
  Q6_K: {
    type: 'Q6_K',
    format: Q6_K,
    dotType: 'Q8_K',
    dequantize: dequantizeQ6_K,
    quantize: quantizeQ6_K,
    vecDot: vecDotQ6_K,
  },
};

/** The block format of an activation type. */
export const DOT_FORMATS: Readonly<Record<DotType, BlockFormat>> = { F16, BF16, Q8_0, Q8_1, Q8_K };

/**
 * Activations x: [n] -> blocks of `type`, as llama.cpp's x86 CPU backend quantizes the input of a
 * matmul (`from_float` of the weight type's vec_dot_type).
 */
export function quantizeActivations(type: DotType, x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  switch (type) {
    case 'F16':
      return quantizeF16(x, n, out);
    case 'BF16':
      return quantizeBF16(x, n, out);
    case 'Q8_0':
      return quantizeQ8_0Activations(x, n, out);
    case 'Q8_1':
      return quantizeQ8_1Activations(x, n, out);
    case 'Q8_K':
      return quantizeQ8_K(x, n, out);
  }
}
