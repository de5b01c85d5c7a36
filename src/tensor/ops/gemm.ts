/**
 * The GEMM kernel with named arguments, for the ops that call it (matmul, linear):
 *   C_i = op(A_i) @ op(B_i) (+ C_i when accumulate), i in [0, batch)
 * op(A): [M, K], stored [K, M] when transA; op(B): [K, N], stored [N, K] when transB; C: [M, N].
 * Operand i starts at i * stride (stride 0: one matrix shared by every item).
 */
import { kernels } from '../../kernels/index.ts';

export interface Gemm {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** Add into C (gradients) instead of overwriting it. */
  accumulate?: boolean;
}

export function gemm(g: Gemm): void {
  kernels().gemm(
    g.a,
    g.b,
    g.c,
    g.batch ?? 1,
    g.M,
    g.N,
    g.K,
    g.transA ?? false,
    g.transB ?? false,
    g.strideA ?? 0,
    g.strideB ?? 0,
    g.strideC ?? 0,
    1,
    g.accumulate ? 1 : 0,
  );
}
