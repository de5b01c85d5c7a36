/**
 * Attention maps of a decoder: the probabilities with which each query position of layer l
 * attends to each key position,
 *   A[h] = softmax(q_h k_g^T / sqrt(d_head) + causal mask)      g = h / (nHeads / nKvHeads)
 * where q and k are the layer's projections of its normed input, after RoPE when the model uses
 * it. The fused attention kernel never materialises A (it is flash-style), so this recomputes the
 * scores from the model's own modules: the blocks below l run as in `DecoderLM.hidden`, then layer
 * l's norm and q/k projections. Nothing is cached and no tape is recorded.
 *
 * Not handled: sliding-window attention (the model's own attention ignores `slidingWindow` too),
 * and post-norm blocks (DecoderLM never builds them).
 */
import { add, noGrad, reshape, rope, tidy } from '../tensor/index.ts';
import type { DecoderLM } from './decoder.ts';

export interface AttentionMaps {
  /** Tokens in the sequence. */
  T: number;
  /** Query heads. */
  H: number;
  /** [H, T, T], row-major: weights[(h * T + i) * T + j] is how much query i attends to key j. */
  weights: Float32Array;
}

/** Checks a layer index against the model; the message names the field. */
export function checkLayer(model: DecoderLM, layer: number): void {
  const L = model.config.nLayers;
  if (!Number.isInteger(layer) || layer < 0 || layer >= L)
    throw new RangeError(`layer must be an integer in [0, ${L}), got ${layer}`);
}

/** Checks a query-head index against the model; the message names the field. */
export function checkHead(model: DecoderLM, head: number): void {
  const H = model.config.nHeads;
  if (!Number.isInteger(head) || head < 0 || head >= H)
    throw new RangeError(`head must be an integer in [0, ${H}), got ${head}`);
}

/** ids: [T] -> the attention probabilities of every query head of `layer`, [H, T, T]. */
export function attentionMaps(model: DecoderLM, ids: ArrayLike<number>, layer: number): AttentionMaps {
  const c = model.config;
  checkLayer(model, layer);
  const T = ids.length;
  if (T === 0) throw new RangeError('attention map: the sequence is empty');
  if (T > c.contextLength)
    throw new RangeError(`attention map: ${T} tokens exceed the context length ${c.contextLength}`);
  const bad = Array.from(ids).find((id) => !Number.isInteger(id) || id < 0 || id >= c.vocabSize);
  if (bad !== undefined) throw new RangeError(`attention map: token id ${bad} is not in [0, ${c.vocabSize})`);
  const tokens = Int32Array.from(ids);
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c;

  // q: [T, H, D], k: [T, Hkv, D], copied out of the tensors that tidy() disposes.
  let q = new Float32Array(0);
  let k = new Float32Array(0);
  noGrad(() =>
    tidy(() => {
      let x = model.tokEmbeddings.forward(tokens, [1, T]); // [1, T, C]
      if (model.posEmbeddings) {
        const pos = Int32Array.from({ length: T }, (_, i) => i);
        x = add(x, model.posEmbeddings.forward(pos, [1, T]));
      }
      const drop = { p: 0, rng: model.dropRng, training: false };
      for (let l = 0; l < layer; l++) x = model.layers[l].forward(x, model.rot, drop);
      const block = model.layers[layer];
      const h = block.attentionNorm.forward(x); // [1, T, C]
      let qt = reshape(block.attention.wq.forward(h), [1, T, H, D]);
      let kt = reshape(block.attention.wk.forward(h), [1, T, Hkv, D]);
      if (model.rot) {
        qt = rope(qt, model.rot);
        kt = rope(kt, model.rot);
      }
      q = Float32Array.from(qt.data);
      k = Float32Array.from(kt.data);
    }),
  );

  const weights = new Float32Array(H * T * T);
  const group = H / Hkv;
  const scale = 1 / Math.sqrt(D);
  const row = new Float64Array(T);
  for (let hq = 0; hq < H; hq++) {
    const hk = Math.floor(hq / group);
    for (let i = 0; i < T; i++) {
      // scores of query i against keys 0..i (the causal mask leaves the rest at 0)
      const qi = (i * H + hq) * D;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        const kj = (j * Hkv + hk) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qi + d] * k[kj + d];
        row[j] = s * scale;
        if (row[j] > max) max = row[j];
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        row[j] = Math.exp(row[j] - max);
        sum += row[j];
      }
      const out = (hq * T + i) * T;
      for (let j = 0; j <= i; j++) weights[out + j] = row[j] / sum;
    }
  }
  return { T, H, weights };
}

/** The map of one query head as rows: [T][T]. */
export function attentionMap(
  model: DecoderLM,
  ids: ArrayLike<number>,
  layer: number,
  head: number,
): number[][] {
  checkHead(model, head);
  const { T, weights } = attentionMaps(model, ids, layer);
  return Array.from({ length: T }, (_, i) =>
    Array.from(weights.subarray((head * T + i) * T, (head * T + i + 1) * T)),
  );
}
