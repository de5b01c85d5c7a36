/**
 * Q5_K: super-blocks of 256 values, 176 bytes; Q4_K with a fifth bit per value, q in [0, 31];
 * value = d * sc[j] * q - dmin * m[j] for sub-block j of 32.
 *
 *   byte 0..1     d (f16)
 *   byte 2..3     dmin (f16)
 *   byte 4..15    sc[0..7], m[0..7], 6 bits each (packing in `k_scales.ts`)
 *   byte 16..47   high bits: bit j of byte l is the fifth bit of value 32j + l
 *   byte 48..175  low 4 bits, laid out as Q4_K's quants (chunk c: values 64c + l low nibble,
 *                 64c + 32 + l high nibble)
 *
 * Quantizer: `quantize_row_q5_K_ref`: the search of `quantizeScalesMinsK` with levels 0..31,
 * rmin -0.5, 15 steps. Activations for its dot are Q8_K.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as kScales from './k_scales.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { bytesOut, floatsIn } = blockMath;
const { dequantizeMinsK, quantizeScalesMinsK, vecDotMinsK } = kScales;

export const Q5_K: BlockFormat = { name: 'Q5_K', blockSize: 256, typeSize: 176 };

const levels = new Uint8Array(256);

/** The 256 levels q of super-block `bo` into L. */
function unpackQ5K(src: Uint8Array, bo: number, L: Uint8Array): void {
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[bo + 48 + 32 * c + l]!;
      const h = src[bo + 16 + l]!;
      L[64 * c + l] = (b & 0x0f) | (((h >> (2 * c)) & 1) << 4);
      L[64 * c + 32 + l] = (b >> 4) | (((h >> (2 * c + 1)) & 1) << 4);
    }
  }
}

/** Float32 values -> Q5_K super-blocks (ggml's reference quantizer). x: [n], n a multiple of 256. */
export function quantizeQ5_K(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q5_K, x, n, 'input');
  const y = bytesOut(Q5_K, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 256, bo += 176) {
    quantizeScalesMinsK(x, xo, 31, -0.5, 15, y, bo, levels);
    y.fill(0, bo + 16, bo + 48);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const lo = levels[64 * c + l]!;
        const hi = levels[64 * c + 32 + l]!;
        y[bo + 48 + 32 * c + l] = (lo & 0x0f) | ((hi & 0x0f) << 4);
        y[bo + 16 + l] |= ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1));
      }
    }
  }
  return y;
}

/** Q5_K super-blocks -> float32 values (`dequantize_row_q5_K`, float32 arithmetic). */
export function dequantizeQ5_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return dequantizeMinsK(Q5_K, unpackQ5K, src, n, out);
}

/** The dot of Q5_K weights `w` with Q8_K activations `a` over n values (see `vecDotMinsK`). */
export function vecDotQ5_K(w: Uint8Array, a: Uint8Array, n: number): number {
  return vecDotMinsK(Q5_K, unpackQ5K, w, a, n);
}
