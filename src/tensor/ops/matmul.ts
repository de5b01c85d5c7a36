/**
 * Matrix product, 2-D and batched, either operand transposed without materialising it.
 *   a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB)
 *   out: [..., M, N]
 * Batch dims must match, or one operand is 2-D and is shared by every batch item (a Linear layer:
 * then the batch folds into M and the whole product is one GEMM).
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

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
  const nA = batchA.reduce((x, y) => x * y, 1);
  const nB = batchB.reduce((x, y) => x * y, 1);
  let batch: number[];
  if (batchB.length === 0) batch = batchA;
  else if (batchA.length === 0) batch = batchB;
  else if (batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i])) batch = batchA;
  else throw new Error(`matmul: batch dims [${batchA}] and [${batchB}] differ`);
  const nBatch = batch.reduce((x, y) => x * y, 1);
  const k = kernels();
  const out = Tensor.empty([...batch, M, N]);
  const sA = batchA.length ? M * K : 0;
  const sB = batchB.length ? K * N : 0;
  // A shared B with a non-transposed A: fold the batch into M (one big GEMM).
  const foldA = nB === 1 && batchB.length === 0 && !transA;
  if (foldA) k.gemm(a.data, b.data, out.data, 1, nA * M, N, K, false, transB, 0, 0, 0, 1, 0);
  else k.gemm(a.data, b.data, out.data, nBatch, M, N, K, transA, transB, sA, sB, M * N, 1, 0);

  return record(out, 'matmul', [a, b], (g) => {
    const G = g.data;
    if (a.requiresGrad) {
      const da = gradOf(a);
      if (foldA) k.gemm(G, b.data, da, 1, nA * M, K, N, false, !transB, 0, 0, 0, 1, 1);
      else if (sA === 0 && nBatch > 1) {
        // Shared A: its gradient sums over the batch, one GEMM per item (no two write at once).
        for (let i = 0; i < nBatch; i++) {
          const bi = b.data.subarray(i * sB);
          const gi = G.subarray(i * M * N);
          if (!transA) k.gemm(gi, bi, da, 1, M, K, N, false, !transB, 0, 0, 0, 1, 1);
          else k.gemm(bi, gi, da, 1, K, M, N, transB, true, 0, 0, 0, 1, 1);
        }
      } else if (!transA) k.gemm(G, b.data, da, nBatch, M, K, N, false, !transB, M * N, sB, sA, 1, 1);
      // dA (stored [K, M]) = op(B) @ dC^T
      else k.gemm(b.data, G, da, nBatch, K, M, N, transB, true, sB, M * N, sA, 1, 1);
    }
    if (b.requiresGrad) {
      const db = gradOf(b);
      if (sB === 0 && nBatch > 1) {
        // Shared B: sum over the batch. With a folded, non-transposed A that is one GEMM.
        if (foldA && !transB) k.gemm(a.data, G, db, 1, K, N, nA * M, true, false, 0, 0, 0, 1, 1);
        else if (foldA && transB) k.gemm(G, a.data, db, 1, N, K, nA * M, true, false, 0, 0, 0, 1, 1);
        else {
          for (let i = 0; i < nBatch; i++) {
            const ai = a.data.subarray(i * sA);
            const gi = G.subarray(i * M * N);
            if (!transB) k.gemm(ai, gi, db, 1, K, N, M, !transA, false, 0, 0, 0, 1, 1);
            else k.gemm(gi, ai, db, 1, N, K, M, true, transA, 0, 0, 0, 1, 1);
          }
        }
      } else if (!transB) k.gemm(a.data, G, db, nBatch, K, N, M, !transA, false, sA, M * N, sB, 1, 1);
      // dB (stored [N, K]) = dC^T @ op(A)
      else k.gemm(G, a.data, db, nBatch, N, K, M, true, transA, M * N, sA, sB, 1, 1);
    }
  });
}
