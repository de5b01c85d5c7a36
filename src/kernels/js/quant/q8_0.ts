/**
 * Q8_0: blocks of 32 values, 34 bytes: an f16 scale d, then 32 int8 q; value = q * d.
 *
 *   byte 0..1   d (f16)
 *   byte 2..33  q[0..31] (int8)
 *
 * Two quantizers, as in ggml:
 * - `quantizeQ8_0` is `quantize_row_q8_0_ref`, what llama-quantize writes into files:
 *   d = amax / 127, q = roundf(x * (1 / d)) (half away from zero).
 * - `quantizeQ8_0Activations` is the CPU backend's `quantize_row_q8_0` on x86 (AVX/AVX2), which
 *   quantizes the activations of every matmul with Q8_0 or Q4_0 weights: it multiplies by
 *   127 / amax instead of 1 / d and rounds half to even, so it can differ from the file quantizer
 *   by one step on a tie. The native kernels are to quantize activations this way too, so that
 *   they match llama.cpp on the CPUs xfmr targets.
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, bytesOut, f32, floatsIn, floatsOut, nearestInt, readF16, readI8, roundAway, writeF16 } =
  blockMath;

export const Q8_0: BlockFormat = { name: 'Q8_0', blockSize: 32, typeSize: 34 };

/** Float32 values -> Q8_0 blocks (ggml's reference quantizer). x: [n], n a multiple of 32. */
export function quantizeQ8_0(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q8_0, x, n, 'input');
  const y = bytesOut(Q8_0, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
    const d = f32(amax / 127);
    const id = d !== 0 ? f32(1 / d) : 0;
    writeF16(y, bo, d);
    // |x * id| <= 127 plus an ulp, so roundf stays within int8
    for (let j = 0; j < 32; j++) y[bo + 2 + j] = roundAway(f32(x[xo + j]! * id)) & 0xff;
  }
  return y;
}

/**
 * Float32 values -> Q8_0 blocks as llama.cpp's x86 CPU backend quantizes matmul activations:
 * d = amax / 127 stored as f16, q = round-half-even(x * (127 / amax)), saturated to int8.
 */
export function quantizeQ8_0Activations(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  floatsIn(Q8_0, x, n, 'input');
  const y = bytesOut(Q8_0, n, out);
  for (let xo = 0, bo = 0; xo < n; xo += 32, bo += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
    writeF16(y, bo, f32(amax / 127));
    const id = amax !== 0 ? f32(127 / amax) : 0;
    for (let j = 0; j < 32; j++) {
      const q = nearestInt(f32(x[xo + j]! * id));
      y[bo + 2 + j] = Math.max(-128, Math.min(127, q)) & 0xff;
    }
  }
  return y;
}

/** Q8_0 blocks -> float32 values (`dequantize_row_q8_0`: q * d in float32). */
export function dequantizeQ8_0(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  blocksIn(Q8_0, src, n, 'input');
  const y = floatsOut(Q8_0, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 32, bo += 34) {
    const d = readF16(src, bo);
    for (let j = 0; j < 32; j++) y[yo + j] = f32(readI8(src, bo + 2 + j) * d);
  }
  return y;
}

/**
 * The dot of Q8_0 weights `w` with Q8_0 activations `a` over n values
 * (`ggml_vec_dot_q8_0_q8_0`): per block, the exact integer dot of the quants times d_w * d_a.
 * The scaling and the sum over blocks are in float64, so this is the exact dot of the two
 * dequantized vectors up to one float64 rounding per block: the reference that float32 SIMD
 * kernels are held to.
 */
export function vecDotQ8_0(w: Uint8Array, a: Uint8Array, n: number): number {
  const nb = blocksIn(Q8_0, w, n, 'weights');
  blocksIn(Q8_0, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const bo = i * 34;
    let sumi = 0;
    for (let j = 2; j < 34; j++) sumi += readI8(w, bo + j) * readI8(a, bo + j);
    sum += sumi * readF16(w, bo) * readF16(a, bo);
  }
  return sum;
}
