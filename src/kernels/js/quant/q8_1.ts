/**
 * Q8_1: the activation type of the Q4_1 / Q5_1 dot products (llama.cpp never stores weights in
 * it). Blocks of 32 values, 36 bytes:
 *
 *   byte 0..1   d (f16)
 *   byte 2..3   s (f16): d * sum(q), which the dot multiplies by the weights' minimum m
 *   byte 4..35  q[0..31] (int8), value = q * d
 *
 * Quantizer: the x86 CPU backend's `quantize_row_q8_1` (AVX2), as `quantizeQ8_0Activations`:
 * d = amax / 127, q = round-half-even(x * (127 / amax)); s is f16(d * sum q) from the float32 d
 * (not the f16 one) and the exact integer sum.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, nearestInt, readF16, readI8, writeF16 } = blockMath;

export const Q8_1: BlockFormat = { name: 'Q8_1', blockSize: 32, typeSize: 36 };

/** Float32 activations -> Q8_1 blocks as llama.cpp's x86 backend makes them. x: [n], n a multiple of 32. */
export function quantizeQ8_1Activations(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q8_1, x, n, 'input');
  const y = bytesOut(Q8_1, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 36) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
    const d = f32(amax / 127);
    writeF16(y, bo, d);
    const id = amax !== 0 ? f32(127 / amax) : 0;
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = Math.max(-128, Math.min(127, nearestInt(f32(x[xo + j]! * id))));
      sum += q;
      y[bo + 4 + j] = q & 0xff;
    }
    writeF16(y, bo + 2, f32(d * sum));
  }
  return y;
}

/** Q8_1 blocks -> float32 values (q * d; s is not needed to decode). */
export function dequantizeQ8_1(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q8_1, src, n, 'input');
  const y = floatsOut(Q8_1, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 36) {
    const d = readF16(src, bo);
    for (let j = 0; j < 32; j++) y[yo + j] = f32(readI8(src, bo + 4 + j) * d);
  }
  return y;
}
