/**
 * The codecs of llama-quantize's fallback types (Q5_0, Q5_1) and the old Q4_1 on their own terms,
 * beyond what ggml_parity.test.ts (bytes and dots against ggml) and codecs.test.ts (layout
 * decoder, RMS error, vecDot) check for every type:
 *
 * - ggml's stress rows set fifth bits, so the parity test sees them;
 * - round trip error: each is a uniform quantizer with step d (d = (max - min) / 15 for Q4_1,
 *   / 31 for Q5_1, |max| / 16 for Q5_0) that rounds to nearest, so |e| <= d / 2 plus the f16
 *   rounding of d and m (2^-11 relative: <= 31 * 2^-11 d + 2^-11 |m|), plus Q5_0's clamp at
 *   q = 31, which costs one step at the +|max| end: |e| <= 1.02 d there;
 * - bad arguments are errors naming the type.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QUANT_CODECS } from '../../../src/kernels/js/quant/index.ts';
import { Rng } from '../../../src/tensor/random.ts';
import { firstDiff, ggmlInputs, ggmlTypeFixture } from './ggml_fixtures.ts';

const inputs = ggmlInputs();
const N = inputs.rows * inputs.nPerRow;

describe('fallback codecs (Q4_1, Q5_0, Q5_1)', () => {
  for (const type of ['Q4_1', 'Q5_0', 'Q5_1'] as const) {
    const codec = QUANT_CODECS[type];

    test(`${type}: ggml's stress rows reach the fifth bits (Q5_0, Q5_1)`, () => {
      // ggml_parity.test.ts holds the codec to these bytes; here: they exercise the high bits
      const fx = ggmlTypeFixture(type);
      const qhAt = type === 'Q5_0' ? 2 : 4;
      if (type !== 'Q4_1') assert.ok(fx.quantized.some((b, k) => k % fx.typeSize === qhAt && b !== 0));
      assert.equal(firstDiff(codec.quantize(inputs.weights, N), fx.quantized), -1);
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
        () => codec.dequantize(new Uint8Array(codec.format.typeSize - 1), 32),
        new RegExp(`${type}: input has`),
      );
      assert.throws(() => codec.quantize(new Float32Array(48), 48), new RegExp(`${type}: 48 elements`));
    });
  }
});
