/**
 * Q5_1: blocks of 32 values, 24 bytes: an f16 scale d, an f16 minimum m and 32 5-bit quants q in
 * [0, 31]; value = q * d + m. The quants lie as in Q5_0 (fifth bits in the u32 qh).
 *
 *   byte 0..1   d (f16)
 *   byte 2..3   m (f16)
 *   byte 4..7   qh: bit j = q[j] >> 4, j = 0..31
 *   byte 8..23  (q[j] & 15) | (q[j + 16] & 15) << 4, j = 0..15
 *
 * Quantizer: `quantize_row_q5_1_ref` (`ggml_quantize_chunk` without an importance matrix):
 * d = (max - min) / 31, q = trunc((x - min) / d + 0.5), from the float32 min and d. ggml does not
 * clamp q: (x - min) / d stays below 31.5, so q <= 31. llama-quantize writes it for Q5_K tensors
 * whose rows are not a multiple of 256. Activations for its dot are Q8_1
 * (`quantizeQ8_1Activations`), as for Q4_1.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as q81 from './q8_1.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const {
  fiveBitLevels,
  blocksIn,
  bytesOut,
  f32,
  floatsIn,
  floatsOut,
  maxOf,
  minOf,
  readF16,
  readI8,
  writeF16,
  writeU32,
} = blockMath;
const { Q8_1 } = q81;

export const Q5_1: BlockFormat = { name: 'Q5_1', blockSize: 32, typeSize: 24 };

/** Float32 values -> Q5_1 blocks (ggml's reference quantizer). x: [n], n a multiple of 32. */
export function quantizeQ5_1(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q5_1, x, n, 'input');
  const y = bytesOut(Q5_1, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 24) {
    const min = minOf(x, xo, 32);
    const max = maxOf(x, xo, 32);
    const d = f32(f32(max - min) / 31);
    const id = d !== 0 ? f32(1 / d) : 0;
    writeF16(y, bo, d);
    writeF16(y, bo + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // C's (uint8_t) conversion of a value in [0.5, 31.5): truncation, then only 5 bits are kept
      const q0 = Math.trunc(f32(f32(f32(x[xo + j]! - min) * id) + 0.5)) & 0x1f;
      const q1 = Math.trunc(f32(f32(f32(x[xo + 16 + j]! - min) * id) + 0.5)) & 0x1f;
      y[bo + 8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    writeU32(y, bo + 4, qh);
  }
  return y;
}

/** Q5_1 blocks -> float32 values (`dequantize_row_q5_1`: q * d + m, two float32 roundings). */
export function dequantizeQ5_1(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q5_1, src, n, 'input');
  const y = floatsOut(Q5_1, n, out);
  const L = new Int32Array(32);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 24) {
    const d = readF16(src, bo);
    const m = readF16(src, bo + 2);
    fiveBitLevels(src, bo + 8, bo + 4, L);
    for (let j = 0; j < 32; j++) y[yo + j] = f32(f32(L[j]! * d) + m);
  }
  return y;
}

/**
 * The dot of Q5_1 weights `w` with Q8_1 activations `a` over n values
 * (`ggml_vec_dot_q5_1_q8_1`): as `vecDotQ4_1` with 5-bit levels.
 */
export function vecDotQ5_1(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q5_1, w, n, 'weights');
  blocksIn(Q8_1, a, n, 'activations');
  const L = new Int32Array(32);
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 24;
    const ao = i * 36;
    fiveBitLevels(w, wo + 8, wo + 4, L);
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += L[j]! * readI8(a, ao + 4 + j);
    sum += sumi * readF16(w, wo) * readF16(a, ao) + readF16(w, wo + 2) * readF16(a, ao + 2);
  }
  return sum;
}
