/**
 * LoRA on GPT-2 (src/models/lora.ts, src/models/load_lora.ts): PEFT's one adapter on the fused
 * c_attn, kept whole and applied to wq, wk, wv through its rows of B.
 *
 * Parity: a tiny random GPT-2 in Hugging Face's layout (d 32, 2 layers, 4 heads, vocab 96; c_attn
 * split by io/weight_names.ts at load) with a PEFT adapter on c_attn, both c_proj and c_fc (r 4,
 * alpha 8, a dense c_attn B) against a float64 PyTorch reference written from PEFT's math
 * (scripts/fixtures/make_gpt2_lora_fixture.py): logits, loss and the gradient of every adapter
 * tensor within 1e-4 of the largest magnitude, on both backends. The script shows the adapters move
 * the logits by 1.5 (relative), a scaling of 1 by 1.1 and c_attn's B rows in k, v, q order by
 * 1.7, so a missing adapter, a wrong scaling or a wrong q/k/v split fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { fromHf } from '../../src/io/weight_names.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadLoraAdapter, readLoraConfig, saveLoraAdapter } from '../../src/models/load_lora.ts';
import { applyLora, fromPeftName, mergeLora, parseLoraSpec, peftName } from '../../src/models/lora.ts';
import { gpt2Config, llamaConfig } from '../../src/models/presets.ts';
import { backward, noGrad, tidy } from '../../src/tensor/index.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';
import { trainOnOneBatch } from './one_batch.ts';
import { relErr } from './rel_err.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const base = readSafetensors(join(FIXTURES, 'gpt2_lora.base.safetensors'));
const CONFIG = gpt2Config(JSON.parse(base.metadata?.config ?? '{}'));
const golden = readSafetensors(join(FIXTURES, 'gpt2_lora.golden.safetensors')).tensors;
const g = (n: string) => golden.get(n)?.data as Float32Array;
const tmp = mkdtempSync(join(tmpdir(), 'xfmr-lora-gpt2-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture base, loaded from its Hugging Face tensors (Conv1D transposed, c_attn split). */
function fixtureModel(): DecoderLM {
  const canon = fromHf(CONFIG, base.tensors, 'gpt2_lora.base.safetensors');
  const m = new DecoderLM(CONFIG, 0);
  m.loadStateDict(new Map([...canon].map(([n, t]) => [n, t.data as Float32Array])), 'gpt2_lora.base');
  return m;
}

/** The fixture adapter as PEFT writes it for GPT-2 (fan_in_fan_out, bare target names). */
const ADAPTER = join(FIXTURES, 'gpt2_lora.adapter.safetensors');
const META = readSafetensors(ADAPTER).metadata;
const adapterDir = mkdtempSync(join(tmp, 'peft-'));
writeFileSync(join(adapterDir, 'adapter_model.safetensors'), readFileSync(ADAPTER));
writeFileSync(
  join(adapterDir, 'adapter_config.json'),
  JSON.stringify({
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: Number(META?.r),
    lora_alpha: Number(META?.alpha),
    lora_dropout: 0,
    target_modules: JSON.parse(META?.target_modules ?? '[]'),
    fan_in_fan_out: true,
    bias: 'none',
    rank_pattern: {},
    alpha_pattern: {},
  }),
);

describe('GPT-2 LoRA parity with PyTorch (float64), adapters on c_attn, c_proj (both), c_fc', () => {
  for (const backend of BACKENDS)
    test(`logits, loss and adapter gradients within 1e-4 (${backend})`, () =>
      withBackend(backend, () => {
        const model = fixtureModel();
        const adapters = loadLoraAdapter(adapterDir, model);
        assert.deepEqual(adapters.config.targets, ['q', 'k', 'v', 'o', 'down', 'up']);
        const [B, T] = golden.get('ids')?.shape ?? [0, 0];
        const ids = golden.get('ids')?.data as Int32Array;
        const targets = golden.get('targets')?.data as Int32Array;
        tidy(() => {
          const logits = model.forward(ids, B, T);
          assert.ok(relErr(logits.data, g('logits')) <= 1e-4, `logits ${relErr(logits.data, g('logits'))}`);
          const loss = model.loss(ids, targets, B, T);
          assert.ok(Math.abs(loss.item() - g('loss')[0]) <= 1e-4 * Math.abs(g('loss')[0]));
          backward(loss);
        });
        let n = 0;
        for (const [name, p] of adapters.namedParameters()) {
          const want = g(`grad.${peftName(name, 'gpt2')}`);
          assert.ok(want, `golden has the gradient of ${peftName(name, 'gpt2')}`);
          assert.ok(p.grad, `${name} has a gradient`);
          const e = relErr(p.grad.data, want);
          assert.ok(e <= 1e-4, `${name}: gradient error ${e}`);
          n++;
        }
        assert.equal(n, 2 * 4 * 2, 'c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj of two layers, A and B each');
        for (const [name, p] of model.namedParameters())
          assert.equal(p.grad, null, `${name} has no gradient`);
      }));
});

