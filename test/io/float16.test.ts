/**
 * float16 / bfloat16 conversions against hand-computed bit patterns: exact values, rounding ties
 * (to even), subnormals, overflow, infinities and NaN. Parity with PyTorch is in
 * safetensors.test.ts (the golden fixture).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
} from '../../src/io/float16.ts';

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

// [float32 value, float16 bits, why]
const F16_CASES: [number, number, string][] = [
  [0, 0x0000, 'zero'],
  [-0, 0x8000, 'negative zero'],
  [1, 0x3c00, 'one'],
  [-2, 0xc000, 'minus two'],
  [0.5, 0x3800, 'half'],
  [0.1, 0x2e66, '0.1 rounds to 0.0999755859375'],
  [1 / 3, 0x3555, 'one third'],
  [65504, 0x7bff, 'largest finite'],
  [65519, 0x7bff, 'just below the overflow midpoint'],
  [65520, 0x7c00, 'midpoint 65504..65536 ties to even = inf'],
  [1e10, 0x7c00, 'overflow'],
  [-1e10, 0xfc00, 'negative overflow'],
  [Infinity, 0x7c00, '+inf'],
  [-Infinity, 0xfc00, '-inf'],
  [1 + 2 ** -10, 0x3c01, 'one ulp above one'],
  [1 + 2 ** -11, 0x3c00, 'tie between 0x3c00 and 0x3c01 -> even'],
  [1 + 3 * 2 ** -11, 0x3c02, 'tie between 0x3c01 and 0x3c02 -> even'],
  [1 + 2 ** -11 + 2 ** -20, 0x3c01, 'just above a tie rounds up'],
  [-(1 + 2 ** -11), 0xbc00, 'negative tie'],
  [2 ** -14, 0x0400, 'smallest normal'],
  [2 ** -24, 0x0001, 'smallest subnormal'],
  [1023 * 2 ** -24, 0x03ff, 'largest subnormal'],
  [1023.5 * 2 ** -24, 0x0400, 'tie between the largest subnormal and the smallest normal -> even'],
  [2 ** -25, 0x0000, 'half the smallest subnormal ties to zero'],
  [2 ** -25 + 2 ** -40, 0x0001, 'just above that rounds up'],
  [3 * 2 ** -25, 0x0002, '1.5 subnormal ulps ties to 2'],
  [5 * 2 ** -25, 0x0002, '2.5 subnormal ulps ties to 2'],
  [2 ** -26, 0x0000, 'underflow'],
  [-(2 ** -24), 0x8001, 'negative subnormal'],
  [2 ** -130, 0x0000, 'float32 subnormal underflows'],
];

describe('float16', () => {
  test('f32 -> f16 bit patterns', () => {
    for (const [x, bits, why] of F16_CASES) {
      assert.equal(hex(f32ToF16(Math.fround(x))), hex(bits), `${x}: ${why}`);
    }
  });

  test('NaN narrows to the canonical quiet NaN, keeping the sign', () => {
    assert.equal(hex(f32ToF16(Number.NaN)), '0x7e00');
    assert.equal(hex(f32BitsToF16Bits(0xffc00001)), '0xfe00');
    assert.equal(hex(f32BitsToF16Bits(0x7f800001)), '0x7e00', 'signalling NaN becomes quiet, not inf');
  });

  test('f16 -> f32 is exact, including subnormals, inf and NaN payloads', () => {
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24);
    assert.equal(f16ToF32(0x0200), 2 ** -15);
    assert.equal(f16ToF32(0x8001), -(2 ** -24));
    assert.equal(f16ToF32(0x0400), 2 ** -14);
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x3c01), 1 + 2 ** -10);
    assert.equal(f16ToF32(0xfc00), -Infinity);
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    assert.ok(Object.is(f16ToF32(0x8000), -0));
    const out = f16ArrayToF32(new Uint16Array([0x7c01, 0xfe00]));
    assert.deepEqual(
      [...new Uint32Array(out.buffer)].map((b) => b.toString(16)),
      ['7f802000', 'ffc00000'],
    );
  });

  test('every finite f16 survives f16 -> f32 -> f16', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const back = f32ArrayToF16(f16ArrayToF32(all));
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!nan) assert.equal(back[i], i, hex(i));
      else assert.equal(back[i]! & 0x7fff, 0x7e00);
    }
  });

  test('array and scalar conversions agree', () => {
    const xs = Float32Array.from(F16_CASES.map(([x]) => x));
    const bits = f32ArrayToF16(xs);
    F16_CASES.forEach(([, b], i) => {
      assert.equal(bits[i], b);
    });
  });
});

// [float32 bits, bfloat16 bits, why]
const BF16_CASES: [number, number, string][] = [
  [0x3f800000, 0x3f80, 'one'],
  [0xbfc00000, 0xbfc0, 'minus one and a half'],
  [0x3f808000, 0x3f80, 'tie -> even (down)'],
  [0x3f818000, 0x3f82, 'tie -> even (up)'],
  [0x3f808001, 0x3f81, 'above a tie'],
  [0x3f807fff, 0x3f80, 'below a tie'],
  [0x7f7fffff, 0x7f80, 'largest float32 rounds to inf'],
  [0x7f7f7fff, 0x7f7f, 'largest bf16 stays finite'],
  [0x7f800000, 0x7f80, '+inf'],
  [0xff800000, 0xff80, '-inf'],
  [0x80000000, 0x8000, 'negative zero'],
  [0x00008000, 0x0000, 'float32 subnormal tie -> even zero'],
  [0x00018000, 0x0002, 'float32 subnormal tie -> even'],
  [0x00010001, 0x0001, 'float32 subnormal truncates'],
  [0x7fc00000, 0x7fc0, 'NaN'],
  [0xffc00001, 0x7fc0, 'negative NaN becomes the canonical NaN'],
  [0x7f800001, 0x7fc0, 'signalling NaN is not rounded to inf'],
];

describe('bfloat16', () => {
  test('f32 -> bf16 bit patterns', () => {
    for (const [w, bits, why] of BF16_CASES) assert.equal(hex(f32BitsToBf16Bits(w)), hex(bits), why);
    const src = new Float32Array(new Uint32Array(BF16_CASES.map(([w]) => w)).buffer);
    const arr = f32ArrayToBf16(src);
    BF16_CASES.forEach(([, b, why], i) => {
      assert.equal(hex(arr[i]!), hex(b), why);
    });
  });

  test('scalar helpers', () => {
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(bf16ToF32(0x3f81), 1 + 2 ** -7);
    assert.equal(bf16ToF32(0xff80), -Infinity);
  });

  test('bf16 -> f32 is the bits shifted up 16', () => {
    const out = bf16ArrayToF32(new Uint16Array([0x0001, 0x3f80, 0x7fc1, 0x8000]));
    assert.deepEqual([...new Uint32Array(out.buffer)], [0x00010000, 0x3f800000, 0x7fc10000, 0x80000000]);
  });
});
