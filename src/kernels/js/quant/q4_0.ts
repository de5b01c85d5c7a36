/**
 * Q4_0: blocks of 32 values, 18 bytes: an f16 scale d and 32 4-bit quants q in [0, 15];
 * value = (q - 8) * d. Byte j of the quants holds value j in its low nibble and value j + 16 in
 * its high nibble.
 *
 *   byte 0..1   d (f16)
 *   byte 2..17  q[j] | q[j + 16] << 4, j = 0..15
 *
 * Quantizer: `quantize_row_q4_0_ref`, what llama-quantize writes without an importance matrix:
 * d = max / -8 where max is the value of largest magnitude (with its sign, so that value maps
 * exactly to q = 0), q = min(15, trunc(x / d + 8.5)). Activations for its dot are Q8_0
 * (`quantizeQ8_0Activations`).
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as q80 from './q8_0.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, readF16, readI8, signedAbsMax, writeF16 } = blockMath;
const { Q8_0 } = q80;

export const Q4_0: BlockFormat = { name: 'Q4_0', blockSize: 32, typeSize: 18 };

/** Float32 values -> Q4_0 blocks (ggml's reference quantizer). x: [n], n a multiple of 32. */
export function quantizeQ4_0(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q4_0, x, n, 'input');
  const y = bytesOut(Q4_0, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 18) {
    const max = signedAbsMax(x, xo, 32);
    const d = f32(max / -8);
    const id = d !== 0 ? f32(1 / d) : 0;
    writeF16(y, bo, d);
    for (let j = 0; j < 16; j++) {
      // x * id is in [-8, 8] (up to an ulp), so x * id + 8.5 > 0 and truncation is a floor
      const q0 = Math.min(15, Math.trunc(f32(f32(x[xo + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f32(f32(x[xo + 16 + j]! * id) + 8.5)));
      y[bo + 2 + j] = q0 | (q1 << 4);
    }
  }
  return y;
}

/** Q4_0 blocks -> float32 values (`dequantize_row_q4_0`: (q - 8) * d in float32). */
export function dequantizeQ4_0(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q4_0, src, n, 'input');
  const y = floatsOut(Q4_0, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 18) {
    const d = readF16(src, bo);
    for (let j = 0; j < 16; j++) {
      const b = src[bo + 2 + j]!;
      y[yo + j] = f32(((b & 0x0f) - 8) * d);
      y[yo + 16 + j] = f32(((b >> 4) - 8) * d);
    }
  }
  return y;
}

/**
 * The dot of Q4_0 weights `w` with Q8_0 activations `a` over n values
 * (`ggml_vec_dot_q4_0_q8_0`): per block, the exact integer dot of (q - 8) with the activation
 * quants, times d_w * d_a, summed in float64 (see `vecDotQ8_0`).
 */
export function vecDotQ4_0(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q4_0, w, n, 'weights');
  blocksIn(Q8_0, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * 18;
    const ao = i * 34;
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const b = w[wo + 2 + j]!;
      sumi += ((b & 0x0f) - 8) * readI8(a, ao + 2 + j) + ((b >> 4) - 8) * readI8(a, ao + 18 + j);
    }
    sum += sumi * readF16(w, wo) * readF16(a, ao);
  }
  return sum;
}
