/**
 * The KV cache in each storage type (f32, f16, q8_0): its bytes, what append stores (the codecs'
 * bytes, within each type's storage error), copy / reset / dispose, a Qwen2.5-0.5B-shaped 32k-token
 * f16 cache, and generation through a small random model against the f32 cache.
 *
 * Storage error per value x (src/kernels/kv_types.ts): f16 |x16 - x| <= 2^-11 |x| for |x| >= 2^-14;
 * q8_0 |q d - x| <= amax / 254 + amax 2^-11 (half a step of amax / 127, plus the f16 rounding of
 * the scale, times |q| <= 127), amax the largest |x| of the 32-value block.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { f16ArrayToF32, f32ArrayToF16 } from '../../src/kernels/float16.ts';
import { dequantizeQ8_0, quantizeQ8_0Activations } from '../../src/kernels/js/quant/q8_0.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { kvCacheBytes, StaticKVCache } from '../../src/nn/kv_cache.ts';
import { attentionCached, type KVStore, type KVType, Rng, Tensor } from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

const TYPES: KVType[] = ['f32', 'f16', 'q8_0'];

/** A store's keys or values as f32 (what the attention reads). */
function decoded(s: KVStore, which: 'k' | 'v'): Float32Array {
  if (s.type === 'f32') return s[which];
  if (s.type === 'f16') return f16ArrayToF32(s[which]);
  return dequantizeQ8_0(s[which], (s[which].length / 34) * 32);
}

/** n values in +-[2^-6, 4) (f16 normals), signs mixed, magnitudes spread over 8 octaves. */
function spread(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.random() < 0.5 ? -1 : 1) * 2 ** (rng.random() * 8 - 6));
}

test('bytes: f32 = layers x 2 x Hkv x D x maxLen x batch x 4, f16 half that, q8_0 34/32 bytes a value', () => {
  const [L, B, maxLen, Hkv, D] = [3, 2, 5, 2, 16];
  const f32 = L * 2 * Hkv * D * maxLen * B * 4;
  const want: Record<KVType, number> = { f32, f16: f32 / 2, q8_0: (f32 / 4) * (34 / 32) };
  for (const type of TYPES) {
    const cache = new StaticKVCache(L, B, maxLen, Hkv, D, type);
    assert.equal(cache.bytes, want[type], type);
    assert.equal(kvCacheBytes({ nLayers: L, nKvHeads: Hkv, headDim: D }, type, maxLen, B), want[type]);
    // ... and that is what is allocated
    let held = 0;
    for (let l = 0; l < L; l++) held += cache.store(l).k.byteLength + cache.store(l).v.byteLength;
    assert.equal(held, want[type], `${type} allocation`);
  }
  assert.throws(
    () => new StaticKVCache(1, 1, 4, 3, 8, 'q8_0'),
    /row of 24 values .* not a whole number of 32-value blocks; use --kv-type f16 or f32/,
  );
});

test('append stores the codecs bytes, within each type storage error, and nothing else', () => {
  const [B, maxLen, Hkv, D] = [2, 6, 2, 32];
  const row = Hkv * D;
  const rng = new Rng(4);
  for (const type of TYPES) {
    const cache = new StaticKVCache(2, B, maxLen, Hkv, D, type);
    // 3 rows appended to sequence 1 of layer 1 after 2 past tokens, from rows [1, 4) of k and v
    cache.lengths[1] = 2;
    const k = spread(rng, 5 * row);
    const v = spread(rng, 5 * row);
    cache.append(1, 1, k, v, 1, 3);
    const at = (1 * maxLen + 2) * row;
    for (const [which, x] of [
      ['k', k],
      ['v', v],
    ] as const) {
      const s = cache.store(1);
      const got = decoded(s, which);
      const src = x.subarray(row, 4 * row);
      // exactly the codec's bytes (q8_0: as llama.cpp's CPU backend quantizes its cache)
      if (s.type === 'f16') assert.deepEqual(s[which].subarray(at, at + 3 * row), f32ArrayToF16(src));
      if (s.type === 'q8_0') {
        const bytes = s[which].subarray((at / 32) * 34, ((at + 3 * row) / 32) * 34);
        assert.deepEqual(bytes, quantizeQ8_0Activations(src, 3 * row));
      }
      for (let i = 0; i < src.length; i++) {
        const amax = Math.max(...Array.from(src.subarray(i - (i % 32), i - (i % 32) + 32), Math.abs));
        const bound = { f32: 0, f16: 2 ** -11 * Math.abs(src[i]), q8_0: amax / 254 + amax * 2 ** -11 }[type];
        const err = Math.abs(got[at + i] - src[i]);
        assert.ok(err <= bound, `${type} ${which}[${i}]: error ${err} > ${bound}`);
      }
      // every other value is still zero (a layer's other rows, the other sequence, layer 0)
      got.forEach((g, i) => {
        if (i < at || i >= at + 3 * row) assert.equal(g, 0, `${type} ${which} value ${i}`);
      });
      assert.ok(decoded(cache.store(0), which).every((g) => g === 0));
    }
  }
});

