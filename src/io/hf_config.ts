/**
 * Hugging Face `config.json` <-> the normalised `ModelConfig`, for model_type gpt2, llama,
 * qwen2, qwen3, mistral, gemma2, gemma3_text (and gemma3, the multimodal wrapper: its
 * `text_config` only) and bert, using the key names `transformers` writes.
 *
 * Missing keys take the defaults of the `transformers` config class (GPT2Config, LlamaConfig,
 * Qwen2Config, MistralConfig, Gemma3TextConfig, BertConfig), except the sizes that define the
 * model (vocabulary, width, depth, heads, FFN size), which must be present: a config without
 * them is a mistake, not a request for a 7B model. Gemma 3 is the exception: the configs Google
 * publishes leave out whatever equals Gemma3TextConfig's defaults (gemma-3-4b-it's text_config
 * has no vocab_size, head_dim or num_attention_heads), so its sizes default as transformers does.
 * Sliding windows follow Hugging Face's layer rules: every layer in
 * Mistral, layers from max_window_layers on in Qwen2/Qwen3 (with use_sliding_window), the even
 * layers in Gemma 2, all but every sliding_window_pattern-th (6) in Gemma 3, or `layer_types`
 * where the config lists it (transformers >= 4.53 writes it for Qwen2/Qwen3/Gemma 2/Gemma 3).
 * Gemma 3's RoPE: rope_theta (and rope_scaling) on the global layers, rope_local_base_freq
 * unscaled on the local ones, or transformers 5's `rope_parameters` with `full_attention` and
 * `sliding_attention` entries. Features the models here do not implement are refused with a
 * message naming the key rather than silently ignored: rope_scaling other than linear, llama3
 * and yarn (or their options beyond those read below),
 * gated activations other than SiLU, relu/silu MLPs in GPT-2 and BERT, relative position
 * embeddings in BERT, GPT-2's scale_attn_by_inverse_layer_idx, Gemma 3's bidirectional attention
 * (EmbeddingGemma).
 */

import {
  ARCHS,
  type Arch,
  checkModelConfig,
  type FfnType,
  GEMMA3_PATTERN,
  isSlidingLayer,
  type ModelConfig,
} from '../models/config.ts';
import { type RopeScaling, yarnAttentionFactor } from '../tensor/index.ts';
import { isJsonObject, type JsonObject, type JsonValue, readJsonFile } from './files.ts';
import { checkSize, type SizeKind } from './limits.ts';

/** The size keys of every family's config.json, checked against their ceiling as they are read (limits.ts). */
const SIZE_KEYS: Readonly<Record<string, SizeKind>> = {
  vocab_size: 'vocab',
  n_embd: 'width',
  hidden_size: 'width',
  n_inner: 'ffn',
  intermediate_size: 'ffn',
  n_layer: 'layers',
  num_hidden_layers: 'layers',
  n_head: 'heads',
  num_attention_heads: 'heads',
  num_key_value_heads: 'heads',
  head_dim: 'headDim',
  n_positions: 'context',
  n_ctx: 'context',
  max_position_embeddings: 'context',
  type_vocab_size: 'typeVocab',
};

/** Reads keys of one config.json with messages naming the file and key. */
class Keys {
  constructor(
    readonly json: JsonObject,
    readonly file: string,
  ) {}

  fail(msg: string): never {
    throw new Error(`${this.file}: ${msg}`);
  }

  /** The first of `names` present and not null. */
  get(names: readonly string[]): [string, JsonValue] | null {
    for (const n of names) {
      const v = this.json[n];
      if (v !== undefined && v !== null) return [n, v];
    }
    return null;
  }

  int(names: string | readonly string[], dflt?: number): number {
    const list = typeof names === 'string' ? [names] : names;
    const kv = this.get(list);
    if (kv === null) {
      if (dflt === undefined) this.fail(`missing ${list.join(' or ')}`);
      return dflt;
    }
    const [k, v] = kv;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    const kind = SIZE_KEYS[k];
    if (kind !== undefined) checkSize(this.file, k, v, kind);
    return v;
  }

  num(name: string, dflt: number): number {
    const kv = this.get([name]);
    if (kv === null) return dflt;
    if (typeof kv[1] !== 'number' || !Number.isFinite(kv[1])) {
      this.fail(`${name} must be a number, got ${JSON.stringify(kv[1])}`);
    }
    return kv[1];
  }

