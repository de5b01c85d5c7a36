/**
 * The js twin of linearQuant (Kernels.linearQuant): a Linear layer on ggml-quantized weights,
 * computed as llama.cpp's CPU backend computes it. Each row of x is quantized to the weight type's
 * activation type (Q8_0 for Q8_0/Q4_0/Q5_0 weights, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants) by
 * `quantizeActivations`,
 * then every output is the codec's `vecDot` of a weight row with it: exact integer dot products per
 * block, scaled and summed in float64 here (the native kernel sums in f32), rounded to f32 once.
 * It is the oracle of the native kernel, built from the codecs that are byte-exact with ggml.
 */
import { ggmlType, LINEAR_QUANT_TYPES, type LinearQuantType, rowBytes } from '../quant_types.ts';
import { QUANT_CODECS, quantizeActivations } from './quant/index.ts';

/**
 * Checks the arguments of linearQuant as the native kernel does: a known type, In whole blocks,
 * and arrays long enough (a RangeError naming each length otherwise). Returns the bytes of a row of w.
 */
export function checkLinearQuant(
  x: Float32Array,
  w: Uint8Array,
  type: string,
  y: Float32Array,
  N: number,
  In: number,
  Out: number,
): number {
  if (!(LINEAR_QUANT_TYPES as readonly string[]).includes(type))
    throw new TypeError(
      `linearQuant: type must be one of ${LINEAR_QUANT_TYPES.join(', ')}, got ${JSON.stringify(type)}`,
    );
  for (const [k, v] of [
    ['N', N],
    ['In', In],
    ['Out', Out],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`linearQuant: ${k} must be an integer >= 0, got ${v}`);
  const t = ggmlType(type);
  if (In % t.blockSize !== 0)
    throw new RangeError(`linearQuant: In=${In} is not a multiple of ${type}'s block size ${t.blockSize}`);
  const rb = rowBytes(t, In);
  if (x.length < N * In || w.length < Out * rb || y.length < N * Out)
    throw new RangeError(
      `linearQuant: arrays too short for N=${N} In=${In} Out=${Out}: x has ${x.length} (needs ${N * In}), ` +
        `w ${w.length} (${Out * rb}), y ${y.length} (${N * Out})`,
    );
  return rb;
}

/** y[N, Out] = x[N, In] @ W^T for W [Out, In] given as `type` blocks, row after row. */
export function linearQuant(
  x: Float32Array,
  w: Uint8Array,
  type: LinearQuantType,
  y: Float32Array,
  N: number,
  In: number,
  Out: number,
): void {
  const rb = checkLinearQuant(x, w, type, y, N, In, Out);
  const codec = QUANT_CODECS[type];
  for (let n = 0; n < N; n++) {
    const a = quantizeActivations(codec.dotType, x.subarray(n * In, (n + 1) * In), In);
    for (let o = 0; o < Out; o++) y[n * Out + o] = codec.vecDot(w.subarray(o * rb, (o + 1) * rb), a, In);
  }
}
