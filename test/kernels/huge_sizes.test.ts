/**
 * The native kernels' argument checks hold for sizes whose products overflow 64 bits, and a huge
 * row count over rows of no columns returns at once. Found by `npm run fuzz` (target kernels):
 * logSoftmaxBackward(dy, y, dx, N = 2^31, C = 2^62) saw N * C wrap to 0, passed its length checks
 * with 4-element arrays and read far past them (a segfault); softmaxForward with N = 2^40, C = 0
 * looped 2^40 times. The checks now multiply with saturation (native/common.h, smul/sadd).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireNative, skipWithoutNative } from './require_native.ts';

const f = (n = 4) => new Float32Array(n);
const HUGE = 2 ** 62;

test('sizes whose product overflows int64 are refused with a RangeError, not read past', {
  skip: skipWithoutNative(),
}, () => {
  const k = requireNative();
  const refused: [string, () => void][] = [
    ['logSoftmaxBackward', () => k.logSoftmaxBackward(f(), f(), f(), 2 ** 31, HUGE)],
    ['softmaxForward', () => k.softmaxForward(f(), f(), 2 ** 33, 2 ** 33)],
    ['layerNormForward', () => k.layerNormForward(f(), f(), null, f(), f(), f(), 2 ** 32, 2 ** 32, 1e-5)],
    ['crossEntropyForward', () => k.crossEntropyForward(f(), new Int32Array(4), f(), f(), 4, HUGE, -100)],
    ['addBias', () => k.addBias(f(), f(), f(), 2 ** 40, 2 ** 40)],
    ['embeddingForward', () => k.embeddingForward(f(), new Int32Array(4), f(), 4, HUGE)],
    ['rope', () => k.rope(f(), f(), f(), f(), 2 ** 16, 2 ** 16, 2 ** 16, 2 ** 16, 2, 0, false, false)],
    ['gemm', () => k.gemm(f(), f(), f(), 1, 2 ** 32, 1, 2 ** 32, false, false, 0, 0, 0, 1, 0)],
    ['gemm strides', () => k.gemm(f(), f(), f(), 2 ** 33, 1, 1, 1, false, false, 2 ** 31, 0, 0, 1, 0)],
    ['linearBf16', () => k.linearBf16(f(), new Uint16Array(4), f(), 2 ** 32, 2 ** 32, 1)],
    ['linearQuant', () => k.linearQuant(f(), new Uint8Array(34), 'Q8_0', f(), 1, 32, HUGE)],
    [
      'attentionForward',
      () =>
        k.attentionForward(
          f(),
          f(),
          f(),
          f(),
          f(),
          2 ** 16,
          2 ** 16,
          1,
          2 ** 16,
          1,
          2 ** 16,
          0,
          0,
          1,
          true,
          0,
          0,
          false,
        ),
    ],
  ];
  for (const [name, call] of refused) assert.throws(call, RangeError, name);
});

test('rows of no columns return at once, whatever the row count', { skip: skipWithoutNative() }, () => {
  const k = requireNative();
  const t0 = performance.now();
  k.softmaxForward(f(0), f(0), 2 ** 40, 0);
  k.logSoftmaxBackward(f(0), f(0), f(0), 2 ** 40, 0);
  k.addBias(f(0), f(0), f(0), 2 ** 40, 0);
  k.rope(f(0), f(0), f(0), f(0), 2 ** 20, 2 ** 10, 2 ** 10, 0, 0, 0, false, false);
  // 2^40 empty iterations would take minutes; nothing to do takes microseconds
  assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
});
