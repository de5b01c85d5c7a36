/**
 * A transformer block. Pre-norm (GPT-2, Llama): x += attn(norm1(x)); x += mlp(norm2(x)).
 * Post-norm (BERT): x = norm1(x + attn(x)); x = norm2(x + mlp(x)).
 * Sandwich (Gemma 2/3): pre-norm with a norm on each branch's output too:
 * x += norm1b(attn(norm1(x))); x += norm2b(mlp(norm2(x))).
 */
import { add, dropout, type PackedRows, type Rng, type RopeTable, type Tensor } from '../tensor/index.ts';
import { Attention, type Segment } from './attention.ts';
import type { StaticKVCache } from './kv_cache.ts';
import { type FfnType, MLP } from './mlp.ts';
import { Module } from './module.ts';
import { makeNorm, type Norm, type NormType } from './norm.ts';

/** What a block needs to know; the model config (src/models/config.ts) fills it. */
export interface BlockConfig {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  ffnType: FfnType;
  norm: NormType;
  normEps: number;
  qkvBias: boolean;
  attnBias: boolean;
  mlpBias: boolean;
  /** Std of the normal initialiser. */
  initStd: number;
  /** Blocks in the whole stack (residual projections are scaled by it at init). */
  nLayers: number;
  /** Post-norm (BERT) instead of pre-norm (GPT-2, Llama). */
  postNorm: boolean;
  causal: boolean;
  /** Per-head RMSNorm of q and k (Qwen3, Gemma 3; with normUnitOffset's (1 + w) weights too). */
  qkNorm?: boolean;
  /** Norms on the attention and MLP outputs too (Gemma). */
  sandwichNorm?: boolean;
  /** RMSNorm scales by (1 + w) (Gemma). */
  normUnitOffset?: boolean;
  /** Attention scores scaled by queryScale^-1/2 (Gemma's query_pre_attn_scalar); null: headDim. */
  queryScale?: number | null;
  /** Sliding window of this block's attention (0 or absent: none), see AttentionConfig. */
  window?: number;
  /** Soft-cap of the attention scores (Gemma 2); null or absent: none. */
  attnSoftcap?: number | null;
}

export class Block extends Module {
  readonly attention: Attention;
  readonly feedForward: MLP;
  readonly attentionNorm: Norm;
  readonly ffnNorm: Norm;
  readonly postAttentionNorm: Norm | null;
  readonly postFfnNorm: Norm | null;
  readonly postNorm: boolean;

  constructor(
    readonly config: BlockConfig,
    rng: Rng,
  ) {
    super();
    const c = config;
    const std = c.initStd;
    // GPT-2: residual projections scaled by 1/sqrt(2 L) so the residual stream's variance stays put.
    const projStd = std / Math.sqrt(2 * c.nLayers);
    this.postNorm = c.postNorm;
    const norm = () => makeNorm(c.norm, c.dModel, c.normEps, c.normUnitOffset);
    this.attentionNorm = this.child('attention_norm', norm());
    this.attention = this.child(
      'attention',
      new Attention(
        {
          dModel: c.dModel,
          nHeads: c.nHeads,
          nKvHeads: c.nKvHeads,
          headDim: c.headDim,
          qkvBias: c.qkvBias,
          outBias: c.attnBias,
          causal: c.causal,
          qkNorm: c.qkNorm,
          normEps: c.normEps,
          normUnitOffset: c.normUnitOffset,
          scale: c.queryScale ? 1 / Math.sqrt(c.queryScale) : undefined,
          window: c.window,
          softcap: c.attnSoftcap ?? undefined,
        },
        rng,
        std,
        projStd,
      ),
    );
    this.ffnNorm = this.child('ffn_norm', norm());
    this.postAttentionNorm = c.sandwichNorm ? this.child('post_attention_norm', norm()) : null;
    this.postFfnNorm = c.sandwichNorm ? this.child('post_ffn_norm', norm()) : null;
    this.feedForward = this.child(
      'feed_forward',
      new MLP(c.dModel, c.ffnDim, c.ffnType, c.mlpBias, rng, std, projStd),
    );
  }

  /** x: [B, T, C] -> [B, T, C]. `weights` receives the attention probabilities [B, H, T, T]. */
  forward(
    x: Tensor,
    rot: RopeTable | null,
    drop: { p: number; rng: Rng; training: boolean },
    weights?: (p: Tensor) => void,
  ): Tensor {
    const d = (t: Tensor) => dropout(t, drop.p, drop.rng, drop.training);
    if (this.postNorm) {
      x = this.attentionNorm.forward(add(x, d(this.attention.forward(x, rot, weights))));
      return this.ffnNorm.forward(add(x, d(this.feedForward.forward(x))));
    }
    x = add(
      x,
      d(
        this.after(
          this.postAttentionNorm,
          this.attention.forward(this.attentionNorm.forward(x), rot, weights),
        ),
      ),
    );
    return add(x, d(this.after(this.postFfnNorm, this.feedForward.forward(this.ffnNorm.forward(x)))));
  }

  /** Inference on a packed batch of whole sequences, x: [N, C] (encoders; see Attention.forwardPacked). */
  forwardPacked(x: Tensor, groups: readonly PackedRows[]): Tensor {
    if (this.postNorm) {
      x = this.attentionNorm.forward(add(x, this.attention.forwardPacked(x, groups)));
      return this.ffnNorm.forward(add(x, this.feedForward.forward(x)));
    }
    const attn = this.attention.forwardPacked(this.attentionNorm.forward(x), groups);
    x = add(x, this.after(this.postAttentionNorm, attn));
    return add(x, this.after(this.postFfnNorm, this.feedForward.forward(this.ffnNorm.forward(x))));
  }

  /** A branch's output through its sandwich norm, when the block has one. */
  private after(norm: Norm | null, y: Tensor): Tensor {
    return norm ? norm.forward(y) : y;
  }

  /** Inference on a ragged batch x [N, C] with a KV cache (pre-norm decoders only). */
  forwardCached(
    x: Tensor,
    segments: readonly Segment[],
    cache: StaticKVCache,
    layer: number,
    rot: RopeTable | null,
  ): Tensor {
    const attn = this.attention.forwardCached(this.attentionNorm.forward(x), segments, cache, layer, rot);
    x = add(x, this.after(this.postAttentionNorm, attn));
    return add(x, this.after(this.postFfnNorm, this.feedForward.forward(this.ffnNorm.forward(x))));
  }
}
