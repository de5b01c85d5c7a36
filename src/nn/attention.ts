/**
 * Causal self-attention with grouped-query heads (MHA when nKvHeads = nHeads, MQA when 1):
 *   q, k, v = x Wq, x Wk, x Wv;  (per-head RMSNorm of q, k: Qwen3, Gemma 3); (RoPE on q, k);
 *   y = softmax(cap(q k^T / sqrt(d)) + mask) v;  out = y Wo
 * where the mask is causal, optionally limited to a sliding window (Mistral, Gemma 2/3's local
 * layers), and cap is Gemma 2's optional soft-cap of the scores. The RoPE table is the caller's:
 * Gemma 3 gives its local layers another base than its global ones.
 * One path: `qkv` makes the projections for training and for inference, then the attention op of
 * src/tensor/ops/attention.ts runs on them, with autograd (`forward`) or on a KV cache
 * (`forwardCached`, a ragged batch of rows from several sequences, each with its own past).
 */
import {
  attention,
  attentionCached,
  attentionPacked,
  attentionWeights,
  type CachedRows,
  type PackedRows,
  type Rng,
  type RopeTable,
  reshape,
  rope,
  type ScoreOptions,
  type Tensor,
} from '../tensor/index.ts';
import type { StaticKVCache } from './kv_cache.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';
import { RMSNorm } from './norm.ts';

export interface AttentionConfig {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  qkvBias: boolean;
  outBias: boolean;
  causal: boolean;
  /** Qwen3, Gemma 3: RMSNorm over each head's q and k (weights [headDim]) before RoPE. */
  qkNorm?: boolean;
  /** The eps of those norms. */
  normEps?: number;
  /** Those norms scale by (1 + w), Gemma's convention (Gemma 3); Qwen3's by w. */
  normUnitOffset?: boolean;
  /** Score scale; default 1 / sqrt(headDim). */
  scale?: number;
  /** Sliding window: each query sees itself and the window - 1 keys before it; 0 or absent: all. */
  window?: number;
  /** Scores soft-capped at cap tanh(s / cap) (Gemma 2's attn_logit_softcapping); absent: none. */
  softcap?: number;
}

/** Rows [start, start + length) of a ragged batch belong to cache sequence `seq`. */
export interface Segment {
  seq: number;
  start: number;
  length: number;
}

export class Attention extends Module {
  readonly wq: Linear;
  readonly wk: Linear;
  readonly wv: Linear;
  readonly wo: Linear;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;

  constructor(
    readonly cfg: AttentionConfig,
    rng: Rng,
    std: number,
    projStd: number,
  ) {
    super();
    const { dModel: C, nHeads: H, nKvHeads: Hkv, headDim: D } = cfg;
    if (H % Hkv !== 0) throw new Error(`attention: nHeads ${H} must be a multiple of nKvHeads ${Hkv}`);
    this.wq = this.child('wq', new Linear(C, H * D, cfg.qkvBias, rng, std));
    this.wk = this.child('wk', new Linear(C, Hkv * D, cfg.qkvBias, rng, std));
    this.wv = this.child('wv', new Linear(C, Hkv * D, cfg.qkvBias, rng, std));
    this.wo = this.child('wo', new Linear(H * D, C, cfg.outBias, rng, projStd));
    const eps = cfg.normEps ?? 1e-6;
    const unit = cfg.normUnitOffset ?? false;
    this.qNorm = cfg.qkNorm ? this.child('q_norm', new RMSNorm(D, eps, unit)) : null;
    this.kNorm = cfg.qkNorm ? this.child('k_norm', new RMSNorm(D, eps, unit)) : null;
  }

