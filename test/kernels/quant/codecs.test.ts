/**
 * The quant codecs on their own terms (ggml parity is in ggml_parity.test.ts):
 *
 * - dequantize equals, bit for bit, a brute-force decoder written here from the block layouts
 *   (one value at a time, no unpacking loops), on seeded random bytes;
 * - quantize -> dequantize error on random data. Q8_0, Q4_0 (and Q4_1 / Q5_0 / Q5_1, in
 *   fallback_codecs.test.ts) have hard per-value bounds:
 *   Q8_0 rounds x / d with d = amax / 127 (error <= d / 2) and stores d as f16 (relative error
 *   <= 2^-11, times |q| <= 127: 0.062 d), so |e| <= 0.563 d; Q4_0 rounds x / d + 8 with
 *   d = -max / 8 and clamps q <= 15, which costs up to one step at the -max end, and the f16 d adds
 *   8 * 2^-11 d, so |e| <= 1.004 |d|. The K-quants choose their scales by a search and store
 *   them in 6 or 8 bits, so single values may clip; their RMS error is held to 1.15x that of an
 *   ideal uniform quantizer with the same step (step^2 / 12, step = (max - min) / 15 for Q4_K and
 *   Q4_1, / 31 for Q5_K and Q5_1 per 32 values; amax / 8 for Q4_0, / 16 for Q5_0; 2 amax / 63 for
 *   Q6_K per 16). ggml's quantizers measure 0.87-1.07x on these data;
 * - vecDot equals the float64 dot of the dequantized weights and activations within 8 * 2^-24 * T
 *   (T of dot_bound.ts), plus, for Q4_1 / Q5_1, the f16 rounding of the activations' s
 *   (`sError`): vecDot is exact up to float64 rounding, while each dequantized value carries at
 *   most three float32 roundings, each relative to a term bounded by T;
 * - bad arguments are errors naming the type and the buffer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { f16ToF32 } from '../../../src/kernels/float16.ts';
import { nearestInt, roundAway } from '../../../src/kernels/js/quant/block_math.ts';
import { DOT_FORMATS, QUANT_CODECS, quantizeActivations } from '../../../src/kernels/js/quant/index.ts';
import { QUANT_TYPES, type QuantType } from '../../../src/kernels/quant_types.ts';
import { Rng } from '../../../src/tensor/random.ts';
import { dequantizeDot, sError, termBound } from './dot_bound.ts';

const f32 = Math.fround;
const h = (b: Uint8Array, o: number): number => f16ToF32(b[o]! | (b[o + 1]! << 8));
const i8 = (v: number): number => (v << 24) >> 24;

/** sc (which 0) or m (which 1) of sub-block j from the 12 scale bytes at s: 6 bits each. */
function k4(b: Uint8Array, s: number, j: number, which: 0 | 1): number {
  if (j < 4) return b[s + j + 4 * which]! & 63;
  const low = which === 0 ? b[s + j + 4]! & 15 : b[s + j + 4]! >> 4;
  return low | ((b[s + j - 4 + 4 * which]! >> 6) << 4);
}

