/**
 * Saving a model as a Hugging Face directory and loading it back gives the same model; a
 * multimodal Gemma 3 directory loads as its text model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { Encoder } from '../../src/models/encoder.ts';
import { loadDecoder, loadEncoder, saveModel } from '../../src/models/load.ts';
import { bertConfig, gemma3Config, gpt2Config, llamaConfig, qwen2Config } from '../../src/models/presets.ts';
import { noGrad } from '../../src/tensor/index.ts';

const small = { vocabSize: 50, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 4 };
const ids = Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6]);

for (const [name, config] of [
  ['gpt2', gpt2Config(small)],
  ['llama', llamaConfig({ ...small, nKvHeads: 2, ffnDim: 24 })],
  ['qwen2', qwen2Config({ ...small, nKvHeads: 2, ffnDim: 24 })],
] as const) {
  test(`${name}: save -> load gives identical logits`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'xfmr-load-'));
    try {
      const model = new DecoderLM(config, 5);
      saveModel(dir, model);
      const loaded = loadDecoder(dir).model;
      const a = noGrad(() => model.forward(ids, 1, ids.length).toArray());
      const b = noGrad(() => loaded.forward(ids, 1, ids.length).toArray());
      assert.deepEqual(b, a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('bert: save -> load gives identical embeddings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-load-'));
  try {
    const model = new Encoder(bertConfig({ ...small, ffnDim: 32 }), 2);
    saveModel(dir, model);
    assert.deepEqual(loadEncoder(dir).model.embed(ids), model.embed(ids));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loading errors name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-load-'));
  try {
    saveModel(dir, new DecoderLM(gpt2Config(small)));
    assert.throws(() => loadEncoder(dir), /not bert/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'rwkv' }));
    assert.throws(() => loadDecoder(dir), /config\.json.*rwkv|rwkv.*config\.json/);
    writeFileSync(join(dir, 'model.safetensors'), 'garbage');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gemma3: save -> load identical; a multimodal directory loads its text model and says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-load-'));
  const mm = mkdtempSync(join(tmpdir(), 'xfmr-load-'));
  const write = process.stderr.write;
  try {
    const config = gemma3Config({
      ...small,
      nLayers: 7,
      nKvHeads: 2,
      headDim: 8,
      ffnDim: 24,
      slidingWindow: 3,
    });
    const model = new DecoderLM(config, 5);
    saveModel(dir, model);
    const text = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(text.model_type, 'gemma3_text');
    const want = noGrad(() => model.forward(ids, 1, ids.length).toArray());
    assert.deepEqual(
      noGrad(() => loadDecoder(dir).model.forward(ids, 1, ids.length).toArray()),
      want,
    );
    // Gemma3ForConditionalGeneration as Google uploaded it: language_model.*, a vision tower
    const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
    const all = new Map(
      [...tensors].map(([n, t]) => [`language_model.${n}`, { ...t, name: `language_model.${n}` }]),
    );
    for (const name of [
      'vision_tower.vision_model.post_layernorm.weight',
      'multi_modal_projector.mm_soft_emb_norm.weight',
    ])
      all.set(name, { name, shape: [4], dtype: 'F32', data: new Float32Array(4) });
    writeSafetensors(join(mm, 'model.safetensors'), all);
    const { model_type: _, architectures: __, ...textConfig } = text;
    writeFileSync(
      join(mm, 'config.json'),
      JSON.stringify({
        model_type: 'gemma3',
        architectures: ['Gemma3ForConditionalGeneration'],
        text_config: textConfig,
        vision_config: {},
      }),
    );
    let said = '';
    process.stderr.write = ((s: string) => {
      said += s;
      return true;
    }) as typeof process.stderr.write;
    const loaded = loadDecoder(mm);
    process.stderr.write = write;
    assert.match(
      said,
      /multimodal Gemma 3 checkpoint: loading the text model only; its 2 vision tower and projector tensors are skipped/,
    );
    assert.deepEqual(
      noGrad(() => loaded.model.forward(ids, 1, ids.length).toArray()),
      want,
    );
  } finally {
    process.stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
    rmSync(mm, { recursive: true, force: true });
  }
});
