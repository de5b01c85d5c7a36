/**
 * Matrix product, 2-D and batched, either operand transposed without materialising it.
 *   a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB)
 *   out: [..., M, N]
 * Batch dims must match, or one operand is 2-D and is shared by every batch item (a Linear layer:
 * then the batch folds into M and the whole product is one GEMM).
 * Backward: dA = dC @ op(B)^T and dB = op(A)^T @ dC, written in A's and B's stored layouts.
 */
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';
import { gemm } from './gemm.ts';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (a.ndim < 2 || b.ndim < 2)
    throw new Error(`matmul: needs 2-D or batched operands, got [${a.shape}] and [${b.shape}]`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) {
    throw new Error(
      `matmul: inner dims differ: [${a.shape}]${transA ? '^T' : ''} @ [${b.shape}]${transB ? '^T' : ''} (${K} vs ${Kb})`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  let batch: number[];
  if (batchB.length === 0) batch = batchA;
  else if (batchA.length === 0) batch = batchB;
  else if (batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i])) batch = batchA;
  else throw new Error(`matmul: batch dims [${batchA}] and [${batchB}] differ`);
  const n = batch.reduce((x, y) => x * y, 1);
  const out = Tensor.empty([...batch, M, N]);
  // Floats per batch item; 0 for an operand shared by every item.
  const sA = batchA.length ? M * K : 0;
  const sB = batchB.length ? K * N : 0;
  const sC = M * N;
  // x @ W with W shared and x not transposed: fold the batch into M, one [n*M, K] @ [K, N] GEMM.
  const fold = batchB.length === 0 && !transA;
  if (fold) gemm({ a: a.data, b: b.data, c: out.data, M: n * M, N, K, transB });
  else
    gemm({
      a: a.data,
      b: b.data,
      c: out.data,
      M,
      N,
      K,
      transA,
      transB,
      batch: n,
      strideA: sA,
      strideB: sB,
      strideC: sC,
    });

  return record(out, 'matmul', [a, b], (g) => {
    const dC = g.data;
    if (a.requiresGrad) {
      const dA = gradOf(a);
      if (fold) {
        // dA: [n*M, K] = dC [n*M, N] @ op(B)^T
        gemm({ a: dC, b: b.data, c: dA, M: n * M, N: K, K: N, transB: !transB, accumulate: true });
      } else if (sA === 0 && n > 1) {
        // A shared by every item: its gradient sums over the batch, one GEMM per item so that no
        // two items write dA at once.
        for (let i = 0; i < n; i++) {
          const bi = b.data.subarray(i * sB);
          const dCi = dC.subarray(i * sC);
          // dA: [M, K] = dC_i @ op(B_i)^T, or stored [K, M] = op(B_i) @ dC_i^T
          if (!transA) gemm({ a: dCi, b: bi, c: dA, M, N: K, K: N, transB: !transB, accumulate: true });
          else
            gemm({ a: bi, b: dCi, c: dA, M: K, N: M, K: N, transA: transB, transB: true, accumulate: true });
        }
      } else if (!transA) {
        // dA_i: [M, K] = dC_i [M, N] @ op(B_i)^T
        gemm({
          a: dC,
          b: b.data,
          c: dA,
          M,
          N: K,
          K: N,
          transB: !transB,
          batch: n,
          strideA: sC,
          strideB: sB,
          strideC: sA,
          accumulate: true,
        });
      } else {
        // dA_i stored [K, M] = op(B_i) [K, N] @ dC_i^T
        gemm({
          a: b.data,
          b: dC,
          c: dA,
          M: K,
          N: M,
          K: N,
          transA: transB,
          transB: true,
          batch: n,
          strideA: sB,
          strideB: sC,
          strideC: sA,
          accumulate: true,
        });
      }
    }
    if (b.requiresGrad) {
      const dB = gradOf(b);
      if (sB === 0 && fold) {
        // W shared, batch folded: dB [K, N] = x^T @ dC, or stored [N, K] = dC^T @ x (n*M rows)
        if (!transB) gemm({ a: a.data, b: dC, c: dB, M: K, N, K: n * M, transA: true, accumulate: true });
        else gemm({ a: dC, b: a.data, c: dB, M: N, N: K, K: n * M, transA: true, accumulate: true });
      } else if (sB === 0 && n > 1) {
        for (let i = 0; i < n; i++) {
          const ai = a.data.subarray(i * sA);
          const dCi = dC.subarray(i * sC);
          // dB: [K, N] = op(A_i)^T @ dC_i, or stored [N, K] = dC_i^T @ op(A_i)
          if (!transB) gemm({ a: ai, b: dCi, c: dB, M: K, N, K: M, transA: !transA, accumulate: true });
          else
            gemm({ a: dCi, b: ai, c: dB, M: N, N: K, K: M, transA: true, transB: transA, accumulate: true });
        }
      } else if (!transB) {
        // dB_i: [K, N] = op(A_i)^T @ dC_i
        gemm({
          a: a.data,
          b: dC,
          c: dB,
          M: K,
          N,
          K: M,
          transA: !transA,
          batch: n,
          strideA: sA,
          strideB: sC,
          strideC: sB,
          accumulate: true,
        });
      } else {
        // dB_i stored [N, K] = dC_i^T @ op(A_i)
        gemm({
          a: dC,
          b: a.data,
          c: dB,
          M: N,
          N: K,
          K: M,
          transA: true,
          transB: transA,
          batch: n,
          strideA: sC,
          strideB: sA,
          strideC: sB,
          accumulate: true,
        });
      }
    }
  });
}
