/**
 * Pure-TypeScript causal attention with GQA, the oracle of the native fused kernel.
 * Computes one query row at a time: s = q . k_j * scale (then softcap tanh(s / softcap) when
 * capped), p = softmax(s) over the keys the row sees, out = sum_j p_j v_j.
 * Layouts as in Kernels.attentionForward: q/out [B, Tq, Hq, D], k/v rows [Tk, Hkv, D] per batch.
 * bf16 emulates the native kernel's rounding (Kernels.attentionForward): rounded copies of q, k, v
 * (and dout) feed the products, and p (ds) is rounded where it multiplies.
 * The forward reads K and V one row at a time through a reader, so that an f16 or q8_0 KV cache
 * (attentionForwardKV) is widened row by row, never copied whole.
 */
import { f16ArrayToF32 } from '../float16.ts';
import type { LowKVType } from '../kv_types.ts';
import { roundBf16, roundBf16Array } from './gemm.ts';
import { dequantizeQ8_0, Q8_0 } from './quant/q8_0.ts';

const same = (x: number) => x;

/**
 * The keys query position p sees, [first, last] (empty when last < first): j <= p when causal,
 * j > p - window when window > 0 (Kernels.attentionForward).
 */
export function visibleKeys(
  p: number,
  Tk: number,
  causal: boolean,
  window: number,
): { first: number; last: number } {
  return {
    first: window > 0 ? Math.max(0, p - window + 1) : 0,
    last: causal ? Math.min(Tk - 1, p) : Tk - 1,
  };
}

/** Widens the D = dst.length values of K or V that start at value e into dst (f32). */
type RowReader = (e: number, dst: Float32Array) => void;

function f32Rows(x: Float32Array, bf16: boolean): RowReader {
  return bf16
    ? (e, dst) => {
        for (let d = 0; d < dst.length; d++) dst[d] = roundBf16(x[e + d]);
      }
    : (e, dst) => {
        for (let d = 0; d < dst.length; d++) dst[d] = x[e + d];
      };
}

/**
 * Rows of an f16 or q8_0 KV cache (src/kernels/kv_types.ts), widened by the codecs: f16 exactly,
 * q8_0 as dequantizeQ8_0 does (the exact product q * d) over the blocks the row touches.
 */
function lowRows(x: Uint16Array | Uint8Array, type: LowKVType, bf16: boolean, what: string): RowReader {
  const round = (dst: Float32Array) => {
    if (bf16) for (let d = 0; d < dst.length; d++) dst[d] = roundBf16(dst[d]);
  };
  if (type === 'f16') {
    if (!(x instanceof Uint16Array))
      throw new TypeError(`attentionForwardKV: ${what} must be a Uint16Array for f16`);
    return (e, dst) => {
      f16ArrayToF32(x.subarray(e, e + dst.length), dst);
      round(dst);
    };
  }
  if (type !== 'q8_0')
    throw new TypeError(`attentionForwardKV: kvType must be "f16" or "q8_0", got "${type}"`);
  if (!(x instanceof Uint8Array))
    throw new TypeError(`attentionForwardKV: ${what} must be a Uint8Array for q8_0`);
  const { blockSize: n, typeSize: size } = Q8_0;
  let blocks = new Float32Array(0);
  return (e, dst) => {
    const b0 = Math.floor(e / n);
    const nb = Math.floor((e + dst.length - 1) / n) - b0 + 1; // the row may straddle blocks
    if (blocks.length < nb * n) blocks = new Float32Array(nb * n);
    dequantizeQ8_0(x.subarray(b0 * size, (b0 + nb) * size), nb * n, blocks);
    dst.set(blocks.subarray(e - b0 * n, e - b0 * n + dst.length));
    round(dst);
  };
}

export function attentionForward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  ...shape: AttentionShape
): void {
  const bf16 = shape[12];
  forward(q, f32Rows(k, bf16), f32Rows(v, bf16), out, lse, ...shape);
}

/** Kernels.attentionForwardKV: each row of K and V widened to f32 as it is read. */
export function attentionForwardKV(
  q: Float32Array,
  k: Uint16Array | Uint8Array,
  v: Uint16Array | Uint8Array,
  kvType: LowKVType,
  out: Float32Array,
  lse: Float32Array,
  ...shape: AttentionShape
): void {
  const bf16 = shape[12];
  forward(q, lowRows(k, kvType, bf16, 'k'), lowRows(v, kvType, bf16, 'v'), out, lse, ...shape);
}

