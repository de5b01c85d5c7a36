/**
 * Hugging Face config.json <-> ModelConfig for each supported family, with the defaults
 * transformers applies (missing head_dim, n_inner null, eos as a list) and refusals that name
 * the file and key. Gemma 3 in its three spellings: gemma3_text (1B), the multimodal gemma3
 * wrapper whose text_config leaves out what equals Gemma3TextConfig's defaults (4B), and
 * transformers 5's rope_parameters.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseHfConfig, readHfConfig, toHfConfig } from '../../src/io/hf_config.ts';
import { layerRope, layerWindow, type ModelConfig } from '../../src/models/config.ts';
import { tempDir, tinyBert, tinyGpt2, tinyLlama } from './helpers.ts';

// config.json of openai-community/gpt2 (abridged to the keys that matter)
const GPT2 = {
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_inner: null,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  vocab_size: 50257,
};

// TinyLlama-1.1B style: GQA, no head_dim
const LLAMA = {
  architectures: ['LlamaForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 32000,
};

// Qwen2-0.5B style: tied, q/k/v biases (implicit), big theta
const QWEN2 = {
  architectures: ['Qwen2ForCausalLM'],
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 131072,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

// Mistral-Nemo style: explicit head_dim different from hidden / heads
const MISTRAL = {
  architectures: ['MistralForCausalLM'],
  head_dim: 128,
  hidden_size: 5120,
  intermediate_size: 14336,
  max_position_embeddings: 1024000,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 40,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  vocab_size: 131072,
};

// bert-base-uncased
const BERT = {
  architectures: ['BertForMaskedLM'],
  attention_probs_dropout_prob: 0.1,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: 'bert',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  type_vocab_size: 2,
  vocab_size: 30522,
};

describe('parseHfConfig', () => {
  test('gpt2', () => {
    const c = parseHfConfig(GPT2);
    assert.deepEqual(c, {
      arch: 'gpt2',
      vocabSize: 50257,
      contextLength: 1024,
      dModel: 768,
      nLayers: 12,
      nHeads: 12,
      nKvHeads: 12,
      headDim: 64,
      ffnDim: 3072, // n_inner null -> 4 * n_embd
      ffnType: 'gelu_tanh',
      norm: 'layernorm',
      normEps: 1e-5,
      position: 'learned',
      ropeTheta: 10000,
      attnBias: true,
      qkvBias: true,
      mlpBias: true,
      tiedEmbeddings: true,
      typeVocabSize: 0,
      bosTokenId: 50256,
      eosTokenId: 50256,
      padTokenId: null,
      dropout: 0.1,
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
    } satisfies ModelConfig);
    assert.equal(parseHfConfig({ ...GPT2, activation_function: 'gelu' }).ffnType, 'gelu');
    assert.equal(parseHfConfig({ ...GPT2, n_inner: 1000 }).ffnDim, 1000);
  });

  test('llama: GQA, head_dim defaults to hidden_size / heads', () => {
    const c = parseHfConfig(LLAMA);
    assert.equal(c.arch, 'llama');
    assert.equal(c.nKvHeads, 4);
    assert.equal(c.headDim, 64);
    assert.equal(c.ffnType, 'swiglu');
    assert.equal(c.norm, 'rmsnorm');
    assert.equal(c.position, 'rope');
    assert.equal(c.normEps, 1e-5);
    assert.equal(c.tiedEmbeddings, false);
    assert.equal(c.torchDtype, 'bfloat16');
    assert.deepEqual([c.attnBias, c.qkvBias, c.mlpBias], [false, false, false]);
    // num_key_value_heads absent -> MHA; attention_bias -> q/k/v/o biases
    const mha = parseHfConfig({
      ...LLAMA,
      num_key_value_heads: undefined,
      attention_bias: true,
      mlp_bias: true,
    });
    assert.equal(mha.nKvHeads, 32);
    assert.deepEqual([mha.attnBias, mha.qkvBias, mha.mlpBias], [true, true, true]);
  });

  test('rope_scaling: llama3 (Llama 3.2), yarn (Qwen2.5 long context) and linear', () => {
    const llama3 = {
      ...LLAMA,
      max_position_embeddings: 131072,
      rope_theta: 500000,
      rope_scaling: {
        factor: 32,
        high_freq_factor: 4,
        low_freq_factor: 1,
        original_max_position_embeddings: 8192,
        rope_type: 'llama3',
      },
    };
    assert.deepEqual(parseHfConfig(llama3).ropeScaling, {
      type: 'llama3',
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalContext: 8192,
    });
    // yarn with its defaults (beta 32 / 1, attention factor 0.1 ln(factor) + 1), older `type` key
    const yarn = parseHfConfig({
      ...QWEN2,
      rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 },
    }).ropeScaling;
    assert.deepEqual(yarn, {
      type: 'yarn',
      factor: 4,
      originalContext: 32768,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: 0.1 * Math.log(4) + 1,
    });
    const linear = { ...LLAMA, rope_scaling: { type: 'linear', factor: 2 } };
    assert.deepEqual(parseHfConfig(linear).ropeScaling, { type: 'linear', factor: 2 });
    for (const json of [llama3, linear]) {
      const c = parseHfConfig(json);
      assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
    }
  });

  test('qwen3: explicit head_dim, per-head q/k norms, attention_bias names both biases', () => {
    const qwen3 = {
      ...QWEN2,
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      hidden_size: 1024,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 128,
      intermediate_size: 3072,
      attention_bias: false,
      max_position_embeddings: 40960,
    };
    const c = parseHfConfig(qwen3);
    assert.equal(c.arch, 'qwen3');
    assert.equal(c.headDim, 128); // q: 16 * 128 = 2048 rows from a 1024-wide stream
    assert.equal(c.qkNorm, true);
    assert.deepEqual([c.attnBias, c.qkvBias, c.mlpBias], [false, false, false]);
    assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
    assert.deepEqual(toHfConfig(c).architectures, ['Qwen3ForCausalLM']);
    assert.equal(parseHfConfig(QWEN2).qkNorm, false);
  });

  test('gemma2: GeGLU, sandwich (1 + w) norms, sqrt(d) embeddings, soft-cap; refuses what is missing', () => {
    const gemma2 = {
      architectures: ['Gemma2ForCausalLM'],
      model_type: 'gemma2',
      vocab_size: 256000,
      hidden_size: 2304,
      intermediate_size: 9216,
      num_hidden_layers: 26,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 256,
      hidden_activation: 'gelu_pytorch_tanh',
      max_position_embeddings: 4096,
      query_pre_attn_scalar: 256,
      sliding_window: 4096,
      final_logit_softcapping: 30.0,
      attn_logit_softcapping: null,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      bos_token_id: 2,
      eos_token_id: 1,
      pad_token_id: 0,
    };
    const c = parseHfConfig(gemma2);
    assert.equal(c.arch, 'gemma2');
    assert.equal(c.ffnType, 'geglu');
    assert.deepEqual(
      [c.scaleEmbeddings, c.sandwichNorm, c.normUnitOffset, c.tiedEmbeddings],
      [true, true, true, true],
    );
    assert.equal(c.queryScale, 256);
    assert.equal(c.finalLogitSoftcap, 30);
    assert.equal(c.attnLogitSoftcap, undefined); // null in the file: no cap
    assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
    // Attention soft-cap and the alternating window: even layers slide (Gemma2DecoderLayer's
    // is_sliding = not layer_idx % 2).
    const capped = parseHfConfig({ ...gemma2, attn_logit_softcapping: 50 });
    assert.equal(capped.attnLogitSoftcap, 50);
    assert.equal(capped.slidingWindow, 4096);
    assert.deepEqual(
      [0, 1, 2, 25].map((i) => layerWindow(capped, i)),
      [4096, 0, 4096, 0],
    );
    assert.equal(toHfConfig(capped).attn_logit_softcapping, 50);
    assert.deepEqual(parseHfConfig(toHfConfig(capped)), capped);
    // Absent keys take Gemma2Config's defaults (caps 50 and 30); null turns them off.
    const defaults = parseHfConfig({
      ...gemma2,
      attn_logit_softcapping: undefined,
      final_logit_softcapping: undefined,
    });
    assert.deepEqual([defaults.attnLogitSoftcap, defaults.finalLogitSoftcap], [50, 30]);
    assert.equal(parseHfConfig({ ...gemma2, final_logit_softcapping: null }).finalLogitSoftcap, null);
    // layer_types (transformers >= 4.53) decides where it is given.
    const types = Array.from({ length: 26 }, (_, i) =>
      i % 3 === 0 ? 'full_attention' : 'sliding_attention',
    );
    const custom = parseHfConfig({ ...gemma2, layer_types: types });
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => layerWindow(custom, i)),
      [0, 4096, 4096, 0],
    );
    assert.throws(
      () => toHfConfig(custom),
      /gemma2 config\.json cannot express sliding-window layers \[1,2,4,5,/,
    );
    const even = types.map((_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
    assert.deepEqual(parseHfConfig({ ...gemma2, layer_types: even }), c); // the default pattern: no list
    assert.throws(
      () => parseHfConfig({ ...gemma2, layer_types: ['sliding_attention'] }, 'g.json'),
      /g\.json: layer_types must list "sliding_attention" or "full_attention" for each of the 26 layers/,
    );
    assert.throws(
      () => parseHfConfig({ ...gemma2, attn_logit_softcapping: -1 }, 'g.json'),
      /g\.json: attn_logit_softcapping must be a positive number or null, got -1/,
    );
    assert.throws(
      () => parseHfConfig({ ...gemma2, hidden_activation: 'silu' }, 'g.json'),
      /g\.json: hidden_activation "silu" is not supported/,
    );
  });

  // google/gemma-3-1b-it's config.json (abridged)
  const GEMMA3_1B = {
    architectures: ['Gemma3ForCausalLM'],
    model_type: 'gemma3_text',
    attention_bias: false,
    attn_logit_softcapping: null,
    bos_token_id: 2,
    eos_token_id: [1, 106],
    final_logit_softcapping: null,
    head_dim: 256,
    hidden_activation: 'gelu_pytorch_tanh',
    hidden_size: 1152,
    intermediate_size: 6912,
    max_position_embeddings: 32768,
    num_attention_heads: 4,
    num_hidden_layers: 26,
    num_key_value_heads: 1,
    pad_token_id: 0,
    query_pre_attn_scalar: 256,
    rms_norm_eps: 1e-6,
    rope_local_base_freq: 10000,
    rope_scaling: null,
    rope_theta: 1000000,
    sliding_window: 512,
    sliding_window_pattern: 6,
    torch_dtype: 'bfloat16',
    vocab_size: 262144,
  };
  // google/gemma-3-4b-it's config.json (abridged): the text model's sizes left at their defaults
  const GEMMA3_4B = {
    architectures: ['Gemma3ForConditionalGeneration'],
    model_type: 'gemma3',
    eos_token_id: [1, 106],
    torch_dtype: 'bfloat16',
    text_config: {
      hidden_size: 2560,
      intermediate_size: 10240,
      model_type: 'gemma3_text',
      num_hidden_layers: 34,
      rope_scaling: { factor: 8.0, rope_type: 'linear' },
      sliding_window: 1024,
    },
    vision_config: { model_type: 'siglip_vision_model', hidden_size: 1152, num_hidden_layers: 27 },
  };

  test('gemma3_text: q/k norms, five local layers per global one, two RoPE bases, no caps', () => {
    const c = parseHfConfig(GEMMA3_1B);
    assert.equal(c.arch, 'gemma3');
    assert.deepEqual(
      [c.qkNorm, c.scaleEmbeddings, c.sandwichNorm, c.normUnitOffset, c.tiedEmbeddings],
      [true, true, true, true, true],
    );
    assert.deepEqual([c.dModel, c.nHeads, c.nKvHeads, c.headDim, c.vocabSize], [1152, 4, 1, 256, 262144]);
    assert.deepEqual([c.queryScale, c.finalLogitSoftcap, c.attnLogitSoftcap], [256, null, undefined]);
    assert.deepEqual(c.eosTokenId, [1, 106]);
    // layer i is global iff (i + 1) % 6 == 0
    assert.deepEqual(
      [0, 4, 5, 6, 11, 25].map((i) => layerWindow(c, i)),
      [512, 512, 0, 512, 0, 512],
    );
    assert.deepEqual(
      [0, 5].map((i) => layerRope(c, i).theta),
      [10000, 1000000],
    );
    const hf = toHfConfig(c);
    assert.deepEqual(
      [hf.model_type, hf.architectures, hf.sliding_window_pattern, hf.rope_local_base_freq],
      ['gemma3_text', ['Gemma3ForCausalLM'], 6, 10000],
    );
    assert.deepEqual(parseHfConfig(hf), c);
    // another period, or layer_types (transformers >= 4.53), decide where given
    const p2 = parseHfConfig({ ...GEMMA3_1B, sliding_window_pattern: 2 });
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => layerWindow(p2, i)),
      [512, 0, 512, 0],
    );
    assert.deepEqual(parseHfConfig(toHfConfig(p2)), p2);
    const types = Array.from({ length: 26 }, (_, i) =>
      i === 3 || i === 7 ? 'full_attention' : 'sliding_attention',
    );
    const listed = parseHfConfig({ ...GEMMA3_1B, layer_types: types });
    assert.deepEqual(
      listed.slidingLayers?.flatMap((s, i) => (s ? [] : [i])),
      [3, 7],
    );
    assert.equal(layerRope(listed, 5).theta, 10000); // local in this list: the local base
    const back = toHfConfig(listed);
    assert.equal(back.sliding_window_pattern, undefined); // no period describes [3, 7]
    assert.deepEqual(parseHfConfig(back), listed);
    // refusals name the file and key
    assert.throws(
      () => parseHfConfig({ ...GEMMA3_1B, use_bidirectional_attention: true }, 'g3.json'),
      /g3\.json: use_bidirectional_attention \(EmbeddingGemma\) is not supported/,
    );
    assert.throws(
      () => parseHfConfig({ ...GEMMA3_1B, sliding_window_pattern: 0 }, 'g3.json'),
      /g3\.json: sliding_window_pattern must be a positive integer/,
    );
  });

  test('gemma3 (multimodal): the text_config, with Gemma3TextConfig defaults and linear scaling of the global layers', () => {
    const c = parseHfConfig(GEMMA3_4B);
    assert.equal(c.arch, 'gemma3');
    // head_dim 256 by default, not hidden_size / heads = 320
    assert.deepEqual(
      [c.vocabSize, c.dModel, c.nLayers, c.nHeads, c.nKvHeads, c.headDim, c.ffnDim],
      [262208, 2560, 34, 8, 4, 256, 10240],
    );
    assert.deepEqual([c.contextLength, c.queryScale, c.slidingWindow], [131072, 256, 1024]);
    assert.deepEqual(c.eosTokenId, [1, 106]); // from the outer config
    assert.equal(c.torchDtype, 'bfloat16');
    assert.deepEqual(c.ropeScaling, { type: 'linear', factor: 8 });
    assert.deepEqual(layerRope(c, 0), { theta: 10000, scaling: null }); // local: unscaled
    assert.deepEqual(layerRope(c, 5), { theta: 1000000, scaling: { type: 'linear', factor: 8 } });
    assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
    // transformers 5 writes the same as rope_parameters per layer type
    const { rope_scaling: _, ...text } = GEMMA3_4B.text_config;
    const v5 = {
      ...GEMMA3_4B,
      text_config: {
        ...text,
        rope_parameters: {
          full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1000000 },
          sliding_attention: { rope_type: 'default', rope_theta: 10000 },
        },
      },
    };
    assert.deepEqual(parseHfConfig(v5), c);
    assert.throws(
      () =>
        parseHfConfig({
          ...v5,
          text_config: {
            ...v5.text_config,
            rope_parameters: {
              ...v5.text_config.rope_parameters,
              sliding_attention: { rope_type: 'linear', factor: 2 },
            },
          },
        }),
      /rope_parameters\.sliding_attention: RoPE scaling of the local layers is not supported/,
    );
    assert.throws(
      () => parseHfConfig({ ...GEMMA3_4B, text_config: undefined }, 'mm.json'),
      /mm\.json: model_type "gemma3" needs a text_config object/,
    );
    assert.throws(
      () =>
        parseHfConfig(
          { ...GEMMA3_4B, text_config: { ...GEMMA3_4B.text_config, model_type: 'llama' } },
          'mm.json',
        ),
      /mm\.json: text_config\.model_type "llama" is not "gemma3_text"/,
    );
    assert.throws(
      () =>
        parseHfConfig(
          { ...GEMMA3_4B, text_config: { ...GEMMA3_4B.text_config, hidden_activation: 'silu' } },
          'mm.json',
        ),
      /mm\.json \(text_config\): hidden_activation "silu" is not supported/,
    );
  });

  test('eos_token_id may be a list (Llama 3)', () => {
    const c = parseHfConfig({ ...LLAMA, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] });
    assert.deepEqual(c.eosTokenId, [128001, 128008, 128009]);
    assert.throws(
      () => parseHfConfig({ ...LLAMA, eos_token_id: [1, 'x'] }, 'cfg.json'),
      /cfg\.json: eos_token_id/,
    );
  });

  test('qwen2: q/k/v biases, tied, sliding window off', () => {
    const c = parseHfConfig(QWEN2);
    assert.deepEqual([c.qkvBias, c.attnBias, c.mlpBias], [true, false, false]);
    assert.equal(c.tiedEmbeddings, true);
    assert.equal(c.headDim, 64);
    assert.equal(c.ropeTheta, 1e6);
    assert.equal(c.slidingWindow, null);
    // With use_sliding_window, the layers from max_window_layers on slide (Qwen2Config: "the first
    // max_window_layers layers use full attention"); here 24 of 24 use full attention.
    const on = { ...QWEN2, use_sliding_window: true, sliding_window: 4096 };
    const none = parseHfConfig(on);
    assert.equal(none.slidingWindow, 4096);
    assert.deepEqual(
      [0, 23].map((i) => layerWindow(none, i)),
      [0, 0],
    );
    const late = parseHfConfig({ ...on, max_window_layers: 20 });
    assert.deepEqual(
      [0, 19, 20, 23].map((i) => layerWindow(late, i)),
      [0, 0, 4096, 4096],
    );
    const all = parseHfConfig({ ...on, max_window_layers: 0 });
    assert.equal(all.slidingLayers, undefined); // every layer: the family default, no list
    for (const c2 of [none, late, all]) assert.deepEqual(parseHfConfig(toHfConfig(c2)), c2);
    assert.equal(toHfConfig(late).max_window_layers, 20);
    assert.equal(toHfConfig(all).max_window_layers, 0);
    // Qwen2Config's default max_window_layers is 28
    const deep = parseHfConfig({ ...on, num_hidden_layers: 30, max_window_layers: undefined });
    assert.deepEqual(
      [27, 28].map((i) => layerWindow(deep, i)),
      [0, 4096],
    );
  });

  test('mistral: explicit head_dim, null sliding window, MistralConfig defaults', () => {
    const c = parseHfConfig(MISTRAL);
    assert.equal(c.headDim, 128);
    assert.equal(c.nHeads * c.headDim, 4096);
    assert.equal(c.slidingWindow, null);
    assert.equal(c.bosTokenId, 1);
    assert.equal(c.eosTokenId, 2);
    const windowed = parseHfConfig({ ...MISTRAL, sliding_window: undefined });
    assert.equal(windowed.slidingWindow, 4096);
    assert.deepEqual(
      [0, 39].map((i) => layerWindow(windowed, i)),
      [4096, 4096],
    ); // every layer
    assert.deepEqual(parseHfConfig(toHfConfig(windowed)), windowed);
    assert.throws(
      () =>
        toHfConfig({
          ...windowed,
          slidingLayers: windowed.slidingLayers ?? [true, ...Array(39).fill(false)],
        }),
      /mistral config\.json cannot express sliding-window layers \[0\]/,
    );
    assert.throws(
      () => toHfConfig({ ...parseHfConfig(LLAMA), slidingWindow: 64 }),
      /llama config\.json cannot express a sliding window/,
    );
    assert.throws(
      () => toHfConfig({ ...windowed, attnLogitSoftcap: 50 }),
      /mistral config\.json cannot express an attention soft-cap/,
    );
    assert.throws(
      () => toHfConfig({ ...tinyGpt2(), slidingWindow: 8 }),
      /gpt2 config\.json cannot express a sliding window or an attention soft-cap/,
    );
    assert.throws(
      () => parseHfConfig({ ...MISTRAL, sliding_window: 0 }, 'm.json'),
      /m\.json: sliding_window must be a positive integer or null, got 0/,
    );
  });

  test('bert', () => {
    const c = parseHfConfig(BERT);
    assert.equal(c.arch, 'bert');
    assert.equal(c.typeVocabSize, 2);
    assert.equal(c.normEps, 1e-12);
    assert.equal(c.ffnType, 'gelu');
    assert.equal(c.contextLength, 512);
    assert.equal(c.padTokenId, 0);
    assert.equal(c.eosTokenId, null);
  });

  test('refusals name the file and the key', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...GPT2, model_type: 't5' }, /m\.json: model_type "t5" is not supported/],
      [{ vocab_size: 3 }, /m\.json: model_type null is not supported/],
      [{ ...LLAMA, hidden_size: undefined }, /m\.json: missing hidden_size/],
      [{ ...LLAMA, num_attention_heads: 'x' }, /m\.json: num_attention_heads must be a non-negative integer/],
      [
        { ...LLAMA, rope_scaling: { rope_type: 'dynamic', factor: 8 } },
        /m\.json: rope_scaling .* is not supported \(linear, llama3 and yarn are\)/,
      ],
      [
        { ...LLAMA, rope_scaling: { rope_type: 'llama3', factor: 8 } },
        /m\.json: rope_scaling\.low_freq_factor must be a number, got null/,
      ],
      [
        { ...LLAMA, rope_scaling: { rope_type: 'yarn', factor: 4, mscale: 0.7 } },
        /m\.json: rope_scaling\.mscale is not supported for yarn scaling/,
      ],
      [{ ...LLAMA, rope_scaling: 'yarn' }, /m\.json: rope_scaling must be an object or null/],
      [{ ...LLAMA, hidden_act: 'gelu' }, /m\.json: hidden_act "gelu" is not supported/],
      [{ ...LLAMA, num_key_value_heads: 5 }, /m\.json: nHeads \(32\) must be a multiple of nKvHeads \(5\)/],
      [{ ...GPT2, activation_function: 'relu' }, /m\.json: activation_function "relu"/],
      [{ ...BERT, position_embedding_type: 'relative_key' }, /m\.json: position_embedding_type/],
      [{ ...GPT2, n_embd: 770 }, /m\.json: n_embd \(770\) is not divisible/],
      [[1, 2], /m\.json: config must be a JSON object/],
    ];
    for (const [json, re] of cases) assert.throws(() => parseHfConfig(json, 'm.json'), re);
    // rope_scaling of type "default" is the same as none
    assert.equal(parseHfConfig({ ...LLAMA, rope_scaling: { rope_type: 'default' } }).arch, 'llama');
  });

  test('readHfConfig names the file on bad JSON', () => {
    const dir = tempDir();
    const p = join(dir, 'config.json');
    writeFileSync(p, '{"model_type": ');
    assert.throws(
      () => readHfConfig(p),
      (e: Error) => e.message.startsWith(`${p}: invalid JSON`),
    );
    writeFileSync(p, JSON.stringify(QWEN2));
    assert.equal(readHfConfig(p).config.arch, 'qwen2');
  });
});

describe('toHfConfig', () => {
  test('round trip for every family', () => {
    for (const json of [
      GPT2,
      LLAMA,
      QWEN2,
      MISTRAL,
      BERT,
      { ...LLAMA, attention_bias: true, mlp_bias: true },
    ]) {
      const c = parseHfConfig(json);
      const back = toHfConfig(c);
      assert.deepEqual(parseHfConfig(back), c, json.model_type);
      assert.equal(back.model_type, json.model_type);
    }
    for (const c of [tinyGpt2(), tinyLlama(), tinyBert(), tinyLlama({ arch: 'qwen2', qkvBias: true })]) {
      assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
    }
  });

  test('writes the keys transformers uses', () => {
    const g = toHfConfig(parseHfConfig(GPT2));
    for (const k of [
      'n_embd',
      'n_layer',
      'n_head',
      'n_positions',
      'n_inner',
      'layer_norm_epsilon',
      'activation_function',
    ]) {
      assert.ok(k in g, k);
    }
    assert.deepEqual(g.architectures, ['GPT2LMHeadModel']);
    const l = toHfConfig(parseHfConfig(LLAMA));
    for (const k of [
      'hidden_size',
      'num_hidden_layers',
      'num_attention_heads',
      'num_key_value_heads',
      'intermediate_size',
      'rms_norm_eps',
      'rope_theta',
      'max_position_embeddings',
      'tie_word_embeddings',
      'head_dim',
      'hidden_act',
    ]) {
      assert.ok(k in l, k);
    }
    assert.equal(l.hidden_act, 'silu');
  });

  test('refuses what a family cannot express', () => {
    assert.throws(() => toHfConfig(tinyGpt2({ nKvHeads: 2 })), /gpt2 config\.json cannot express nKvHeads 2/);
    assert.throws(
      () => toHfConfig(tinyLlama({ arch: 'qwen2', qkvBias: false })),
      /qwen2 config\.json cannot express/,
    );
    assert.throws(
      () => toHfConfig(tinyLlama({ arch: 'mistral', mlpBias: true })),
      /mistral config\.json cannot express biases/,
    );
    assert.throws(
      () => toHfConfig(tinyBert({ norm: 'rmsnorm' })),
      /bert config\.json cannot express rmsnorm/,
    );
  });
});
