/**
 * The BERT-style encoder used for embeddings (RAG):
 *   x = emb_norm(tok_embeddings[ids] + pos_embeddings[pos] + type_embeddings[types])
 *   x = blocks(x)   (post-norm, bidirectional attention)
 *   embedding = normalise(pool(x))  with mean pooling over real tokens or the [CLS] row
 */

import { Block } from '../nn/block.ts';
import { Embedding } from '../nn/embedding.ts';
import { Module } from '../nn/module.ts';
import { LayerNorm } from '../nn/norm.ts';
import { add, noGrad, Rng, type Tensor, tidy } from '../tensor/index.ts';
import type { ModelConfig } from './config.ts';
import { blockConfig, checkModelConfig } from './config.ts';

export type Pooling = 'mean' | 'cls';

export class Encoder extends Module {
  readonly tokEmbeddings: Embedding;
  readonly posEmbeddings: Embedding;
  readonly typeEmbeddings: Embedding | null;
  readonly embNorm: LayerNorm;
  readonly layers: Block[];
  private readonly noDrop = { p: 0, rng: new Rng(0), training: false };

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
    if (config.arch !== 'bert') throw new Error(`Encoder: arch must be "bert", got "${config.arch}"`);
    const c = config;
    const rng = seed === 'load' ? Rng.forLoading() : new Rng(seed);
    this.tokEmbeddings = this.child('tok_embeddings', new Embedding(c.vocabSize, c.dModel, rng, c.initStd));
    this.posEmbeddings = this.child(
      'pos_embeddings',
      new Embedding(c.contextLength, c.dModel, rng, c.initStd),
    );
    this.typeEmbeddings =
      c.typeVocabSize > 0
        ? this.child('type_embeddings', new Embedding(c.typeVocabSize, c.dModel, rng, c.initStd))
        : null;
    this.embNorm = this.child('emb_norm', new LayerNorm(c.dModel, c.normEps));
    this.layers = Array.from({ length: c.nLayers }, (_, i) =>
      this.child(`layers.${i}`, new Block(blockConfig(c, i), rng)),
    );
    this.nameParameters();
  }

  /** ids, types: [B, T] -> hidden states [B, T, C]. All B sequences have length T (no padding mask). */
  forward(ids: Int32Array, B: number, T: number, types?: Int32Array): Tensor {
    if (ids.length !== B * T) throw new Error(`forward: ${ids.length} ids for B=${B} x T=${T}`);
    if (T > this.config.contextLength)
      throw new Error(`forward: T=${T} exceeds the context length ${this.config.contextLength}`);
    const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
    let x = add(this.tokEmbeddings.forward(ids, [B, T]), this.posEmbeddings.forward(pos, [B, T]));
    if (this.typeEmbeddings) x = add(x, this.typeEmbeddings.forward(types ?? new Int32Array(B * T), [B, T]));
    x = this.embNorm.forward(x);
    for (const block of this.layers) x = block.forward(x, null, this.noDrop);
    return x;
  }

  /** One sequence -> its pooled embedding [C], L2-normalised when `normalize`. */
  embed(ids: Int32Array, pooling: Pooling = 'mean', normalize = true): Float32Array {
    const C = this.config.dModel;
    const T = ids.length;
    const h = noGrad(() => tidy(() => this.forward(ids, 1, T).toArray()));
    const out = new Float32Array(C);
    if (pooling === 'cls') out.set(h.slice(0, C));
    else {
      for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) out[c] += h[t * C + c];
      for (let c = 0; c < C; c++) out[c] /= T;
    }
    if (normalize) {
      let n = 0;
      for (const v of out) n += v * v;
      n = Math.sqrt(n) || 1;
      for (let c = 0; c < C; c++) out[c] /= n;
    }
    return out;
  }
}