  bool(name: string, dflt: boolean): boolean {
    const kv = this.get([name]);
    if (kv === null) return dflt;
    if (typeof kv[1] !== 'boolean') this.fail(`${name} must be true or false, got ${JSON.stringify(kv[1])}`);
    return kv[1];
  }

  str(name: string, dflt: string): string {
    const kv = this.get([name]);
    if (kv === null) return dflt;
    if (typeof kv[1] !== 'string') this.fail(`${name} must be a string, got ${JSON.stringify(kv[1])}`);
    return kv[1];
  }

  /** A token id: null when absent. */
  tokenId(name: string, dflt: number | null): number | null {
    const v = this.json[name];
    if (v === undefined) return dflt;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`${name} must be a token id, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /**
   * A positive number that may be switched off: absent gives `dflt`, null gives null (the
   * transformers classes read None as off for sliding_window and the soft-caps).
   */
  optional(name: string, dflt: number | null, integer: boolean): number | null {
    const v = this.json[name];
    if (v === undefined) return dflt;
    if (v === null) return null;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)))
      this.fail(
        `${name} must be a positive ${integer ? 'integer' : 'number'} or null, got ${JSON.stringify(v)}`,
      );
    return v;
  }

  /** eos_token_id: one id or a list of ids. */
  eos(dflt: number | null): number | number[] | null {
    const v = this.json.eos_token_id;
    if (!Array.isArray(v)) return this.tokenId('eos_token_id', dflt);
    if (!v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(`eos_token_id must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  }

  torchDtype(): ModelConfig['torchDtype'] {
    const kv = this.get(['torch_dtype', 'dtype']);
    if (kv === null) return null;
    return kv[1] === 'float32' || kv[1] === 'float16' || kv[1] === 'bfloat16' ? kv[1] : null;
  }

  headDim(dModel: number, nHeads: number, key: string, dflt?: number): number {
    const kv = this.get(['head_dim']);
    if (kv !== null || dflt !== undefined) return this.int('head_dim', dflt);
    if (nHeads === 0 || dModel % nHeads !== 0) {
      this.fail(`${key} (${dModel}) is not divisible by the number of heads (${nHeads}); set head_dim`);
    }
    return dModel / nHeads;
  }
}

/** GPT-2 and BERT activation names -> FFN type. */
function geluType(k: Keys, key: string, dflt: string): FfnType {
  const act = k.str(key, dflt);
  if (act === 'gelu') return 'gelu';
  if (act === 'gelu_new' || act === 'gelu_pytorch_tanh' || act === 'gelu_fast') return 'gelu_tanh';
  return k.fail(`${key} ${JSON.stringify(act)} is not supported (gelu, gelu_new, gelu_pytorch_tanh are)`);
}

function parseGpt2(k: Keys): ModelConfig {
  if (k.bool('scale_attn_by_inverse_layer_idx', false))
    k.fail('scale_attn_by_inverse_layer_idx is not supported');
  if (!k.bool('scale_attn_weights', true)) k.fail('scale_attn_weights=false is not supported');
  const dModel = k.int(['n_embd', 'hidden_size']);
  const nHeads = k.int(['n_head', 'num_attention_heads']);
  return {
    arch: 'gpt2',
    vocabSize: k.int('vocab_size'),
    contextLength: k.int(['n_positions', 'n_ctx', 'max_position_embeddings']),
    dModel,
    nLayers: k.int(['n_layer', 'num_hidden_layers']),
    nHeads,
    nKvHeads: nHeads,
    headDim: k.headDim(dModel, nHeads, 'n_embd'),
    ffnDim: k.int('n_inner', 4 * dModel), // GPT2Config: n_inner null means 4 * n_embd
    ffnType: geluType(k, 'activation_function', 'gelu_new'),
    norm: 'layernorm',
    normEps: k.num('layer_norm_epsilon', 1e-5),
    position: 'learned',
    ropeTheta: 10000,
    attnBias: true,
    qkvBias: true,
    mlpBias: true,
    tiedEmbeddings: k.bool('tie_word_embeddings', true),
    typeVocabSize: 0,
    bosTokenId: k.tokenId('bos_token_id', 50256),
    eosTokenId: k.eos(50256),
    padTokenId: k.tokenId('pad_token_id', null),
    dropout: k.num('resid_pdrop', 0.1),
    initStd: k.num('initializer_range', 0.02),
    slidingWindow: null,
    torchDtype: k.torchDtype(),
    ropeScaling: null,
    qkNorm: false,
    scaleEmbeddings: false,
    sandwichNorm: false,
    normUnitOffset: false,
    queryScale: null,
    finalLogitSoftcap: null,
  };
}

