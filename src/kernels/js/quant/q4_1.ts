/**
 * Q4_1: blocks of 32 values, 20 bytes: an f16 scale d, an f16 minimum m and 32 4-bit quants q in
 * [0, 15]; value = q * d + m. Byte j of the quants holds value j in its low nibble and value
 * j + 16 in its high nibble.
 *
 *   byte 0..1   d (f16)
 *   byte 2..3   m (f16)
 *   byte 4..19  q[j] | q[j + 16] << 4, j = 0..15
 *
 * Quantizer: `quantize_row_q4_1_ref` (what `ggml_quantize_chunk` runs without an importance
 * matrix): d = (max - min) / 15, q = min(15, trunc((x - min) / d + 0.5)), computed from the
 * float32 min and d (the stored f16 ones are rounded after). Old files hold it. Activations for its
 * dot are Q8_1 (`quantizeQ8_1Activations`), whose s = d * sum(q) carries the minimum's term.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as q81 from './q8_1.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, maxOf, minOf, readF16, readI8, writeF16 } = blockMath;
const { Q8_1 } = q81;

export const Q4_1: BlockFormat = { name: 'Q4_1', blockSize: 32, typeSize: 20 };

/** Float32 values -> Q4_1 blocks (ggml's reference quantizer). x: [n], n a multiple of 32. */
export function quantizeQ4_1(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q4_1, x, n, 'input');
  const y = bytesOut(Q4_1, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 20) {
    const min = minOf(x, xo, 32);
    const max = maxOf(x, xo, 32);
    const d = f32(f32(max - min) / 15);
    const id = d !== 0 ? f32(1 / d) : 0;
    writeF16(y, bo, d);
    writeF16(y, bo + 2, min);
    for (let j = 0; j < 16; j++) {
      // (x - min) * id is in [0, 15] up to an ulp, so + 0.5 > 0 and truncation is a floor
      const q0 = Math.min(15, Math.trunc(f32(f32(f32(x[xo + j]! - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(f32(f32(f32(x[xo + 16 + j]! - min) * id) + 0.5)));
      y[bo + 4 + j] = q0 | (q1 << 4);
    }
  }
  return y;
}

/** Q4_1 blocks -> float32 values (`dequantize_row_q4_1`: q * d + m, two float32 roundings). */
export function dequantizeQ4_1(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q4_1, src, n, 'input');
  const y = floatsOut(Q4_1, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 20) {
    const d = readF16(src, bo);
    const m = readF16(src, bo + 2);
    for (let j = 0; j < 16; j++) {
      const b = src[bo + 4 + j]!;
      y[yo + j] = f32(f32((b & 0x0f) * d) + m);
      y[yo + 16 + j] = f32(f32((b >> 4) * d) + m);
    }
  }
  return y;
}

/**
 * The dot of Q4_1 weights `w` with Q8_1 activations `a` over n values
 * (`ggml_vec_dot_q4_1_q8_1`): per block, the exact integer dot of the levels q with the
 * activation quants times d_w * d_a, plus m_w * s_a (the minimum times d_a * sum of the quants),
 * summed in float64 (see `vecDotQ8_0`).
 */
export function vecDotQ4_1(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q4_1, w, n, 'weights');
  blocksIn(Q8_1, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 20;
    const ao = i * 36;
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const b = w[wo + 4 + j]!;
      sumi += (b & 0x0f) * readI8(a, ao + 4 + j) + (b >> 4) * readI8(a, ao + 20 + j);
    }
    sum += sumi * readF16(w, wo) * readF16(a, ao) + readF16(w, wo + 2) * readF16(a, ao + 2);
  }
  return sum;
}
