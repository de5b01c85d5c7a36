/**
 * The quant codecs against ggml itself (fixtures from scripts/fixtures/make_quant_fixtures.sh):
 *
 * - quantize: byte-exact with `ggml_quantize_chunk` (llama-quantize's reference quantizers, no
 *   importance matrix) on 10 rows of 256 made to stress them: N(0,1), weight-scale, all positive,
 *   all negative, a 1e-4..1e3 spread across sub-blocks, outliers with a zero and a constant
 *   block, a grid of quarter-integers (rounding ties), f16-subnormal scales, all zero, and values
 *   below GROUP_MAX_EPS. ggml's reference quantizers are deterministic float32 C (ggml-base has no
 *   -march flags, so no FMA contraction), and the codecs replay their exact operation order, so
 *   no tolerance is needed;
 * - dequantize: bit-exact with `to_float`, on ggml's blocks and on random bytes (every bit
 *   pattern of the quants and packed scales, random finite f16 scales);
 * - activations: byte-exact with the x86 CPU backend's `from_float` of the dot type;
 * - vecDot: ggml's AVX2 `vec_dot` rounds in float32 (per-block scale products, FMA accumulation
 *   along chains of at most c terms, c = the block count for the quantized types and n / 32 for
 *   F16/BF16, which accumulate 32 lanes, then a horizontal sum), so each result is within
 *   (c + 8) * 2^-24 * T of the exact dot, T the magnitude bound of dot_bound.ts. The js vecDot
 *   is exact up to float64 rounding, so the same bound holds between the two.
 * A wrong nibble, scale bit or sign in any of these changes the results by orders of magnitude
 * more than these bounds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DOT_FORMATS, QUANT_CODECS, quantizeActivations } from '../../../src/kernels/js/quant/index.ts';
import { QUANT_TYPES } from '../../../src/kernels/quant_types.ts';
import { termBound } from './dot_bound.ts';
import { firstDiff, ggmlInputs, ggmlTypeFixture } from './ggml_fixtures.ts';

const inputs = ggmlInputs();
const N = inputs.rows * inputs.nPerRow;

describe('quant codecs match ggml', () => {
  for (const type of QUANT_TYPES) {
    const fx = ggmlTypeFixture(type);
    const codec = QUANT_CODECS[type];

    test(`${type}: block format as ggml's type traits`, () => {
      assert.equal(codec.format.blockSize, fx.blockSize);
      assert.equal(codec.format.typeSize, fx.typeSize);
      assert.equal(codec.dotType, fx.vecDotType.toUpperCase());
    });

    test(`${type}: quantize is byte-exact with ggml_quantize_chunk`, () => {
      const q = codec.quantize(inputs.weights, N);
      const at = firstDiff(q, fx.quantized);
      assert.equal(at, -1, `first differing byte ${at} (block ${Math.floor(at / fx.typeSize)})`);
    });

    test(`${type}: dequantize is bit-exact with ggml's to_float (quantized and random blocks)`, () => {
      const at = firstDiff(codec.dequantize(fx.quantized, N), fx.dequantized);
      assert.equal(at, -1, `value ${at}`);
      const r = firstDiff(codec.dequantize(fx.randomBlocks, 1024), fx.randomDequantized);
      assert.equal(r, -1, `random-block value ${r}`);
      // the random blocks reach far more values than the quantizer writes
      assert.ok(new Set(fx.randomDequantized).size > 400);
    });

    test(`${type}: activations quantize byte-exact with ggml's from_float (${codec.dotType})`, () => {
      inputs.acts.forEach((a, k) => {
        const at = firstDiff(quantizeActivations(codec.dotType, a, N), fx.acts[k]!.quantized);
        assert.equal(at, -1, `activation ${k}: byte ${at}`);
      });
    });

    test(`${type}: vecDot is within the float32 rounding bound of ggml's vec_dot`, () => {
      const nbRow = inputs.nPerRow / codec.format.blockSize;
      const wRow = nbRow * codec.format.typeSize;
      const chain = (n: number): number =>
        codec.format.blockSize === 1 ? n / 32 : n / codec.format.blockSize;
      const aRow =
        (inputs.nPerRow / DOT_FORMATS[codec.dotType].blockSize) * DOT_FORMATS[codec.dotType].typeSize;
      fx.acts.forEach((act, k) => {
        for (let r = 0; r < inputs.rows; r++) {
          const w = fx.quantized.subarray(r * wRow, (r + 1) * wRow);
          const a = act.quantized.subarray(r * aRow, (r + 1) * aRow);
          const ours = codec.vecDot(w, a, inputs.nPerRow);
          const bound = (chain(inputs.nPerRow) + 8) * 2 ** -24 * termBound(type, w, a, inputs.nPerRow);
          assert.ok(
            Math.abs(ours - act.rowDots[r]!) <= bound,
            `act ${k} row ${r}: ${ours} vs ggml ${act.rowDots[r]} (bound ${bound})`,
          );
        }
        const ours = codec.vecDot(fx.quantized, act.quantized, N);
        const bound = (chain(N) + 8) * 2 ** -24 * termBound(type, fx.quantized, act.quantized, N);
        assert.ok(
          Math.abs(ours - act.fullDot) <= bound,
          `act ${k} full: ${ours} vs ${act.fullDot} (${bound})`,
        );
        // on N(0, 1) activations (no cancellation by design) the bound is 1e-4 of the result (2e-4
        // for Q4_1 / Q5_1, whose T counts their large minima twice); one wrong block of the 320
        // would move it by about 3e-3
        const tight = type === 'Q4_1' || type === 'Q5_1' ? 2e-4 : 1e-4;
        if (k === 0)
          assert.ok(
            bound < tight * Math.abs(act.fullDot),
            'the bound is tight enough to catch a wrong block',
          );
      });
    });
  }
});
