/**
 * The GEMM kernel with named arguments, for the ops that call it (matmul, linear):
 *   C_i = op(A_i) @ op(B_i) (+ C_i when accumulate), i in [0, batch)
 * op(A): [M, K], stored [K, M] when transA; op(B): [K, N], stored [N, K] when transB; C: [M, N].
 * Operand i starts at i * stride (stride 0: one matrix shared by every item).
 *
 * Precision follows the scope (precision.ts): in bf16 it calls gemmBf16, which rounds A and B to
 * bf16 while packing them and accumulates and writes C in f32. Autocast's "bf16 copies of the
 * weights, refreshed once per step" give the same numbers: a weight only changes at the optimizer
 * step, so rounding it at each use rounds the same values, and it costs nothing beside the packing
 * copy every GEMM makes anyway, with no second copy of the weights held in memory.
 */
import { kernels } from '../../kernels/index.ts';
import { computeDtype } from '../precision.ts';

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
  const k = kernels();
  (computeDtype() === 'bf16' ? k.gemmBf16 : k.gemm)(
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
