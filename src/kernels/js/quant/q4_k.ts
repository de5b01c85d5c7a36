/**
 * Q4_K: super-blocks of 256 values, 144 bytes; 8 sub-blocks of 32, each with a 6-bit scale
 * sc[j] and a 6-bit min m[j]; value = d * sc[j] * q - dmin * m[j], q in [0, 15].
 *
 *   byte 0..1     d (f16), the unit of the sub-block scales
 *   byte 2..3     dmin (f16), the unit of the sub-block mins
 *   byte 4..15    sc[0..7], m[0..7], 6 bits each (packing in `k_scales.ts`)
 *   byte 16..143  quants: 4 chunks of 32 bytes; chunk c holds values 64c + l in the low nibble of
 *                 byte l and 64c + 32 + l in the high nibble (sub-blocks 2c and 2c + 1)
 *
 * Quantizer: `quantize_row_q4_K_ref` (what llama-quantize writes without an importance matrix):
 * the scale/min search of `quantizeScalesMinsK` with levels 0..15, rmin -1, 20 steps.
 * Activations for its dot are Q8_K.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as kScales from './k_scales.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { bytesOut, floatsIn } = blockMath;
const { dequantizeMinsK, quantizeScalesMinsK, vecDotMinsK } = kScales;

export const Q4_K: BlockFormat = { name: 'Q4_K', blockSize: 256, typeSize: 144 };

const levels = new Uint8Array(256);

/** The 256 levels q of super-block `bo` into L (value i of the block is L[i]). */
function unpackQ4K(src: Uint8Array, bo: number, L: Uint8Array): void {
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[bo + 16 + 32 * c + l]!;
      L[64 * c + l] = b & 0x0f;
      L[64 * c + 32 + l] = b >> 4;
    }
  }
}

/** Float32 values -> Q4_K super-blocks (ggml's reference quantizer). x: [n], n a multiple of 256. */
export function quantizeQ4_K(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q4_K, x, n, 'input');
  const y = bytesOut(Q4_K, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 256, bo += 144) {
    quantizeScalesMinsK(x, xo, 15, -1, 20, y, bo, levels);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++)
        y[bo + 16 + 32 * c + l] = levels[64 * c + l]! | (levels[64 * c + 32 + l]! << 4);
    }
  }
  return y;
}

/** Q4_K super-blocks -> float32 values (`dequantize_row_q4_K`, float32 arithmetic). */
export function dequantizeQ4_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return dequantizeMinsK(Q4_K, unpackQ4K, src, n, out);
}

/** The dot of Q4_K weights `w` with Q8_K activations `a` over n values (see `vecDotMinsK`). */
export function vecDotQ4_K(w: Uint8Array, a: Uint8Array, n: number): number {
  return vecDotMinsK(Q4_K, unpackQ4K, w, a, n);
}
