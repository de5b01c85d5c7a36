/**
 * Attention maps against the model's own forward pass: a hook on layer l's attention captures its
 * input and output during `model.forward`, and wo(A @ v) rebuilt from the maps must reproduce that
 * output for every head (GPT-2 style: learned positions, MHA; Llama style: RoPE, GQA).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attentionMap, attentionMaps } from '../../src/models/attention_map.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { gpt2Config, llamaConfig } from '../../src/models/presets.ts';
import { noGrad, Rng, type RopeTable, Tensor, tidy } from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

// initStd 0.3: sharp, position-dependent maps, far from uniform (a wrong q or k shows).
const small = { vocabSize: 50, contextLength: 24, dModel: 24, nLayers: 3, nHeads: 4, initStd: 0.3 };
const CONFIGS: Record<string, ModelConfig> = {
  'gpt2 (learned positions, MHA)': gpt2Config(small),
  'llama (RoPE, GQA)': llamaConfig({ ...small, nKvHeads: 2, headDim: 6, ffnDim: 40 }),
};

/** Runs model.forward with a hook on layer l's attention; returns its input [T, C] and output [T, C]. */
function captureAttention(
  model: DecoderLM,
  ids: Int32Array,
  l: number,
): { input: Float32Array; output: Float32Array } {
  const attn = model.layers[l].attention;
  let input: Float32Array | null = null;
  let output: Float32Array | null = null;
  const original = attn.forward;
  attn.forward = (x: Tensor, rot: RopeTable | null): Tensor => {
    const y = original.call(attn, x, rot);
    input = Float32Array.from(x.data);
    output = Float32Array.from(y.data);
    return y;
  };
  try {
    noGrad(() => tidy(() => model.forward(ids, 1, ids.length).dispose()));
  } finally {
    attn.forward = original;
  }
  assert.ok(input && output, 'the hook saw the attention call');
  return { input, output };
}

/** wo(concat_h(A[h] @ v[g(h)])) for the maps of layer l and the captured attention input. */
function rebuild(
  model: DecoderLM,
  l: number,
  input: Float32Array,
  maps: Float32Array,
  T: number,
): Float32Array {
  const { nHeads: H, nKvHeads: Hkv, headDim: D, dModel: C } = model.config;
  const attn = model.layers[l].attention;
  let out = new Float32Array(0);
  noGrad(() =>
    tidy(() => {
      const v = attn.wv.forward(Tensor.wrap(Float32Array.from(input), [T, C])).data; // [T, Hkv * D]
      const y = new Float32Array(T * H * D);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / Hkv));
        for (let i = 0; i < T; i++)
          for (let j = 0; j < T; j++) {
            const a = maps[(h * T + i) * T + j];
            for (let d = 0; d < D; d++) y[(i * H + h) * D + d] += a * v[(j * Hkv + g) * D + d];
          }
      }
      out = Float32Array.from(attn.wo.forward(Tensor.wrap(y, [T, H * D])).data);
    }),
  );
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const backend of BACKENDS) {
  describe(`attention maps on ${backend}`, () => {
    for (const [name, config] of Object.entries(CONFIGS)) {
      test(`${name}: rows are causal distributions, and wo(A v) reproduces every layer's attention`, () =>
        withBackend(backend, () => {
          const model = new DecoderLM(config, 5);
          const rng = new Rng(2);
          const T = 13;
          const ids = Int32Array.from({ length: T }, () => rng.int(config.vocabSize));
          for (let l = 0; l < config.nLayers; l++) {
            const { T: t, H, weights } = attentionMaps(model, ids, l);
            assert.equal(t, T);
            assert.equal(H, config.nHeads);
            assert.equal(weights.length, H * T * T);
            let sharpest = 0;
            for (let h = 0; h < H; h++)
              for (let i = 0; i < T; i++) {
                let sum = 0;
                for (let j = 0; j < T; j++) {
                  const w = weights[(h * T + i) * T + j];
                  if (j > i) assert.equal(w, 0, `layer ${l} head ${h}: [${i}, ${j}] above the diagonal`);
                  else assert.ok(w >= 0 && w <= 1);
                  sum += w;
                  if (i >= 4) sharpest = Math.max(sharpest, w);
                }
                assert.ok(Math.abs(sum - 1) < 1e-5, `layer ${l} head ${h} row ${i} sums to ${sum}`);
              }
            assert.ok(sharpest > 0.5, `layer ${l}: the maps are not all near-uniform (max ${sharpest})`);
            const { input, output } = captureAttention(model, ids, l);
            const rebuilt = rebuild(model, l, input, weights, T);
            const scale = Math.max(...Array.from(output, Math.abs));
            const diff = maxAbsDiff(rebuilt, output);
            assert.ok(
              diff < 1e-4 * scale,
              `layer ${l}: wo(A v) differs from the attention output by ${diff}`,
            );
          }
        }));
    }
  });
}

test('the first row attends only to itself; one head of the maps as rows', () => {
  const model = new DecoderLM(CONFIGS['llama (RoPE, GQA)'], 1);
  const ids = [3, 14, 15, 9, 2];
  const all = attentionMaps(model, ids, 1);
  const rows = attentionMap(model, ids, 1, 3);
  assert.equal(rows.length, 5);
  assert.ok(rows.every((r) => r.length === 5));
  assert.equal(rows[0][0], 1);
  assert.deepEqual(rows[4], Array.from(all.weights.subarray((3 * 5 + 4) * 5, (3 * 5 + 5) * 5)));
});

test('bad layer, head, ids and lengths throw messages naming them', () => {
  const model = new DecoderLM(CONFIGS['gpt2 (learned positions, MHA)'], 1);
  assert.throws(() => attentionMaps(model, [1, 2], 3), /layer must be an integer in \[0, 3\), got 3/);
  assert.throws(() => attentionMaps(model, [1, 2], -1), /layer/);
  assert.throws(() => attentionMap(model, [1, 2], 0, 4), /head must be an integer in \[0, 4\), got 4/);
  assert.throws(() => attentionMaps(model, [], 0), /empty/);
  assert.throws(() => attentionMaps(model, [1, 50], 0), /token id 50/);
  assert.throws(() => attentionMaps(model, new Array(25).fill(1), 0), /context length 24/);
});
