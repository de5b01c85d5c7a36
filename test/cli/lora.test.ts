/**
 * The LoRA commands end to end on the shipped tiny SFT model (Llama-style, 4 layers): `xfmr sft
 * --lora` writes a PEFT adapter directory and resumes like every training loop; `xfmr lora merge`
 * folds it into the base; `xfmr lora export` writes it as a GGUF adapter (llama.cpp's keys and
 * names; the llama.cpp parity is test/io/gguf_lora_llama_cpp.test.ts); `xfmr generate --lora` runs base + adapter, and its prompt logits equal
 * the merged model's (1e-4 of the largest) while differing from the base's; bad specs are one-line
 * errors naming the argument. The same on a small random GPT-2 directory (Hugging Face layout, fused
 * c_attn): PEFT's GPT-2 adapter (c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj; fan_in_fan_out) and a
 * gpt2 GGUF adapter (attn_qkv, attn_output, ffn_up, ffn_down).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openGguf } from '../../src/io/gguf.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { gpt2Config } from '../../src/models/presets.ts';
import { byteLevelTokenizerJson, expectOneLineErrors, ROOT, tempDir, xfmr } from './helpers.ts';

const SFT = join(ROOT, 'models', 'xfmr-rag-tiny-sft');
const dir = tempDir('xfmr-lora-');
const data = join(dir, 'data.jsonl');
const rows = Array.from({ length: 12 }, (_, i) =>
  JSON.stringify({ prompt: `What is ${i} plus ${i}?`, completion: ` It is ${2 * i}.` }),
);
writeFileSync(data, `${rows.join('\n')}\n`);

function logits(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function relErr(got: Float32Array, want: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
}

test('sft --lora writes a PEFT adapter and resumes; merge == generate --lora != base', async () => {
  const out = join(dir, 'adapter');
  const sft = (steps: string, ...extra: string[]) =>
    xfmr([
      'sft',
      '--model',
      SFT,
      '--data',
      data,
      '--out',
      out,
      '--lora',
      'r=4,alpha=8,dropout=0,targets=q,v,down',
      '--steps',
      steps,
      '--batch-size',
      '2',
      '--lr',
      '1e-2',
      '--checkpoint-every',
      '1',
      '--eval-every',
      '0',
      '--dtype',
      'f32',
      ...extra,
    ]);
  const first = await sft('2');
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stderr,
    /LoRA r=4 alpha=8 dropout=0 on q,v,down: \d+ trainable parameters \(\d\.\d+% of \d+\), base frozen/,
  );
  const resumed = await sft('3', '--resume');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*step-000002 at step 2/);
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3]);
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.deepEqual([cfg.peft_type, cfg.task_type, cfg.r, cfg.lora_alpha], ['LORA', 'CAUSAL_LM', 4, 8]);
  assert.deepEqual(cfg.target_modules, ['q_proj', 'v_proj', 'down_proj']);
  const names = [...readSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()];
  assert.equal(names.length, 4 * 3 * 2, '4 layers x 3 targets x (A, B)');
  assert.ok(names.includes('base_model.model.model.layers.3.mlp.down_proj.lora_B.weight'));

  const gguf = join(dir, 'adapter.gguf');
  const ex = await xfmr(['lora', 'export', '--model', SFT, '--adapter', out, '--out', gguf]);
  assert.equal(ex.code, 0, ex.stderr);
  const f = openGguf(gguf);
  try {
    const kv = (k: string) => f.kv.get(k)?.value;
    assert.deepEqual(
      [kv('general.architecture'), kv('general.type'), kv('adapter.type'), kv('adapter.lora.alpha')],
      ['llama', 'adapter', 'lora', 8],
    );
    assert.equal(f.tensors.size, 24);
    assert.ok(f.tensors.has('blk.3.ffn_down.weight.lora_b') && f.tensors.has('blk.0.attn_q.weight.lora_a'));
  } finally {
    f.close();
  }

  const merged = join(dir, 'merged');
  const m = await xfmr(['lora', 'merge', '--model', SFT, '--adapter', out, '--out', merged]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stderr, /12 adapted layers merged/);
  const gen = async (name: string, ...args: string[]) => {
    const path = join(dir, `${name}.f32`);
    const r = await xfmr([
      'generate',
      ...args,
      '--prompt-ids',
      '5,17,300,42,9',
      '--max-tokens',
      '1',
      '--temperature',
      '0',
      '--dtype',
      'f32',
      '--logits',
      path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return logits(path);
  };
  const [withLora, fromMerged, base] = await Promise.all([
    gen('lora', '--model', SFT, '--lora', out),
    gen('merged', '--model', merged),
    gen('base', '--model', SFT),
  ]);
  assert.equal(withLora.length, 5 * 2048);
  assert.ok(
    relErr(fromMerged, withLora) <= 1e-4,
    `merged vs base + adapter: ${relErr(fromMerged, withLora)}`,
  );
  assert.ok(relErr(base, withLora) > 1e-3, `the adapter changes the logits: ${relErr(base, withLora)}`);
});

test('GPT-2: sft --lora writes a PEFT c_attn adapter; export as gpt2 GGUF; merge == generate --lora != base', async () => {
  const model = join(dir, 'gpt2');
  const tokenizerJson = byteLevelTokenizerJson(40, true);
  const config = gpt2Config({
    vocabSize: 297,
    contextLength: 64,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    initStd: 0.2,
  });
  saveModel(model, new DecoderLM(config, 5), { tokenizerJson: tokenizerJson as never });
  const out = join(dir, 'gpt2-adapter');
  const sft = await xfmr([
    'sft',
    '--model',
    model,
    '--data',
    data,
    '--out',
    out,
    '--lora',
    'r=4,alpha=8,dropout=0,targets=q,k,v,o,up,down',
    '--steps',
    '3',
    '--batch-size',
    '2',
    '--lr',
    '3e-2',
    '--eval-every',
    '0',
    '--dtype',
    'f32',
  ]);
  assert.equal(sft.code, 0, sft.stderr);
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.deepEqual(cfg.target_modules, ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']);
  assert.equal(cfg.fan_in_fan_out, true);
  const tensors = readSafetensors(join(out, 'adapter_model.safetensors')).tensors;
  assert.equal(tensors.size, 2 * 4 * 2, '2 layers x 4 modules x (A, B)');
  assert.deepEqual(tensors.get('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')?.shape, [96, 4]);
  assert.deepEqual(tensors.get('base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight')?.shape, [4, 128]);

  const gguf = join(dir, 'gpt2-adapter.gguf');
  const ex = await xfmr(['lora', 'export', '--model', model, '--adapter', out, '--out', gguf]);
  assert.equal(ex.code, 0, ex.stderr);
  const f = openGguf(gguf);
  try {
    assert.equal(f.kv.get('general.architecture')?.value, 'gpt2');
    assert.deepEqual([...f.tensors.keys()].filter((n) => n.startsWith('blk.0.')).sort(), [
      'blk.0.attn_output.weight.lora_a',
      'blk.0.attn_output.weight.lora_b',
      'blk.0.attn_qkv.weight.lora_a',
      'blk.0.attn_qkv.weight.lora_b',
      'blk.0.ffn_down.weight.lora_a',
      'blk.0.ffn_down.weight.lora_b',
      'blk.0.ffn_up.weight.lora_a',
      'blk.0.ffn_up.weight.lora_b',
    ]);
  } finally {
    f.close();
  }

  const merged = join(dir, 'gpt2-merged');
  const m = await xfmr(['lora', 'merge', '--model', model, '--adapter', out, '--out', merged]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stderr, /12 adapted layers merged/);
  const gen = async (name: string, ...args: string[]) => {
    const path = join(dir, `gpt2-${name}.f32`);
    const r = await xfmr([
      'generate',
      ...args,
      '--prompt-ids',
      '5,17,200,42,9',
      '--max-tokens',
      '8',
      '--temperature',
      '0',
      '--dtype',
      'f32',
      '--logits',
      path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return { logits: logits(path), text: r.stdout };
  };
  const [withLora, fromMerged, base] = await Promise.all([
    gen('lora', '--model', model, '--lora', out),
    gen('merged', '--model', merged),
    gen('base', '--model', model),
  ]);
  assert.equal(withLora.logits.length % 297, 0);
  assert.ok(
    relErr(fromMerged.logits, withLora.logits) <= 1e-4,
    `merged vs base + adapter: ${relErr(fromMerged.logits, withLora.logits)}`,
  );
  assert.equal(fromMerged.text, withLora.text, 'the same greedy tokens');
  assert.ok(
    relErr(base.logits, withLora.logits) > 1e-3,
    `the adapter changes the logits: ${relErr(base.logits, withLora.logits)}`,
  );
});

test('bad --lora specs and lora merge arguments: one-line errors naming the argument', async () => {
  await expectOneLineErrors([
    [
      ['sft', '--model', SFT, '--data', data, '--out', join(dir, 'x'), '--lora', 'r=0'],
      /--lora: r must be a positive integer/,
    ],
    [
      ['sft', '--model', SFT, '--data', data, '--out', join(dir, 'x'), '--lora', 'targets=q,qq'],
      /--lora: unknown target "qq"/,
    ],
    [['lora', 'merge', '--model', SFT, '--out', join(dir, 'y')], /--adapter is required/],
    [['lora', 'merge', '--model', SFT, '--adapter', SFT, '--out', join(dir, 'y')], /no adapter_config\.json/],
    [['lora', 'split'], /unknown lora command "split"/],
    [['generate', '--model', SFT, '--prompt-ids', '1', '--lora', dir], /no adapter_config\.json/],
    [
      ['serve', '--model', SFT, '--port', '0', '--lora', `a=${join(dir, 'none')}`],
      /--lora a=.*: no such directory/,
    ],
    [['serve', '--model', SFT, '--port', '0', '--lora', `=${dir}`], /--lora: expected NAME=ADAPTER_DIR/],
    [
      ['serve', '--model', SFT, '--port', '0', '--lora', `a=${dir}`, '--lora', `a=${dir}`],
      /two adapters named "a"/,
    ],
    [['serve', '--model', SFT, '--port', '0', '--lora', `a=${dir}`], /no adapter_config\.json/],
  ]);
});
