/**
 * HF <-> canonical weight names: round trips per family, GPT-2's Conv1D transposes and fused
 * c_attn split checked element by element, the accepted spellings (prefixes, TF-era names),
 * ignored buffers, and errors naming the file, tensor and expected shape.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NamedTensor, TensorMap } from '../../src/io/tensors.ts';
import { canonicalShapes, fromHf, isVisionTensor, toHf } from '../../src/io/weight_names.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { randomCanonical, randomF32, rng, sameTensors, tinyBert, tinyGpt2, tinyLlama } from './helpers.ts';

function rename(m: TensorMap, f: (n: string) => string): TensorMap {
  return new Map([...m].map(([k, t]) => [f(k), { ...t, name: f(k) }]));
}

const at = (t: NamedTensor, r: number, c: number) => (t.data as Float32Array)[r * t.shape[1]! + c]!;

describe('GPT-2', () => {
  const c = tinyGpt2();
  const D = c.dModel;
  const canon = randomCanonical(c, 7);
  const hf = toHf(c, canon);

  test('names as GPT2LMHeadModel saves them; no lm_head when tied', () => {
    assert.ok(hf.has('transformer.wte.weight'));
    assert.ok(hf.has('transformer.h.1.attn.c_attn.weight'));
    assert.ok(hf.has('transformer.ln_f.bias'));
    assert.ok(!hf.has('lm_head.weight'));
    assert.equal(hf.size, 2 + c.nLayers * 12 + 2);
  });

  test('Conv1D weights are [in, out] and c_attn fuses q, k, v', () => {
    const cAttn = hf.get('transformer.h.0.attn.c_attn.weight')!;
    assert.deepEqual(cAttn.shape, [D, 3 * D]);
    const wq = canon.get('layers.0.attention.wq.weight')!;
    const wk = canon.get('layers.0.attention.wk.weight')!;
    const wv = canon.get('layers.0.attention.wv.weight')!;
    for (const [i, j] of [
      [0, 0],
      [3, 5],
      [D - 1, D - 2],
    ] as const) {
      // HF: y[j] = sum_i x[i] * W[i, j]; canonical Linear: y[j] = sum_i W[j, i] * x[i]
      assert.equal(at(cAttn, i, j), at(wq, j, i));
      assert.equal(at(cAttn, i, D + j), at(wk, j, i));
      assert.equal(at(cAttn, i, 2 * D + j), at(wv, j, i));
    }
    const bias = hf.get('transformer.h.0.attn.c_attn.bias')!.data as Float32Array;
    assert.equal(bias[D + 3], (canon.get('layers.0.attention.wk.bias')!.data as Float32Array)[3]);
    const fc = hf.get('transformer.h.0.mlp.c_fc.weight')!;
    assert.deepEqual(fc.shape, [D, c.ffnDim]);
    assert.equal(at(fc, 2, 9), at(canon.get('layers.0.feed_forward.w1.weight')!, 9, 2));
    assert.deepEqual(hf.get('transformer.h.0.mlp.c_proj.weight')!.shape, [c.ffnDim, D]);
  });

  test('round trip, with and without the transformer. prefix, ignoring attn.bias buffers', () => {
    assert.ok(sameTensors(fromHf(c, hf), canon));
    const bare = rename(hf, (n) => n.replace(/^transformer\./, ''));
    const next = rng(3);
    bare.set('h.0.attn.bias', randomF32('h.0.attn.bias', [1, 1, 16, 16], next));
    bare.set('h.1.attn.masked_bias', randomF32('h.1.attn.masked_bias', [], next));
    assert.ok(sameTensors(fromHf(c, bare), canon));
  });

  test('untied: lm_head.weight (without prefix) maps to output.weight', () => {
    const u = tinyGpt2({ tiedEmbeddings: false });
    const cu = randomCanonical(u, 2);
    const h = toHf(u, cu);
    assert.ok(h.has('lm_head.weight'));
    assert.ok(sameTensors(fromHf(u, h), cu));
    // a tied model ignores an lm_head.weight that some files carry anyway
    const extra = new Map(hf);
    extra.set('lm_head.weight', randomF32('lm_head.weight', [c.vocabSize, D], rng(1)));
    assert.ok(sameTensors(fromHf(c, extra), canon));
  });

  test('missing, mis-shaped and unexpected tensors name the file, tensor and shape', () => {
    const missing = new Map(hf);
    missing.delete('transformer.h.1.mlp.c_fc.weight');
    assert.throws(
      () => fromHf(c, missing, 'model.safetensors'),
      /model\.safetensors: missing tensor transformer\.h\.1\.mlp\.c_fc\.weight \(expected shape \[32, 48\]/,
    );
    const bad = new Map(hf);
    bad.set('transformer.wpe.weight', randomF32('transformer.wpe.weight', [8, D], rng(1)));
    assert.throws(
      () => fromHf(c, bad, 'model.safetensors'),
      /model\.safetensors: tensor transformer\.wpe\.weight has shape \[8, 32\], expected \[16, 32\]/,
    );
    const extra = new Map(hf);
    extra.set('transformer.h.2.ln_1.weight', randomF32('transformer.h.2.ln_1.weight', [D], rng(1)));
    assert.throws(
      () => fromHf(c, extra, 'm.st'),
      /m\.st: unexpected tensors transformer\.h\.2\.ln_1\.weight/,
    );
    const dup = new Map(hf);
    dup.set('wte.weight', { ...hf.get('transformer.wte.weight')!, name: 'wte.weight' });
    assert.throws(
      () => fromHf(c, dup, 'm.st'),
      /m\.st: tensors transformer\.wte\.weight and wte\.weight are the same weight/,
    );
  });

  test('toHf checks the canonical tensors too', () => {
    const m = new Map(canon);
    m.delete('norm.bias');
    assert.throws(() => toHf(c, m), /missing tensor norm\.bias \(expected shape \[32\]\)/);
    const x = new Map(canon);
    x.set('layers.9.attention_norm.weight', randomF32('layers.9.attention_norm.weight', [D], rng(1)));
    assert.throws(() => toHf(c, x), /unexpected tensor layers\.9\.attention_norm\.weight/);
  });

  test('dtypes are kept (F16 transposes too)', () => {
    const half: TensorMap = new Map(
      [...hf].map(([k, t]) => [
        k,
        { ...t, dtype: 'F16' as const, data: Uint16Array.from(t.data as Float32Array, (_, i) => i & 0xffff) },
      ]),
    );
    const cn = fromHf(c, half);
    const w = cn.get('layers.0.attention.wo.weight')!;
    assert.equal(w.dtype, 'F16');
    assert.ok(sameTensors(toHf(c, cn), half));
  });
});

const GEMMA3 = tinyLlama({
  arch: 'gemma3',
  ffnType: 'geglu',
  qkNorm: true,
  scaleEmbeddings: true,
  sandwichNorm: true,
  normUnitOffset: true,
  tiedEmbeddings: true,
});

describe('Llama family', () => {
  const cases: [string, ModelConfig][] = [
    ['llama GQA untied', tinyLlama()],
    [
      'llama tied with attention_bias and mlp_bias',
      tinyLlama({ tiedEmbeddings: true, attnBias: true, qkvBias: true, mlpBias: true }),
    ],
    ['qwen2', tinyLlama({ arch: 'qwen2', qkvBias: true, tiedEmbeddings: true })],
    ['mistral head_dim != d/h', tinyLlama({ arch: 'mistral', headDim: 16, nHeads: 4, nKvHeads: 1 })],
    [
      'qwen3 q/k norms, head_dim != d/h',
      tinyLlama({ arch: 'qwen3', qkNorm: true, headDim: 16, tiedEmbeddings: true }),
    ],
    [
      'gemma2 sandwich norms',
      tinyLlama({
        arch: 'gemma2',
        ffnType: 'geglu',
        scaleEmbeddings: true,
        sandwichNorm: true,
        normUnitOffset: true,
        tiedEmbeddings: true,
      }),
    ],
    ['gemma3 q/k norms and sandwich norms', GEMMA3],
  ];
  for (const [name, c] of cases) {
    test(`${name}: round trip and HF names`, () => {
      const canon = randomCanonical(c, 5);
      const hf = toHf(c, canon);
      assert.ok(hf.has('model.embed_tokens.weight'));
      assert.ok(hf.has('model.layers.1.self_attn.k_proj.weight'));
      assert.deepEqual(hf.get('model.layers.0.self_attn.q_proj.weight')!.shape, [
        c.nHeads * c.headDim,
        c.dModel,
      ]);
      assert.deepEqual(hf.get('model.layers.0.self_attn.o_proj.weight')!.shape, [
        c.dModel,
        c.nHeads * c.headDim,
      ]);
      assert.deepEqual(hf.get('model.layers.0.self_attn.v_proj.weight')!.shape, [
        c.nKvHeads * c.headDim,
        c.dModel,
      ]);
      assert.equal(hf.has('model.layers.0.self_attn.q_proj.bias'), c.qkvBias);
      assert.equal(hf.has('model.layers.0.self_attn.o_proj.bias'), c.attnBias);
      assert.equal(hf.has('model.layers.0.mlp.up_proj.bias'), c.mlpBias);
      assert.equal(hf.has('lm_head.weight'), !c.tiedEmbeddings);
      assert.equal(
        hf.get('model.layers.1.self_attn.k_norm.weight')?.shape[0],
        c.qkNorm ? c.headDim : undefined,
      );
      // Gemma's post_attention_layernorm is the attention output's norm; Llama's is the MLP input's
      assert.equal(
        hf.get('model.layers.1.post_attention_layernorm.weight')!.data,
        canon.get(`layers.1.${c.sandwichNorm ? 'post_attention_norm' : 'ffn_norm'}.weight`)!.data,
      );
      assert.equal(hf.has('model.layers.1.post_feedforward_layernorm.weight'), c.sandwichNorm);
      assert.equal(
        hf.get('model.layers.1.mlp.gate_proj.weight')!.data,
        canon.get('layers.1.feed_forward.w1.weight')!.data,
      );
      assert.equal(
        hf.get('model.layers.1.mlp.up_proj.weight')!.data,
        canon.get('layers.1.feed_forward.w3.weight')!.data,
      );
      assert.ok(sameTensors(fromHf(c, hf), canon));
    });
  }

  test('gemma3 multimodal checkpoints: the language model under either prefix, the vision tower skipped', () => {
    const canon = randomCanonical(GEMMA3, 6);
    const hf = toHf(GEMMA3, canon);
    const vision: TensorMap = new Map();
    for (const name of [
      'vision_tower.vision_model.embeddings.patch_embedding.weight',
      'multi_modal_projector.mm_input_projection_weight',
    ])
      vision.set(name, { name, shape: [2, 2], dtype: 'F32', data: new Float32Array(4) });
    // transformers < 4.52 (Google's uploads) and >= 4.52 spellings
    const old = new Map([...rename(hf, (n) => `language_model.${n}`), ...vision]);
    const now = new Map([
      ...rename(hf, (n) => n.replace(/^model\./, 'model.language_model.')),
      ...rename(vision, (n) => `model.${n}`),
    ]);
    for (const m of [old, now]) {
      assert.ok(sameTensors(fromHf(GEMMA3, m), canon));
      assert.equal([...m.keys()].filter(isVisionTensor).length, 2);
    }
    assert.ok(!isVisionTensor('model.layers.0.self_attn.q_proj.weight'));
    // only Gemma 3 skips them: elsewhere they are tensors the config does not explain
    const llama = tinyLlama({ tiedEmbeddings: true });
    assert.throws(
      () => fromHf(llama, new Map([...toHf(llama, randomCanonical(llama, 6)), ...vision]), 'mm.safetensors'),
      /mm\.safetensors: unexpected tensors vision_tower\.vision_model/,
    );
  });

  test('names without model. and rotary inv_freq buffers are accepted', () => {
    const c = tinyLlama();
    const canon = randomCanonical(c, 9);
    const hf = rename(toHf(c, canon), (n) => n.replace(/^model\./, ''));
    hf.set(
      'layers.0.self_attn.rotary_emb.inv_freq',
      randomF32('layers.0.self_attn.rotary_emb.inv_freq', [4], rng(1)),
    );
    assert.ok(sameTensors(fromHf(c, hf), canon));
  });

  test('qwen2 without its q bias fails naming the tensor', () => {
    const c = tinyLlama({ arch: 'qwen2', qkvBias: true });
    const hf = toHf(c, randomCanonical(c));
    hf.delete('model.layers.1.self_attn.q_proj.bias');
    assert.throws(
      () => fromHf(c, hf, 'q.st'),
      /q\.st: missing tensor model\.layers\.1\.self_attn\.q_proj\.bias \(expected shape \[32\]/,
    );
  });
});

describe('BERT', () => {
  const c = tinyBert();
  const canon = randomCanonical(c, 11);

  test('round trip, names as BertModel saves them, pooler optional', () => {
    const hf = toHf(c, canon);
    for (const n of [
      'embeddings.word_embeddings.weight',
      'embeddings.position_embeddings.weight',
      'embeddings.token_type_embeddings.weight',
      'embeddings.LayerNorm.weight',
      'encoder.layer.1.attention.self.query.weight',
      'encoder.layer.1.attention.self.value.bias',
      'encoder.layer.1.attention.output.dense.weight',
      'encoder.layer.1.attention.output.LayerNorm.bias',
      'encoder.layer.1.intermediate.dense.weight',
      'encoder.layer.1.output.dense.weight',
      'encoder.layer.1.output.LayerNorm.weight',
      'pooler.dense.weight',
    ]) {
      assert.ok(hf.has(n), n);
    }
    assert.ok(sameTensors(fromHf(c, hf), canon));
    const noPooler = new Map(canon);
    noPooler.delete('pooler.weight');
    noPooler.delete('pooler.bias');
    const h2 = toHf(c, noPooler);
    assert.ok(!h2.has('pooler.dense.weight'));
    assert.ok(sameTensors(fromHf(c, h2), noPooler));
  });

  test('bert. prefix, LayerNorm.gamma/beta, position_ids and cls.* heads', () => {
    const hf = rename(toHf(c, canon), (n) =>
      `bert.${n}`
        .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
        .replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
    );
    hf.set('bert.embeddings.position_ids', {
      name: 'bert.embeddings.position_ids',
      shape: [1, 16],
      dtype: 'I64',
      data: new BigInt64Array(16),
    });
    hf.set('cls.predictions.bias', randomF32('cls.predictions.bias', [c.vocabSize], rng(2)));
    assert.ok(sameTensors(fromHf(c, hf), canon));
    hf.delete('bert.encoder.layer.0.output.LayerNorm.gamma');
    assert.throws(
      () => fromHf(c, hf, 'b.st'),
      /b\.st: missing tensor bert\.encoder\.layer\.0\.output\.LayerNorm\.weight/,
    );
  });
});

test('canonicalShapes lists every tensor once', () => {
  const s = canonicalShapes(tinyLlama());
  assert.deepEqual(s.get('layers.0.attention.wk.weight'), [16, 32]);
  assert.deepEqual(s.get('output.weight'), [11, 32]);
  assert.equal(s.size, 1 + 2 * 9 + 1 + 1);
});
