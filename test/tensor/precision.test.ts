/**
 * The compute-precision scope (src/tensor/precision.ts), on both backends: inside a bf16 scope the
 * GEMM ops and the fused attention compute exactly what the bf16 kernels compute on the same
 * operands (forward and backward), other ops are untouched, each op's backward runs at its
 * forward's precision wherever backward() is called, and the scope is restored after a throw or
 * a settled promise. `auto` resolves from the backend and the CPU's bf16 units.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cpuInfo, kernels } from '../../src/kernels/index.ts';
import {
  attention,
  backward,
  computeDtype,
  layerNorm,
  linear,
  matmul,
  Rng,
  resolveDtype,
  Tensor,
  withComputeDtype,
} from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from './backends.ts';
import { input } from './gradcheck.ts';

/** What the bf16 GEMM kernel gives for C[M, N] = A[M, K] @ op(B) (B [N, K] when transB). */
function gemmBf16(
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
  transB: boolean,
  transA = false,
) {
  const c = new Float32Array(M * N);
  kernels().gemmBf16(a, b, c, 1, M, N, K, transA, transB, 0, 0, 0, 1, 0);
  return c;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const backend of BACKENDS) {
  describe(`compute precision on ${backend}`, () => {
    const run = (name: string, fn: () => void) => test(name, () => withBackend(backend, fn));

    run('linear in bf16: forward and both gradients are the bf16 GEMMs of the same operands', () => {
      const rng = new Rng(3);
      const [N, In, Out] = [7, 19, 5];
      const x = input([N, In], rng);
      const w = input([Out, In], rng);
      const dy = Tensor.randn([N, Out], rng);
      const y = withComputeDtype('bf16', () => linear(x, w));
      // y: [N, Out] = bf16(x) @ bf16(W)^T
      assert.deepEqual(y.data, gemmBf16(x.data, w.data, N, Out, In, true));
      // The backward runs outside the scope, yet in bf16: the op was recorded in it.
      backward(y, dy);
      assert.deepEqual(x.grad?.data, gemmBf16(dy.data, w.data, N, In, Out, false)); // dx = dy @ W
      assert.deepEqual(w.grad?.data, gemmBf16(dy.data, x.data, Out, In, N, false, true)); // dW = dy^T @ x
      // Not silently f32: the f32 product differs by bf16 rounding (~2^-8 relative).
      const f32 = linear(x, w);
      assert.ok(
        maxDiff(f32.data, y.data) > 1e-4,
        `bf16 and f32 linear differ by ${maxDiff(f32.data, y.data)}`,
      );
    });

    run('an op recorded in f32 runs its backward in f32 even inside a bf16 scope', () => {
      const rng = new Rng(4);
      const a = input([6, 9], rng);
      const b = input([9, 4], rng);
      const out = matmul(a, b);
      const g = Tensor.randn([6, 4], rng);
      withComputeDtype('bf16', () => backward(out, g));
      const want = new Float32Array(6 * 9);
      kernels().gemm(g.data, b.data, want, 1, 6, 9, 4, false, true, 0, 0, 0, 1, 0); // dA = g @ B^T
      assert.deepEqual(a.grad?.data, want);
    });

    run('non-GEMM ops are unchanged by the scope (layerNorm is f32 either way)', () => {
      const rng = new Rng(5);
      const x = Tensor.randn([4, 12], rng);
      const w = Tensor.randn([12], rng);
      const b = Tensor.randn([12], rng);
      assert.deepEqual(withComputeDtype('bf16', () => layerNorm(x, w, b)).data, layerNorm(x, w, b).data);
    });

    run('attention in bf16 is the kernel with bf16 = true, forward and backward', () => {
      const rng = new Rng(6);
      const [B, T, H, D] = [2, 9, 2, 5];
      const q = input([B, T, H, D], rng);
      const k = input([B, T, H, D], rng);
      const v = input([B, T, H, D], rng);
      const out = withComputeDtype('bf16', () => attention(q, k, v));
      const kern = kernels();
      const want = new Float32Array(q.size);
      const lse = new Float32Array(B * H * T);
      const shape = [B, T, T, H, H, D, T * H * D, 0, 1 / Math.sqrt(D), true, 0, 0, true] as const;
      kern.attentionForward(q.data, k.data, v.data, want, lse, ...shape);
      assert.deepEqual(out.data, want);
      const dout = Tensor.randn(out.shape, rng);
      backward(out, dout);
      const [dq, dk, dv] = [q, k, v].map((t) => new Float32Array(t.size));
      kern.attentionBackward(q.data, k.data, v.data, want, dout.data, lse, dq, dk, dv, ...shape);
      assert.deepEqual(q.grad?.data, dq);
      assert.deepEqual(k.grad?.data, dk);
      assert.deepEqual(v.grad?.data, dv);
      assert.ok(maxDiff(attention(q, k, v).data, out.data) > 1e-4, 'bf16 attention equals the f32 one');
    });
  });
}

test('withComputeDtype restores the previous dtype after a return, a throw and a promise', async () => {
  assert.equal(computeDtype(), 'f32');
  assert.equal(
    withComputeDtype('bf16', () => computeDtype()),
    'bf16',
  );
  assert.equal(computeDtype(), 'f32');
  assert.throws(() =>
    withComputeDtype('bf16', () => {
      throw new Error('boom');
    }),
  );
  assert.equal(computeDtype(), 'f32');
  const pending = withComputeDtype('bf16', async () => {
    await new Promise((r) => setImmediate(r));
    return computeDtype();
  });
  assert.equal(computeDtype(), 'bf16', 'the scope holds while the promise is pending');
  assert.equal(await pending, 'bf16');
  assert.equal(computeDtype(), 'f32');
  await assert.rejects(
    withComputeDtype('bf16', async () => {
      throw new Error('late');
    }),
    /late/,
  );
  assert.equal(computeDtype(), 'f32');
  assert.throws(
    () => withComputeDtype('f16' as 'f32', () => 0),
    /compute dtype must be f32 or bf16, got "f16"/,
  );
});

test('resolveDtype: explicit choices stand; auto follows the backend and the bf16 units', () => {
  assert.deepEqual(resolveDtype('bf16'), { dtype: 'bf16', reason: 'requested' });
  assert.deepEqual(resolveDtype('f32'), { dtype: 'f32', reason: 'requested' });
  assert.deepEqual(
    withBackend('js', () => resolveDtype('auto')),
    { dtype: 'f32', reason: 'auto: js backend' },
  );
  if (BACKENDS.includes('native')) {
    const cpu = cpuInfo();
    // bf16 only where the GEMM runs on AMX tiles; AVX512-BF16 alone is slower than f32
    const want =
      cpu?.bf16 === 'amx'
        ? { dtype: 'bf16', reason: 'auto: AMX-BF16' }
        : cpu?.avx512bf16
          ? { dtype: 'f32', reason: 'auto: no AMX; AVX512-BF16 alone is slower than f32 here' }
          : { dtype: 'f32', reason: 'auto: no AMX' };
    assert.deepEqual(
      withBackend('native', () => resolveDtype('auto')),
      want,
    );
  }
  assert.throws(() => resolveDtype('fp16' as 'auto'), /dtype must be one of f32, bf16, auto, got "fp16"/);
});
