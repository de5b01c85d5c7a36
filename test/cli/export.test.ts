/** `xfmr export`: GGUF (read back with src/io/gguf.ts) and Hugging Face directory copies. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openGguf } from '../../src/io/gguf.ts';
import { importGguf } from '../../src/io/gguf_export.ts';
import { toFloat32 } from '../../src/io/tensors.ts';
import { loadDecoder } from '../../src/models/load.ts';
import { noGrad } from '../../src/tensor/index.ts';
import { CharTokenizer } from '../../src/tokenizers/char.ts';
import { byteLevelTokenizerJson, TINY_LLAMA, tempDir, writeJson, xfmr, xfmrAll } from './helpers.ts';

const dir = tempDir();
const model = join(dir, 'model');
const ids = Int32Array.from([5, 17, 42, 99, 7, 256, 296]);

function logitsOf(modelDir: string): Float32Array {
  const m = loadDecoder(modelDir).model;
  return noGrad(() => m.forward(ids, 1, ids.length).data.slice());
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}

before(async () => {
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, true));
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', model, '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
});

test('export hf (f32): same logits, tokenizer and generation config copied', async () => {
  const out = join(dir, 'hf32');
  const r = await xfmr(['export', '--model', model, '--format', 'hf', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logitsOf(out), logitsOf(model));
  for (const f of ['tokenizer.json', 'generation_config.json'])
    assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(model, f)));
});

test('export hf --dtype f16: half-size weights, logits within f16 rounding', async () => {
  const out = join(dir, 'hf16');
  const r = await xfmr(['export', '--model', model, '--format', 'hf', '--out', out, '--dtype', 'f16']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype, 'float16');
  const size = (d: string) => readFileSync(join(d, 'model.safetensors')).length;
  assert.ok(size(out) < 0.6 * size(model));
  const diff = maxAbsDiff(logitsOf(model), logitsOf(out));
  assert.ok(diff > 0 && diff < 1e-2, `relative difference ${diff}`);
});

test('export gguf: a file src/io/gguf.ts reads back with the weights and tokenizer metadata', async () => {
  const out = join(dir, 'model.gguf');
  const r = await xfmr(['export', '--model', model, '--format', 'gguf', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const f = openGguf(out);
  try {
    const kv = (k: string) => f.kv.get(k)?.value;
    assert.equal(kv('general.architecture'), 'llama');
    assert.equal(kv('tokenizer.ggml.model'), 'gpt2');
    assert.equal(kv('tokenizer.ggml.pre'), 'gpt-2');
    assert.equal(kv('tokenizer.ggml.eos_token_id'), 296);
    assert.equal(kv('tokenizer.ggml.bos_token_id'), 296);
    const tokens = kv('tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 297);
    assert.equal(tokens[32], 'Ġ');
    assert.equal(tokens[296], '<|endoftext|>');
    const types = kv('tokenizer.ggml.token_type') as number[];
    assert.equal(types[296], 3); // control
    assert.equal(types[0], 1);
    const merges = kv('tokenizer.ggml.merges') as string[];
    assert.equal(merges.length, 40);
    assert.equal(merges[0], 't h');
    assert.equal(merges[1], 'Ġ t');
  } finally {
    f.close();
  }
  // the weights come back (Q/K un-permuted) equal to the model's
  const back = importGguf(out);
  const m = loadDecoder(model).model;
  assert.equal(back.config.nKvHeads, 2);
  for (const [name, p] of m.namedParameters()) {
    const t = back.tensors.get(name);
    assert.ok(t, `missing ${name}`);
    assert.deepEqual(toFloat32(t), p.data, name);
  }
  // f16: matrices F16 (ggml type 1), norms F32 (0)
  const out16 = join(dir, 'model-f16.gguf');
  const r16 = await xfmr(['export', '--model', model, '--format', 'gguf', '--out', out16, '--dtype', 'f16']);
  assert.equal(r16.code, 0, r16.stderr);
  const f16 = openGguf(out16);
  try {
    assert.equal(f16.tensors.get('blk.0.attn_q.weight')?.ggmlType, 1);
    assert.equal(f16.tensors.get('blk.0.attn_norm.weight')?.ggmlType, 0);
  } finally {
    f16.close();
  }
});

test('export gguf refuses a tokenizer that is not byte-level BPE, naming the file', async () => {
  const charDir = join(dir, 'char');
  const tok = CharTokenizer.train(['hello world'], ['<eos>']);
  const tokPath = writeJson(dir, 'char-tokenizer.json', tok.toTokenizerJson());
  const r0 = await xfmr(['init', '--config', 'llama-tiny', '--tokenizer', tokPath, '--out', charDir]);
  assert.equal(r0.code, 0, r0.stderr);
  const r = await xfmr(['export', '--model', charDir, '--format', 'gguf', '--out', join(dir, 'char.gguf')]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /tokenizer\.json: .*byte-level BPE/);
});

test('export argument errors', async () => {
  const cases: [string[], RegExp][] = [
    [['--model', model, '--out', join(dir, 'x')], /--format is required/],
    [['--model', model, '--format', 'onnx', '--out', join(dir, 'x')], /--format must be gguf or hf/],
    [
      ['--model', join(dir, 'nope'), '--format', 'hf', '--out', join(dir, 'x')],
      /--model: .*nope: no such directory/,
    ],
    [
      ['--model', model, '--format', 'gguf', '--out', join(dir, 'x.gguf'), '--dtype', 'q4'],
      /--dtype must be/,
    ],
    [['--model', model, '--format', 'hf', '--out', model], /--out: must differ/],
  ];
  const results = await xfmrAll(cases.map(([args]) => ['export', ...args]));
  for (const [i, [args, want]] of cases.entries()) {
    const r = results[i];
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, want);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
