/**
 * The normalised model configuration: one plain typed shape for every supported family, filled
 * from a Hugging Face config.json by `src/io/hf_config.ts` and written back by the same file. The
 * models in `src/models/` build from it; checkpoint readers and writers check shapes with it.
 *
 * Families and what `arch` implies beyond these fields:
 *   gpt2                  decoder, pre-norm, causal
 *   llama/qwen2/mistral   decoder, pre-norm, causal; Q/K rows in Hugging Face's rotary layout
 *                         (the two halves of each head are the rotated pairs)
 *   qwen3                 as llama, with per-head RMSNorm of q and k (qkNorm)
 *   gemma2                decoder, pre-norm, causal; GeGLU, sandwich norms with (1 + w) weights,
 *                         embeddings scaled by sqrt(d), tied head, optional final logit soft-cap;
 *                         its sliding window applies to the even layers only (local, global,
 *                         local, ...), unless slidingLayers says otherwise
 *   gemma3                as gemma2 without its soft-caps by default, with per-head q/k RMSNorm
 *                         ((1 + w) weights too); five local layers then one global (layer i is
 *                         global iff (i + 1) % 6 == 0) unless slidingLayers says otherwise; the
 *                         local layers rotate with their own base, ropeLocalTheta, unscaled
 *   bert                  encoder, POST-norm (norm after each residual add), bidirectional,
 *                         LayerNorm after the embeddings, token type embeddings
 */
import type { BlockConfig } from '../nn/block.ts';
import type { FfnType } from '../nn/mlp.ts';
import type { NormType } from '../nn/norm.ts';
import type { RopeScaling } from '../tensor/index.ts';

export type Arch = 'gpt2' | 'llama' | 'qwen2' | 'qwen3' | 'mistral' | 'gemma2' | 'gemma3' | 'bert';
export const ARCHS: readonly Arch[] = [
  'gpt2',
  'llama',
  'qwen2',
  'qwen3',
  'mistral',
  'gemma2',
  'gemma3',
  'bert',
];

export type { FfnType, NormType };
export type PositionType = 'learned' | 'rope';

export interface ModelConfig {
  arch: Arch;
  vocabSize: number;
  /** Longest sequence (positions table size for learned positions; max_position_embeddings). */
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** KV heads: = nHeads is MHA, 1 is MQA, else GQA (nHeads % nKvHeads === 0). */
  nKvHeads: number;
  /** Per-head size; usually dModel / nHeads, but config.json may set it (`head_dim`). */
  headDim: number;
  /** Hidden size of the MLP (for swiglu: of the gate and up projections). */
  ffnDim: number;
  /** 'gelu' is exact erf GELU; 'gelu_tanh' the tanh approximation (GPT-2's gelu_new). */
  ffnType: FfnType;
  norm: NormType;
  normEps: number;
  position: PositionType;
  /** RoPE base theta (unused with learned positions). */
  ropeTheta: number;
  /** RoPE frequency scaling (config.json's rope_scaling), or null. */
  ropeScaling: RopeScaling | null;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3; Gemma 3, with normUnitOffset's (1 + w)). */
  qkNorm: boolean;
  /** Token embeddings multiplied by sqrt(dModel) (Gemma). */
  scaleEmbeddings: boolean;
  /** Norms on the outputs of attention and MLP too, before each residual add (Gemma 2/3). */
  sandwichNorm: boolean;
  /** RMSNorm weights are stored as offsets from 1: y = x / rms(x) * (1 + w) (Gemma). */
  normUnitOffset: boolean;
  /** Attention scores are scaled by queryScale^-1/2 instead of headDim^-1/2 (Gemma's query_pre_attn_scalar). */
  queryScale: number | null;
  /** logits = cap * tanh(logits / cap) on the LM head's output (Gemma 2's final_logit_softcapping). */
  finalLogitSoftcap: number | null;
  /** Bias on the attention output projection (wo). */
  attnBias: boolean;
  /** Biases on the q, k, v projections. */
  qkvBias: boolean;
  /** Biases on the MLP projections. */
  mlpBias: boolean;
  /** The LM head shares the token embedding matrix (no separate output weight). */
  tiedEmbeddings: boolean;
  /** Token type (segment) vocabulary: 2 for BERT, 0 for the decoders. */
  typeVocabSize: number;
  bosTokenId: number | null;
  /** Hugging Face allows one id or a list. */
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** Dropout probability used in training (residual/hidden dropout of the source config). */
  dropout: number;
  /** Std of the normal initialiser (initializer_range). */
  initStd: number;
  /**
   * Sliding-window attention span (Mistral, Qwen2/3 with use_sliding_window, Gemma 2), else null:
   * in a windowed layer the token at position p attends to keys p - slidingWindow < j <= p.
   */
  slidingWindow: number | null;
  /**
   * Which layers use slidingWindow (Hugging Face's layer_types, true = "sliding_attention");
   * absent or null: the family's pattern, every layer except in gemma2, whose even layers slide,
   * and gemma3, where every sixth layer (i + 1) % 6 == 0 is global.
   * Optional, so configs written before it stay valid.
   */
  slidingLayers?: boolean[] | null;
  /**
   * RoPE base of the sliding (local) layers, which rotate without ropeScaling (Gemma 3's
   * rope_local_base_freq, 10000, beside a global rope_theta of 1e6 and a linear scaling of the
   * global layers only in the 4B and larger). Absent or null: every layer uses ropeTheta and
   * ropeScaling. Which layers are local is isSlidingLayer's answer, with or without a window.
   */
  ropeLocalTheta?: number | null;
  /** Attention scores soft-capped, cap * tanh(s / cap), before the softmax (Gemma 2's attn_logit_softcapping). */
  attnLogitSoftcap?: number | null;
  /** The dtype the weights were saved in (`torch_dtype`), when the config says. */
  torchDtype: 'float32' | 'float16' | 'bfloat16' | null;
}

