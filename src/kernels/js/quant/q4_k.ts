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
import * as q8k from './q8_k.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, readF16, readI8, readI16 } = blockMath;
const { quantizeScalesMinsK, scaleMinK4 } = kScales;
const { Q8_K, q8KScale } = q8k;

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
  blocksIn(Q4_K, src, n, 'input');
  const y = floatsOut(Q4_K, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 256, bo += 144) {
    const d = readF16(src, bo);
    const dmin = readF16(src, bo + 2);
    unpackQ4K(src, bo, levels);
    for (let j = 0; j < 8; j++) {
      const dj = f32(d * scaleMinK4(j, src, bo + 4, 0));
      const mj = f32(dmin * scaleMinK4(j, src, bo + 4, 1));
      for (let i = 32 * j; i < 32 * j + 32; i++) y[yo + i] = f32(f32(dj * levels[i]!) - mj);
    }
  }
  return y;
}

/**
 * The dot of Q4_K weights `w` with Q8_K activations `a` over n values
 * (`ggml_vec_dot_q4_K_q8_K`). Per super-block, with exact integer sums:
 *   d_w * d_a * sum_j sc[j] * (q . a_q over sub-block j) - dmin_w * d_a * sum_j m[j] * bsum_j
 * where bsum_j (the activation quants summed over sub-block j) comes from the Q8_K bsums. The
 * scaling and the sum over super-blocks are in float64 (see `vecDotQ8_0`).
 */
export function vecDotQ4_K(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q4_K, w, n, 'weights');
  blocksIn(Q8_K, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 144;
    const ao = i * 292;
    unpackQ4K(w, wo, levels);
    let sumSc = 0;
    let sumMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumi = 0;
      for (let l = 32 * j; l < 32 * j + 32; l++) sumi += levels[l]! * readI8(a, ao + 4 + l);
      const bsum = readI16(a, ao + 260 + 4 * j) + readI16(a, ao + 262 + 4 * j);
      sumSc += scaleMinK4(j, w, wo + 4, 0) * sumi;
      sumMin += scaleMinK4(j, w, wo + 4, 1) * bsum;
    }
    const da = q8KScale(a, i);
    sum += readF16(w, wo) * da * sumSc - readF16(w, wo + 2) * da * sumMin;
  }
  return sum;
}
