/**
 * `--model FILE.gguf`: a decoder loads from one GGUF file (models/load_gguf.ts), with its config,
 * weights, tokenizer and end-of-generation ids from the file. Checked against the model directory
 * the file was written from: F32 gives the same logits (the Q/K row permutation round trips
 * exactly), for Llama, Qwen3 (q/k norms, head_dim != d / heads) and Llama 3 RoPE scaling (written
 * as llama.cpp's rope_freqs divisors, read back as per-pair factors); `xfmr quantize` files load
 * and stay within each type's quantization error; the CLI takes a .gguf where it takes a directory.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { exportGgufFile } from '../../src/io/model_export.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadDecoder, saveModel } from '../../src/models/load.ts';
import { llamaConfig, qwen3Config } from '../../src/models/presets.ts';
import { LocalGenerator } from '../../src/rag/generator.ts';
import { loadServeModel } from '../../src/serve/server.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson, tempDir, xfmr } from '../cli/helpers.ts';
import { relErr } from './rel_err.ts';

const TOKENIZER = byteLevelTokenizerJson(40, true) as JsonValue;
const V = 297; // 256 bytes + 40 merges + 1 special (byteLevelTokenizerJson)
const small = {
  vocabSize: V,
  contextLength: 64,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  initStd: 0.2,
};
const IDS = Int32Array.from([5, 17, 42, 99, 7, 256, 260, 31, 12, 200]);

/** A random model saved as a directory and exported as GGUF F32: [dir, gguf]. */
function write(config: ModelConfig, seed: number): [string, string] {
  const root = tempDir('xfmr-gguf-load-');
  const dir = join(root, 'model');
  saveModel(dir, new DecoderLM(config, seed), { tokenizerJson: TOKENIZER });
  const gguf = join(root, 'model.gguf');
  exportGgufFile(dir, gguf);
  return [dir, gguf];
}

function logits(m: DecoderLM): Float32Array {
  return m.forward(IDS, 1, IDS.length).data;
}

describe('loadDecoder on a .gguf file', () => {
  const cases: [string, ModelConfig][] = [
    ['llama', llamaConfig(small)],
    ['qwen3 (q/k norms, head_dim 16 != 32 / 4)', qwen3Config({ ...small, headDim: 16 })],
    [
      'llama 3 RoPE scaling',
      llamaConfig({
        ...small,
        headDim: 16,
        ropeTheta: 500,
        ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 },
      }),
    ],
  ];
  for (const [name, config] of cases) {
    test(`${name}: the GGUF's model computes the directory's logits`, () => {
      const [dir, gguf] = write(config, 7);
      const a = loadDecoder(dir);
      const b = loadDecoder(gguf);
      assert.equal(b.config.arch, config.arch);
      assert.equal(b.config.qkNorm, config.qkNorm);
      assert.equal(b.config.headDim, config.headDim);
      assert.ok(relErr(logits(b.model), logits(a.model)) < 1e-6, 'logits differ');
      if (config.ropeScaling) {
        assert.equal(b.config.ropeScaling?.type, 'factors');
        // without the factors the model is another one: the test would see it
        const plain = loadDecoder(gguf);
        const unscaled = new DecoderLM({ ...plain.config, ropeScaling: null });
        unscaled.loadStateDict(plain.model.stateDict(), gguf);
        assert.ok(relErr(logits(unscaled), logits(a.model)) > 1e-3);
      }
    });
  }

  test('tokenizer and EOS come from the metadata: the same ids as the directory tokenizer', () => {
    const [dir, gguf] = write(llamaConfig(small), 3);
    const a = loadDecoder(dir);
    const b = loadDecoder(gguf);
    assert.ok(b.tokenizerJson);
    const text = "Hello, world! It's 2026: 12345 tokens\n\n  and more.";
    const ta = loadTokenizerJson(a.tokenizerJson as never);
    const tb = loadTokenizerJson(b.tokenizerJson as never);
    assert.deepEqual(tb.encode(text), ta.encode(text));
    assert.deepEqual(b.generationConfig?.eos_token_id, [V - 1]);
  });

  test('bf16 on load: a GGUF model held in bf16 halves its matrices', () => {
    const [, gguf] = write(llamaConfig(small), 5);
    const f = loadDecoder(gguf);
    const h = loadDecoder(gguf, { dtype: 'bf16' });
    assert.equal(h.model.matrixDtype(), 'bf16');
    assert.ok(h.model.parameterBytes() < 0.6 * f.model.parameterBytes());
  });

  test('a missing .gguf is one clear error', () => {
    assert.throws(() => loadDecoder('/nonexistent/model.gguf'), /\/nonexistent\/model\.gguf: no such file/);
  });
});