  /**
   * x: [B, T, C] -> q: [B, T, H, D], k and v: [B, T, Hkv, D], with RoPE on q and k when `rot`.
   * positions: of each token (see `rope`); a number p means row b's token t is at p + t.
   */
  qkv(
    x: Tensor,
    rot: RopeTable | null,
    positions: number | Int32Array = 0,
  ): { q: Tensor; k: Tensor; v: Tensor } {
    const [B, T] = x.shape;
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = this.cfg;
    let q = reshape(this.wq.forward(x), [B, T, H, D]);
    let k = reshape(this.wk.forward(x), [B, T, Hkv, D]);
    const v = reshape(this.wv.forward(x), [B, T, Hkv, D]);
    if (this.qNorm && this.kNorm) {
      q = this.qNorm.forward(q); // over the last axis: each head's D values
      k = this.kNorm.forward(k);
    }
    if (rot) {
      q = rope(q, rot, positions);
      k = rope(k, rot, positions);
    }
    return { q, k, v };
  }

  /**
   * x: [B, T, C] -> [B, T, C] (training and full recompute). `weights`, when given, receives the
   * attention probabilities [B, H, T, T] (the playground's heatmap).
   */
  forward(x: Tensor, rot: RopeTable | null, weights?: (p: Tensor) => void): Tensor {
    const [B, T] = x.shape;
    const { q, k, v } = this.qkv(x, rot);
    const opts = this.scoreOptions();
    if (weights) weights(attentionWeights(q, k, opts));
    const y = attention(q, k, v, { ...opts, qOffset: 0 }); // [B, T, H, D]
    return this.wo.forward(reshape(y, [B, T, this.cfg.nHeads * this.cfg.headDim]));
  }

  /**
   * Inference (no autograd): x: [N, C] holds the new rows of several sequences (segments). Their
   * keys and values are appended to the cache of `layer`, and each sequence attends to its own
   * past. -> [N, C]. Does not advance cache.lengths (the model does, after the last layer).
   */
  forwardCached(
    x: Tensor,
    segments: readonly Segment[],
    cache: StaticKVCache,
    layer: number,
    rot: RopeTable | null,
  ): Tensor {
    const N = x.shape[0];
    const { nHeads: H, headDim: D } = this.cfg;
    const rows: CachedRows[] = segments.map((s) => ({ ...s, past: cache.lengths[s.seq] }));
    const positions = new Int32Array(N);
    for (const r of rows) for (let i = 0; i < r.length; i++) positions[r.start + i] = r.past + i;
    const { q, k, v } = this.qkv(reshape(x, [1, N, -1]), rot, positions); // q: [1, N, H, D]
    for (const r of rows) cache.append(layer, r.seq, k.data, v.data, r.start, r.length);
    const y = attentionCached(reshape(q, [N, H, D]), cache.store(layer), rows, this.scoreOptions());
    return this.wo.forward(reshape(y, [N, H * D]));
  }

  /**
   * Inference on a packed batch of whole sequences (encoders, no autograd): x: [N, C] holds the
   * rows of several sequences one after the other (`groups`), each attending to its own rows
   * only, as a padded batch with an attention mask would -> [N, C].
   */
  forwardPacked(x: Tensor, groups: readonly PackedRows[]): Tensor {
    if (this.cfg.causal) throw new Error('attention: forwardPacked is for bidirectional (encoder) layers');
    const N = x.shape[0];
    const { nHeads: H, nKvHeads: Hkv, headDim: D, scale, softcap } = this.cfg;
    const { q, k, v } = this.qkv(reshape(x, [1, N, -1]), null); // q: [1, N, H, D]
    const y = attentionPacked(
      reshape(q, [N, H, D]),
      reshape(k, [N, Hkv, D]),
      reshape(v, [N, Hkv, D]),
      groups,
      { scale, softcap },
    );
    return this.wo.forward(reshape(y, [N, H * D]));
  }

  /** The mask and score options of this layer, the same on every path. */
  private scoreOptions(): ScoreOptions {
    const { causal, scale, window, softcap } = this.cfg;
    return { causal, scale, window, softcap };
  }
}
