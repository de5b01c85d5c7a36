/**
 * Q6_K: super-blocks of 256 values, 210 bytes; 16 sub-blocks of 16, each with an int8 scale
 * sc[j]; value = d * sc[j] * (q - 32), q in [0, 63]. No min: the levels are symmetric.
 *
 *   byte 0..127    low 4 bits: half h (values 128h..128h+127) uses bytes 64h..64h+63; byte
 *                  64h + l holds value 128h + l (low nibble) and 128h + 64 + l (high nibble),
 *                  byte 64h + 32 + l holds 128h + 32 + l and 128h + 96 + l, l = 0..31
 *   byte 128..191  high 2 bits: byte 128 + 32h + l holds, from bit 0 up, those of values
 *                  128h + l, +32, +64, +96
 *   byte 192..207  sc[0..15] (int8)
 *   byte 208..209  d (f16)
 *
 * Quantizer: `quantize_row_q6_K_ref`: `makeQxQuants` (levels -32..31) per sub-block, the 16
 * scales as int8 multiples of d = max_scale / -128, then the values re-quantized against the
 * stored scales. Activations for its dot are Q8_K.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as kScales from './k_scales.ts';
import * as q8k from './q8_k.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, nearestInt, readF16, readI8, writeF16 } = blockMath;
const { GROUP_MAX_EPS, makeQxQuants } = kScales;
const { Q8_K, q8KScale } = q8k;

export const Q6_K: BlockFormat = { name: 'Q6_K', blockSize: 256, typeSize: 210 };

const levels = new Uint8Array(256);
const scales = new Float32Array(16);

/** The 256 levels q (0..63) of super-block `bo` into L. */
function unpackQ6K(src: Uint8Array, bo: number, L: Uint8Array): void {
  for (let h = 0; h < 2; h++) {
    const ql = bo + 64 * h;
    const qh = bo + 128 + 32 * h;
    for (let l = 0; l < 32; l++) {
      const hb = src[qh + l]!;
      const p = 128 * h + l;
      L[p] = (src[ql + l]! & 0x0f) | ((hb & 3) << 4);
      L[p + 32] = (src[ql + 32 + l]! & 0x0f) | (((hb >> 2) & 3) << 4);
      L[p + 64] = (src[ql + l]! >> 4) | (((hb >> 4) & 3) << 4);
      L[p + 96] = (src[ql + 32 + l]! >> 4) | (((hb >> 6) & 3) << 4);
    }
  }
}

/** Float32 values -> Q6_K super-blocks (ggml's reference quantizer). x: [n], n a multiple of 256. */
export function quantizeQ6_K(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q6_K, x, n, 'input');
  const y = bytesOut(Q6_K, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 256, bo += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let j = 0; j < 16; j++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * j, levels, 16 * j);
      scales[j] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    y.fill(0, bo, bo + 210);
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all zero, d = 0
    const iscale = f32(-128 / maxScale);
    writeF16(y, bo + 208, f32(1 / iscale));
    for (let j = 0; j < 16; j++) y[bo + 192 + j] = Math.min(127, nearestInt(f32(iscale * scales[j]!))) & 0xff;
    const d = readF16(y, bo + 208);
    for (let j = 0; j < 16; j++) {
      const dj = f32(d * readI8(y, bo + 192 + j));
      if (dj === 0) continue; // keeps the levels of the search
      for (let i = 16 * j; i < 16 * j + 16; i++) {
        const l = nearestInt(f32(x[xo + i]! / dj));
        levels[i] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = bo + 64 * h;
      const qh = bo + 128 + 32 * h;
      for (let l = 0; l < 32; l++) {
        const p = 128 * h + l;
        const q1 = levels[p]!;
        const q2 = levels[p + 32]!;
        const q3 = levels[p + 64]!;
        const q4 = levels[p + 96]!;
        y[ql + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        y[ql + 32 + l] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        y[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return y;
}

/** Q6_K super-blocks -> float32 values (`dequantize_row_q6_K`: d * sc * (q - 32) in float32). */
export function dequantizeQ6_K(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q6_K, src, n, 'input');
  const y = floatsOut(Q6_K, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 256, bo += 210) {
    const d = readF16(src, bo + 208);
    unpackQ6K(src, bo, levels);
    for (let i = 0; i < 256; i++)
      y[yo + i] = f32(f32(d * readI8(src, bo + 192 + (i >> 4))) * (levels[i]! - 32));
  }
  return y;
}

/**
 * The dot of Q6_K weights `w` with Q8_K activations `a` over n values
 * (`ggml_vec_dot_q6_K_q8_K`): per super-block d_w * d_a * sum_j sc[j] * ((q - 32) . a_q over
 * sub-block j), integer sums exact, the rest in float64 (see `vecDotQ8_0`).
 */
export function vecDotQ6_K(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q6_K, w, n, 'weights');
  blocksIn(Q8_K, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 210;
    const ao = i * 292;
    unpackQ6K(w, wo, levels);
    let sumSc = 0;
    for (let j = 0; j < 16; j++) {
      let sumi = 0;
      for (let l = 16 * j; l < 16 * j + 16; l++) sumi += (levels[l]! - 32) * readI8(a, ao + 4 + l);
      sumSc += readI8(w, wo + 192 + j) * sumi;
    }
    sum += readF16(w, wo + 208) * q8KScale(a, i) * sumSc;
  }
  return sum;
}
