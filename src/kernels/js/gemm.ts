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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** x rounded to the nearest bf16 (ties to even), as an f32 value; NaN stays NaN. */
export function roundBf16(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return Number.NaN;
  u32[0] = (((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return f32[0];
}

/** Copies `x` with every element rounded to bf16. */
export function roundBf16Array(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = roundBf16(x[i]);
  return out;
}

/** The js twin of the bf16 GEMM: gemm on bf16-rounded copies of A and B. See Kernels.gemmBf16. */
export const gemmBf16: typeof gemm = (A, B, C, ...shape) =>
  gemm(roundBf16Array(A), roundBf16Array(B), C, ...shape);

/** The js twin of linearBf16: y[N, Out] = bf16(x) @ W^T for W [Out, In] given as bf16 bits. */
export function linearBf16(
  x: Float32Array,
  w: Uint16Array,
  y: Float32Array,
  N: number,
  In: number,
  Out: number,
): void {
  const xr = roundBf16Array(x.subarray(0, N * In));
  const wf = new Float32Array(new Uint32Array(In).buffer);
  const wu = new Uint32Array(wf.buffer);
  for (let o = 0; o < Out; o++) {
    for (let p = 0; p < In; p++) wu[p] = w[o * In + p] << 16; // bf16 -> f32 is exact
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let p = 0; p < In; p++) s += xr[n * In + p] * wf[p];
      y[n * Out + o] = s;
    }
  }
}
