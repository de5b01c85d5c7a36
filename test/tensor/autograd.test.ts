/** The autograd tape: accumulation, no-grad scopes, tidy() ownership, and error paths. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsKernels, useBackend } from '../../src/kernels/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import {
  add,
  backward,
  gelu,
  matmul,
  mul,
  noGrad,
  pooledMemory,
  Rng,
  sum,
  Tensor,
  tidy,
} from '../../src/tensor/index.ts';
import { gradcheck, input } from './gradcheck.ts';

test('gradients of a tensor used twice accumulate', () => {
  const x = Tensor.param(Tensor.from([1, 2, 3]));
  backward(sum(mul(x, x))); // d/dx sum(x^2) = 2x
  assert.deepEqual(x.grad?.toArray(), [2, 4, 6]);
  backward(sum(x)); // a second backward adds
  assert.deepEqual(x.grad?.toArray(), [3, 5, 7]);
});

test('noGrad records nothing', () => {
  const w = Tensor.param(Tensor.from([1, 2, 3, 4], [2, 2]));
  const y = noGrad(() => matmul(w, w));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.throws(() => backward(sum(y)), /does not require grad/);
});

test('backward of a non-scalar needs a seed gradient', () => {
  const w = Tensor.param(Tensor.from([1, 2]));
  assert.throws(() => backward(mul(w, w)), /gradient is needed/);
});

test('tidy disposes intermediates, keeps results, parameters and their gradients', () => {
  const w = Tensor.param(Tensor.randn([8, 8], new Rng(1)), 'w');
  let inner: Tensor | null = null;
  const out = tidy(() => {
    inner = matmul(w, w);
    const loss = sum(gelu(inner));
    backward(loss);
    return loss;
  });
  assert.equal(out.isDisposed, false);
  assert.ok(inner !== null && (inner as Tensor).isDisposed);
  assert.equal(w.isDisposed, false);
  assert.ok(w.grad && !w.grad.isDisposed);
  assert.throws(() => (inner as unknown as Tensor).data, /used after dispose/);
});

test('disposed buffers are reused from the pool', () => {
  const before = pooledMemory();
  tidy(() => {
    Tensor.zeros([1024]);
  });
  assert.equal(pooledMemory(), before + 4096);
  const t = Tensor.zeros([1024]);
  assert.equal(pooledMemory(), before);
  assert.ok(
    t.data.every((v) => v === 0),
    'a reused zeros() buffer is zeroed',
  );
});

test('views share storage and survive their base being disposed', () => {
  const a = Tensor.from([1, 2, 3, 4]);
  const v = a.viewAs([2, 2]);
  a.dispose();
  assert.deepEqual(v.toArray(), [1, 2, 3, 4]);
});

test('the gradient checker catches a wrong backward', () => {
  // A helper that cannot fail would prove nothing: break one kernel slightly and expect a failure.
  const rng = new Rng(2);
  const x = input([3, 3], rng);
  const k = useBackend('js') as { -readonly [K in keyof Kernels]: Kernels[K] };
  const good = jsKernels.geluBackward;
  k.geluBackward = (xs, dy, dx, n, t) => {
    good(xs, dy, dx, n, t);
    dx[0] += 0.01;
  };
  try {
    assert.throws(() => gradcheck('broken gelu', [x], (t) => gelu(t)), /analytic/);
  } finally {
    k.geluBackward = good;
  }
  gradcheck('gelu', [x], (t) => gelu(t));
  // and add's broadcasting reduction: a mis-summed bias gradient is caught
  const b = input([3], rng);
  gradcheck('bias', [x, b], add);
});