/** Per-family defaults of the Llama-like config classes in transformers. */
type LlamaFamily = 'llama' | 'qwen2' | 'qwen3' | 'mistral' | 'gemma2' | 'gemma3';

const LLAMA_DEFAULTS: Record<
  LlamaFamily,
  { context: number; kvHeads: number | null; bos: number | null; eos: number | null }
> = {
  llama: { context: 2048, kvHeads: null, bos: 1, eos: 2 },
  qwen2: { context: 32768, kvHeads: null, bos: null, eos: null },
  qwen3: { context: 32768, kvHeads: null, bos: null, eos: null },
  gemma2: { context: 8192, kvHeads: null, bos: 2, eos: 1 },
  gemma3: { context: 131072, kvHeads: 4, bos: 2, eos: 1 },
  mistral: { context: 4096 * 32, kvHeads: 8, bos: 1, eos: 2 },
};

/**
 * config.json's `rope_scaling` (Hugging Face's names: rope_type or type, factor,
 * original_max_position_embeddings, low_freq_factor / high_freq_factor for llama3, beta_fast /
 * beta_slow / attention_factor for yarn); null for none or "default".
 */
function parseRopeScaling(k: Keys, contextLength: number): RopeScaling | null {
  const s = k.json.rope_scaling;
  if (s === undefined || s === null) return null;
  if (!isJsonObject(s)) k.fail(`rope_scaling must be an object or null, got ${JSON.stringify(s)}`);
  const type = s.rope_type ?? s.type;
  if (type === 'default') return null;
  const num = (key: string, dflt?: number): number => {
    const v = s[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v))
      k.fail(`rope_scaling.${key} must be a number, got ${JSON.stringify(s[key] ?? null)}`);
    return v;
  };
  const known = new Set(['rope_type', 'type', 'factor', 'original_max_position_embeddings']);
  const refuseOthers = (extra: string[]) => {
    for (const key of Object.keys(s))
      if (!known.has(key) && !extra.includes(key) && s[key] !== null)
        k.fail(`rope_scaling.${key} is not supported for ${type} scaling`);
  };
  const factor = num('factor');
  const originalContext = num('original_max_position_embeddings', contextLength);
  if (type === 'linear') {
    refuseOthers([]);
    return { type, factor };
  }
  if (type === 'llama3') {
    refuseOthers(['low_freq_factor', 'high_freq_factor']);
    return {
      type,
      factor,
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalContext,
    };
  }
  if (type === 'yarn') {
    refuseOthers(['beta_fast', 'beta_slow', 'attention_factor']);
    return {
      type,
      factor,
      originalContext,
      betaFast: num('beta_fast', 32),
      betaSlow: num('beta_slow', 1),
      attentionFactor: num('attention_factor', yarnAttentionFactor(factor)),
    };
  }
  return k.fail(`rope_scaling ${JSON.stringify(s)} is not supported (linear, llama3 and yarn are)`);
}

function ropeScalingJson(s: RopeScaling | null | undefined): JsonObject | null {
  if (!s) return null;
  if (s.type === 'factors')
    throw new Error('config.json cannot express per-pair RoPE factors (from a GGUF rope_freqs tensor)');
  const base = { rope_type: s.type, factor: s.factor };
  if (s.type === 'linear') return base;
  if (s.type === 'llama3')
    return {
      ...base,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalContext,
    };
  return {
    ...base,
    original_max_position_embeddings: s.originalContext,
    beta_fast: s.betaFast,
    beta_slow: s.betaSlow,
    attention_factor: s.attentionFactor,
  };
}

/**
 * Gemma3TextConfig's defaults for the sizes (see the file comment: Google's configs rely on
 * them); the other Llama-like families must state theirs.
 */
const GEMMA3_SIZES = {
  vocab_size: 262208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  head_dim: 256,
} as const;

