/**
 * Causal self-attention with grouped-query heads (MHA when nKvHeads = nHeads, MQA when 1):
 *   q, k, v = x Wq, x Wk, x Wv;  (RoPE on q, k);  y = softmax(q k^T / sqrt(d) + mask) v;  out = y Wo
 * Training runs through the autograd ops; inference with a KV cache calls the kernels directly on
 * a ragged batch (the rows of several sequences stacked, each with its own past length).
 */
import { kernels } from '../kernels/index.ts';
import { attention, type Rng, type RopeTable, reshape, rope, type Tensor } from '../tensor/index.ts';
import type { StaticKVCache } from './kv_cache.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';

export interface AttentionConfig {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  qkvBias: boolean;
  outBias: boolean;
  causal: boolean;
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
  }

  /** x: [B, T, C] -> [B, T, C] (training and full recompute). */
  forward(x: Tensor, rot: RopeTable | null): Tensor {
    const [B, T] = x.shape;
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = this.cfg;
    let q = reshape(this.wq.forward(x), [B, T, H, D]);
    let k = reshape(this.wk.forward(x), [B, T, Hkv, D]);
    const v = reshape(this.wv.forward(x), [B, T, Hkv, D]);
    if (rot) {
      q = rope(q, rot);
      k = rope(k, rot);
    }
    const y = attention(q, k, v, { causal: this.cfg.causal, qOffset: 0 }); // [B, T, H, D]
    return this.wo.forward(reshape(y, [B, T, H * D]));
  }

  /**
   * Inference: x [N, C] holds the new rows of several sequences (segments); their keys and values
   * are appended to the cache of `layer`, and attention sees each sequence's past. Writes [N, C].
   * Does not advance cache.lengths (the model does, after the last layer).
   */
  forwardCached(
    x: Float32Array,
    N: number,
    segments: readonly Segment[],
    cache: StaticKVCache,
    layer: number,
    rot: RopeTable | null,
    out: Float32Array,
  ): void {
    const kern = kernels();
    const { nHeads: H, nKvHeads: Hkv, headDim: D, causal } = this.cfg;
    const q = new Float32Array(N * H * D);
    const k = new Float32Array(N * Hkv * D);
    const v = new Float32Array(N * Hkv * D);
    this.wq.apply(x, N, q);
    this.wk.apply(x, N, k);
    this.wv.apply(x, N, v);
    const y = new Float32Array(N * H * D);
    const scale = 1 / Math.sqrt(D);
    for (const s of segments) {
      const past = cache.lengths[s.seq];
      if (past + s.length > cache.maxLen) {
        throw new Error(
          `KV cache full: sequence ${s.seq} has ${past} tokens, ${s.length} more exceed ${cache.maxLen}`,
        );
      }
      const qs = q.subarray(s.start * H * D, (s.start + s.length) * H * D);
      const ks = k.subarray(s.start * Hkv * D, (s.start + s.length) * Hkv * D);
      const vs = v.subarray(s.start * Hkv * D, (s.start + s.length) * Hkv * D);
      if (rot) {
        kern.rope(qs, qs, rot.cos, rot.sin, 1, s.length, H, D, rot.rotDim, past, rot.interleaved, false);
        kern.rope(ks, ks, rot.cos, rot.sin, 1, s.length, Hkv, D, rot.rotDim, past, rot.interleaved, false);
      }
      const base = s.seq * cache.batchStride;
      cache.k[layer].set(ks, base + past * Hkv * D);
      cache.v[layer].set(vs, base + past * Hkv * D);
      const kc = cache.k[layer].subarray(base, base + cache.batchStride);
      const vc = cache.v[layer].subarray(base, base + cache.batchStride);
      const lse = new Float32Array(H * s.length);
      const ys = y.subarray(s.start * H * D, (s.start + s.length) * H * D);
      kern.attentionForward(
        qs,
        kc,
        vc,
        ys,
        lse,
        1,
        s.length,
        past + s.length,
        H,
        Hkv,
        D,
        cache.batchStride,
        past,
        scale,
        causal,
      );
    }
    this.wo.apply(y, N, out);
  }
}
