/**
 * Loading from a memory-mapped file (models/load.ts, `map`, on by default): the weights kept as
 * stored are views into the file's bytes (f32 and bf16 safetensors, Q8_0 GGUF blocks), the model
 * computes exactly what a model loaded into private copies computes (same logits bit for bit, same
 * greedy tokens), writing into a weight or training never changes the file (MAP_PRIVATE
 * copy-on-write), the mapping outlives the loader's file handle and is released once the model is
 * collected, and the js backend (which reads the file instead of mapping it) loads the same model.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { argmax } from '../../src/generate/index.ts';
import { exportGguf, type GgufTokenizer } from '../../src/io/gguf_export.ts';
import type { NamedTensor } from '../../src/io/tensors.ts';
import { kernels, useBackend } from '../../src/kernels/index.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadDecoder, saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { backward, type Tensor } from '../../src/tensor/index.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { tempDir } from '../io/helpers.ts';
import { collect, mappingsOf } from '../kernels/mappings.ts';

// d 64: Q8_0 rows are whole 32-blocks
const config = llamaConfig({
  vocabSize: 96,
  contextLength: 32,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 96,
  initStd: 0.08,
});
const PROMPT = Int32Array.from([3, 14, 15, 92, 65, 35]);

/** Greedy continuation of PROMPT (n tokens) and the prompt's last logits. */
function greedy(model: DecoderLM, n = 6): { ids: number[]; logits: number[] } {
  const cache = model.createCache(1, PROMPT.length + n);
  let logits = model.extend([PROMPT], cache)[0] as Float32Array;
  const first = [...logits];
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(argmax(logits));
    logits = model.extend([Int32Array.of(ids[i]!)], cache)[0] as Float32Array;
  }
  return { ids, logits: first };
}

/** The bytes behind a weight matrix of any dtype. */
function storage(t: Tensor): ArrayBufferLike {
  return (t.dtype === 'f32' ? t.data : t.dtype === 'bf16' ? t.bf16Data : t.quantData).buffer;
}

/** The weight matrices (the parameters a loader may map). */
function matricesOf(model: DecoderLM): Tensor[] {
  const names = model.matrixNames();
  return [...model.namedParameters()].filter(([n]) => names.has(n)).map(([, t]) => t);
}

const hasNativeMap = loadNative().mapFile !== null && kernels().name === 'native';

describe('a model loaded from a mapped file', () => {
  const root = tempDir();
  const source = new DecoderLM(config, 7);
  const f32Dir = join(root, 'f32');
  saveModel(f32Dir, source);
  const f32File = join(f32Dir, 'model.safetensors');
  const bf16Dir = join(root, 'bf16');
  saveModel(bf16Dir, new DecoderLM(config, 7).castMatrices('bf16'));
  const tokens = Array.from({ length: config.vocabSize }, (_, i) => (i === 0 ? '<|endoftext|>' : `t${i}`));
  const tokenizer: GgufTokenizer = {
    tokens,
    tokenTypes: tokens.map((_, i) => (i === 0 ? 3 : 1)),
    merges: [],
    bosId: 0,
    eosId: 0,
    model: 'gpt2',
    pre: 'gpt-2',
  };
  const canonical = new Map<string, NamedTensor>();
  for (const [name, p] of source.namedParameters())
    canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
  const q8File = join(root, 'q8_0.gguf');
  exportGguf(q8File, config, canonical, tokenizer, { dtype: 'Q8_0' });

  for (const [label, path, dtype, fileDtype] of [
    ['f32 safetensors', f32Dir, 'f32', 'f32'],
    ['bf16 safetensors (auto)', bf16Dir, 'auto', 'bf16'],
    ['Q8_0 GGUF (auto)', q8File, 'auto', 'q8_0'],
  ] as const) {
    test(`${label}: matrices are views of the file; same logits and tokens as private copies`, () => {
      const file = path.endsWith('.gguf') ? path : join(path, 'model.safetensors');
      const size = statSync(file).size;
      const mapped = loadDecoder(path, { dtype }).model;
      const copied = loadDecoder(path, { dtype, map: false }).model;
      // Every matrix in the file's dtype; mapped: all (but a llama GGUF's un-permuted Q/K) share the
      // file's bytes; copied: none does.
      const views = (m: DecoderLM) =>
        matricesOf(m).filter((t) => t.dtype === fileDtype && storage(t).byteLength === size).length;
      const all = matricesOf(mapped).length;
      const permuted = path.endsWith('.gguf') ? 2 * config.nLayers : 0;
      assert.equal(views(mapped), all - permuted);
      assert.equal(views(copied), 0);
      const a = greedy(mapped);
      const b = greedy(copied);
      assert.deepEqual(a.logits, b.logits);
      assert.deepEqual(a.ids, b.ids);
      if (dtype === 'f32') assert.deepEqual(a, greedy(source));
    });
  }

  test('writing into a weight, or an optimizer step, never changes the file', () => {
    const before = readFileSync(f32File);
    const model = loadDecoder(f32Dir).model;
    const wq = model.layers[0]!.attention.wq.weight;
    assert.equal(storage(wq).byteLength, before.length);
    const old = wq.data[0]!;
    wq.data[0] = old + 1;
    assert.equal(wq.data[0], Math.fround(old + 1));
    // one training step on the mapped weights
    const opt = new AdamW(model.parameters(), { lr: 0.1 });
    const ids = Int32Array.from([...PROMPT, 1, 2]);
    backward(model.loss(ids.subarray(0, 7), ids.subarray(1, 8), 1, 7));
    opt.update();
    assert.notDeepEqual(
      [...model.output!.weight.data.subarray(0, 8)],
      [...source.output!.weight.data.subarray(0, 8)],
    );
    assert.deepEqual(readFileSync(f32File), before);
    assert.deepEqual(greedy(loadDecoder(f32Dir).model), greedy(source));
  });

  test('the mapping outlives the loader and is released with the model', {
    skip: !hasNativeMap,
  }, async () => {
    let model: DecoderLM | null = loadDecoder(f32Dir).model;
    await collect();
    // the loader closed its descriptor long ago; the weights still read the file
    assert.deepEqual(greedy(model), greedy(source));
    if (mappingsOf(f32File) >= 0) assert.ok(mappingsOf(f32File) >= 1);
    model = null;
    await collect();
    assert.equal(model, null);
    assert.ok(mappingsOf(f32File) <= 0, `${f32File} is still mapped after the model was collected`);
  });

  test('js backend: the file is read, not mapped, and the model is the same', () => {
    const before = kernels().name;
    useBackend('js');
    try {
      const model = loadDecoder(f32Dir).model;
      const size = statSync(f32File).size;
      assert.ok(matricesOf(model).every((t) => storage(t).byteLength === size));
      assert.deepEqual(greedy(model, 2).ids, greedy(source, 2).ids);
    } finally {
      useBackend(before);
    }
  });
});