/** B, Tq, Tk, Hq, Hkv, D, kvBatchStride, qOffset, scale, causal, window, softcap, bf16. */
type AttentionShape = [
  B: number,
  Tq: number,
  Tk: number,
  Hq: number,
  Hkv: number,
  D: number,
  kvBatchStride: number,
  qOffset: number,
  scale: number,
  causal: boolean,
  window: number,
  softcap: number,
  bf16: boolean,
];

/** The forward of both: K and V through their readers, one key row at a time. */
function forward(
  q: Float32Array,
  readK: RowReader,
  readV: RowReader,
  out: Float32Array,
  lse: Float32Array,
  ...shape: AttentionShape
): void {
  const [B, Tq, Tk, Hq, Hkv, D, kvBatchStride, qOffset, scale, causal, window, softcap, bf16] = shape;
  const qr = bf16 ? roundBf16Array(q) : q;
  const roundP = bf16 ? roundBf16 : same;
  const group = Hq / Hkv;
  const s = new Float64Array(Tk);
  const acc = new Float64Array(D);
  const kr = new Float32Array(D);
  const vr = new Float32Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qi = ((b * Tq + i) * Hq + h) * D;
        const { first, last } = visibleKeys(qOffset + i, Tk, causal, window);
        let max = -Infinity;
        for (let j = first; j <= last; j++) {
          readK(b * kvBatchStride + (j * Hkv + hk) * D, kr);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qr[qi + d] * kr[d];
          s[j] = softcap > 0 ? softcap * Math.tanh((dot * scale) / softcap) : dot * scale;
          if (s[j] > max) max = s[j];
        }
        let sum = 0;
        acc.fill(0);
        for (let j = first; j <= last; j++) {
          const p = Math.exp(s[j] - max);
          sum += p; // the normaliser sums the unrounded p
          const pr = roundP(p);
          readV(b * kvBatchStride + (j * Hkv + hk) * D, vr);
          for (let d = 0; d < D; d++) acc[d] += pr * vr[d];
        }
        // A row with no visible key (qOffset < 0, or a window past the last key) outputs zeros.
        const seen = last >= first;
        for (let d = 0; d < D; d++) out[qi + d] = seen ? acc[d] / sum : 0;
        lse[(b * Hq + h) * Tq + i] = seen ? max + Math.log(sum) : -Infinity;
      }
    }
  }
}

/**
 * Backward: with p_j = exp(s_j - lse) and delta = sum_d dout . out,
 * dv_j += p_j dout; ds_j = p_j (dout . v_j - delta); dq += scale ds_j k_j; dk_j += scale ds_j q.
 * With softcap, s_j = softcap tanh(r_j / softcap) of the raw score r_j, and ds_j is multiplied by
 * ds_j/dr_j = 1 - tanh^2 before the scale.
 * bf16: delta from the unrounded dout; p and ds rounded where they multiply, ds before the scale.
 */
export function attentionBackward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  dout: Float32Array,
  lse: Float32Array,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  B: number,
  Tq: number,
  Tk: number,
  Hq: number,
  Hkv: number,
  D: number,
  kvBatchStride: number,
  qOffset: number,
  scale: number,
  causal: boolean,
  window: number,
  softcap: number,
  bf16: boolean,
): void {
  const round = bf16 ? roundBf16 : same;
  const [qr, kr, vr, dor] = bf16 ? [q, k, v, dout].map(roundBf16Array) : [q, k, v, dout];
  const group = Hq / Hkv;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qi = ((b * Tq + i) * Hq + h) * D;
        const { first, last } = visibleKeys(qOffset + i, Tk, causal, window);
        const l = lse[(b * Hq + h) * Tq + i];
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dout[qi + d] * out[qi + d];
        for (let j = first; j <= last; j++) {
          const kj = b * kvBatchStride + (j * Hkv + hk) * D;
          let dot = 0;
          let dpv = 0;
          for (let d = 0; d < D; d++) {
            dot += qr[qi + d] * kr[kj + d];
            dpv += dor[qi + d] * vr[kj + d];
          }
          const t = softcap > 0 ? Math.tanh((dot * scale) / softcap) : 0;
          const p = Math.exp((softcap > 0 ? softcap * t : dot * scale) - l);
          const ds = round(p * (dpv - delta) * (1 - t * t)) * scale;
          const pr = round(p);
          for (let d = 0; d < D; d++) {
            dv[kj + d] += pr * dor[qi + d];
            dq[qi + d] += ds * kr[kj + d];
            dk[kj + d] += ds * qr[qi + d];
          }
        }
      }
    }
  }
}
