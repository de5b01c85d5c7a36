/**
 * The codecs of the types xfmr only stores (Q4_1, Q5_0, Q5_1: llama-quantize's fallbacks) against
 * ggml (fixtures from scripts/fixtures/make_quant_fixtures.sh) and on their own terms:
 *
 * - quantize: byte-exact with `ggml_quantize_chunk` (the `quantize_row_*_ref` quantizers) on the
 *   10 stress rows of 256 that ggml_parity.test.ts uses (ties, zero blocks, f16-subnormal scales,
 *   values below any f16 scale);
 * - dequantize: bit-exact with ggml's `to_float`, on ggml's blocks and on random bytes (every
 *   quant and high-bit pattern, random finite f16 d and m);
 * - dequantize equals a decoder written here from the layout, one value at a time;
 * - round trip error: each is a uniform quantizer with step d (d = (max - min) / 15 for Q4_1,
 *   / 31 for Q5_1, |max| / 16 for Q5_0) that rounds to nearest, so |e| <= d / 2 plus the f16
 *   rounding of d and m (2^-11 relative: <= 31 * 2^-11 d + 2^-11 |m|), plus Q5_0's clamp at
 *   q = 31, which costs one step at the +|max| end: |e| <= 1.02 d there;
 * - bad arguments are errors naming the type.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { f16ToF32 } from '../../../src/kernels/float16.ts';
import { WIDENED_CODECS } from '../../../src/kernels/js/quant/index.ts';
import { WIDENED_QUANT_TYPES, type WidenedQuantType } from '../../../src/kernels/quant_types.ts';
import { Rng } from '../../../src/tensor/random.ts';
import { firstDiff, ggmlInputs, ggmlTypeFixture } from './ggml_fixtures.ts';

const inputs = ggmlInputs();
const N = inputs.rows * inputs.nPerRow;
const f32 = Math.fround;
const h = (b: Uint8Array, o: number): number => f16ToF32(b[o]! | (b[o + 1]! << 8));

/** Value i of the blocks in b, from the layouts alone: [low nibble, fifth bit, d, m]. */
const REFERENCE: Record<WidenedQuantType, (b: Uint8Array, i: number) => number> = {
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
};

describe('widened codecs (Q4_1, Q5_0, Q5_1)', () => {
  for (const type of WIDENED_QUANT_TYPES) {
    const fx = ggmlTypeFixture(type);
    const codec = WIDENED_CODECS[type];

    test(`${type}: block format as ggml's type traits`, () => {
      assert.equal(codec.format.blockSize, fx.blockSize);
      assert.equal(codec.format.typeSize, fx.typeSize);
    });

    test(`${type}: quantize is byte-exact with ggml_quantize_chunk`, () => {
      const q = codec.quantize(inputs.weights, N);
      const at = firstDiff(q, fx.quantized);
      assert.equal(at, -1, `first differing byte ${at} (block ${Math.floor(at / fx.typeSize)})`);
      // the stress rows reach the fifth bit and the clamp: not all high bits are 0
      if (type !== 'Q4_1')
        assert.ok(fx.quantized.some((b, k) => k % fx.typeSize === (type === 'Q5_0' ? 2 : 4) && b !== 0));
    });

    test(`${type}: dequantize is bit-exact with ggml's to_float (quantized and random blocks)`, () => {
      assert.equal(firstDiff(codec.dequantize(fx.quantized, N), fx.dequantized), -1);
      assert.equal(firstDiff(codec.dequantize(fx.randomBlocks, 1024), fx.randomDequantized), -1);
      assert.ok(new Set(fx.randomDequantized).size > 400);
    });

    test(`${type}: dequantize equals the layout decoded value by value`, () => {
      const got = codec.dequantize(fx.randomBlocks, 1024);
      for (let i = 0; i < 1024; i++) {
        assert.ok(Object.is(got[i], REFERENCE[type](fx.randomBlocks, i)), `value ${i}`);
      }
    });

    test(`${type}: round-trip error within the step bound`, () => {
      const rng = new Rng(7);
      const n = 32 * 64;
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++)
        x[i] = rng.normal() * (1 + (i >> 5)) + (type === 'Q5_0' ? 0 : 0.5 * (i >> 8));
      const y = codec.dequantize(codec.quantize(x, n), n);
      for (let b = 0; b < n; b += 32) {
        const blk = x.subarray(b, b + 32);
        const min = Math.min(...blk);
        const max = Math.max(...blk);
        const amax = Math.max(Math.abs(min), Math.abs(max));
        const d = type === 'Q4_1' ? (max - min) / 15 : type === 'Q5_1' ? (max - min) / 31 : amax / 16;
        const bound =
          type === 'Q5_0' ? 1.02 * d : 0.5 * d + 31 * 2 ** -11 * d + 2 ** -11 * Math.abs(min) + 1e-6 * amax;
        for (let i = b; i < b + 32; i++) {
          const e = Math.abs(y[i]! - x[i]!);
          assert.ok(e <= bound, `${type} value ${i}: |e| ${e} > ${bound}`);
        }
      }
    });

    test(`${type}: a buffer too short or a partial block is an error naming the type`, () => {
      assert.throws(
        () => codec.dequantize(new Uint8Array(fx.typeSize - 1), 32),
        new RegExp(`${type}: input has`),
      );
      assert.throws(() => codec.quantize(new Float32Array(48), 48), new RegExp(`${type}: 48 elements`));
    });
  }
});