/** Value i of the blocks in b, decoded from the layout alone. */
const REFERENCE: Record<QuantType, (b: Uint8Array, i: number) => number> = {
  F16: (b, i) => h(b, 2 * i),
  BF16: (b, i) => new Float32Array(new Uint32Array([(b[2 * i]! | (b[2 * i + 1]! << 8)) << 16]).buffer)[0]!,
  Q8_0: (b, i) => {
    const o = 34 * (i >> 5);
    return f32(i8(b[o + 2 + (i & 31)]!) * h(b, o));
  },
  Q4_0: (b, i) => {
    const o = 18 * (i >> 5);
    const j = i & 31;
    const byte = b[o + 2 + (j & 15)]!;
    return f32(((j < 16 ? byte & 15 : byte >> 4) - 8) * h(b, o));
  },
  Q4_1: (b, i) => {
    const o = 20 * (i >> 5);
    const j = i & 31;
    const byte = b[o + 4 + (j & 15)]!;
    return f32(f32((j < 16 ? byte & 15 : byte >> 4) * h(b, o)) + h(b, o + 2));
  },
  Q5_0: (b, i) => {
    const o = 22 * (i >> 5);
    const j = i & 31;
    const byte = b[o + 6 + (j & 15)]!;
    const hi = (b[o + 2 + (j >> 3)]! >> (j & 7)) & 1;
    return f32(((j < 16 ? byte & 15 : byte >> 4) + 16 * hi - 16) * h(b, o));
  },
  Q5_1: (b, i) => {
    const o = 24 * (i >> 5);
    const j = i & 31;
    const byte = b[o + 8 + (j & 15)]!;
    const hi = (b[o + 4 + (j >> 3)]! >> (j & 7)) & 1;
    return f32(f32(((j < 16 ? byte & 15 : byte >> 4) + 16 * hi) * h(b, o)) + h(b, o + 2));
  },
  Q4_K: (b, i) => {
    const o = 144 * (i >> 8);
    const j = i & 255;
    const sub = j >> 5;
    const byte = b[o + 16 + 32 * (j >> 6) + (j & 31)]!;
    const q = sub & 1 ? byte >> 4 : byte & 15;
    const d = f32(h(b, o) * k4(b, o + 4, sub, 0));
    const m = f32(h(b, o + 2) * k4(b, o + 4, sub, 1));
    return f32(f32(d * q) - m);
  },
  Q5_K: (b, i) => {
    const o = 176 * (i >> 8);
    const j = i & 255;
    const sub = j >> 5;
    const byte = b[o + 48 + 32 * (j >> 6) + (j & 31)]!;
    const high = (b[o + 16 + (j & 31)]! >> sub) & 1;
    const q = (sub & 1 ? byte >> 4 : byte & 15) | (high << 4);
    const d = f32(h(b, o) * k4(b, o + 4, sub, 0));
    const m = f32(h(b, o + 2) * k4(b, o + 4, sub, 1));
    return f32(f32(d * q) - m);
  },
  Q6_K: (b, i) => {
    const o = 210 * (i >> 8);
    const j = i & 255;
    const half = j >> 7;
    const quarter = (j & 127) >> 5;
    const l = j & 31;
    const low = b[o + 64 * half + l + (quarter & 1 ? 32 : 0)]!;
    const q =
      (quarter < 2 ? low & 15 : low >> 4) | (((b[o + 128 + 32 * half + l]! >> (2 * quarter)) & 3) << 4);
    return f32(f32(h(b, o + 208) * i8(b[o + 192 + (j >> 4)]!)) * (q - 32));
  },
};

/** Random blocks for n values; f16 scale fields get random finite values (NaN payloads aside). */
function randomBlocks(type: QuantType, n: number, rng: Rng): Uint8Array {
  const f = QUANT_CODECS[type].format;
  const b = new Uint8Array((n / f.blockSize) * f.typeSize).map(() => rng.int(256));
  const finiteF16 = (o: number): void => {
    const v = ((rng.int(2) << 15) | ((1 + rng.int(17)) << 10) | rng.int(1024)) >>> 0;
    b[o] = v & 0xff;
    b[o + 1] = v >> 8;
  };
  for (let o = 0; o < b.length; o += f.typeSize) {
    if (type === 'Q8_0' || type === 'Q4_0' || type === 'Q5_0') finiteF16(o);
    if (type === 'Q4_K' || type === 'Q5_K' || type === 'Q4_1' || type === 'Q5_1') {
      finiteF16(o);
      finiteF16(o + 2);
    }
    if (type === 'Q6_K') finiteF16(o + 208);
    if (type === 'F16' && (b[o + 1]! & 0x7c) === 0x7c) b[o + 1]! &= 0x83; // no inf/NaN
    if (type === 'BF16' && (b[o + 1]! & 0x7f) === 0x7f) b[o + 1]! &= 0x80;
  }
  return b;
}

describe('dequantize = brute-force decoder of the layout', () => {
  for (const type of QUANT_TYPES) {
    test(type, () => {
      const n = 4 * 256;
      const b = randomBlocks(type, n, new Rng(11));
      const got = QUANT_CODECS[type].dequantize(b, n);
      for (let i = 0; i < n; i++) {
        const want = REFERENCE[type](b, i);
        if (!Object.is(got[i], want)) assert.fail(`${type} value ${i}: ${got[i]} vs reference ${want}`);
      }
      // an offset view decodes the same
      const padded = new Uint8Array(b.length + 3);
      padded.set(b, 3);
      assert.deepEqual(QUANT_CODECS[type].dequantize(padded.subarray(3), n), got);
    });
  }
});

