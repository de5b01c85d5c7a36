/**
 * Scaled dot-product attention, softmax(q @ k.T / sqrt(dk) + mask) @ v, in three forms that share
 * one kernel (flash-style: online softmax, no [Tq, Tk] matrix) or, for the weights, one formula:
 *   attention         training and full recompute, with autograd;
 *   attentionCached   inference on a ragged batch whose keys and values live in a KV cache;
 *   attentionPacked   inference on a packed batch of whole sequences (encoders, no padding);
 *   attentionWeights  the probabilities themselves, [B, Hq, Tq, Tk], for inspection (heatmaps).
 * Query head h reads KV head floor(h / (Hq / Hkv)): MHA when Hkv = Hq, MQA when Hkv = 1, else GQA.
 * All three take the same mask and score options: causal, a sliding window (query at position p
 * sees keys p - window < j <= p, Hugging Face's definition) and a soft-cap of the scores
 * (cap tanh(s / cap), Gemma 2). Not handled: padding masks; and a windowed KV store still holds
 * every key (memory grows with the sequence, not the window: the window only limits what is read).
 */
import { kernels } from '../../kernels/index.ts';
import { kvIndex } from '../../kernels/kv_types.ts';
import { gradOf, record } from '../autograd.ts';
import { computeDtype } from '../precision.ts';
import { Tensor } from '../tensor.ts';
import { softcap as capScores } from './activation.ts';
import { add, scale } from './elementwise.ts';
import type { KVStore } from './kv_store.ts';
import { matmul } from './matmul.ts';
import { permute, reshape } from './shape.ts';
import { softmax } from './softmax.ts';

/** The mask and the scores, shared by the three forms. */
export interface ScoreOptions {
  causal?: boolean;
  /** Default 1 / sqrt(head dim). */
  scale?: number;
  /**
   * Sliding window: the query at absolute position p sees only keys j > p - window (with causal:
   * itself and the window - 1 keys before it, as Mistral and Gemma 2 in Hugging Face). 0 or
   * absent: no window. Needs causal.
   */
  window?: number;
  /** Scores s become cap tanh(s / cap) before the softmax (Gemma 2's attn_logit_softcapping). */
  softcap?: number;
}

export interface AttentionOptions extends ScoreOptions {
  /** Absolute position of the first query (for a KV cache holding earlier keys). Default Tk - Tq. */
  qOffset?: number;
}

/** The options with their defaults, checked: a bad window or cap names itself. */
function scoreOptions(o: ScoreOptions, D: number) {
  const causal = o.causal ?? true;
  const window = o.window ?? 0;
  const softcap = o.softcap ?? 0;
  if (!Number.isSafeInteger(window) || window < 0)
    throw new Error(`attention: window must be a non-negative integer (0: none), got ${window}`);
  if (window > 0 && !causal) throw new Error('attention: a sliding window needs causal masking');
  if (!(softcap >= 0 && Number.isFinite(softcap)))
    throw new Error(`attention: softcap must be a finite number >= 0 (0: none), got ${softcap}`);
  return { causal, window, softcap, scale: o.scale ?? 1 / Math.sqrt(D) };
}

interface Dims {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
}

