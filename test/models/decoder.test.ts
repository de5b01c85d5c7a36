/**
 * The decoder LM: shapes, parameter names, and the KV-cache path against a full recompute at
 * every position, for a batch of sequences of unequal lengths, GPT-2 and Llama styles, and with
 * sliding windows shorter than the sequences (Mistral: every layer; Gemma 2: even layers, with
 * soft-capped attention scores; Qwen2: the layers from max_window_layers on; Gemma 3: all but
 * every sixth layer, whose RoPE base and scaling differ from the local layers').
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import {
  gemma2Config,
  gemma3Config,
  gpt2Config,
  llamaConfig,
  mistralConfig,
  qwen2Config,
} from '../../src/models/presets.ts';
import { noGrad, Rng, tidy } from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

const small = { vocabSize: 61, contextLength: 32, dModel: 24, nLayers: 2, nHeads: 4 };
const CONFIGS: Record<string, ModelConfig> = {
  gpt2: gpt2Config(small),
  'llama (GQA)': llamaConfig({ ...small, nKvHeads: 2, headDim: 6, ffnDim: 40 }),
  'llama (MQA, untied)': llamaConfig({ ...small, nKvHeads: 1, headDim: 6, ffnDim: 40 }),
  qwen2: qwen2Config({ ...small, nKvHeads: 2, headDim: 6, ffnDim: 40 }),
  'mistral (window 4)': mistralConfig({ ...small, nKvHeads: 2, headDim: 6, ffnDim: 40, slidingWindow: 4 }),
  'gemma2 (window 3 on even layers, capped scores)': gemma2Config({
    ...small,
    nLayers: 3,
    nKvHeads: 2,
    headDim: 6,
    ffnDim: 40,
    slidingWindow: 3,
    attnLogitSoftcap: 0.5,
    finalLogitSoftcap: 2,
  }),
  'gemma3 (window 3 on local layers, two RoPE bases, linear scaling on layer 5)': gemma3Config({
    ...small,
    nLayers: 7,
    nKvHeads: 2,
    headDim: 6,
    ffnDim: 40,
    slidingWindow: 3,
    ropeScaling: { type: 'linear', factor: 4 },
  }),
  'qwen2 (window 5 from layer 1)': qwen2Config({
    ...small,
    nKvHeads: 2,
    headDim: 6,
    ffnDim: 40,
    slidingWindow: 5,
    slidingLayers: [false, true],
  }),
};

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    max = Math.max(max, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return max / scale;
}

for (const backend of BACKENDS) {
  describe(`decoder on ${backend}`, () => {
    for (const [name, config] of Object.entries(CONFIGS)) {
      test(`${name}: KV cache equals full recompute at every position, unequal lengths`, () =>
        withBackend(backend, () => {
          const model = new DecoderLM(config, 3);
          const rng = new Rng(9);
          const lengths = [11, 4, 7];
          const seqs = lengths.map((n) => Int32Array.from({ length: n }, () => rng.int(config.vocabSize)));
          // Full recompute: logits of every prefix position from one forward per sequence.
          const full = seqs.map((s) => noGrad(() => tidy(() => model.forward(s, 1, s.length).toArray())));
          // Cached: prefill the first 3 tokens of each together, then one token per step.
          const cache = model.createCache(seqs.length, config.contextLength);
          assert.equal(
            cache.bytes,
            config.nLayers * 2 * config.nKvHeads * config.headDim * config.contextLength * seqs.length * 4,
          );
          const V = config.vocabSize;
          const pre = model.extend(
            seqs.map((s) => s.subarray(0, 3)),
            cache,
          );
          pre.forEach((logits, b) => {
            const ref = Float32Array.from(full[b].slice(2 * V, 3 * V));
            assert.ok(logits && maxRelDiff(logits, ref) < 1e-5, `prefill seq ${b}`);
          });
          for (let t = 3; t < Math.max(...lengths); t++) {
            const step = seqs.map((s) => (t < s.length ? s.subarray(t, t + 1) : new Int32Array(0)));
            const out = model.extend(step, cache);
            out.forEach((logits, b) => {
              if (t >= seqs[b].length) {
                assert.equal(logits, null);
                return;
              }
              const ref = Float32Array.from(full[b].slice(t * V, (t + 1) * V));
              const d = logits ? maxRelDiff(logits, ref) : Infinity;
              assert.ok(d < 1e-5, `seq ${b} position ${t}: relative difference ${d}`);
            });
          }
          assert.deepEqual([...cache.lengths], lengths);
        }));
    }

    test('Gemma embeddings: times sqrt(d) rounded to the embedding dtype (bf16(sqrt(24)) = 4.90625)', () =>
      withBackend(backend, () => {
        const config =
          CONFIGS['gemma3 (window 3 on local layers, two RoPE bases, linear scaling on layer 5)'];
        const C = config.dModel;
        for (const [dtype, factor] of [
          ['f32', Math.fround(Math.sqrt(24))],
          ['bf16', 4.90625],
        ] as const) {
          const model = new DecoderLM(config, 4).castMatrices(dtype);
          const row = model.tokEmbeddings.weight.cast('f32').data.slice(7 * C, 8 * C);
          const got = noGrad(() => tidy(() => model.embed(Int32Array.of(7)).toArray()));
          assert.deepEqual(
            got,
            Array.from(row, (w) => Math.fround(w * factor)),
            dtype,
          );
        }
      }));

    test('KV cache copy: a forked sequence continues exactly like its original', () =>
      withBackend(backend, () => {
        const config = CONFIGS['llama (GQA)'];
        const model = new DecoderLM(config, 5);
        const cache = model.createCache(3, config.contextLength);
        const e = new Int32Array(0);
        model.extend([Int32Array.of(4, 8, 15, 16), e, Int32Array.of(1, 2, 3, 4, 5, 6)], cache);
        cache.copy(0, 2); // overwrites a longer sequence: its extra rows must not leak
        assert.deepEqual([...cache.lengths], [4, 0, 4]);
        const [a, , b] = model.extend([Int32Array.of(23), e, Int32Array.of(23)], cache);
        const ref = noGrad(() => tidy(() => model.forward(Int32Array.of(4, 8, 15, 16, 23), 1, 5).toArray()));
        const want = Float32Array.from(ref.slice(4 * config.vocabSize));
        assert.ok(a && b && maxRelDiff(a, want) < 1e-5 && maxRelDiff(b, want) < 1e-5);
      }));

    test('parameter names are the canonical checkpoint names', () => {
      const names = [...new DecoderLM(CONFIGS['llama (GQA)']).namedParameters().keys()];
      assert.ok(names.includes('tok_embeddings.weight'));
      assert.ok(names.includes('layers.1.attention.wk.weight'));
      assert.ok(names.includes('layers.0.feed_forward.w3.weight'));
      assert.ok(names.includes('norm.weight'));
      assert.ok(names.includes('output.weight'));
      const g = [...new DecoderLM(CONFIGS.gpt2).namedParameters().keys()];
      assert.ok(
        g.includes('pos_embeddings.weight') &&
          g.includes('layers.0.attention_norm.bias') &&
          !g.includes('output.weight'),
      );
    });

    test('errors name the problem', () => {
      const model = new DecoderLM(CONFIGS.gpt2);
      assert.throws(() => model.forward(new Int32Array(40), 1, 40), /exceeds the context length 32/);
      assert.throws(() => model.forward(new Int32Array([61]), 1, 1), /id 61/);
      assert.throws(() => new DecoderLM({ ...CONFIGS.gpt2, nKvHeads: 3 }), /multiple of nKvHeads/);
      const cache = model.createCache(1, 4);
      model.extend([new Int32Array([1, 2, 3, 4])], cache);
      assert.throws(() => model.extend([new Int32Array([1])], cache), /KV cache full/);
      cache.dispose();
      assert.throws(() => model.extend([new Int32Array([1])], cache), /KV cache used after dispose/);
    });

    test('a sliding window changes exactly the positions past it; layers follow the family pattern', () =>
      withBackend(backend, () => {
        const mistral = CONFIGS['mistral (window 4)'];
        const V = mistral.vocabSize;
        const ids = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 61);
        const logits = (c: ModelConfig) =>
          noGrad(() => tidy(() => new DecoderLM(c, 3).forward(ids, 1, ids.length).toArray()));
        const windowed = logits(mistral);
        const full = logits({ ...mistral, slidingWindow: null });
        // Positions 0..3 see no more than 4 tokens either way; later ones lose the oldest.
        assert.deepEqual(windowed.slice(0, 4 * V), full.slice(0, 4 * V));
        for (let t = 4; t < ids.length; t++) {
          const d = maxRelDiff(
            Float32Array.from(windowed.slice(t * V, (t + 1) * V)),
            Float32Array.from(full.slice(t * V, (t + 1) * V)),
          );
          assert.ok(d > 1e-4, `position ${t}: the window changed nothing (${d})`);
        }
        // A window as long as the context is full attention.
        assert.deepEqual(logits({ ...mistral, slidingWindow: mistral.contextLength }), full);
        const windows = (c: ModelConfig) => new DecoderLM(c).layers.map((b) => b.attention.cfg.window);
        assert.deepEqual(windows(mistral), [4, 4]);
        assert.deepEqual(windows(CONFIGS['gemma2 (window 3 on even layers, capped scores)']), [3, 0, 3]);
        assert.deepEqual(windows(CONFIGS['qwen2 (window 5 from layer 1)']), [0, 5]);
        const g3 = new DecoderLM(
          CONFIGS['gemma3 (window 3 on local layers, two RoPE bases, linear scaling on layer 5)'],
        );
        assert.deepEqual(
          g3.layers.map((b) => b.attention.cfg.window),
          [3, 3, 3, 3, 3, 0, 3],
        );
        // one table per (base, scaling): the local layers share theirs, the global layer has its own
        const local = g3.rots[0];
        assert.ok(local && g3.rots.every((r, i) => (i === 5 ? r !== local : r === local)));
        assert.ok(g3.layers.every((b) => b.attention.qNorm?.unitOffset && b.attention.kNorm?.unitOffset));
        const gemma = new DecoderLM(CONFIGS['gemma2 (window 3 on even layers, capped scores)']);
        assert.deepEqual(
          gemma.layers.map((b) => b.attention.cfg.softcap),
          [0.5, 0.5, 0.5],
        );
        assert.throws(
          () => new DecoderLM({ ...mistral, slidingLayers: [true] }),
          /slidingLayers has 1 entries for 2 layers/,
        );
        assert.throws(
          () => new DecoderLM({ ...mistral, slidingWindow: 0 }),
          /slidingWindow must be a positive integer/,
        );
      }));
  });
}
