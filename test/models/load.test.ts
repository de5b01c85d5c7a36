/** Saving a model as a Hugging Face directory and loading it back gives the same model. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { Encoder } from '../../src/models/encoder.ts';
import { loadDecoder, loadEncoder, saveModel } from '../../src/models/load.ts';
import { bertConfig, gpt2Config, llamaConfig, qwen2Config } from '../../src/models/presets.ts';
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
