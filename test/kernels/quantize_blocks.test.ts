/**
 * quantizeBlocks (Kernels.quantizeBlocks: ggml's reference quantizers, f32 -> Q8_0 / Q4_0 / Q4_1 /
 * Q5_0 / Q5_1 / Q4_K / Q5_K / Q6_K blocks): the native kernel byte for byte against the js twin (the codecs of
 * src/kernels/js/quant/, byte-exact with ggml_quantize_chunk) and against ggml's own bytes.
 *
 * No tolerance: both replay ggml's float32 operations in its order, so any difference (an FMA
 * contraction, a float64 intermediate, a rounding helper that ties the other way, a JS Math.max
 * that propagates NaN where C's comparison would not) shows as a differing byte.
 *
 * Data: the ggml fixtures (10 stress rows, see ggml_parity.test.ts), and rows built here to reach
 * the branches the fixtures do not: N(0,1) at several scales, all zero, constant (positive,
 * negative), huge (1e30, 3e38: f16 scales overflow to inf) and tiny (1e-30, f32 subnormals)
 * magnitudes, a 1e-8..1e8 spread, quarter-integer ties, NaN and +-inf mixed into normal values,
 * and whole blocks of NaN. 301 K-quant blocks per type, so the native kernel splits the work
 * across its threads (64 blocks a task).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsKernels } from '../../src/kernels/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { LINEAR_QUANT_TYPES, type LinearQuantType } from '../../src/kernels/quant_types.ts';
import { Rng } from '../../src/tensor/random.ts';
import { ggmlInputs, ggmlTypeFixture } from './quant/ggml_fixtures.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

const BYTES: Record<LinearQuantType, [number, number]> = {
  Q8_0: [32, 34],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
};

/** Rows of 256 values, one per case in the file comment; 301 rows in all (cases repeat with new seeds). */
function edgeRows(): Float32Array {
  const rng = new Rng(7);
  const rows = 301;
  const x = new Float32Array(rows * 256);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * 256, (r + 1) * 256);
    const normal = (s: number) => {
      for (let i = 0; i < 256; i++) row[i] = s * rng.normal();
    };
    switch (r % 14) {
      case 0:
        normal(1);
        break;
      case 1:
        normal(0.02);
        break;
      case 2:
        break; // all zero
      case 3:
        row.fill(0.75);
        break;
      case 4:
        row.fill(-3.5);
        break;
      case 5:
        normal(1e30);
        break;
      case 6:
        normal(3e38);
        for (let i = 0; i < 256; i++) if (!Number.isFinite(row[i])) row[i] = 3.4e38;
        break;
      case 7:
        normal(1e-30);
        break;
      case 8:
        normal(1e-40); // f32 subnormals
        break;
      case 9:
        for (let i = 0; i < 256; i++) row[i] = rng.normal() * 10 ** (rng.random() * 16 - 8);
        break;
      case 10:
        for (let i = 0; i < 256; i++) row[i] = (rng.int(64) - 32) / 4;
        break;
      case 11:
        normal(1);
        for (let k = 0; k < 6; k++) row[rng.int(256)] = Number.NaN;
        break;
      case 12:
        normal(1);
        row[rng.int(256)] = Number.POSITIVE_INFINITY;
        row[rng.int(256)] = Number.NEGATIVE_INFINITY;
        break;
      default:
        normal(1);
        row.fill(Number.NaN, 32, 64); // whole Q8_0 / Q4_0 blocks and a K sub-block of NaN
    }
  }
  return x;
}

/** Index of the first differing byte, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length, 'lengths');
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function quantize(k: Kernels, type: LinearQuantType, x: Float32Array): Uint8Array {
  const [bs, ts] = BYTES[type];
  const out = new Uint8Array((x.length / bs) * ts).fill(0xa5); // no byte may survive
  k.quantizeBlocks(x, type, out, x.length);
  return out;
}

describe('quantizeBlocks', () => {
  const skip = skipWithoutNative();
  const inputs = ggmlInputs();
  const edges = edgeRows();

  for (const type of LINEAR_QUANT_TYPES) {
    const ts = BYTES[type][1];
    test(`${type}: js twin and native write ggml's bytes on the fixtures`, { skip }, () => {
      const want = ggmlTypeFixture(type).quantized;
      for (const [name, k] of [
        ['js', jsKernels],
        ['native', requireNative()],
      ] as const) {
        const at = firstDiff(quantize(k, type, inputs.weights), want);
        assert.equal(at, -1, `${name}: first differing byte ${at} (block ${Math.floor(at / ts)})`);
      }
    });

    test(`${type}: native equals the js twin byte for byte on edge values (zeros, constants, huge, tiny, NaN, inf)`, {
      skip,
    }, () => {
      const want = quantize(jsKernels, type, edges);
      const got = quantize(requireNative(), type, edges);
      const at = firstDiff(got, want);
      const row = Math.floor(at / ts / (256 / BYTES[type][0]));
      assert.equal(
        at,
        -1,
        `first differing byte ${at} (block ${Math.floor(at / ts)}, edge case ${row % 14})`,
      );
    });
  }

  test('a subarray of x and out is quantized in place, the bytes around it untouched', { skip }, () => {
    const x = edges.subarray(256, 256 + 512);
    const out = new Uint8Array(3 * 144).fill(7);
    requireNative().quantizeBlocks(x, 'Q4_K', out.subarray(144, 432), 512);
    assert.deepEqual([...out.subarray(0, 144)], new Array(144).fill(7));
    assert.equal(firstDiff(out.subarray(144), quantize(jsKernels, 'Q4_K', x)), -1);
  });

  test('bad arguments: the same errors from both backends', { skip }, () => {
    const x = new Float32Array(512);
    const out = new Uint8Array(2 * 144);
    for (const k of [jsKernels, requireNative()]) {
      assert.throws(() => k.quantizeBlocks(x, 'Q4_K', out, 300), {
        name: 'RangeError',
        message: 'quantizeBlocks: n=300 is not a whole number of Q4_K blocks of 256',
      });
      assert.throws(() => k.quantizeBlocks(x, 'Q4_K', out.subarray(1), 512), {
        name: 'RangeError',
        message: 'quantizeBlocks: arrays too short for Q4_K n=512: x has 512 (needs 512), out 287 (288)',
      });
      assert.throws(() => k.quantizeBlocks(x.subarray(1), 'Q4_K', out, 512), /x has 511 \(needs 512\)/);
      assert.throws(() => k.quantizeBlocks(x, 'Q4_K', out, -256), RangeError);
      assert.throws(() => k.quantizeBlocks(x, 'Q2_K' as LinearQuantType, out, 512), {
        name: 'TypeError',
        message: /quantizeBlocks: type must be one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K/,
      });
    }
    assert.throws(
      () => requireNative().quantizeBlocks(x, 'Q8_0', new Int8Array(34 * 16) as unknown as Uint8Array, 512),
      /out\) must be a Uint8Array/,
    );
  });
});
