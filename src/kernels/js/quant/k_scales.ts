/**
 * The scale searches of ggml's K-quant reference quantizers, and the 12-byte packing of the
 * 6-bit scales and mins that Q4_K and Q5_K share. Float32 arithmetic as ggml's C does it (see
 * `block_math.ts`).
 *
 * A super-block of 256 values has 8 sub-blocks of 32 (Q4_K, Q5_K) or 16 of 16 (Q6_K). Each
 * sub-block gets a float scale (and, for Q4_K/Q5_K, a min) from a small search that minimises a
 * weighted squared error; the super-block then stores those scales as 6-bit (or int8) multiples
 * of one f16 `d`, and the values are re-quantized against the scales as stored.
 *
 * Q4_K and Q5_K decode the same way once their levels are unpacked, so `dequantizeMinsK` and
 * `vecDotMinsK` serve both, given the type's unpacking.
 *
 * 12-byte scales layout (`get_scale_min_k4`), sc[j] and m[j] 6 bits each, j = 0..7:
 *   bytes 0..3   sc[0..3] in bits 0-5, the high 2 bits of sc[4..7] in bits 6-7
 *   bytes 4..7   m[0..3]  in bits 0-5, the high 2 bits of m[4..7]  in bits 6-7
 *   bytes 8..11  the low 4 bits of sc[4..7] (bits 0-3) and of m[4..7] (bits 4-7)
 */
import type { BlockFormat } from './block_math.ts';
import * as blockMath from './block_math.ts';
import * as q8k from './q8_k.ts';

// tsx turns each use of an imported binding into a getter call; local copies keep the loops fast
const { blocksIn, f32, floatsOut, nearestInt, readF16, readI8, readI16, writeF16 } = blockMath;
const { Q8_K, q8KScale } = q8k;

/** ggml's GROUP_MAX_EPS (1e-15f): a group whose largest magnitude is below it quantizes to 0. */
export const GROUP_MAX_EPS = f32(1e-15);
/** The float32 0.1f of ggml's search grids. */
const TENTH = f32(0.1);

/** sc[j] (`which` 0) or m[j] (`which` 1) of the 12 packed scale bytes starting at `o`. */
export function scaleMinK4(j: number, q: Uint8Array, o: number, which: 0 | 1): number {
  if (j < 4) return q[o + j + 4 * which]! & 63;
  if (which === 0) return (q[o + j + 4]! & 0x0f) | ((q[o + j - 4]! >> 6) << 4);
  return (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4);
}

/** Packs 8 six-bit scales and mins into the 12 bytes at `o` (the inverse of `scaleMinK4`). */
function packScalesMinsK4(ls: Uint8Array, lm: Uint8Array, q: Uint8Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      q[o + j] = ls[j]!;
      q[o + j + 4] = lm[j]!;
    } else {
      q[o + j + 4] = (ls[j]! & 0x0f) | ((lm[j]! & 0x0f) << 4);
      q[o + j - 4] |= (ls[j]! >> 4) << 6;
      q[o + j] |= (lm[j]! >> 4) << 6;
    }
  }
}