/** Checks q: [B, Tq, Hq, D] against k (and v): [B, Tk, Hkv, D]. */
function dims(q: Tensor, k: Tensor, v: Tensor | null): Dims {
  if (q.ndim !== 4 || k.ndim !== 4 || (v && v.ndim !== 4)) {
    throw new Error(`attention: q, k, v must be [B, T, H, D], got [${q.shape}], [${k.shape}], [${v?.shape}]`);
  }
  const [B, Tq, Hq, D] = q.shape;
  const [Bk, Tk, Hkv, Dk] = k.shape;
  if (Bk !== B || Dk !== D || v?.shape.some((d, i) => d !== k.shape[i])) {
    throw new Error(`attention: shapes q [${q.shape}], k [${k.shape}], v [${v?.shape}] do not agree`);
  }
  if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} KV heads`);
  return { B, Tq, Tk, Hq, Hkv, D };
}

/** q: [B, Tq, Hq, D], k and v: [B, Tk, Hkv, D] -> out [B, Tq, Hq, D]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const { B, Tq, Tk, Hq, Hkv, D } = dims(q, k, v);
  const o = scoreOptions(options, D);
  const qOffset = options.qOffset ?? Tk - Tq;
  const kern = kernels();
  const out = Tensor.empty(q.shape);
  const lse = new Float32Array(B * Hq * Tq); // logsumexp of each score row, kept for backward
  // bf16 scope: bf16 operands for QK^T and PV (kernels.ts), captured for the backward too.
  const bf16 = computeDtype() === 'bf16';
  const mask = [o.scale, o.causal, o.window, o.softcap, bf16] as const;
  const shape = [B, Tq, Tk, Hq, Hkv, D, Tk * Hkv * D, qOffset, ...mask] as const;
  kern.attentionForward(q.data, k.data, v.data, out.data, lse, ...shape);
  return record(out, 'attention', [q, k, v], (g) => {
    const dq = q.requiresGrad ? gradOf(q) : new Float32Array(q.size);
    const dk = k.requiresGrad ? gradOf(k) : new Float32Array(k.size);
    const dv = v.requiresGrad ? gradOf(v) : new Float32Array(v.size);
    kern.attentionBackward(q.data, k.data, v.data, out.data, g.data, lse, dq, dk, dv, ...shape);
  });
}

/** Rows [start, start + length) of a packed batch form one sequence. */
export interface PackedRows {
  start: number;
  length: number;
}

/**
 * Bidirectional attention over a packed (varlen) batch, inference only (no autograd): q: [N, Hq, D]
 * and k, v: [N, Hkv, D] hold the rows of several sequences one after the other; the rows of each
 * group attend to the keys of their own group only -> out [N, Hq, D]. This is what a padded
 * batch with an attention mask computes for its real tokens (BERT's extended attention mask),
 * without the padding: no pad row is computed and none can leak into a result. No causal mask
 * and no window (encoders); each group is one kernel call.
 */
export function attentionPacked(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  groups: readonly PackedRows[],
  options: { scale?: number; softcap?: number } = {},
): Tensor {
  if (q.ndim !== 3 || k.ndim !== 3 || v.ndim !== 3)
    throw new Error(
      `attentionPacked: q, k, v must be [N, H, D], got [${q.shape}], [${k.shape}], [${v.shape}]`,
    );
  const [N, Hq, D] = q.shape;
  const [Nk, Hkv, Dk] = k.shape;
  if (Nk !== N || Dk !== D || v.shape.some((d, i) => d !== k.shape[i]))
    throw new Error(`attentionPacked: shapes q [${q.shape}], k [${k.shape}], v [${v.shape}] do not agree`);
  if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} KV heads`);
  const o = scoreOptions({ ...options, causal: false }, D);
  const kern = kernels();
  const bf16 = computeDtype() === 'bf16';
  const out = Tensor.empty(q.shape);
  const [qRow, kRow] = [Hq * D, Hkv * D];
  let next = 0;
  for (const g of groups) {
    if (g.start !== next || g.length < 1)
      throw new Error(
        `attentionPacked: groups must tile the ${N} rows in order, got [${g.start}, +${g.length})`,
      );
    next = g.start + g.length;
    const T = g.length;
    const rows = (x: Float32Array, row: number) => x.subarray(g.start * row, next * row);
    const lse = new Float32Array(Hq * T);
    kern.attentionForward(
      rows(q.data, qRow),
      rows(k.data, kRow),
      rows(v.data, kRow),
      rows(out.data, qRow),
      lse,
      ...([1, T, T, Hq, Hkv, D, T * kRow, 0, o.scale, false, 0, o.softcap, bf16] as const),
    );
  }
  if (next !== N) throw new Error(`attentionPacked: groups cover ${next} of ${N} rows`);
  return out;
}

/** Query rows [start, start + length) belong to sequence `seq`, which holds `past` earlier tokens. */
export interface CachedRows {
  seq: number;
  start: number;
  length: number;
  past: number;
}