describe('quantize -> dequantize error', () => {
  const n = 256 * 32;
  const rng = new Rng(5);
  const data = {
    normal: Float32Array.from({ length: n }, () => rng.normal()),
    uniform: Float32Array.from({ length: n }, () => 2 * rng.random() - 1),
  };
  /** Values per scale group, and its nominal step. */
  const group: Record<QuantType, [number, (x: Float32Array, o: number, g: number) => number]> = {
    F16: [1, () => 0],
    BF16: [1, () => 0],
    Q8_0: [32, (x, o, g) => amax(x, o, g) / 127],
    Q4_0: [32, (x, o, g) => amax(x, o, g) / 8],
    Q4_1: [32, (x, o, g) => range(x, o, g) / 15],
    Q5_0: [32, (x, o, g) => amax(x, o, g) / 16],
    Q5_1: [32, (x, o, g) => range(x, o, g) / 31],
    Q4_K: [32, (x, o, g) => range(x, o, g) / 15],
    Q5_K: [32, (x, o, g) => range(x, o, g) / 31],
    Q6_K: [16, (x, o, g) => (2 * amax(x, o, g)) / 63],
  };
  function amax(x: Float32Array, o: number, g: number): number {
    let m = 0;
    for (let i = o; i < o + g; i++) m = Math.max(m, Math.abs(x[i]!));
    return m;
  }
  function range(x: Float32Array, o: number, g: number): number {
    let lo = 0;
    let hi = -Infinity;
    for (let i = o; i < o + g; i++) {
      lo = Math.min(lo, x[i]!);
      hi = Math.max(hi, x[i]!);
    }
    return hi - lo;
  }
  for (const type of QUANT_TYPES) {
    for (const [dist, x] of Object.entries(data)) {
      test(`${type}, ${dist} data`, () => {
        const codec = QUANT_CODECS[type];
        const y = codec.dequantize(codec.quantize(x, n), n);
        if (type === 'F16' || type === 'BF16') {
          // round to nearest: relative error <= 2^-11 (f16) / 2^-8 (bf16)
          const u = type === 'F16' ? 2 ** -11 : 2 ** -8;
          for (let i = 0; i < n; i++) assert.ok(Math.abs(y[i]! - x[i]!) <= u * Math.abs(x[i]!), `value ${i}`);
          return;
        }
        const [g, step] = group[type];
        let e2 = 0;
        let nominal = 0;
        for (let o = 0; o < n; o += g) {
          const s = step(x, o, g);
          nominal += (g * s * s) / 12;
          for (let i = o; i < o + g; i++) {
            const e = Math.abs(y[i]! - x[i]!);
            e2 += e * e;
            if (type === 'Q8_0') assert.ok(e <= 0.563 * s, `value ${i}: |e| ${e} > 0.563 d`);
            if (type === 'Q4_0') assert.ok(e <= 1.004 * s, `value ${i}: |e| ${e} > 1.004 |d|`);
          }
        }
        const ratio = Math.sqrt(e2 / nominal);
        assert.ok(ratio <= 1.15, `RMS error ${ratio.toFixed(3)}x that of a uniform quantizer`);
        assert.ok(ratio > 0.5, `RMS error ${ratio.toFixed(3)}x: suspiciously small`);
      });
    }
  }

  test('exactly representable blocks and zeros round-trip exactly', () => {
    // Q8_0: multiples of 1/8 with amax 127/8 (d = 1/8 exactly); Q4_0: (q - 8) * d with -8d present
    const q8 = Float32Array.from(
      { length: 64 },
      (_, i) => (i === 0 ? 127 : (i * 37) % 255) / 8 - (i ? 127 / 8 : 0),
    );
    assert.deepEqual(QUANT_CODECS.Q8_0.dequantize(QUANT_CODECS.Q8_0.quantize(q8, 64), 64), q8);
    const q4 = Float32Array.from({ length: 64 }, (_, i) => (i % 32 === 5 ? -8 : ((i * 7) % 16) - 8) * 0.25);
    assert.deepEqual(QUANT_CODECS.Q4_0.dequantize(QUANT_CODECS.Q4_0.quantize(q4, 64), 64), q4);
    for (const type of QUANT_TYPES) {
      const codec = QUANT_CODECS[type];
      const z = codec.quantize(new Float32Array(512), 512);
      assert.ok(
        codec.dequantize(z, 512).every((v) => v === 0),
        `${type}: zeros`,
      );
    }
  });
});

