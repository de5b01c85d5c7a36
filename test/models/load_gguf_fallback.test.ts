/**
 * A GGUF holding llama-quantize's fallback types (Q5_0, Q5_1, and the old Q4_1), as real files do
 * (qwen2.5-0.5b-instruct-q4_k_m.gguf has Q5_0 tensors: its 896-long rows are no 256-blocks), loads:
 * under dtype auto every quantized matrix stays quantized (q5_0, q5_1, q4_1, q4_k) and computes
 * with linearQuant, without a note on stderr; under f32 they are dequantized.
 *
 * The file is written here: a llama model exported F32 by `xfmr quantize`, then its attention
 * matrices re-encoded by the codecs (byte-exact with ggml's quantizers, test/kernels/quant/) as
 * wq/wk Q5_0, wv Q5_1, wo Q4_1 and its feed-forward ones as Q4_K. Quantizing acts on rows, and
 * llama's Q/K permutation moves whole rows, so the reference model is the original one with each
 * matrix replaced by its codec round trip. Under dtype f32 every weight must equal the reference
 * bit for bit (a wrong high bit, nibble, minimum or row order breaks that), so the logits agree up
 * to the float32 rounding of the file's f32 hyperparameters (norm eps; relative 1e-5 allowed);
 * quantization itself moves them by about 1e-2 of the largest logit, asserted to be > 1e-3 so the
 * check sees it. Under auto the matrices compute with 8-bit activations: within 5e-2 as in
 * load_gguf_quant.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { type GgufTensorSpec, openGguf, writeGguf } from '../../src/io/gguf.ts';
import { QUANT_CODECS } from '../../src/kernels/js/quant/index.ts';
import type { QuantType } from '../../src/kernels/quant_types.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadDecoder, saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { byteLevelTokenizerJson, tempDir, xfmr } from '../cli/helpers.ts';
import { relErr } from './rel_err.ts';

const IDS = Int32Array.from([5, 17, 42, 99, 7, 256, 260, 31, 12, 200]);

/** The GGUF tensor suffix -> the type it gets in the rewritten file, and its canonical name. */
const TYPES: [string, QuantType, string][] = [
  ['attn_q.weight', 'Q5_0', 'attention.wq.weight'],
  ['attn_k.weight', 'Q5_0', 'attention.wk.weight'],
  ['attn_v.weight', 'Q5_1', 'attention.wv.weight'],
  ['attn_output.weight', 'Q4_1', 'attention.wo.weight'],
  ['ffn_gate.weight', 'Q4_K', 'feed_forward.w1.weight'],
  ['ffn_up.weight', 'Q4_K', 'feed_forward.w3.weight'],
  ['ffn_down.weight', 'Q4_K', 'feed_forward.w2.weight'],
];
const codecOf = (t: QuantType) => QUANT_CODECS[t];

describe('a GGUF with Q5_0 / Q5_1 / Q4_1 tensors', () => {
  const root = tempDir('xfmr-gguf-widened-');
  const config = llamaConfig({
    vocabSize: 297,
    contextLength: 64,
    dModel: 256,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    ffnDim: 512,
    initStd: 0.05,
  });
  const model = new DecoderLM(config, 31);

  test('loads: kept quantized under auto (no note), dequantized under f32 equal to the blocks', async () => {
    const dir = join(root, 'model');
    saveModel(dir, model, { tokenizerJson: byteLevelTokenizerJson(40, true) as JsonValue });
    const f32File = join(root, 'model-f32.gguf');
    const q = await xfmr(['quantize', '--model', dir, '--type', 'f32', '--out', f32File]);
    assert.equal(q.code, 0, q.stderr);
    const original = model.forward(IDS, 1, IDS.length).data.slice();

    // re-encode the matrices; the file's other tensors and its metadata are copied
    const file = join(root, 'model-mixed.gguf');
    const src = openGguf(f32File);
    const specs: GgufTensorSpec[] = [];
    for (const [name, info] of src.tensors) {
      const rule = TYPES.find(([suffix]) => name.endsWith(suffix));
      const t = src.read(name);
      if (rule === undefined) specs.push({ name, shape: t.shape, dtype: 'F32', data: t.data });
      else {
        const data = codecOf(rule[1]).quantize(t.data as Float32Array, t.data.length);
        specs.push({ name, shape: [...info.shape], type: rule[1], data });
      }
    }
    writeGguf(file, src.kv, specs);
    src.close();

    // the reference: each matrix replaced by its round trip (rows of 256 are whole blocks)
    const params = model.namedParameters();
    for (let i = 0; i < config.nLayers; i++) {
      for (const [, type, canon] of TYPES) {
        const p = params.get(`layers.${i}.${canon}`)!;
        const codec = codecOf(type);
        p.data.set(codec.dequantize(codec.quantize(p.data, p.size), p.size));
      }
    }
    const reference = model.forward(IDS, 1, IDS.length).data;
    assert.ok(relErr(reference, original) > 1e-3, 'the quantization is visible in the logits');

    const wide = loadDecoder(file, { dtype: 'f32' }).model;
    for (const [name, p] of params) {
      const got = wide.namedParameters().get(name)!;
      assert.equal(got.dtype, 'f32', name);
      assert.deepEqual(got.data, p.data, name);
    }
    const errWide = relErr(wide.forward(IDS, 1, IDS.length).data, reference);
    assert.ok(errWide < 1e-5, `dtype f32: logits ${errWide.toExponential(2)} from the reference`);

    const kept = loadDecoder(file, { dtype: 'auto' }).model;
    for (const [, type, canon] of TYPES) {
      const p = kept.namedParameters().get(`layers.1.${canon}`)!;
      assert.equal(p.dtype, type.toLowerCase(), canon);
      // the blocks as stored: they decode to the reference's weights
      assert.deepEqual(p.cast('f32').data, params.get(`layers.1.${canon}`)!.data, canon);
    }
    const errKept = relErr(kept.forward(IDS, 1, IDS.length).data, reference);
    assert.ok(
      errKept > 0 && errKept < 5e-2,
      `dtype auto: logits ${errKept.toExponential(2)} from the reference`,
    );

    // the CLI (dtype auto) runs the file with nothing to say about these types
    const args = ['--prompt-ids', '5,17,42', '--max-tokens', '4', '--temperature', '0', '--json'];
    const g = await xfmr(['generate', '--model', file, ...args]);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(!/widened|Q5_0|Q5_1|Q4_1/.test(g.stderr), g.stderr);
  });
});