/**
 * `make_qkx2_quants`: the scale and min of n values x[xo..] for levels 0..nmax, minimising
 * sum w * (scale * L + min - x)^2 over nstep + 1 candidate grids (iscale = (nmax + rmin +
 * rdelta * is) / (max - min)), each refined by weighted least squares for scale and min. The
 * levels go to L[lo..]; returns the scale and writes -min (>= 0) to out[0].
 */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  w: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  out: Float32Array,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = w[0]!;
  let sumX = f32(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[i]!;
    sumW = f32(sumW + wi);
    sumX = f32(sumX + f32(wi * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    out[0] = -min;
    return 0;
  }
  let iscale = f32(nmax / f32(max - min));
  let scale = f32(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(f32(iscale * f32(xi - min)))));
    L[lo + i] = l;
    const diff = f32(f32(f32(scale * l) + min) - xi);
    bestError = f32(bestError + f32(w[i]! * f32(diff * diff)));
  }
  if (nstep < 1) {
    out[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` may have been replaced by a better candidate's: the grid follows it, as in ggml
    iscale = f32(f32(f32(rmin + f32(rdelta * is)) + nmax) / f32(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(f32(iscale * f32(xi - min)))));
      Laux[i] = l;
      const wl = f32(w[i]! * l);
      sumL = f32(sumL + wl);
      sumL2 = f32(sumL2 + f32(wl * l));
      sumXL = f32(sumXL + f32(wl * xi));
    }
    const D = f32(f32(sumW * sumL2) - f32(sumL * sumL));
    if (D > 0) {
      let thisScale = f32(f32(f32(sumW * sumXL) - f32(sumX * sumL)) / D);
      let thisMin = f32(f32(f32(sumL2 * sumX) - f32(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f32(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f32(f32(f32(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        curError = f32(curError + f32(w[i]! * f32(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  out[0] = -min;
  return scale;
}

// scratch buffers of the super-block quantizers (single-threaded JS: reused, never escape)
const weights = new Float32Array(32);
const laux = new Uint8Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(8);
const minOut = new Float32Array(1);
const ls = new Uint8Array(8);
const lm = new Uint8Array(8);

/**
 * The first half of `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` for the 256 values
 * x[xo..xo+256): levels 0..nmax for 8 sub-blocks of 32, each with a scale and a min. Writes
 * d (f16, byte bo), dmin (f16, bo + 2) and the 12 packed scale bytes (bo + 4) of the block, and
 * the final levels to L[0..256). The caller packs L into its bit layout.
 *
 * Search weights are av_x + |x| (av_x the RMS of the sub-block); rmin and nstep are the search
 * range of the type (Q4_K: -1, 20; Q5_K: -0.5, 15), rdelta 0.1 for both.
 */
export function quantizeScalesMinsK(
  x: Float32Array,
  xo: number,
  nmax: number,
  rmin: number,
  nstep: number,
  y: Uint8Array,
  bo: number,
  L: Uint8Array,
): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const so = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f32(sumX2 + f32(x[so + l]! * x[so + l]!));
    const avX = f32(Math.sqrt(f32(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f32(avX + Math.abs(x[so + l]!));
    const scale = makeQkx2Quants(32, nmax, x, so, weights, L, 32 * j, laux, rmin, TENTH, nstep, minOut);
    scales[j] = scale;
    mins[j] = minOut[0]!;
    if (scale > maxScale) maxScale = scale;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? f32(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f32(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // ggml stores nearest_int into a uint8_t before clamping: a negative scale wraps to > 63
    ls[j] = Math.min(63, nearestInt(f32(invScale * scales[j]!)) & 0xff);
    lm[j] = Math.min(63, nearestInt(f32(invMin * mins[j]!)) & 0xff);
  }
  y.fill(0, bo + 4, bo + 16);
  packScalesMinsK4(ls, lm, y, bo + 4);
  writeF16(y, bo, f32(maxScale / 63));
  writeF16(y, bo + 2, f32(maxMin / 63));
  // re-quantize against the scales as stored; a sub-block whose scale rounds to 0 keeps the
  // levels of its search
  const d = readF16(y, bo);
  const dmin = readF16(y, bo + 2);
  for (let j = 0; j < 8; j++) {
    const dj = f32(d * scaleMinK4(j, y, bo + 4, 0));
    if (dj === 0) continue;
    const dm = f32(dmin * scaleMinK4(j, y, bo + 4, 1));
    for (let i = 0; i < 32; i++) {
      const l = nearestInt(f32(f32(x[xo + 32 * j + i]! + dm) / dj));
      L[32 * j + i] = Math.max(0, Math.min(nmax, l));
    }
  }
}

/**
 * `make_qx_quants` with rmse_type 1 and no importance weights, as Q6_K's reference quantizer
 * calls it: the signed scale of n values x[xo..] for levels -nmax..nmax-1, searched over 19
 * grids (iscale = -(nmax + 0.1 * is) / max, is = -9..9) by weighted least squares with weights
 * x^2. Levels + nmax go to L[lo..]; returns the scale (0 for an all-zero group).
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Uint8Array,
  lo: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = f32(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f32(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = f32(xi * xi);
    sumlx = f32(sumlx + f32(f32(w * xi) * l));
    suml2 = f32(suml2 + f32(f32(w * l) * l));
  }
  let scale = suml2 !== 0 ? f32(sumlx / suml2) : 0;
  let best = f32(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f32(-f32(nmax + f32(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f32(iscale * xi))));
      const w = f32(xi * xi);
      sumlx = f32(sumlx + f32(f32(w * xi) * l));
      suml2 = f32(suml2 + f32(f32(w * l) * l));
    }
    if (suml2 > 0 && f32(sumlx * sumlx) > f32(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(f32(iscale * x[xo + i]!))));
      }
      scale = f32(sumlx / suml2);
      best = f32(scale * sumlx);
    }
  }
  return scale;
}

/** Unpacks the 256 levels q of the super-block at byte `bo` of `src` into L[0..256). */
export type UnpackLevels = (src: Uint8Array, bo: number, L: Uint8Array) => void;

const unpacked = new Uint8Array(256);

/**
 * Q4_K / Q5_K super-blocks -> float32 values (`dequantize_row_q4_K` / `_q5_K`): value i of
 * sub-block j is d * sc[j] * q - dmin * m[j], in float32 as ggml computes it
 * (`(d * sc) * q - dmin * m`, each product rounded). d at byte 0, dmin at 2, scales at 4.
 */
export function dequantizeMinsK(
  f: BlockFormat,
  unpack: UnpackLevels,
  src: Uint8Array,
  n: number,
  out?: Float32Array,
): Float32Array {
  blocksIn(f, src, n, 'input');
  const y = floatsOut(f, n, out);
  for (let yo = 0, bo = 0; yo < n; yo += 256, bo += f.typeSize) {
    const d = readF16(src, bo);
    const dmin = readF16(src, bo + 2);
    unpack(src, bo, unpacked);
    for (let j = 0; j < 8; j++) {
      const dj = f32(d * scaleMinK4(j, src, bo + 4, 0));
      const mj = f32(dmin * scaleMinK4(j, src, bo + 4, 1));
      for (let i = 32 * j; i < 32 * j + 32; i++) y[yo + i] = f32(f32(dj * unpacked[i]!) - mj);
    }
  }
  return y;
}

/**
 * The dot of Q4_K / Q5_K weights `w` with Q8_K activations `a` over n values
 * (`ggml_vec_dot_q4_K_q8_K` / `_q5_K_q8_K`). Per super-block, with exact integer sums:
 *   d_w * d_a * sum_j sc[j] * (q . a_q over sub-block j) - dmin_w * d_a * sum_j m[j] * bsum_j
 * where bsum_j (the activation quants summed over sub-block j) comes from the Q8_K bsums. The
 * scaling and the sum over super-blocks are in float64 (see `vecDotQ8_0`).
 */
export function vecDotMinsK(
  f: BlockFormat,
  unpack: UnpackLevels,
  w: Uint8Array,
  a: Uint8Array,
  n: number,
): number {
  const nb = blocksIn(f, w, n, 'weights');
  blocksIn(Q8_K, a, n, 'activations');
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    const wo = i * f.typeSize;
    const ao = i * 292;
    unpack(w, wo, unpacked);
    let sumSc = 0;
    let sumMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumi = 0;
      for (let l = 32 * j; l < 32 * j + 32; l++) sumi += unpacked[l]! * readI8(a, ao + 4 + l);
      const bsum = readI16(a, ao + 260 + 4 * j) + readI16(a, ao + 262 + 4 * j);
      sumSc += scaleMinK4(j, w, wo + 4, 0) * sumi;
      sumMin += scaleMinK4(j, w, wo + 4, 1) * bsum;
    }
    const da = q8KScale(a, i);
    sum += readF16(w, wo) * da * sumSc - readF16(w, wo + 2) * da * sumMin;
  }
  return sum;
}