/**
 * Gemma 3's RoPE: the global layers' base and scaling, and the local layers' base. From
 * `rope_parameters` ({full_attention: {rope_theta, rope_type, factor...}, sliding_attention:
 * {rope_theta, rope_type: "default"}}, transformers 5) when present, else from rope_theta,
 * rope_scaling and rope_local_base_freq (defaults 1e6, none, 10000).
 */
function parseGemma3Rope(
  k: Keys,
  contextLength: number,
): { ropeTheta: number; ropeScaling: RopeScaling | null; ropeLocalTheta: number } {
  const p = k.json.rope_parameters;
  if (p === undefined || p === null)
    return {
      ropeTheta: k.num('rope_theta', 1000000),
      ropeScaling: parseRopeScaling(k, contextLength),
      ropeLocalTheta: k.num('rope_local_base_freq', 10000),
    };
  if (
    !isJsonObject(p) ||
    (p.full_attention === undefined && p.sliding_attention === undefined) ||
    !isJsonObject(p.full_attention ?? {}) ||
    !isJsonObject(p.sliding_attention ?? {})
  )
    k.fail('rope_parameters must be an object with full_attention and sliding_attention objects');
  const part = (key: 'full_attention' | 'sliding_attention', theta: number) => {
    const { rope_theta, ...rest } = (p[key] ?? {}) as JsonObject;
    const scaling = Object.keys(rest).length > 0 ? rest : null;
    const sub = new Keys(
      { rope_theta: rope_theta ?? theta, rope_scaling: scaling },
      `${k.file}: rope_parameters.${key}`,
    );
    return { theta: sub.num('rope_theta', theta), scaling: parseRopeScaling(sub, contextLength) };
  };
  const global = part('full_attention', 1000000);
  const local = part('sliding_attention', 10000);
  if (local.scaling)
    k.fail('rope_parameters.sliding_attention: RoPE scaling of the local layers is not supported');
  return { ropeTheta: global.theta, ropeScaling: global.scaling, ropeLocalTheta: local.theta };
}