/**
 * Inference on a ragged batch (no autograd): q: [N, Hq, D] holds the new rows of several
 * sequences; each group of rows attends to its sequence's first past + length keys in `store`
 * (the caller has appended the new keys and values there) -> out [N, Hq, D]. The store may hold
 * f32, f16 or q8_0 values (kv_store.ts); the kernel reads each in place. Row i of a group
 * sits at position past + i, so a window hides the same keys as in `attention` over the whole
 * sequence (the store keeps every key; the window only limits what is read).
 */
export function attentionCached(
  q: Tensor,
  store: KVStore,
  rows: readonly CachedRows[],
  options: ScoreOptions = {},
): Tensor {
  if (q.ndim !== 3) throw new Error(`attentionCached: q must be [N, H, D], got [${q.shape}]`);
  const [, Hq, D] = q.shape;
  const Hkv = store.nKvHeads;
  if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} KV heads`);
  const o = scoreOptions(options, D);
  const kern = kernels();
  const bf16 = computeDtype() === 'bf16';
  const out = Tensor.empty(q.shape);
  const row = Hq * D;
  for (const r of rows) {
    const Tk = r.past + r.length;
    const base = r.seq * store.seqStride; // in values; kvIndex maps it into the store's array
    if (Tk * Hkv * D > store.seqStride) throw new Error(`attentionCached: ${Tk} keys overflow the store`);
    const qs = q.data.subarray(r.start * row, (r.start + r.length) * row);
    const ys = out.data.subarray(r.start * row, (r.start + r.length) * row);
    const lse = new Float32Array(Hq * r.length);
    const shape = [1, r.length, Tk, Hq, Hkv, D, store.seqStride, r.past] as const;
    const mask = [o.scale, o.causal, o.window, o.softcap, bf16] as const;
    const [from, to] = [kvIndex(store.type, base), kvIndex(store.type, base + store.seqStride)];
    if (store.type === 'f32') {
      kern.attentionForward(
        qs,
        store.k.subarray(from, to),
        store.v.subarray(from, to),
        ys,
        lse,
        ...shape,
        ...mask,
      );
    } else {
      // f16 / q8_0: the kernel widens each key and value row as it reads it
      const [kc, vc] = [store.k.subarray(from, to), store.v.subarray(from, to)];
      kern.attentionForwardKV(qs, kc, vc, store.type, ys, lse, ...shape, ...mask);
    }
  }
  return out;
}

/**
 * The attention probabilities, P = softmax(cap(q @ k.T * scale) + mask): q: [B, Tq, Hq, D],
 * k: [B, Tk, Hkv, D] -> [B, Hq, Tq, Tk], P[b, h, i, j] = how much query i attends to key j (0
 * where the mask hides key j). Composed of ops, so it is differentiable, but it materialises
 * [Tq, Tk] per head: for inspection, not training.
 */
export function attentionWeights(q: Tensor, k: Tensor, options: AttentionOptions = {}): Tensor {
  const { B, Tq, Tk, Hq, Hkv, D } = dims(q, k, null);
  const o = scoreOptions(options, D);
  const group = Hq / Hkv;
  const qOffset = options.qOffset ?? Tk - Tq;
  // Heads sharing a KV head are stacked along the rows so one batched GEMM serves the group.
  const qh = reshape(permute(q, [0, 2, 1, 3]), [B, Hkv, group * Tq, D]); // [B, Hkv, group*Tq, D]
  const kh = permute(k, [0, 2, 1, 3]); // [B, Hkv, Tk, D]
  const scores = scale(matmul(qh, kh, { transB: true }), o.scale);
  let s = reshape(o.softcap > 0 ? capScores(scores, o.softcap) : scores, [B, Hq, Tq, Tk]);
  if (o.causal || o.window > 0) {
    // -inf on the keys query i (at position qOffset + i) does not see: after it when causal,
    // at or before qOffset + i - window when windowed.
    const mask = new Float32Array(Tq * Tk);
    for (let i = 0; i < Tq; i++) {
      const p = qOffset + i;
      for (let j = 0; j < Tk; j++)
        if ((o.causal && j > p) || (o.window > 0 && j <= p - o.window)) mask[i * Tk + j] = -Infinity;
    }
    s = add(s, Tensor.wrap(mask, [Tq, Tk]));
  }
  return softmax(s);
}
