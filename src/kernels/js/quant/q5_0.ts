/**
 * Q5_0: blocks of 32 values, 22 bytes: an f16 scale d and 32 5-bit quants q in [0, 31];
 * value = (q - 16) * d. The low 4 bits of value j lie as in Q4_0 (byte j's low nibble, value
 * j + 16 in its high nibble); the fifth bit of value j is bit j of the little-endian u32 qh.
 *
 *   byte 0..1   d (f16)
 *   byte 2..5   qh: bit j = q[j] >> 4, j = 0..31
 *   byte 6..21  (q[j] & 15) | (q[j + 16] & 15) << 4, j = 0..15
 *
 * Quantizer: `quantize_row_q5_0_ref` (`ggml_quantize_chunk` without an importance matrix), the
 * 5-bit Q4_0: d = max / -16 where max is the value of largest magnitude with its sign,
 * q = min(31, trunc(x / d + 16.5)). llama-quantize writes it for Q4_K tensors whose rows are not
 * a multiple of 256 (Qwen2.5-0.5B's 896). Activations for its dot are Q8_0
 * (`quantizeQ8_0Activations`), as for Q4_0.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as q80 from './q8_0.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const {
  fiveBitLevels,
  blocksIn,
  bytesOut,
  f32,
  floatsIn,
  floatsOut,
  readF16,
  readI8,
  signedAbsMax,
  writeF16,
  writeU32,
} = blockMath;
const { Q8_0 } = q80;

export const Q5_0: BlockFormat = { name: 'Q5_0', blockSize: 32, typeSize: 22 };

/** Float32 values -> Q5_0 blocks (ggml's reference quantizer). x: [n], n a multiple of 32. */
export function quantizeQ5_0(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q5_0, x, n, 'input');
  const y = bytesOut(Q5_0, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 22) {
    const max = signedAbsMax(x, xo, 32);
    const d = f32(max / -16);
    const id = d !== 0 ? f32(1 / d) : 0;
    writeF16(y, bo, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // x * id is in [-16, 16] up to an ulp, so + 16.5 > 0 and truncation is a floor
      const q0 = Math.min(31, Math.trunc(f32(f32(x[xo + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(f32(f32(x[xo + 16 + j]! * id) + 16.5)));
      y[bo + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    writeU32(y, bo + 2, qh);
  }
  return y;
}

/** Q5_0 blocks -> float32 values (`dequantize_row_q5_0`: (q - 16) * d in float32). */
export function dequantizeQ5_0(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q5_0, src, n, 'input');
  const y = floatsOut(Q5_0, n, out);
  const L = new Int32Array(32);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 22) {
    const d = readF16(src, bo);
    fiveBitLevels(src, bo + 6, bo + 2, L);
    for (let j = 0; j < 32; j++) y[yo + j] = f32((L[j]! - 16) * d);
  }
  return y;
}

/**
 * The dot of Q5_0 weights `w` with Q8_0 activations `a` over n values
 * (`ggml_vec_dot_q5_0_q8_0`): per block, the exact integer dot of q - 16 with the activation
 * quants, times d_w * d_a, summed in float64 (see `vecDotQ8_0`).
 */
export function vecDotQ5_0(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q5_0, w, n, 'weights');
  blocksIn(Q8_0, a, n, 'activations');
  const L = new Int32Array(32);
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 22;
    const ao = i * 34;
    fiveBitLevels(w, wo + 6, wo + 2, L);
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += (L[j]! - 16) * readI8(a, ao + 2 + j);
    sum += sumi * readF16(w, wo) * readF16(a, ao);
  }
  return sum;
}