test('q, k, v share one adapter: the full A and their C rows of B [3C, r]', () => {
  const model = fixtureModel();
  const ids = Int32Array.from([1, 5, 9, 2, 7]);
  const before = noGrad(() => model.forward(ids, 1, 5)).data.slice();
  const adapters = applyLora(model, parseLoraSpec('r=3,alpha=6,targets=q,k,v,o,up,down'));
  assert.deepEqual(noGrad(() => model.forward(ids, 1, 5)).data, before, 'B = 0 changes nothing');
  assert.equal(adapters.entries.size, 6 * 2);
  const [q, k, v] = ['wq', 'wk', 'wv'].map((n) => adapters.entries.get(`layers.1.attention.${n}`));
  assert.ok(q && k && v);
  assert.ok(q.adapter === k.adapter && k.adapter === v.adapter);
  assert.deepEqual(q.adapter.a.shape, [3, 32]);
  assert.deepEqual(q.adapter.b.shape, [96, 3]);
  assert.deepEqual(adapters.entries.get('layers.0.feed_forward.w1')?.adapter.b.shape, [128, 3]); // up = c_fc
  assert.deepEqual(adapters.entries.get('layers.0.feed_forward.w2')?.adapter.a.shape, [3, 128]); // down
  assert.deepEqual([...adapters.namedParameters().keys()].slice(0, 4), [
    'layers.0.attention.wqkv.lora_A.weight',
    'layers.0.attention.wqkv.lora_B.weight',
    'layers.0.attention.wo.lora_A.weight',
    'layers.0.attention.wo.lora_B.weight',
  ]);
  assert.throws(
    () => applyLora(fixtureModel(), parseLoraSpec('targets=q,v')),
    /GPT-2 fuses q, k, v into c_attn.*target q,k,v together \(got q,v\)/,
  );
  assert.throws(() => applyLora(fixtureModel(), parseLoraSpec('targets=gate')), /"gate" needs a gated MLP/);
});

test('save: the PEFT file and config PEFT writes for GPT-2; load gives the same tensors', () => {
  const adapters = loadLoraAdapter(adapterDir, fixtureModel());
  const out = join(tmp, 'saved');
  saveLoraAdapter(out, adapters, 'my/gpt2');
  const j = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.deepEqual(j.target_modules, ['attn.c_attn', 'attn.c_proj', 'mlp.c_proj', 'mlp.c_fc']);
  assert.equal(j.fan_in_fan_out, true);
  assert.deepEqual([j.r, j.lora_alpha], [4, 8]);
  const want = readSafetensors(ADAPTER).tensors;
  const got = readSafetensors(join(out, 'adapter_model.safetensors')).tensors;
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, t] of want) {
    assert.deepEqual(got.get(name)?.shape, t.shape, name);
    assert.deepEqual(got.get(name)?.data, t.data, name);
  }
  const again = loadLoraAdapter(out, fixtureModel());
  assert.deepEqual(again.config, adapters.config);
});

test('merge: W + (alpha/r) B[rows] A gives the logits of base + adapter', () => {
  const model = fixtureModel();
  const adapters = loadLoraAdapter(adapterDir, model);
  const ids = Int32Array.from([1, 5, 9, 2, 7, 60, 3]);
  const withAdapter = noGrad(() => model.forward(ids, 1, 7)).data.slice();
  mergeLora(adapters);
  assert.equal(model.layers[0].attention.wk.lora, null);
  const merged = noGrad(() => model.forward(ids, 1, 7)).data;
  assert.ok(relErr(merged, withAdapter) < 1e-5, `merged ${relErr(merged, withAdapter)}`);
  const plain = noGrad(() => fixtureModel().forward(ids, 1, 7)).data;
  assert.ok(relErr(plain, withAdapter) > 1e-2, 'the adapter changes the logits');
});

test('training: only the adapters move and the loss falls', () => {
  const model = fixtureModel();
  const frozen = new Map([...model.namedParameters()].map(([n, p]) => [n, p.data.slice()]));
  const adapters = applyLora(model, parseLoraSpec('r=4,alpha=8,dropout=0.1,targets=q,k,v,o,up,down'));
  const opt = new AdamW(adapters.parameters(), { lr: 1e-2 });
  assert.equal(opt.m.length, 2 * 4 * 2, 'one A and B per module: c_attn is one adapter');
  const losses = trainOnOneBatch(model, opt, 20);
  assert.ok(losses[19] < losses[0] * 0.7, `loss ${losses[0]} -> ${losses[19]}`);
  for (const [n, p] of model.namedParameters()) assert.deepEqual(p.data, frozen.get(n), `${n} unchanged`);
});

test('names: PEFT <-> canonical for GPT-2; target_modules spellings; family mismatches are errors', () => {
  assert.equal(
    peftName('layers.1.attention.wqkv.lora_B.weight', 'gpt2'),
    'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
  );
  assert.equal(
    fromPeftName('base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight', 'gpt2'),
    'layers.0.feed_forward.w2.lora_A.weight',
  );
  assert.equal(fromPeftName('base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight'), null);
  assert.throws(() => peftName('layers.0.attention.wq.lora_A.weight', 'gpt2'), /not a GPT-2 adapter/);
  const dir = mkdtempSync(join(tmp, 'cfg-'));
  const config = (mods: string[]) => {
    writeFileSync(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r: 2, target_modules: mods }),
    );
    return readLoraConfig(dir);
  };
  assert.deepEqual(config(['attn.c_proj', 'c_fc']).config.targets, ['o', 'up']);
  assert.deepEqual(config(['mlp.c_proj']).config.targets, ['down']);
  assert.equal(config(['c_attn']).family, 'gpt2');
  assert.equal(config(['q_proj']).family, 'llama');
  assert.throws(() => config(['q_proj', 'c_attn']), /mixes Llama-family and GPT-2 module names/);
  const llama = new DecoderLM(
    llamaConfig({ vocabSize: 32, dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, ffnDim: 32 }),
    0,
  );
  assert.throws(
    () => loadLoraAdapter(adapterDir, llama),
    /target_modules name GPT-2 modules; the model is llama/,
  );
});