test('copy, reset and dispose work for every type (a forked sequence attends like its original)', () => {
  const [Hq, Hkv, D] = [4, 2, 16];
  const row = Hkv * D;
  const rng = new Rng(5);
  for (const type of TYPES) {
    const cache = new StaticKVCache(1, 3, 8, Hkv, D, type);
    cache.append(0, 0, spread(rng, 3 * row), spread(rng, 3 * row), 0, 3);
    cache.append(0, 2, spread(rng, 5 * row), spread(rng, 5 * row), 0, 5);
    cache.lengths.set([3, 0, 5]);
    cache.copy(0, 2); // overwrites a longer sequence: its rows past 3 must not be read
    assert.deepEqual([...cache.lengths], [3, 0, 3]);
    const q = Tensor.wrap(spread(rng, 2 * Hq * D), [2, Hq, D]);
    const y = attentionCached(q, cache.store(0), [
      { seq: 0, start: 0, length: 1, past: 2 },
      { seq: 2, start: 1, length: 1, past: 2 },
    ]).data;
    // the same query row against both: q rows differ, so attend seq 2 with seq 0's query too
    const y2 = attentionCached(Tensor.wrap(q.data.slice(0, Hq * D), [1, Hq, D]), cache.store(0), [
      { seq: 2, start: 0, length: 1, past: 2 },
    ]).data;
    assert.deepEqual(y2, y.subarray(0, Hq * D), type);
    cache.reset(2);
    assert.equal(cache.lengths[2], 0);
    cache.dispose();
    cache.dispose(); // idempotent
    assert.throws(() => cache.store(0), /KV cache used after dispose/);
    assert.throws(() => cache.copy(0, 1), /KV cache used after dispose/);
  }
});

test('Qwen2.5-0.5B-shaped f16 cache of 32,768 tokens: 384 MiB, one append and one attention step at 32,767', (t) => {
  // d 896, 24 layers, 14 heads, 2 KV heads, head_dim 64: no weights needed, just the cache and the op.
  const [L, Hq, Hkv, D, maxLen] = [24, 14, 2, 64, 32768];
  const cache = new StaticKVCache(L, 1, maxLen, Hkv, D, 'f16');
  assert.equal(cache.bytes, 384 * 2 ** 20);
  t.diagnostic(`KV cache f16, ${maxLen} tokens x 1 sequence, ${(cache.bytes / 2 ** 20).toFixed(1)} MiB`);
  const rng = new Rng(6);
  const p = maxLen - 1;
  cache.lengths[0] = p; // 32,767 past tokens whose keys and values are zero
  const k = spread(rng, Hkv * D);
  const v = spread(rng, Hkv * D);
  cache.append(L - 1, 0, k, v, 0, 1);
  const q = spread(rng, Hq * D);
  const y = attentionCached(Tensor.wrap(q, [1, Hq, D]), cache.store(L - 1), [
    { seq: 0, start: 0, length: 1, past: p },
  ]).data;
  // Every past key is 0 (score 0) with value 0, so out = v16 e^s / (p + e^s), s = q.k16 / sqrt(D):
  // float64 from the stored (f16) k and v; f32 sums over 32,768 keys: 1e-5 relative.
  const [k16, v16] = [f16ArrayToF32(f32ArrayToF16(k)), f16ArrayToF32(f32ArrayToF16(v))];
  for (let h = 0; h < Hq; h++) {
    const hk = Math.floor(h / (Hq / Hkv));
    let s = 0;
    for (let d = 0; d < D; d++) s += q[h * D + d] * k16[hk * D + d];
    const w = Math.exp(s / Math.sqrt(D)) / (p + Math.exp(s / Math.sqrt(D)));
    for (let d = 0; d < D; d++) {
      const want = w * v16[hk * D + d];
      const got = y[h * D + d];
      assert.ok(
        Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-12,
        `head ${h} dim ${d}: ${got} vs ${want}`,
      );
    }
  }
  cache.dispose();
});