describe('vecDot', () => {
  for (const type of QUANT_TYPES) {
    test(`${type}: the exact dot of the dequantized rows`, () => {
      const codec = QUANT_CODECS[type];
      const rng = new Rng(3);
      for (const n of [256, 256 * 5]) {
        const w = codec.quantize(
          Float32Array.from({ length: n }, () => rng.normal() * 0.05),
          n,
        );
        const x = Float32Array.from({ length: n }, () => (rng.int(40) === 0 ? 30 : 1) * rng.normal());
        const a = quantizeActivations(codec.dotType, x, n);
        const wf = codec.dequantize(w, n);
        const af = dequantizeDot(codec.dotType, a, n);
        let ref = 0;
        for (let i = 0; i < n; i++) ref += wf[i]! * af[i]!;
        const got = codec.vecDot(w, a, n);
        const T = termBound(type, w, a, n);
        const sErr = sError(type, w, a, n);
        const bound = 8 * 2 ** -24 * T + sErr;
        assert.ok(Math.abs(got - ref) <= bound, `n ${n}: ${got} vs ${ref} (bound ${bound})`);
        // s is one f16 rounding (2^-11 relative) of a sum of terms bounded by T
        assert.ok(8 * 2 ** -24 * T < 1e-5 * T && sErr <= 2 ** -10 * T);
        if (type === 'Q4_1' || type === 'Q5_1') assert.ok(sErr > 0, 'the s term is exercised');
      }
      assert.equal(codec.vecDot(new Uint8Array(0), new Uint8Array(0), 0), 0);
    });
  }
});

describe('arguments', () => {
  test('partial blocks, short buffers and short inputs are named errors', () => {
    const c = QUANT_CODECS.Q4_K;
    assert.throws(() => c.quantize(new Float32Array(300), 300), {
      message: 'Q4_K: 300 elements is not a multiple of the block size 256',
    });
    assert.throws(() => c.quantize(new Float32Array(100), 256), /Q4_K: input has 100 values, expected 256/);
    assert.throws(
      () => c.quantize(new Float32Array(256), 256, new Uint8Array(10)),
      /Q4_K: output has 10 bytes, 256 elements need 144/,
    );
    assert.throws(
      () => c.dequantize(new Uint8Array(143), 256),
      /Q4_K: input has 143 bytes, 256 elements need 144/,
    );
    assert.throws(
      () => c.dequantize(new Uint8Array(144), 256, new Float32Array(3)),
      /Q4_K: output has 3 values/,
    );
    assert.throws(
      () => c.vecDot(new Uint8Array(144), new Uint8Array(100), 256),
      /Q8_K: activations has 100 bytes/,
    );
    assert.throws(
      () => QUANT_CODECS.Q8_0.vecDot(new Uint8Array(34), new Uint8Array(34), 33),
      /Q8_0: 33 elements/,
    );
    assert.throws(
      () => QUANT_CODECS.F16.dequantize(new Uint8Array(3), 2),
      /F16: input has 3 bytes, 2 elements need 4/,
    );
    assert.throws(() => quantizeActivations('Q8_K', new Float32Array(32), 32), /Q8_K: 32 elements/);
    assert.equal(DOT_FORMATS.Q8_K.typeSize, 292);
  });

  test('outputs may be given; the given buffer is filled and returned', () => {
    const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
    for (const type of QUANT_TYPES) {
      const c = QUANT_CODECS[type];
      const q = new Uint8Array((256 / c.format.blockSize) * c.format.typeSize);
      assert.equal(c.quantize(x, 256, q), q);
      assert.deepEqual(q, c.quantize(x, 256));
      const y = new Float32Array(300);
      assert.equal(c.dequantize(q, 256, y), y);
      assert.deepEqual(y.subarray(0, 256), c.dequantize(q, 256));
    }
  });
});

test('nearestInt rounds half to even, roundAway half away from zero (ggml and C roundf)', () => {
  assert.deepEqual([2.5, 3.5, -2.5, -0.5, 0.49999997, 1e6 + 0.5].map(nearestInt), [2, 4, -2, 0, 0, 1e6]);
  assert.deepEqual([2.5, 3.5, -2.5, -0.5, 0.49999997].map(roundAway), [3, 4, -3, -1, 0]);
});