function parseLlamaFamily(k: Keys, arch: LlamaFamily): ModelConfig {
  const d = LLAMA_DEFAULTS[arch];
  const gemma3 = arch === 'gemma3';
  const gemma = arch === 'gemma2' || gemma3;
  // Gemma 3's sizes default as Gemma3TextConfig's; the other families' must be given
  const size = (key: keyof typeof GEMMA3_SIZES): number => k.int(key, gemma3 ? GEMMA3_SIZES[key] : undefined);
  if (gemma3 && k.bool('use_bidirectional_attention', false))
    k.fail('use_bidirectional_attention (EmbeddingGemma) is not supported: xfmr runs Gemma 3 as a causal LM');
  if (gemma) {
    const act = k.str('hidden_activation', k.str('hidden_act', 'gelu_pytorch_tanh'));
    if (act !== 'gelu_pytorch_tanh')
      k.fail(`hidden_activation ${JSON.stringify(act)} is not supported (gelu_pytorch_tanh is)`);
  } else {
    const act = k.str('hidden_act', 'silu');
    if (act !== 'silu' && act !== 'swish')
      k.fail(`hidden_act ${JSON.stringify(act)} is not supported (silu is)`);
  }
  const dModel = size('hidden_size');
  const nHeads = size('num_attention_heads');
  const contextLength = k.int('max_position_embeddings', d.context);
  const rope = gemma3
    ? parseGemma3Rope(k, contextLength)
    : {
        ropeTheta: k.num('rope_theta', 10000),
        ropeScaling: parseRopeScaling(k, contextLength),
        ropeLocalTheta: null,
      };
  // Llama and Qwen3 name one flag for the q/k/v and output biases; Qwen2 always has q/k/v biases.
  const sharedBias = (arch === 'llama' || arch === 'qwen3' || gemma) && k.bool('attention_bias', false);
  let slidingWindow: number | null = null;
  if (arch === 'mistral' || gemma) slidingWindow = k.optional('sliding_window', 4096, true);
  if ((arch === 'qwen2' || arch === 'qwen3') && k.bool('use_sliding_window', false))
    slidingWindow = k.optional('sliding_window', 4096, true);
  const nLayers = size('num_hidden_layers');
  // Gemma 3's local layers have their own RoPE base even without a window, so it needs its list
  const slidingLayers = slidingWindow === null && !gemma3 ? null : parseSlidingLayers(k, arch, nLayers);
  // Gemma2Config's defaults: both soft-caps on (50 and 30) unless the key is null; Gemma 3: off.
  // A Gemma 3 config that sets attn_logit_softcapping gets it applied here, although transformers'
  // Gemma3Attention keeps it without passing it to the attention (and llama.cpp's gemma3 has
  // none; GGUF export refuses it): no released Gemma 3 sets it.
  const attnLogitSoftcap = gemma ? k.optional('attn_logit_softcapping', gemma3 ? null : 50, false) : null;
  return {
    arch,
    vocabSize: size('vocab_size'),
    contextLength,
    dModel,
    nLayers,
    nHeads,
    nKvHeads: k.int('num_key_value_heads', d.kvHeads ?? nHeads),
    headDim: k.headDim(dModel, nHeads, 'hidden_size', gemma3 ? GEMMA3_SIZES.head_dim : undefined),
    ffnDim: size('intermediate_size'),
    ffnType: gemma ? 'geglu' : 'swiglu',
    norm: 'rmsnorm',
    normEps: k.num('rms_norm_eps', 1e-6),
    position: 'rope',
    ropeTheta: rope.ropeTheta,
    ropeScaling: rope.ropeScaling,
    qkNorm: arch === 'qwen3' || gemma3,
    scaleEmbeddings: gemma,
    sandwichNorm: gemma,
    normUnitOffset: gemma,
    queryScale: gemma ? k.num('query_pre_attn_scalar', 256) : null,
    finalLogitSoftcap: gemma ? k.optional('final_logit_softcapping', gemma3 ? null : 30, false) : null,
    attnBias: sharedBias,
    qkvBias: arch === 'qwen2' || sharedBias,
    mlpBias: arch === 'llama' && k.bool('mlp_bias', false),
    tiedEmbeddings: k.bool('tie_word_embeddings', gemma),
    typeVocabSize: 0,
    bosTokenId: k.tokenId('bos_token_id', d.bos),
    eosTokenId: k.eos(d.eos),
    padTokenId: k.tokenId('pad_token_id', gemma3 ? 0 : null),
    dropout: k.num('attention_dropout', 0),
    initStd: k.num('initializer_range', 0.02),
    slidingWindow,
    // Only when they say something, so a config without them compares equal to the presets.
    ...(slidingLayers ? { slidingLayers } : {}),
    ...(attnLogitSoftcap !== null ? { attnLogitSoftcap } : {}),
    ...(rope.ropeLocalTheta !== null ? { ropeLocalTheta: rope.ropeLocalTheta } : {}),
    torchDtype: k.torchDtype(),
  };
}

/**
 * Which layers slide (ModelConfig.slidingLayers): `layer_types` when the config lists it (Qwen2,
 * Qwen3, Gemma 2 in transformers >= 4.53), else for Qwen2/Qwen3 the layers from max_window_layers
 * on (Qwen2Config's default 28: "the first max_window_layers layers use full attention"). Null
 * when that is the family's own pattern (isSlidingLayer), which needs no list.
 */
function parseSlidingLayers(k: Keys, arch: LlamaFamily, nLayers: number): boolean[] | null {
  let layers: boolean[] | null = null;
  const types = k.json.layer_types;
  if (types !== undefined && types !== null && arch !== 'mistral' && arch !== 'llama') {
    if (
      !Array.isArray(types) ||
      types.length !== nLayers ||
      !types.every((t) => t === 'sliding_attention' || t === 'full_attention')
    )
      k.fail(
        `layer_types must list "sliding_attention" or "full_attention" for each of the ${nLayers} layers`,
      );
    layers = types.map((t) => t === 'sliding_attention');
  } else if (arch === 'qwen2' || arch === 'qwen3') {
    const from = k.int('max_window_layers', 28);
    layers = Array.from({ length: nLayers }, (_, i) => i >= from);
  } else if (arch === 'gemma3') {
    // Gemma3TextConfig: layer i slides iff (i + 1) % sliding_window_pattern != 0
    const period = k.int('sliding_window_pattern', GEMMA3_PATTERN);
    if (period < 1) k.fail('sliding_window_pattern must be a positive integer, got 0');
    layers = Array.from({ length: nLayers }, (_, i) => (i + 1) % period !== 0);
  }
  if (layers?.every((slides, i) => slides === isSlidingLayer({ arch }, i))) return null;
  return layers;
}

