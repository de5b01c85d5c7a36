/**
 * The magnitude T that bounds the rounding of a quantized dot product (used by the vecDot tests):
 *   T = sum_i (|w_i| + 2 |m_i|) * |a_i|
 * over the dequantized weights w, the mins m each weight subtracts or adds (Q4_K / Q5_K, Q4_1 /
 * Q5_1; 0 otherwise) and the dequantized activations a. Every partial sum a kernel forms (the
 * scale part d * sc * q . a, the min part dmin * m * sum a, their per-block combinations) is at
 * most T in magnitude, since |d * sc * q| <= |w| + |m|.
 *
 * Q4_1 / Q5_1 dot with Q8_1 activations, whose s = f16(d * sum q) stands for the sum of the block's
 * dequantized activations: `sError` is what that costs, sum over blocks |m| |s - d16 sum q|, exact
 * in float64 (d16 the stored f16 d; s carries d's f32 value and one f16 rounding).
 */
import { readF16, readI8 } from '../../../src/kernels/js/quant/block_math.ts';
import { type DotType, QUANT_CODECS } from '../../../src/kernels/js/quant/index.ts';
import { dequantizeQ8_1 } from '../../../src/kernels/js/quant/q8_1.ts';
import type { QuantType } from '../../../src/kernels/quant_types.ts';

/** The subtracted min of each value (0 for types without mins): dequantize with all quants zeroed. */
function minsOf(type: QuantType, w: Uint8Array, n: number): Float32Array {
  const codec = QUANT_CODECS[type];
  const size = codec.format.typeSize;
  if (type === 'Q4_1' || type === 'Q5_1') {
    const z = w.slice(0, (n / 32) * size);
    for (let b = 0; b < z.length; b += size) z.fill(0, b + 4, b + size); // keep d and m: q * d + m = m
    return codec.dequantize(z, n);
  }
  if (type !== 'Q4_K' && type !== 'Q5_K') return new Float32Array(n);
  const z = w.slice(0, (n / 256) * size);
  for (let b = 0; b < z.length; b += size) z.fill(0, b + 16, b + size); // keep d, dmin, scales
  return codec.dequantize(z, n).map((v) => -v);
}

/** Activations of a dot type as float32 (Q8_K: d * q, f32 d then 256 int8 per block). */
export function dequantizeDot(type: DotType, a: Uint8Array, n: number): Float32Array {
  if (type === 'Q8_1') return dequantizeQ8_1(a, n);
  if (type !== 'Q8_K') return QUANT_CODECS[type].dequantize(a, n);
  const out = new Float32Array(n);
  const dv = new DataView(a.buffer, a.byteOffset, a.byteLength);
  for (let i = 0; i < n; i++) {
    const o = 292 * Math.floor(i / 256);
    out[i] = Math.fround(dv.getFloat32(o, true) * dv.getInt8(o + 4 + (i % 256)));
  }
  return out;
}

/** T for weights `w` (blocks of `type`) and activations `a` (blocks of its dot type). */
export function termBound(type: QuantType, w: Uint8Array, a: Uint8Array, n: number): number {
  const wf = QUANT_CODECS[type].dequantize(w, n);
  const mins = minsOf(type, w, n);
  const af = dequantizeDot(QUANT_CODECS[type].dotType, a, n);
  let t = 0;
  for (let i = 0; i < n; i++) t += (Math.abs(wf[i]!) + 2 * Math.abs(mins[i]!)) * Math.abs(af[i]!);
  return t;
}

/** sum over blocks |m| |s - d sum q| for Q4_1 / Q5_1 weights `w` and Q8_1 activations `a`; 0 otherwise. */
export function sError(type: QuantType, w: Uint8Array, a: Uint8Array, n: number): number {
  if (type !== 'Q4_1' && type !== 'Q5_1') return 0;
  const size = QUANT_CODECS[type].format.typeSize;
  let e = 0;
  for (let b = 0; b < n / 32; b++) {
    let sum = 0;
    for (let j = 0; j < 32; j++) sum += readI8(a, 36 * b + 4 + j);
    e += Math.abs(readF16(w, b * size + 2)) * Math.abs(readF16(a, 36 * b + 2) - readF16(a, 36 * b) * sum);
  }
  return e;
}
