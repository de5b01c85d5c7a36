/**
 * The decoder-only language model (GPT-2 and Llama families, Qwen2 and Mistral as Llama variants):
 *   x = tok_embeddings[ids] (+ pos_embeddings[pos] for learned positions)
 *   x = blocks(x)          (pre-norm, causal; RoPE inside attention when configured, with layer
 *                           i's base, layerRope(config, i); layer i's sliding window,
 *                           layerWindow(config, i), in training and on the cache)
 *   logits = norm(x) @ output.T   (output = tok_embeddings when tied)
 * Parameter names are the canonical checkpoint names of src/io/weight_names.ts.
 */

import type { Segment } from '../nn/attention.ts';
import { Block } from '../nn/block.ts';
import { Embedding } from '../nn/embedding.ts';
import { type KVCache, StaticKVCache } from '../nn/kv_cache.ts';
import { Linear } from '../nn/linear.ts';
import { Module } from '../nn/module.ts';
import { makeNorm, type Norm } from '../nn/norm.ts';
import {
  add,
  bf16ToF32,
  crossEntropy,
  dropout,
  f32ToBf16,
  type KVType,
  linear,
  noGrad,
  Rng,
  type RopeTable,
  ropeTable,
  scale,
  softcap,
  Tensor,
  tidy,
} from '../tensor/index.ts';
import type { CausalLM } from './causal_lm.ts';
import type { ModelConfig } from './config.ts';
import { blockConfig, checkModelConfig, layerRope } from './config.ts';

/** The hidden states and one layer's attention probabilities [B, H, T, T]. */
export interface HiddenWithAttention {
  hidden: Tensor;
  attention: Tensor;
}

export class DecoderLM extends Module implements CausalLM {
  readonly tokEmbeddings: Embedding;
  readonly posEmbeddings: Embedding | null;
  readonly layers: Block[];
  readonly norm: Norm;
  readonly output: Linear | null;
  /** Layer i's RoPE table (one per distinct base and scaling: Gemma 3 has two); null: learned positions. */
  readonly rots: (RopeTable | null)[];
  /** Dropout is active only while training is true. */
  training = false;
  readonly dropRng: Rng;
  /**
   * How the caches of createCache() store keys and values (an inference setting, like the
   * weights' dtype): f32 (exact), f16 or q8_0 (src/kernels/kv_types.ts: bytes and storage error).
   */
  kvType: KVType = 'f32';

