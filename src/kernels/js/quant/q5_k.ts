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
import * as q8k from './q8_k.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, readF16, readI8, readI16 } = blockMath;
const { quantizeScalesMinsK, scaleMinK4 } = kScales;
const { Q8_K, q8KScale } = q8k;

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
  blocksIn(Q5_K, src, n, 'input');
  const y = floatsOut(Q5_K, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 256, bo += 176) {
    const d = readF16(src, bo);
    const dmin = readF16(src, bo + 2);
    unpackQ5K(src, bo, levels);
    for (let j = 0; j < 8; j++) {
      const dj = f32(d * scaleMinK4(j, src, bo + 4, 0));
      const mj = f32(dmin * scaleMinK4(j, src, bo + 4, 1));
      for (let i = 32 * j; i < 32 * j + 32; i++) y[yo + i] = f32(f32(dj * levels[i]!) - mj);
    }
  }
  return y;
}

/**
 * The dot of Q5_K weights `w` with Q8_K activations `a` over n values
 * (`ggml_vec_dot_q5_K_q8_K`), as `vecDotQ4_K` with 5-bit levels.
 */
export function vecDotQ5_K(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q5_K, w, n, 'weights');
  blocksIn(Q8_K, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 176;
    const ao = i * 292;
    unpackQ5K(w, wo, levels);
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
