/**
 * Config presets: the GPT-2 family (learned positions, LayerNorm, GELU, MHA, biases, tied head)
 * and the Llama family (RoPE, RMSNorm, SwiGLU, GQA, no biases), with Qwen2 (q/k/v biases) and
 * Mistral as Llama variants. Sizes: `tiny` for tests and demos, the real small sizes otherwise.
 */
import type { ModelConfig } from './config.ts';

const BASE = {
  typeVocabSize: 0,
  bosTokenId: null,
  eosTokenId: null,
  padTokenId: null,
  dropout: 0,
  initStd: 0.02,
  slidingWindow: null,
  torchDtype: null,
  ropeScaling: null,
  qkNorm: false,
  scaleEmbeddings: false,
  sandwichNorm: false,
  normUnitOffset: false,
  queryScale: null,
  finalLogitSoftcap: null,
} as const;

export function gpt2Config(o: Partial<ModelConfig> = {}): ModelConfig {
  const dModel = o.dModel ?? 768;
  const nHeads = o.nHeads ?? 12;
  return {
    ...BASE,
    arch: 'gpt2',
    vocabSize: 50257,
    contextLength: 1024,
    nLayers: 12,
    nKvHeads: nHeads,
    headDim: dModel / nHeads,
    ffnDim: 4 * dModel,
    ffnType: 'gelu_tanh',
    norm: 'layernorm',
    normEps: 1e-5,
    position: 'learned',
    ropeTheta: 10000,
    attnBias: true,
    qkvBias: true,
    mlpBias: true,
    tiedEmbeddings: true,
    ...o,
    dModel,
    nHeads,
  };
}

export function llamaConfig(o: Partial<ModelConfig> = {}): ModelConfig {
  const dModel = o.dModel ?? 768;
  const nHeads = o.nHeads ?? 12;
  return {
    ...BASE,
    arch: 'llama',
    vocabSize: 32000,
    contextLength: 2048,
    nLayers: 12,
    nKvHeads: 4,
    headDim: dModel / nHeads,
    ffnDim: 2048,
    ffnType: 'swiglu',
    norm: 'rmsnorm',
    normEps: 1e-5,
    position: 'rope',
    ropeTheta: 10000,
    attnBias: false,
    qkvBias: false,
    mlpBias: false,
    tiedEmbeddings: false,
    ...o,
    dModel,
    nHeads,
  };
}

export const qwen2Config = (o: Partial<ModelConfig> = {}): ModelConfig =>
  llamaConfig({
    arch: 'qwen2',
    qkvBias: true,
    ropeTheta: 1000000,
    normEps: 1e-6,
    tiedEmbeddings: true,
    ...o,
  });

/** Qwen3: Llama with per-head q/k RMSNorm, no biases, tied embeddings in the small sizes. */
export const qwen3Config = (o: Partial<ModelConfig> = {}): ModelConfig =>
  llamaConfig({ arch: 'qwen3', qkNorm: true, ropeTheta: 1000000, normEps: 1e-6, tiedEmbeddings: true, ...o });

/**
 * Gemma 2's block. Its sliding window (even layers) and soft-caps are off unless given:
 * slidingWindow, attnLogitSoftcap and finalLogitSoftcap (4096, 50 and 30 in the released models).
 */
export const gemma2Config = (o: Partial<ModelConfig> = {}): ModelConfig =>
  llamaConfig({
    arch: 'gemma2',
    ffnType: 'geglu',
    scaleEmbeddings: true,
    sandwichNorm: true,
    normUnitOffset: true,
    tiedEmbeddings: true,
    ropeTheta: 10000,
    ...o,
  });

/**
 * Gemma 3's block: Gemma 2's (GeGLU, sandwich norms with (1 + w) weights, sqrt(d) embeddings,
 * tied head) with per-head q/k norms, no soft-caps, and RoPE bases 1e6 on the global layers and
 * 10000 on the local ones (every layer but each sixth). The window is off unless given
 * (slidingWindow: 512 in the 1B, 1024 in the 4B and larger); queryScale null means headDim, the
 * released models' query_pre_attn_scalar except the 27B's.
 */
export const gemma3Config = (o: Partial<ModelConfig> = {}): ModelConfig =>
  gemma2Config({ arch: 'gemma3', qkNorm: true, ropeTheta: 1000000, ropeLocalTheta: 10000, ...o });

// nKvHeads 4: GQA in groups of 3 over llama's 12 default heads (8, Mistral-7B's count for its 32
// heads, does not divide 12, and made this preset invalid).
export const mistralConfig = (o: Partial<ModelConfig> = {}): ModelConfig =>
  llamaConfig({ arch: 'mistral', nKvHeads: 4, ...o });

export function bertConfig(o: Partial<ModelConfig> = {}): ModelConfig {
  const dModel = o.dModel ?? 384;
  const nHeads = o.nHeads ?? 12;
  return {
    ...BASE,
    arch: 'bert',
    vocabSize: 30522,
    contextLength: 512,
    nLayers: 6,
    nKvHeads: nHeads,
    headDim: dModel / nHeads,
    ffnDim: 4 * dModel,
    ffnType: 'gelu',
    norm: 'layernorm',
    normEps: 1e-12,
    position: 'learned',
    ropeTheta: 10000,
    attnBias: true,
    qkvBias: true,
    mlpBias: true,
    tiedEmbeddings: true,
    typeVocabSize: 2,
    padTokenId: 0,
    ...o,
    dModel,
    nHeads,
  };
}

/** Named presets for `xfmr init --config NAME`. */
export const PRESETS: Record<string, () => ModelConfig> = {
  gpt2: () => gpt2Config(),
  'gpt2-tiny': () => gpt2Config({ vocabSize: 512, contextLength: 256, dModel: 128, nLayers: 4, nHeads: 4 }),
  llama: () => llamaConfig(),
  'llama-tiny': () =>
    llamaConfig({
      vocabSize: 512,
      contextLength: 256,
      dModel: 128,
      nLayers: 4,
      nHeads: 4,
      nKvHeads: 2,
      ffnDim: 352,
    }),
  'qwen2-tiny': () =>
    qwen2Config({
      vocabSize: 512,
      contextLength: 256,
      dModel: 128,
      nLayers: 4,
      nHeads: 4,
      nKvHeads: 2,
      ffnDim: 352,
    }),
  mistral: () => mistralConfig(),
  'bert-mini': () => bertConfig({ dModel: 256, nHeads: 4, nLayers: 4, ffnDim: 1024 }),
};

export const FAMILY: Record<ModelConfig['arch'], (o: Partial<ModelConfig>) => ModelConfig> = {
  gpt2: gpt2Config,
  llama: llamaConfig,
  qwen2: qwen2Config,
  qwen3: qwen3Config,
  gemma2: gemma2Config,
  gemma3: gemma3Config,
  mistral: mistralConfig,
  bert: bertConfig,
};
