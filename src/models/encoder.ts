/**
 * The BERT-style encoder used for embeddings (RAG):
 *   x = emb_norm(tok_embeddings[ids] + pos_embeddings[pos] + type_embeddings[types])
 *   x = blocks(x)   (post-norm, bidirectional attention)
 *   embedding = normalise(pool(x))  pooled over each sequence's own rows (mean, [CLS], max, ...)
 *
 * Batches are packed, not padded: the rows of several sequences go one after the other through
 * every matrix multiply together ([N, C], N = total tokens), and attention keeps each sequence to
 * its own keys (attentionPacked). That is what Hugging Face's padded batch with an attention
 * mask computes for its real tokens, without computing pad rows.
 */

import { Block } from '../nn/block.ts';
import { Embedding } from '../nn/embedding.ts';
import { Module } from '../nn/module.ts';
import { LayerNorm } from '../nn/norm.ts';
import { add, noGrad, type PackedRows, Rng, type Tensor, tidy } from '../tensor/index.ts';
import type { ModelConfig } from './config.ts';
import { blockConfig, checkModelConfig } from './config.ts';

/**
 * How token rows become one vector, as sentence-transformers' Pooling names them: 'cls' the first
 * row, 'mean' the average, 'max' the elementwise maximum, 'mean_sqrt_len' the sum / sqrt(T),
 * 'weightedmean' the average weighted by position 1..T, 'lasttoken' the last row.
 */
export type Pooling = 'cls' | 'max' | 'mean' | 'mean_sqrt_len' | 'weightedmean' | 'lasttoken';
export const POOLINGS: readonly Pooling[] = [
  'cls',
  'max',
  'mean',
  'mean_sqrt_len',
  'weightedmean',
  'lasttoken',
];

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

  /**
   * Several sequences in one packed pass: ids holds them one after the other, `groups` where each
   * starts and how long it is -> hidden states [N, C], N = ids.length. Inference only.
   */
  forwardPacked(ids: Int32Array, groups: readonly PackedRows[]): Tensor {
    const N = ids.length;
    const pos = new Int32Array(N);
    for (const g of groups) {
      if (g.length > this.config.contextLength)
        throw new Error(
          `forwardPacked: a sequence of ${g.length} exceeds the context length ${this.config.contextLength}`,
        );
      for (let t = 0; t < g.length && g.start + t < N; t++) pos[g.start + t] = t;
    }
    let x = add(this.tokEmbeddings.forward(ids, [N]), this.posEmbeddings.forward(pos, [N])); // [N, C]
    if (this.typeEmbeddings) x = add(x, this.typeEmbeddings.forward(new Int32Array(N), [N]));
    x = this.embNorm.forward(x);
    for (const block of this.layers) x = block.forwardPacked(x, groups); // checks that groups tile N
    return x;
  }

  /**
   * Sequences -> one vector each: the poolings in `pooling` concatenated in that order
   * ([pooling.length * C], as sentence-transformers concatenates several modes), L2-normalised
   * when `normalize`. All sequences go through the model as one packed batch.
   */
  embedBatch(
    seqs: readonly Int32Array[],
    pooling: Pooling | readonly Pooling[] = 'mean',
    normalize = true,
  ): Float32Array[] {
    const modes = typeof pooling === 'string' ? [pooling] : pooling;
    if (modes.length === 0) throw new Error('embedBatch: no pooling mode');
    const C = this.config.dModel;
    const groups: PackedRows[] = [];
    let N = 0;
    for (const s of seqs) {
      if (s.length === 0) throw new Error('embedBatch: an empty sequence (no tokens to pool)');
      groups.push({ start: N, length: s.length });
      N += s.length;
    }
    if (N === 0) return [];
    const ids = new Int32Array(N);
    for (const [i, s] of seqs.entries()) ids.set(s, groups[i].start);
    let h = new Float32Array(0); // [N, C]
    noGrad(() =>
      tidy(() => {
        h = this.forwardPacked(ids, groups).data.slice();
      }),
    );
    return groups.map((g) => {
      const out = new Float32Array(modes.length * C);
      const rows = h.subarray(g.start * C, (g.start + g.length) * C); // [T, C]
      for (const [j, m] of modes.entries()) poolRows(rows, g.length, C, m, out.subarray(j * C, (j + 1) * C));
      if (normalize) {
        let n = 0;
        for (const v of out) n += v * v;
        n = Math.sqrt(n) || 1;
        for (let c = 0; c < out.length; c++) out[c] /= n;
      }
      return out;
    });
  }

  /** One sequence -> its pooled embedding [C], L2-normalised when `normalize`. */
  embed(ids: Int32Array, pooling: Pooling = 'mean', normalize = true): Float32Array {
    return this.embedBatch([ids], pooling, normalize)[0];
  }
}

/** h: [T, C] rows of one sequence -> out [C], pooled as `mode` says (sums in float64). */
function poolRows(h: Float32Array, T: number, C: number, mode: Pooling, out: Float32Array): void {
  if (mode === 'cls' || mode === 'lasttoken') {
    out.set(h.subarray(mode === 'cls' ? 0 : (T - 1) * C, mode === 'cls' ? C : T * C));
    return;
  }
  for (let c = 0; c < C; c++) {
    if (mode === 'max') {
      let m = -Infinity;
      for (let t = 0; t < T; t++) m = Math.max(m, h[t * C + c]);
      out[c] = m;
      continue;
    }
    let sum = 0;
    let weight = 0;
    for (let t = 0; t < T; t++) {
      const w = mode === 'weightedmean' ? t + 1 : 1;
      sum += w * h[t * C + c];
      weight += w;
    }
    out[c] = mode === 'mean_sqrt_len' ? sum / Math.sqrt(T) : sum / weight;
  }
}