function parseBert(k: Keys): ModelConfig {
  const posType = k.str('position_embedding_type', 'absolute');
  if (posType !== 'absolute') k.fail(`position_embedding_type ${JSON.stringify(posType)} is not supported`);
  const dModel = k.int('hidden_size');
  const nHeads = k.int('num_attention_heads');
  return {
    arch: 'bert',
    vocabSize: k.int('vocab_size'),
    contextLength: k.int('max_position_embeddings', 512),
    dModel,
    nLayers: k.int('num_hidden_layers'),
    nHeads,
    nKvHeads: nHeads,
    headDim: k.headDim(dModel, nHeads, 'hidden_size'),
    ffnDim: k.int('intermediate_size'),
    ffnType: geluType(k, 'hidden_act', 'gelu'),
    norm: 'layernorm',
    normEps: k.num('layer_norm_eps', 1e-12),
    position: 'learned',
    ropeTheta: 10000,
    attnBias: true,
    qkvBias: true,
    mlpBias: true,
    tiedEmbeddings: k.bool('tie_word_embeddings', true),
    typeVocabSize: k.int('type_vocab_size', 2),
    bosTokenId: k.tokenId('bos_token_id', null),
    eosTokenId: k.eos(null),
    padTokenId: k.tokenId('pad_token_id', 0),
    dropout: k.num('hidden_dropout_prob', 0.1),
    initStd: k.num('initializer_range', 0.02),
    slidingWindow: null,
    torchDtype: k.torchDtype(),
    ropeScaling: null,
    qkNorm: false,
    scaleEmbeddings: false,
    sandwichNorm: false,
    normUnitOffset: false,
    queryScale: null,
    finalLogitSoftcap: null,
  };
}

/**
 * Parses a Hugging Face config (already JSON-parsed) into a `ModelConfig`. `file` names the
 * source in error messages.
 */
export function parseHfConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (!isJsonObject(json)) throw new Error(`${file}: config must be a JSON object`);
  if (json.model_type === 'gemma3')
    return parseHfConfig(gemma3TextConfig(json, file), `${file} (text_config)`);
  const k = new Keys(json, file);
  const mt = json.model_type === 'gemma3_text' ? 'gemma3' : json.model_type;
  if (typeof mt !== 'string' || !(ARCHS as readonly string[]).includes(mt)) {
    const names = ARCHS.map((a) => (a === 'gemma3' ? 'gemma3_text, gemma3 (text only)' : a));
    k.fail(`model_type ${JSON.stringify(mt ?? null)} is not supported (supported: ${names.join(', ')})`);
  }
  const arch = mt as Arch;
  const c = arch === 'gpt2' ? parseGpt2(k) : arch === 'bert' ? parseBert(k) : parseLlamaFamily(k, arch);
  checkModelConfig(c, file);
  return c;
}

/**
 * The text model's config of a multimodal Gemma 3 (Gemma3ForConditionalGeneration, model_type
 * "gemma3"): its `text_config`, with the token ids, dtype and tying of the outer config where
 * the text config leaves them out (Google's files put eos_token_id [1, 106] outside). The vision
 * tower is not part of what xfmr loads (models/load.ts says so when its weights are present).
 */
export function gemma3TextConfig(json: JsonObject, file = 'config.json'): JsonObject {
  const text = json.text_config;
  if (!isJsonObject(text))
    throw new Error(`${file}: model_type "gemma3" needs a text_config object (the language model's config)`);
  if (text.model_type !== undefined && text.model_type !== 'gemma3_text')
    throw new Error(
      `${file}: text_config.model_type ${JSON.stringify(text.model_type)} is not "gemma3_text"`,
    );
  const out: JsonObject = { ...text, model_type: 'gemma3_text' };
  for (const key of [
    'bos_token_id',
    'eos_token_id',
    'pad_token_id',
    'torch_dtype',
    'dtype',
    'tie_word_embeddings',
  ])
    if (out[key] === undefined && json[key] !== undefined) out[key] = json[key];
  return out;
}

