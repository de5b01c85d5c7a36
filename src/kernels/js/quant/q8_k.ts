/**
 * Q8_K: the activation type of the K-quant dot products (llama.cpp never stores weights in it).
 * Blocks of 256 values, 292 bytes:
 *
 *   byte 0..3      d (f32)
 *   byte 4..259    q[0..255] (int8), value = q * d
 *   byte 260..291  bsums[0..15] (int16): the sum of q over each group of 16, which the Q4_K/Q5_K
 *                  dots use for their min term
 *
 * Quantizer: `quantize_row_q8_K_ref`, which is also what the x86 CPU backend runs: with max the
 * value of largest magnitude, iscale = -127 / max, q = min(127, nearest_int(iscale * x)) and
 * d = 1 / iscale (note the sign: d < 0 when max > 0). An all-zero block gets d = 0 and zeros.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { bytesOut, f32, floatsIn, nearestInt, readF32, readI8, writeF32 } = blockMath;

export const Q8_K: BlockFormat = { name: 'Q8_K', blockSize: 256, typeSize: 292 };

/** Float32 activations -> Q8_K blocks. x: [n], n a multiple of 256. */
export function quantizeQ8_K(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q8_K, x, n, 'input');
  const y = bytesOut(Q8_K, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 256, bo += 292) {
    let max = 0;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[xo + j]!);
      if (ax > amax) {
        amax = ax;
        max = x[xo + j]!;
      }
    }
    if (amax === 0) {
      y.fill(0, bo, bo + 292);
      continue;
    }
    const iscale = f32(-127 / max);
    for (let j = 0; j < 256; j++) y[bo + 4 + j] = Math.min(127, nearestInt(f32(iscale * x[xo + j]!))) & 0xff;
    for (let g = 0; g < 16; g++) {
      let sum = 0;
      for (let j = 0; j < 16; j++) sum += readI8(y, bo + 4 + 16 * g + j);
      y[bo + 260 + 2 * g] = sum & 0xff;
      y[bo + 261 + 2 * g] = (sum >> 8) & 0xff;
    }
    writeF32(y, bo, f32(1 / iscale));
  }
  return y;
}

/** The scale d of Q8_K block `i`. */
export function q8KScale(a: Uint8Array, i: number): number {
  return readF32(a, i * 292);
}