function positiveInt(v: number): boolean {
  return Number.isSafeInteger(v) && v > 0;
}

/**
 * Checks the invariants every model relies on; throws one message naming `where` and the field.
 * (Family-specific limits, e.g. that GPT-2 cannot express GQA, are checked by `toHfConfig`.)
 */
export function checkModelConfig(c: ModelConfig, where: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (!ARCHS.includes(c.arch)) fail(`unknown arch ${JSON.stringify(c.arch)}`);
  for (const k of [
    'vocabSize',
    'contextLength',
    'dModel',
    'nLayers',
    'nHeads',
    'nKvHeads',
    'headDim',
    'ffnDim',
  ] as const) {
    if (!positiveInt(c[k])) fail(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.nHeads % c.nKvHeads !== 0)
    fail(`nHeads (${c.nHeads}) must be a multiple of nKvHeads (${c.nKvHeads})`);
  if (c.position === 'rope' && c.headDim % 2 !== 0) fail(`headDim (${c.headDim}) must be even for RoPE`);
  if (!(c.normEps > 0)) fail(`normEps must be > 0, got ${c.normEps}`);
  if (c.position === 'rope' && !(c.ropeTheta > 0)) fail(`ropeTheta must be > 0, got ${c.ropeTheta}`);
  const s = c.ropeScaling;
  if (s?.type === 'factors') {
    if (s.factors.length !== c.headDim / 2 || !s.factors.every((f) => f > 0))
      fail(`ropeScaling.factors must be ${c.headDim / 2} positive numbers (one per rotary pair)`);
  } else if (s) {
    if (c.position !== 'rope') fail('ropeScaling needs RoPE positions');
    if (!(s.factor >= 1)) fail(`ropeScaling.factor must be >= 1, got ${s.factor}`);
    if (s.type === 'llama3' && !(s.highFreqFactor > s.lowFreqFactor && s.lowFreqFactor > 0))
      fail(
        `ropeScaling: llama3 needs 0 < lowFreqFactor < highFreqFactor, got ${s.lowFreqFactor}, ${s.highFreqFactor}`,
      );
    if (s.type !== 'linear' && !positiveInt(s.originalContext))
      fail(`ropeScaling.originalContext must be a positive integer, got ${s.originalContext}`);
    if (s.type === 'yarn' && !(s.betaFast > 0 && s.betaSlow > 0 && s.attentionFactor > 0))
      fail('ropeScaling: yarn needs positive betaFast, betaSlow and attentionFactor');
  }
  if (!Number.isSafeInteger(c.typeVocabSize) || c.typeVocabSize < 0) {
    fail(`typeVocabSize must be a non-negative integer, got ${c.typeVocabSize}`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) fail(`dropout must be in [0, 1), got ${c.dropout}`);
  if (c.queryScale !== null && !(c.queryScale > 0)) fail(`queryScale must be > 0, got ${c.queryScale}`);
  if (c.finalLogitSoftcap !== null && !(c.finalLogitSoftcap > 0))
    fail(`finalLogitSoftcap must be > 0, got ${c.finalLogitSoftcap}`);
  if (c.normUnitOffset && c.norm !== 'rmsnorm') fail('normUnitOffset applies to RMSNorm only');
  if (c.slidingWindow !== null && !positiveInt(c.slidingWindow))
    fail(`slidingWindow must be a positive integer or null, got ${c.slidingWindow}`);
  if (c.slidingLayers && c.slidingLayers.length !== c.nLayers)
    fail(`slidingLayers has ${c.slidingLayers.length} entries for ${c.nLayers} layers`);
  if (c.attnLogitSoftcap != null && !(c.attnLogitSoftcap > 0 && Number.isFinite(c.attnLogitSoftcap)))
    fail(`attnLogitSoftcap must be > 0, got ${c.attnLogitSoftcap}`);
  if (
    c.ropeLocalTheta != null &&
    !(c.position === 'rope' && c.ropeLocalTheta > 0 && Number.isFinite(c.ropeLocalTheta))
  )
    fail(`ropeLocalTheta must be > 0 with RoPE positions, got ${c.ropeLocalTheta}`);
  if (c.arch === 'bert' && (c.slidingWindow !== null || c.attnLogitSoftcap != null))
    fail('the bert encoder has no sliding window or attention soft-cap');
}

/** Gemma 3's layer period: five sliding layers, then one global (sliding_window_pattern = 6). */
export const GEMMA3_PATTERN = 6;

/** Whether layer i uses the sliding window (when there is one): see slidingLayers. */
export function isSlidingLayer(c: Pick<ModelConfig, 'arch' | 'slidingLayers'>, layer: number): boolean {
  if (c.slidingLayers) return c.slidingLayers[layer];
  if (c.arch === 'gemma3') return (layer + 1) % GEMMA3_PATTERN !== 0;
  return c.arch !== 'gemma2' || layer % 2 === 0;
}

/**
 * The RoPE base and scaling of layer i: ropeLocalTheta, unscaled, on the local layers when the
 * config has one; ropeTheta and ropeScaling everywhere else.
 */
export function layerRope(
  c: Pick<ModelConfig, 'arch' | 'slidingLayers' | 'ropeTheta' | 'ropeScaling' | 'ropeLocalTheta'>,
  layer: number,
): { theta: number; scaling: RopeScaling | null } {
  if (c.ropeLocalTheta != null && isSlidingLayer(c, layer)) return { theta: c.ropeLocalTheta, scaling: null };
  return { theta: c.ropeTheta, scaling: c.ropeScaling ?? null };
}

/** The attention window of layer i: slidingWindow where the layer slides, else 0 (unlimited). */
export function layerWindow(c: ModelConfig, layer: number): number {
  return c.slidingWindow !== null && isSlidingLayer(c, layer) ? c.slidingWindow : 0;
}

/**
 * The part of the config the transformer block `layer` reads; `arch` decides norm placement and
 * masking, and the layer its window.
 */
export function blockConfig(c: ModelConfig, layer: number): BlockConfig {
  const encoder = c.arch === 'bert';
  return {
    ...c,
    postNorm: encoder,
    causal: !encoder,
    window: layerWindow(c, layer),
    attnSoftcap: c.attnLogitSoftcap ?? null,
  };
}