/**
 * Generation through a small random model (GQA, 2 layers; initStd large enough that its logits
 * have clear winners), f16 and q8_0 caches against the f32 one, the same tokens fed to each
 * (teacher forcing with the f32 cache's greedy tokens).
 *
 * 1. Exactness: logits with a cache of type T equal, to f32 rounding (1e-5 relative), those of an
 *    f32 cache fed the rows the codec would store (RoundedCache): the cached attention reads what
 *    was stored and nothing else differs.
 * 2. Tolerance from the storage error c (relative to a 32-value block's amax: f16 2^-11, q8_0
 *    1/254 + 2^-11): an attention output is a convex combination of value rows, so value errors
 *    move it by at most c max|v|; key errors move each score by at most scale |q|_1 c max|k| and
 *    so each probability by a relative ~2x that; through the rest of the layer and the residual
 *    stream this reaches the logits about linearly. Allowing 4c per layer relative to the logits'
 *    spread: |logits_T - logits_f32| <= 4 L c max|logits_f32|.
 * 3. Greedy: wherever the f32 top-2 gap exceeds twice that tolerance, T picks the same token.
 */
class RoundedCache extends StaticKVCache {
  constructor(
    m: DecoderLM,
    private readonly as: KVType,
  ) {
    super(m.config.nLayers, 1, m.config.contextLength, m.config.nKvHeads, m.config.headDim, 'f32');
  }
  override append(
    layer: number,
    seq: number,
    k: Float32Array,
    v: Float32Array,
    from: number,
    n: number,
  ): void {
    const round = (x: Float32Array): Float32Array => {
      if (this.as === 'f16') return f16ArrayToF32(f32ArrayToF16(x));
      if (this.as === 'q8_0') return dequantizeQ8_0(quantizeQ8_0Activations(x, x.length), x.length);
      return x;
    };
    const row = this.nKvHeads * this.headDim;
    const rk = round(k.slice(from * row, (from + n) * row));
    const rv = round(v.slice(from * row, (from + n) * row));
    super.append(layer, seq, rk, rv, 0, n);
  }
}

const GEN_CONFIG: ModelConfig = llamaConfig({
  vocabSize: 97,
  contextLength: 40,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  ffnDim: 96,
  initStd: 0.2,
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

for (const backend of BACKENDS)
  describe(`generation with a low-precision KV cache on ${backend}`, () => {
    for (const type of ['f16', 'q8_0'] as const)
      test(`${type}: logits within the storage-derived tolerance of f32, same greedy tokens`, (t) =>
        withBackend(backend, () => {
          const model = new DecoderLM(GEN_CONFIG, 11);
          const rng = new Rng(12);
          const prompt = Int32Array.from({ length: 9 }, () => rng.int(GEN_CONFIG.vocabSize));
          const caches = {
            f32: model.createCache(1, GEN_CONFIG.contextLength, 'f32'),
            low: model.createCache(1, GEN_CONFIG.contextLength, type),
            rounded: new RoundedCache(model, type),
          };
          assert.equal(caches.low.type, type);
          const c = type === 'f16' ? 2 ** -11 : 1 / 254 + 2 ** -11;
          const L = GEN_CONFIG.nLayers;
          let feed = prompt;
          let worst = 0;
          let decided = 0;
          for (let step = 0; step < 12; step++) {
            const [ref, low, rounded] = [caches.f32, caches.low, caches.rounded].map(
              (cache) => model.extend([feed], cache)[0],
            );
            assert.ok(ref && low && rounded);
            const scale = maxAbs(ref);
            // 1. exactly what was stored
            const dRounded = maxAbs(low.map((x, i) => x - rounded[i]));
            assert.ok(dRounded <= 1e-5 * maxAbs(rounded), `step ${step}: vs rounded f32 cache ${dRounded}`);
            // 2. within the tolerance of the f32 cache
            const tol = 4 * L * c * scale;
            const d = maxAbs(low.map((x, i) => x - ref[i]));
            worst = Math.max(worst, d / tol);
            assert.ok(d <= tol, `step ${step}: |logits ${type} - f32| = ${d} > ${tol}`);
            // 3. the same greedy token where the f32 margin is clear
            const order = [...ref.keys()].sort((a, b) => ref[b] - ref[a]);
            const best = order[0];
            if (ref[order[0]] - ref[order[1]] > 2 * tol) {
              decided++;
              const lowBest = [...low.keys()].reduce((a, b) => (low[b] > low[a] ? b : a), 0);
              assert.equal(lowBest, best, `step ${step}`);
            }
            feed = Int32Array.of(best);
          }
          assert.ok(
            decided >= 6,
            `only ${decided} of 12 steps had a top-2 gap above 2 tol: the check is too weak`,
          );
          t.diagnostic(
            `${type}: largest logit difference ${(worst * 100).toFixed(1)}% of the tolerance; ${decided} of 12 greedy steps checked`,
          );
        }));
  });