  constructor(
    readonly config: ModelConfig,
    /**
     * Seeds the initial weights (and dropout). 'load': the weight matrices are left uninitialised
     * (Rng.forLoading), for a loader that fills every parameter next (models/load*.ts).
     */
    seed: number | 'load' = 0,
  ) {
    super();
    checkModelConfig(config, 'model config');
    if (config.arch === 'bert') throw new Error('DecoderLM: arch "bert" is an encoder (use Encoder)');
    const rng = seed === 'load' ? Rng.forLoading() : new Rng(seed);
    const c = config;
    this.dropRng = new Rng(seed === 'load' ? 1 : seed + 1);
    this.tokEmbeddings = this.child('tok_embeddings', new Embedding(c.vocabSize, c.dModel, rng, c.initStd));
    this.posEmbeddings =
      c.position === 'learned'
        ? this.child('pos_embeddings', new Embedding(c.contextLength, c.dModel, rng, c.initStd / 2))
        : null;
    this.layers = Array.from({ length: c.nLayers }, (_, i) =>
      this.child(`layers.${i}`, new Block(blockConfig(c, i), rng)),
    );
    this.norm = this.child('norm', makeNorm(c.norm, c.dModel, c.normEps, c.normUnitOffset));
    this.output = c.tiedEmbeddings
      ? null
      : this.child('output', new Linear(c.dModel, c.vocabSize, false, rng, c.initStd));
    const tables = new Map<string, RopeTable>();
    this.rots = this.layers.map((_, i) => {
      if (c.position !== 'rope') return null;
      const { theta, scaling } = layerRope(c, i);
      const key = JSON.stringify([theta, scaling]);
      let t = tables.get(key);
      if (!t) {
        t = ropeTable(c.headDim, c.contextLength, theta, false, scaling);
        tables.set(key, t);
      }
      return t;
    });
    this.nameParameters();
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  get contextLength(): number {
    return this.config.contextLength;
  }

  private head(x: Tensor): Tensor {
    const logits = this.output ? this.output.forward(x) : linear(x, this.tokEmbeddings.weight); // tied: x @ wte.T
    const cap = this.config.finalLogitSoftcap;
    return cap ? softcap(logits, cap) : logits;
  }

  /**
   * Token embeddings of ids (shape: [B, T] or [N]), times sqrt(d) where the family scales them.
   * The factor is rounded to the embedding matrix's dtype, as Hugging Face's Gemma does
   * (`embed_scale.to(weight.dtype)`): bf16 weights scale by bf16(sqrt(d)), e.g. 50.5 for d = 2560
   * rather than 50.596; f32 and quantized ones by f32(sqrt(d)), which is also llama.cpp's sqrtf.
   */
  embed(ids: Int32Array, shape?: number[]): Tensor {
    const x = this.tokEmbeddings.forward(ids, shape);
    if (!this.config.scaleEmbeddings) return x;
    const s = Math.sqrt(this.config.dModel);
    return scale(x, this.tokEmbeddings.weight.dtype === 'bf16' ? bf16ToF32(f32ToBf16(s)) : Math.fround(s));
  }

  /** ids: [B, T] (row-major) -> logits [B, T, V]. */
  forward(ids: Int32Array, B: number, T: number): Tensor {
    return this.head(this.hidden(ids, B, T));
  }

  /**
   * ids: [B, T] -> the final-norm hidden states [B, T, C] that the LM head reads (reward and value
   * heads read them too). With `returnAttention: l`, also layer l's attention probabilities
   * [B, H, T, T], computed from the same q and k as the layer's output.
   */
  hidden(ids: Int32Array, B: number, T: number): Tensor;
  hidden(ids: Int32Array, B: number, T: number, options: { returnAttention: number }): HiddenWithAttention;
  hidden(
    ids: Int32Array,
    B: number,
    T: number,
    options?: { returnAttention: number },
  ): Tensor | HiddenWithAttention {
    if (ids.length !== B * T) throw new Error(`forward: ${ids.length} ids for B=${B} x T=${T}`);
    if (T > this.config.contextLength)
      throw new Error(`forward: T=${T} exceeds the context length ${this.config.contextLength}`);
    const want = options?.returnAttention;
    if (want !== undefined && !(Number.isInteger(want) && want >= 0 && want < this.layers.length))
      throw new RangeError(`layer must be an integer in [0, ${this.layers.length}), got ${want}`);
    let x = this.embed(ids, [B, T]); // [B, T, C]
    if (this.posEmbeddings) {
      const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
      x = add(x, this.posEmbeddings.forward(pos, [B, T]));
    }
    const drop = { p: this.config.dropout, rng: this.dropRng, training: this.training };
    x = dropout(x, drop.p, drop.rng, drop.training);
    const seen: { attention?: Tensor } = {};
    const keep = (p: Tensor) => {
      seen.attention = p;
    };
    this.layers.forEach((block, l) => {
      x = block.forward(x, this.rots[l] ?? null, drop, l === want ? keep : undefined);
    });
    const hidden = this.norm.forward(x);
    if (want === undefined) return hidden;
    if (!seen.attention) throw new Error(`hidden: layer ${want} returned no attention`);
    return { hidden, attention: seen.attention };
  }

  /** Mean next-token cross-entropy; targets use -100 for positions that do not count. */
  loss(ids: Int32Array, targets: Int32Array, B: number, T: number): Tensor {
    return crossEntropy(this.forward(ids, B, T), targets);
  }

  /** A cache of `type` (default this.kvType) for `batch` sequences of up to `maxLen` tokens. */
  createCache(batch: number, maxLen: number, type: KVType = this.kvType): StaticKVCache {
    const c = this.config;
    if (maxLen > c.contextLength)
      throw new Error(`KV cache of ${maxLen} tokens exceeds the context length ${c.contextLength}`);
    return new StaticKVCache(c.nLayers, batch, maxLen, c.nKvHeads, c.headDim, type);
  }

  extend(tokens: readonly Int32Array[], cacheLike: KVCache): (Float32Array | null)[] {
    if (!(cacheLike instanceof StaticKVCache))
      throw new Error("extend: the cache must come from this model's createCache()");
    const cache = cacheLike;
    if (tokens.length !== cache.batch)
      throw new Error(`extend: ${tokens.length} sequences for a cache of ${cache.batch}`);
    const segments: Segment[] = [];
    let N = 0;
    tokens.forEach((t, seq) => {
      if (t.length > 0) {
        segments.push({ seq, start: N, length: t.length });
        N += t.length;
      }
    });
    const result: (Float32Array | null)[] = tokens.map(() => null);
    if (N === 0) return result;
    const ids = new Int32Array(N);
    const pos = new Int32Array(N);
    for (const s of segments) {
      ids.set(tokens[s.seq], s.start);
      for (let i = 0; i < s.length; i++) pos[s.start + i] = cache.lengths[s.seq] + i;
    }
    const V = this.config.vocabSize;
    noGrad(() =>
      tidy(() => {
        let x = this.embed(ids); // [N, C]
        if (this.posEmbeddings) {
          const over = pos.findIndex((p) => p >= this.config.contextLength);
          if (over >= 0)
            throw new Error(
              `extend: position ${pos[over]} exceeds the context length ${this.config.contextLength}`,
            );
          x = add(x, this.posEmbeddings.forward(pos));
        }
        // One layer's activations at a time: each layer's are freed (to the pool, for the next
        // layer to reuse) once its output exists; a 1800-token prefill would otherwise hold all
        // 12 layers' (~80 MB each for a 768-wide model).
        this.layers.forEach((block, l) => {
          const input = x;
          x = tidy(() => block.forwardCached(input, segments, cache, l, this.rots[l] ?? null));
          if (x !== input) input.dispose();
        });
        // Only the last row of each segment needs logits.
        const C = this.config.dModel;
        const rows = x.data;
        const lastRows = new Float32Array(segments.length * C);
        segments.forEach((s, i) => {
          lastRows.set(rows.subarray((s.start + s.length - 1) * C, (s.start + s.length) * C), i * C);
        });
        const logits = this.head(this.norm.forward(Tensor.wrap(lastRows, [segments.length, C])));
        segments.forEach((s, i) => {
          result[s.seq] = logits.data.slice(i * V, (i + 1) * V);
        });
      }),
    );
    for (const s of segments) cache.lengths[s.seq] += s.length;
    return result;
  }
}