describe('xfmr quantize and the CLI on .gguf', () => {
  test('q8_0 and q4_k_m files load; logits stay within the quantization error; generate takes .gguf', async () => {
    // d 256 and ffn 512: K-quant blocks are 256 wide (narrower rows fall back to Q8_0, as llama.cpp's do)
    const [dir, gguf] = write(
      llamaConfig({ ...small, dModel: 256, ffnDim: 512, headDim: 64, initStd: 0.02 }),
      11,
    );
    const ref = logits(loadDecoder(dir).model);
    // Weights err by up to half a step: 1/254 of a block's max for Q8_0, ~1/30 for the 4-bit
    // types; through two random layers (init std 0.02) the logits measured 1.1e-2 and 1.2e-1 of
    // their largest value, about that ratio apart. The bounds allow 2.5x; broken blocks (wrong
    // scales or nibble order) give errors of order 1.
    const errs: number[] = [];
    for (const [type, tol] of [
      ['q8_0', 0.03],
      ['q4_k_m', 0.3],
    ] as const) {
      const out = join(dir, '..', `model-${type}.gguf`);
      const q = await xfmr(['quantize', '--model', dir, '--type', type, '--out', out]);
      assert.equal(q.code, 0, q.stderr);
      assert.match(q.stderr, new RegExp(`${type.toUpperCase()} -> `));
      const err = relErr(logits(loadDecoder(out).model), ref);
      assert.ok(err > 0 && err < tol, `${type}: logits ${err.toExponential(2)} from f32 (bound ${tol})`);
      errs.push(err);
      // re-quantizing a GGUF works and says the old rounding stays
      const again = await xfmr(['quantize', '--model', out, '--type', 'q8_0', '--out', `${out}.q8.gguf`]);
      assert.equal(again.code, 0, again.stderr);
      if (type !== 'q8_0') assert.match(again.stderr, /already quantized/);
    }
    assert.ok(errs[0]! < errs[1]!, `Q8_0 (${errs[0]}) should err less than Q4_K_M (${errs[1]})`);
    const args = ['--prompt-ids', '5,17,42', '--max-tokens', '6', '--temperature', '0', '--json'];
    const fromDir = await xfmr(['generate', '--model', dir, ...args]);
    const fromGguf = await xfmr(['generate', '--model', gguf, ...args]);
    assert.equal(fromGguf.code, 0, fromGguf.stderr);
    assert.deepEqual(JSON.parse(fromGguf.stdout).ids, JSON.parse(fromDir.stdout).ids);
  });

  test('bad arguments are one-line errors', async () => {
    const [dir] = write(llamaConfig(small), 1);
    const cases: [string[], RegExp][] = [
      [
        ['quantize', '--model', dir, '--type', 'q3_k', '--out', 'x.gguf'],
        /--type must be one of .*q8_0.*got "q3_k"/,
      ],
      [['quantize', '--model', dir, '--type', 'q8_0', '--out', 'x.bin'], /--out: x\.bin must end in \.gguf/],
      [['quantize', '--model', '/nope', '--type', 'q8_0', '--out', 'x.gguf'], /--model: \/nope: no such/],
      [['generate', '--model', '/nope/m.gguf', '--prompt-ids', '1'], /--model: \/nope\/m\.gguf: no such/],
      [['serve', '--model', '/nope/m.gguf'], /--model: \/nope\/m\.gguf: no such/],
      [
        ['serve', '--model', join(dir, 'config.json')],
        /--model: .*config\.json is a file; give a model directory or a \.gguf file/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await xfmr(args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('serve, rag ask and eval load a .gguf as they load a directory', async () => {
    const [dir, gguf] = write(llamaConfig(small), 5);
    // serve: the same tokenizer and end-of-generation ids, the same greedy continuation
    const fromDir = await loadServeModel(dir);
    const fromGguf = await loadServeModel(gguf);
    assert.equal(fromGguf.id, 'model.gguf');
    // the file states <|endoftext|> (the last id) as tokenizer.ggml.eos_token_id; the directory,
    // with no generation_config.json, states none
    assert.deepEqual(fromGguf.eos, [V - 1]);
    assert.deepEqual(fromGguf.tokenizer.encode('hello world'), fromDir.tokenizer.encode('hello world'));
    assert.ok(relErr(logits(fromGguf.model as DecoderLM), logits(fromDir.model as DecoderLM)) < 1e-5);
    // rag ask and eval answer through LocalGenerator
    const opts = { maxTokens: 5, temperature: 0 };
    const a = await LocalGenerator.load(gguf, { chat: false }).complete('hello', opts);
    const b = await LocalGenerator.load(dir, { chat: false }).complete('hello', opts);
    assert.equal(a, b);
    assert.throws(() => LocalGenerator.load(join(dir, 'config.json')), /--model: .*config\.json is a file/);
  });
});
