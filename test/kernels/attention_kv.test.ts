/**
 * Kernels.attentionForwardKV: the fused attention reading K and V from an f16 or q8_0 KV cache.
 * Its contract is "attentionForward on the widened cache", and widening is exact (an f16 is an
 * f32; a q8_0 value q * d is an int8 times an f16, exact in f32), so on each backend the result
 * must equal attentionForward over the codecs' f32 decoding of the same cache bit for bit: the
 * widened tile feeds the same products and softmax in the same order. That holds with bf16 rounding
 * too (both round the widened values), on awkward shapes: D = 7 (a head's row straddles q8_0
 * blocks), MQA and MHA decode steps, GQA chunked prefill, a window starting mid-cache with capped
 * scores, rows that see no key. Native against js on these shapes (bound 1e-5 relative, as the f32
 * forward): test/kernels/native_parity.test.ts. Bad arguments: errors naming them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { f16ArrayToF32, f32ArrayToF16 } from '../../src/kernels/float16.ts';
import { jsKernels, type Kernels } from '../../src/kernels/index.ts';
import { dequantizeQ8_0, quantizeQ8_0 } from '../../src/kernels/js/quant/q8_0.ts';
import type { LowKVType } from '../../src/kernels/kv_types.ts';
import { type AttnShape, attnLabel, WINDOWED } from './attention_inputs.ts';
import { makeRandom } from './gemm_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

const SHAPES: AttnShape[] = [
  { B: 2, Tq: 13, Tk: 13, Hq: 4, Hkv: 2, D: 7, qOffset: 0, causal: true, why: 'GQA, D=7' },
  { B: 2, Tq: 1, Tk: 37, Hq: 6, Hkv: 1, D: 16, qOffset: 36, causal: true, cache: 50, why: 'MQA decode' },
  { B: 3, Tq: 1, Tk: 20, Hq: 4, Hkv: 4, D: 64, qOffset: 19, causal: true, cache: 29, why: 'MHA decode' },
  { B: 1, Tq: 5, Tk: 17, Hq: 4, Hkv: 2, D: 13, qOffset: 12, causal: true, cache: 24, why: 'chunked prefill' },
  { B: 1, Tq: 130, Tk: 130, Hq: 2, Hkv: 1, D: 80, qOffset: 0, causal: true, why: 'tiles' },
  { ...WINDOWED.cache, softcap: 2, why: 'window mid-cache, capped' },
  { B: 1, Tq: 4, Tk: 6, Hq: 2, Hkv: 1, D: 8, qOffset: -2, causal: true, why: 'rows with no key' },
];

interface Stored {
  k: Uint16Array | Uint8Array;
  v: Uint16Array | Uint8Array;
  /** The codec's f32 decoding of k and v. */
  kf: Float32Array;
  vf: Float32Array;
}

/** k, v of `n` values (q in [-2, 2), v in [-1, 1)) stored as `type`; q8_0 pads to whole blocks. */
function store(type: LowKVType, n: number, seed: number): Stored {
  const r = makeRandom(seed);
  const m = type === 'q8_0' ? Math.ceil(n / 32) * 32 : n;
  const k = new Float32Array(m);
  k.set(r(n).map((x) => 2 * x));
  const v = new Float32Array(m);
  v.set(r(n));
  if (type === 'f16') {
    const [ks, vs] = [f32ArrayToF16(k), f32ArrayToF16(v)];
    return { k: ks, v: vs, kf: f16ArrayToF32(ks), vf: f16ArrayToF32(vs) };
  }
  const [ks, vs] = [quantizeQ8_0(k, m), quantizeQ8_0(v, m)];
  return { k: ks, v: vs, kf: dequantizeQ8_0(ks, m), vf: dequantizeQ8_0(vs, m) };
}

function forward(kern: Kernels, s: AttnShape, type: LowKVType, bf16: boolean, seed: number) {
  const stride = (s.cache ?? s.Tk) * s.Hkv * s.D;
  const x = store(type, s.B * stride, seed);
  const q = makeRandom(seed + 1)(s.B * s.Tq * s.Hq * s.D).map((v) => 2 * v);
  const args = [s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D, stride, s.qOffset, 1 / Math.sqrt(s.D), s.causal] as const;
  const mask = [s.window ?? 0, s.softcap ?? 0, bf16] as const;
  const run = (f: (out: Float32Array, lse: Float32Array) => void) => {
    const out = new Float32Array(q.length).fill(Number.NaN); // overwritten everywhere
    const lse = new Float32Array(s.B * s.Hq * s.Tq).fill(Number.NaN);
    f(out, lse);
    return { out, lse };
  };
  return {
    got: run((out, lse) => kern.attentionForwardKV(q, x.k, x.v, type, out, lse, ...args, ...mask)),
    want: run((out, lse) => kern.attentionForward(q, x.kf, x.vf, out, lse, ...args, ...mask)),
  };
}

const backends: [string, () => Kernels, string | false][] = [
  ['js', () => jsKernels, false],
  ['native', requireNative, skipWithoutNative()],
];

for (const [name, kern, skip] of backends)
  for (const type of ['f16', 'q8_0'] as const)
    test(`${name} attentionForwardKV ${type} equals attentionForward on the decoded cache, bit for bit`, {
      skip,
    }, () => {
      const k = kern();
      SHAPES.forEach((s, i) => {
        for (const bf16 of [false, true]) {
          const { got, want } = forward(k, s, type, bf16, 100 + i);
          const label = `${attnLabel(s)}${bf16 ? ' bf16' : ''}`;
          assert.deepEqual(got.out, want.out, `out: ${label}`);
          assert.deepEqual(got.lse, want.lse, `lse: ${label}`);
          assert.ok(
            got.out.every((x) => Number.isFinite(x)),
            label,
          );
        }
      });
    });

for (const [name, kern, skip] of backends)
  test(`${name} attentionForwardKV rejects bad arguments, naming them`, { skip }, () => {
    const k = kern();
    const q = new Float32Array(8);
    const out = new Float32Array(8);
    const lse = new Float32Array(2);
    const shape = [1, 1, 4, 2, 1, 4, 16, 3, 0.5, true, 0, 0, false] as const;
    const u16 = new Uint16Array(16);
    const u8 = new Uint8Array(34);
    assert.throws(
      () => k.attentionForwardKV(q, u16, u16, 'q4_0' as LowKVType, out, lse, ...shape),
      /must be "f16" or "q8_0"/,
    );
    assert.throws(() => k.attentionForwardKV(q, u8, u8, 'f16', out, lse, ...shape), /must be a Uint16Array/);
    assert.throws(
      () => k.attentionForwardKV(q, u16, u16, 'q8_0', out, lse, ...shape),
      /must be a Uint8Array/,
    );
    if (name === 'native') {
      // Short stores: 16 values need 16 f16 / one 34-byte q8_0 block.
      assert.throws(
        () => k.attentionForwardKV(q, u16.subarray(0, 15), u16, 'f16', out, lse, ...shape),
        /k has 15 elements, needs at least 16/,
      );
      assert.throws(
        () => k.attentionForwardKV(q, u8, u8.subarray(0, 33), 'q8_0', out, lse, ...shape),
        /v has 33 elements, needs at least 34/,
      );
    }
  });
