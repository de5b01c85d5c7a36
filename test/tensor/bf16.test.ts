/**
 * bf16 tensors (inference weights kept bf16 in memory): the tensor itself (bits, bytes, the errors
 * that keep f32-only code and training away from it), and the two ops that read one, linear and
 * embedding, on both backends.
 *
 * linear's bound: with a bf16 weight, linear computes y = bf16(x) @ W^T + b (Kernels.linearBf16).
 * The reference is gemmBf16 on the same x and the f32 weight holding the same values, plus the same
 * bias. Both round x to bf16, and W is exactly bf16 in both, so both sum the same exact products
 * (8-bit by 8-bit significands fit f32's 24); only the summation order differs. Each of the two is
 * within (K + 2) 2^-24 sum_p |x^_p w_p| of the exact sum (K - 1 additions, the bias add and slack),
 * so they are within twice that of each other, plus 2^-23 |b| for the bias add of each. A weight
 * read as f32 bits, a row offset, or x left unrounded would be off by about 2^-9 relative.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kernels } from '../../src/kernels/index.ts';
import {
  backward,
  bf16ArrayToF32,
  embedding,
  f32ArrayToBf16,
  linear,
  noGrad,
  pooledMemory,
  Tensor,
} from '../../src/tensor/index.ts';
import { makeRandom } from '../kernels/gemm_inputs.ts';
import { BACKENDS, withBackend } from './backends.ts';

/** A bf16 tensor of seeded values in [-1, 1) (rounded), and the f32 tensor holding the same values. */
function bf16Pair(shape: number[], seed: number): { bf: Tensor; f32: Tensor } {
  const bits = f32ArrayToBf16(makeRandom(seed)(shape.reduce((a, d) => a * d, 1)));
  return { bf: Tensor.fromBf16(bits, shape), f32: Tensor.wrap(bf16ArrayToF32(bits), shape) };
}

describe('bf16 tensors', () => {
  test('hold bit patterns in half the bytes; cast rounds to nearest even and widens exactly', () => {
    // 1 + 2^-8 is a tie between 1 (0x3f80) and 1 + 2^-7 (0x3f81): to even. 1 + 3 * 2^-8 ties to 0x3f82.
    const f = Tensor.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2, 1 + 2 ** -8 + 2 ** -20, Number.NaN], [2, 3]);
    const b = f.cast('bf16');
    assert.equal(b.dtype, 'bf16');
    assert.deepEqual(b.shape, [2, 3]);
    assert.deepEqual([...b.bf16Data], [0x3f80, 0x3f80, 0x3f82, 0xc000, 0x3f81, 0x7fc0]);
    assert.equal(f.nbytes, 24);
    assert.equal(b.nbytes, 12);
    const back = b.cast('f32');
    assert.equal(back.dtype, 'f32');
    assert.deepEqual([...back.data.subarray(0, 5)], [1, 1, 1 + 2 ** -6, -2, 1 + 2 ** -7]);
    assert.ok(Number.isNaN(back.data[5]));
    assert.deepEqual(b.toArray().slice(0, 5), [1, 1, 1 + 2 ** -6, -2, 1 + 2 ** -7]);
    // a view shares the bits
    const v = b.viewAs([3, 2]);
    assert.equal(v.dtype, 'bf16');
    v.bf16Data[0] = 0x4000;
    assert.equal(b.toArray()[0], 2);
  });

  test('.data on a bf16 tensor throws naming the tensor and its dtype', () => {
    const b = Tensor.fromBf16(new Uint16Array(6), [2, 3]);
    b.name = 'layers.0.attention.wq.weight';
    assert.throws(
      () => b.data,
      /tensor layers\.0\.attention\.wq\.weight\[2, 3\] is bf16: \.data holds f32 elements only/,
    );
    assert.throws(() => Tensor.zeros([2]).bf16Data, /tensor\[2\] is f32, not bf16/);
    assert.throws(() => Tensor.fromBf16(new Uint16Array(5), [2, 3]), /5 values do not fill shape \[2, 3\]/);
  });

  test('a bf16 tensor never requires grad', () => {
    const b = Tensor.fromBf16(new Uint16Array(4), [2, 2]);
    assert.throws(() => {
      b.requiresGrad = true;
    }, /tensor\[2, 2\] is bf16: low-precision tensors hold inference weights and cannot require grad/);
    assert.equal(b.requiresGrad, false);
    b.requiresGrad = false; // saying no is fine
    assert.throws(() => Tensor.param(b, 'output.weight'), /tensor output\.weight\[2, 2\] is bf16/);
  });

  test('dispose({ pool: false }) leaves the buffer to the GC', () => {
    const before = pooledMemory();
    Tensor.zeros([1000, 7]).dispose({ pool: false });
    assert.equal(pooledMemory(), before);
    Tensor.zeros([1000, 7]).dispose();
    assert.equal(pooledMemory(), before + 28000);
  });
});

