/**
 * A quantized GGUF kept quantized in memory (models/load_gguf.ts under dtype auto): its matrices
 * are the file's blocks (q8_0, q4_k, q6_k tensors; memory = the file's tensor bytes), linear
 * computes with them through linearQuant, and the model gives the logits of the same file loaded
 * dequantized (dtype f32) up to the rounding of the activations to 8 bits per block.
 *
 * Bound: the weights are the same values in both; only the activations of every linear differ,
 * each by at most half a step of its block (step = amax / 127, Q8_K likewise), uniformly spread:
 * an rms error of step / sqrt(12), about 0.7% of the rms of roughly Gaussian activations (amax
 * about 3 sigma). With random weights that is a 0.7% relative error per linear, compounding over
 * the 7 linears of each of 2 layers and the head: measured 1.4e-2 (Q8_0) and 2.1e-2 (Q4_K_M) of
 * the largest logit on this fixture; the bound allows 5e-2, about 2.5x. Dequantizing a block
 * wrongly (a wrong scale, nibble or row) in either path gives errors of order 1.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { openGguf } from '../../src/io/gguf.ts';
import { quantizeTensor } from '../../src/io/quantized.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { describeWeights, loadDecoder, saveModel } from '../../src/models/load.ts';
import { gemma2Config, llamaConfig, qwen2Config } from '../../src/models/presets.ts';
import { byteLevelTokenizerJson, tempDir, xfmr } from '../cli/helpers.ts';
import { relErr } from './rel_err.ts';

const TOKENIZER = byteLevelTokenizerJson(40, true) as JsonValue;
const V = 297;
const IDS = Int32Array.from([5, 17, 42, 99, 7, 256, 260, 31, 12, 200]);

describe('a quantized GGUF kept quantized (dtype auto)', () => {
  const root = tempDir('xfmr-gguf-quant-');
  const dir = join(root, 'model');
  // d 256, ffn 512: every matrix row is whole 256-blocks, so Q4_K_M keeps its K-quants
  const shape = {
    vocabSize: V,
    contextLength: 64,
    dModel: 256,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    ffnDim: 512,
    initStd: 0.05,
  };
  const config = llamaConfig(shape);
  saveModel(dir, new DecoderLM(config, 21), { tokenizerJson: TOKENIZER });

  for (const type of ['q8_0', 'q4_k_m'] as const) {
    test(`${type}: same logits as dequantized within the activation rounding; memory = the file's bytes; greedy tokens agree`, async () => {
      const file = join(root, `model-${type}.gguf`);
      const q = await xfmr(['quantize', '--model', dir, '--type', type, '--out', file]);
      assert.equal(q.code, 0, q.stderr);
      const kept = loadDecoder(file, { dtype: 'auto' }).model;
      const wide = loadDecoder(file, { dtype: 'f32' }).model;
      // the matrices are the file's tensors, byte for byte
      const f = openGguf(file);
      let fileBytes = 0;
      const types = new Set<string>();
      for (const t of f.tensors.values())
        if (t.type !== 'F32') {
          fileBytes += t.bytes;
          types.add(t.type.toLowerCase());
        }
      f.close();
      let matrixBytes = 0;
      const dtypes = new Set<string>();
      for (const name of kept.matrixNames()) {
        const p = kept.namedParameters().get(name)!;
        matrixBytes += p.nbytes;
        dtypes.add(p.dtype);
      }
      assert.deepEqual([...dtypes].sort(), [...types].sort());
      assert.equal(matrixBytes, fileBytes);
      assert.ok(kept.parameterBytes() < 0.35 * wide.parameterBytes());
      const desc = describeWeights(kept);
      for (const d of dtypes) assert.match(desc, new RegExp(d));
      const err = relErr(kept.forward(IDS, 1, IDS.length).data, wide.forward(IDS, 1, IDS.length).data);
      assert.ok(err > 0 && err < 5e-2, `${type}: logits ${err.toExponential(2)} from the dequantized model`);
      // generation on the quantized model (the CLI's default dtype is auto)
      const args = ['--prompt-ids', '5,17,42', '--max-tokens', '8', '--temperature', '0', '--json'];
      const a = await xfmr(['generate', '--model', file, ...args]);
      const b = await xfmr(['generate', '--model', file, '--dtype', 'f32', ...args]);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stderr, /mixed|q8_0/);
      assert.deepEqual(JSON.parse(a.stdout).ids, JSON.parse(b.stdout).ids);
    });
  }

  test('gemma2 (no Q/K row permutation in its GGUF either) loads kept quantized as dequantized', async () => {
    // llama.cpp's gemma2 always slides its even layers and caps: its export requires them
    const d = join(root, 'gemma2');
    const c = gemma2Config({ ...shape, slidingWindow: 16, attnLogitSoftcap: 50, finalLogitSoftcap: 30 });
    saveModel(d, new DecoderLM(c, 5), { tokenizerJson: TOKENIZER });
    const file = join(root, 'gemma2-q8_0.gguf');
    const q = await xfmr(['quantize', '--model', d, '--type', 'q8_0', '--out', file]);
    assert.equal(q.code, 0, q.stderr);
    const kept = loadDecoder(file, { dtype: 'auto' }).model;
    const wide = loadDecoder(file, { dtype: 'f32' }).model;
    assert.equal(kept.namedParameters().get('layers.0.attention.wq.weight')!.dtype, 'q8_0');
    const err = relErr(kept.forward(IDS, 1, IDS.length).data, wide.forward(IDS, 1, IDS.length).data);
    assert.ok(err > 0 && err < 5e-2, `gemma2: logits ${err.toExponential(2)} from the dequantized model`);
  });

  test('qwen2 (tied embeddings, qkv bias): the token embedding and q/k rows stay in file order (only llama permutes)', async () => {
    // V = 297 rows is no multiple of the 4 heads: un-permuting the embedding like a q matrix threw
    const qdir = join(root, 'qwen2');
    const qc = qwen2Config({ ...config, arch: 'qwen2', tiedEmbeddings: true, qkvBias: true });
    const model = new DecoderLM(qc, 22);
    saveModel(qdir, model, { tokenizerJson: TOKENIZER });
    const file = join(root, 'qwen2-q8_0.gguf');
    const q = await xfmr(['quantize', '--model', qdir, '--type', 'q8_0', '--out', file]);
    assert.equal(q.code, 0, q.stderr);
    const kept = loadDecoder(file, { dtype: 'auto' }).model;
    const wide = loadDecoder(file, { dtype: 'f32' }).model;
    const params = model.namedParameters();
    for (const name of [
      'tok_embeddings.weight',
      'layers.0.attention.wq.weight',
      'layers.0.attention.wk.weight',
    ]) {
      const p = params.get(name)!;
      const want = quantizeTensor({ name, shape: [...p.shape], dtype: 'F32', data: p.data }, 'Q8_0').data;
      assert.deepEqual(kept.namedParameters().get(name)!.quantData, want, name);
    }
    const err = relErr(kept.forward(IDS, 1, IDS.length).data, wide.forward(IDS, 1, IDS.length).data);
    assert.ok(err > 0 && err < 5e-2, `qwen2 q8_0: logits ${err.toExponential(2)} from the dequantized model`);
  });

  test('a quantized matrix cannot train, and .data names its dtype', async () => {
    const file = join(root, 'model-q8_0.gguf');
    const m = loadDecoder(file, { dtype: 'auto' }).model;
    const w = m.namedParameters().get('layers.0.attention.wq.weight')!;
    assert.equal(w.dtype, 'q8_0');
    assert.throws(() => w.data, /is q8_0: \.data holds f32 elements only \(read \.quantData/);
    assert.throws(() => {
      w.requiresGrad = true;
    }, /cannot require grad/);
  });
});
