/**
 * Attention maps of a decoder for the playground's heatmap: the probabilities with which each
 * query position of layer l attends to each key position,
 *   A[h] = softmax(q_h k_g^T / sqrt(d_head) + causal mask)      g = h / (nHeads / nKvHeads)
 * They come from the model's own forward pass (`DecoderLM.hidden` with `returnAttention`), so
 * they are the probabilities the layer used. Nothing is cached and no tape is recorded.
 */
import { noGrad, tidy } from '../tensor/index.ts';
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
  const weights = noGrad(() => tidy(() => model.hidden(tokens, 1, T, { returnAttention: layer }).attention)); // [1, H, T, T]
  const H = c.nHeads;
  const out = Float32Array.from(weights.data);
  weights.dispose();
  return { T, H, weights: out };
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