/** Reads and parses `config.json`. */
export function readHfConfig(path: string): { hfConfig: JsonObject; config: ModelConfig } {
  const json = readJsonFile(path);
  if (!isJsonObject(json)) throw new Error(`${path}: config must be a JSON object`);
  return { hfConfig: json, config: parseHfConfig(json, path) };
}

const ARCHITECTURES: Record<Arch, string> = {
  gpt2: 'GPT2LMHeadModel',
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  gemma2: 'Gemma2ForCausalLM',
  gemma3: 'Gemma3ForCausalLM',
  mistral: 'MistralForCausalLM',
  bert: 'BertModel',
};

function dropUndefined(o: Record<string, JsonValue | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * The inverse of `parseHfConfig`: a config.json object that `transformers` loads as the same
 * model. Throws when the family's config cannot express `c` (e.g. GQA in GPT-2, no biases in
 * BERT, MLP biases in Qwen2), naming the field.
 */
export function toHfConfig(c: ModelConfig): JsonObject {
  const where = `config for ${c.arch}`;
  checkModelConfig(c, where);
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`${where}: ${c.arch} config.json cannot express ${what}`);
  };
  const common = {
    architectures: [ARCHITECTURES[c.arch]],
    model_type: c.arch,
    vocab_size: c.vocabSize,
    initializer_range: c.initStd,
    tie_word_embeddings: c.tiedEmbeddings,
    bos_token_id: c.bosTokenId ?? undefined,
    eos_token_id: c.eosTokenId ?? undefined,
    pad_token_id: c.padTokenId ?? undefined,
    torch_dtype: c.torchDtype ?? undefined,
  };
  if (c.arch === 'gpt2') {
    need(c.nKvHeads === c.nHeads, `nKvHeads ${c.nKvHeads} != nHeads ${c.nHeads}`);
    need(c.headDim * c.nHeads === c.dModel, `headDim ${c.headDim} != dModel / nHeads`);
    need(c.norm === 'layernorm' && c.position === 'learned', `${c.norm} with ${c.position} positions`);
    need(c.ffnType !== 'swiglu', 'a swiglu MLP');
    need(c.attnBias && c.qkvBias && c.mlpBias, 'linear layers without biases');
    need(c.slidingWindow === null && c.attnLogitSoftcap == null, 'a sliding window or an attention soft-cap');
    return dropUndefined({
      ...common,
      n_positions: c.contextLength,
      n_ctx: c.contextLength,
      n_embd: c.dModel,
      n_layer: c.nLayers,
      n_head: c.nHeads,
      n_inner: c.ffnDim,
      activation_function: c.ffnType === 'gelu' ? 'gelu' : 'gelu_new',
      layer_norm_epsilon: c.normEps,
      resid_pdrop: c.dropout,
      embd_pdrop: c.dropout,
      attn_pdrop: c.dropout,
    });
  }
  if (c.arch === 'bert') {
    need(c.norm === 'layernorm' && c.position === 'learned', `${c.norm} with ${c.position} positions`);
    need(c.nKvHeads === c.nHeads, `nKvHeads ${c.nKvHeads} != nHeads ${c.nHeads}`);
    need(c.headDim * c.nHeads === c.dModel, `headDim ${c.headDim} != dModel / nHeads`);
    need(c.ffnType !== 'swiglu', 'a swiglu MLP');
    need(c.attnBias && c.qkvBias && c.mlpBias, 'linear layers without biases');
    return dropUndefined({
      ...common,
      hidden_size: c.dModel,
      num_hidden_layers: c.nLayers,
      num_attention_heads: c.nHeads,
      intermediate_size: c.ffnDim,
      hidden_act: c.ffnType === 'gelu' ? 'gelu' : 'gelu_new',
      max_position_embeddings: c.contextLength,
      type_vocab_size: c.typeVocabSize,
      layer_norm_eps: c.normEps,
      hidden_dropout_prob: c.dropout,
      attention_probs_dropout_prob: c.dropout,
      position_embedding_type: 'absolute',
    });
  }
  const gemma3 = c.arch === 'gemma3';
  const gemma = c.arch === 'gemma2' || gemma3;
  need(
    c.ffnType === (gemma ? 'geglu' : 'swiglu') && c.norm === 'rmsnorm' && c.position === 'rope',
    `a ${c.ffnType} ${c.norm} block with ${c.position} positions`,
  );
  for (const [flag, what] of [
    [c.scaleEmbeddings, 'embeddings scaled by sqrt(d)'],
    [c.sandwichNorm, 'sandwich norms'],
    [c.normUnitOffset, 'RMSNorm weights stored as offsets from 1'],
  ] as const)
    need(flag === gemma, `${flag ? '' : 'no '}${what}`);
  if (!gemma)
    need(c.queryScale === null && c.finalLogitSoftcap === null, 'query_pre_attn_scalar or a logit soft-cap');
  if (c.arch === 'llama' || c.arch === 'qwen3' || gemma)
    need(c.qkvBias === c.attnBias, 'q/k/v biases without an output bias (or the reverse)');
  need(Boolean(c.qkNorm) === (c.arch === 'qwen3' || gemma3), `${c.qkNorm ? 'with' : 'without'} q/k norms`);
  // Gemma 3's local layers: their own base, unscaled; without one, every layer rotates alike
  if (!gemma3) need(c.ropeLocalTheta == null, 'a separate RoPE base for the local layers');
  else need(c.ropeLocalTheta != null || !c.ropeScaling, 'RoPE scaling on the local layers');
  if (c.arch === 'qwen2') need(c.qkvBias && !c.attnBias && !c.mlpBias, 'biases other than on q, k, v');
  if (c.arch === 'mistral') need(!c.qkvBias && !c.attnBias && !c.mlpBias, 'biases');
  if (!gemma) need(c.attnLogitSoftcap == null, 'an attention soft-cap');
  // The sliding layers, in the family's own keys (older transformers ignore layer_types).
  const qwen = c.arch === 'qwen2' || c.arch === 'qwen3';
  const sliding = Array.from({ length: c.nLayers }, (_, i) => isSlidingLayer(c, i));
  const firstSliding = sliding.includes(true) ? sliding.indexOf(true) : c.nLayers;
  if (c.slidingWindow !== null) {
    need(c.arch !== 'llama', 'a sliding window');
    const rule: Record<string, (i: number) => boolean> = {
      mistral: () => true,
      gemma2: (i) => i % 2 === 0,
      gemma3: (i) => sliding[i]!, // any list: layer_types below
      qwen2: (i) => i >= firstSliding,
      qwen3: (i) => i >= firstSliding,
    };
    need(
      sliding.every((slides, i) => slides === rule[c.arch]?.(i)),
      `sliding-window layers [${sliding.flatMap((x, i) => (x ? [i] : []))}]`,
    );
  }
  // Gemma 3: layer_types always (transformers >= 4.53), and the period for older versions when
  // the layers follow one ((i + 1) % p == 0 global); a list without one needs transformers >= 4.53
  const period = Array.from({ length: c.nLayers + 1 }, (_, p) => p + 1).find((p) =>
    sliding.every((slides, i) => slides === ((i + 1) % p !== 0)),
  );
  return dropUndefined({
    ...common,
    model_type: gemma3 ? 'gemma3_text' : c.arch,
    hidden_size: c.dModel,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    hidden_act: gemma ? undefined : 'silu',
    hidden_activation: gemma ? 'gelu_pytorch_tanh' : undefined,
    query_pre_attn_scalar: gemma ? (c.queryScale ?? c.headDim) : undefined,
    final_logit_softcapping: gemma ? c.finalLogitSoftcap : undefined,
    attn_logit_softcapping: gemma ? (c.attnLogitSoftcap ?? null) : undefined,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: ropeScalingJson(c.ropeScaling),
    rope_local_base_freq: gemma3 ? (c.ropeLocalTheta ?? c.ropeTheta) : undefined,
    sliding_window_pattern: gemma3 ? period : undefined,
    layer_types: gemma3 ? sliding.map((x) => (x ? 'sliding_attention' : 'full_attention')) : undefined,
    attention_dropout: c.dropout,
    attention_bias: c.arch === 'llama' || c.arch === 'qwen3' || gemma ? c.attnBias : undefined,
    mlp_bias: c.arch === 'llama' ? c.mlpBias : undefined,
    sliding_window: c.arch === 'mistral' || qwen || gemma ? c.slidingWindow : undefined,
    use_sliding_window: qwen ? c.slidingWindow !== null : undefined,
    max_window_layers: qwen ? (c.slidingWindow === null ? c.nLayers : firstSliding) : undefined,
  });
}
