/** Pure-TypeScript batched GEMM (the oracle of the native one). See Kernels.gemm for the contract. */
export function gemm(
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  batch: number,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  strideA: number,
  strideB: number,
  strideC: number,
  alpha: number,
  beta: number,
): void {
  const row = new Float64Array(N);
  for (let b = 0; b < batch; b++) {
    const a0 = b * strideA;
    const b0 = b * strideB;
    const c0 = b * strideC;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let p = 0; p < K; p++) {
        const aip = transA ? A[a0 + p * M + i] : A[a0 + i * K + p];
        if (aip === 0) continue;
        if (transB) {
          for (let j = 0; j < N; j++) row[j] += aip * B[b0 + j * K + p];
        } else {
          const bp = b0 + p * N;
          for (let j = 0; j < N; j++) row[j] += aip * B[bp + j];
        }
      }
      const ci = c0 + i * N;
      for (let j = 0; j < N; j++) C[ci + j] = beta === 0 ? alpha * row[j] : alpha * row[j] + beta * C[ci + j];
    }
  }
}