for (const backend of BACKENDS) {
  describe(`bf16 ops on ${backend}`, () => {
    const run = (name: string, fn: () => void) => test(name, () => withBackend(backend, fn));

    run('linear with a bf16 weight = gemmBf16 on the same values, within the f32 summation bound', () => {
      // [leading dims of x, In, Out]: GEMV (decode), odd sizes, rows sharing W (prefill)
      const cases: [number[], number, number][] = [
        [[1], 17, 5],
        [[1], 256, 64],
        [[7], 63, 33],
        [[2, 3], 31, 9],
        [[3], 1, 1],
      ];
      cases.forEach(([lead, In, Out], ci) => {
        const x = Tensor.from(makeRandom(100 + ci)(lead.reduce((a, d) => a * d, 1) * In), [...lead, In]);
        const { bf, f32 } = bf16Pair([Out, In], 200 + ci);
        const bias = Tensor.from(makeRandom(300 + ci)(Out), [Out]);
        const y = noGrad(() => linear(x, bf, bias));
        assert.deepEqual(y.shape, [...lead, Out]);
        const N = x.size / In;
        const ref = new Float32Array(N * Out);
        kernels().gemmBf16(x.data, f32.data, ref, 1, N, Out, In, false, true, 0, 0, 0, 1, 0);
        const xr = bf16ArrayToF32(f32ArrayToBf16(x.data));
        for (let n = 0; n < N; n++) {
          for (let o = 0; o < Out; o++) {
            let mag = 0;
            for (let p = 0; p < In; p++) mag += Math.abs(xr[n * In + p] * f32.data[o * In + p]);
            const b = bias.data[o];
            const want = ref[n * Out + o] + b;
            const bound = 2 * (In + 2) * 2 ** -24 * mag + 2 ** -23 * Math.abs(b) + 1e-30;
            const got = y.data[n * Out + o];
            assert.ok(
              Math.abs(got - want) <= bound,
              `case ${ci} [${n}, ${o}]: ${got} vs gemmBf16 ${want} (bound ${bound})`,
            );
          }
        }
      });
    });

    run(
      'linear: the gradient flows to x through frozen bf16 weights, as through the same f32 weights',
      () => {
        const x = Tensor.param(Tensor.from(makeRandom(5)(4 * 12), [4, 12]));
        const { bf, f32 } = bf16Pair([6, 12], 6);
        f32.requiresGrad = false;
        const dy = Tensor.from(makeRandom(7)(4 * 6), [4, 6]);
        const dx = (w: Tensor): Float32Array => {
          x.grad?.dispose();
          x.grad = null;
          backward(linear(x, w), dy);
          return Float32Array.from((x.grad as Tensor | null)?.data ?? []);
        };
        // dx = dy @ W with W exactly the same values: the same GEMM, the same bits
        assert.deepEqual(dx(bf), dx(f32));
        assert.equal(bf.grad, null);
      },
    );

    run('embedding rows from a bf16 table are the exact widening', () => {
      const { bf, f32 } = bf16Pair([11, 7], 8);
      const ids = Int32Array.from([3, 0, 10, 3, 5, 9]);
      const fromBf = noGrad(() => embedding(bf, ids, [2, 3]));
      const fromF32 = noGrad(() => embedding(f32, ids, [2, 3]));
      assert.deepEqual(fromBf.shape, [2, 3, 7]);
      assert.deepEqual(fromBf.data, fromF32.data);
      assert.deepEqual(
        [...fromBf.data.subarray(2 * 7, 3 * 7)],
        [...bf16ArrayToF32(bf.bf16Data.subarray(70, 77))],
      );
      assert.throws(() => embedding(bf, Int32Array.of(11)), /id 11 at position 0 outside \[0, 11\)/);
    });
  });
}
