// Register-blocked micro-kernel for the small matrix products inside fused kernels (attention):
//   C[M, N] (+)= A[M, K] B[K, N]
// B and C are row-major with N a multiple of kLanes (callers pad N to 16);
// A(r, k) is A[r * lda + k], or A[k * lda + r] when TA (A stored transposed). A kRows x kCols block
// of accumulator registers stays live over the whole K loop: per k, kCols loads of B, kRows
// broadcasts of A and kRows * kCols FMAs.
//
// Deliberately no include guard: attention.cc includes this once per ISA, inside a
// `#pragma GCC target` region and a namespace that defines
//   Reg, kLanes (floats per Reg), kRows, kCols (the register block),
//   reg_zero(), reg_load(p), reg_store(p, r), reg_bcast(p) (*p in every lane), reg_fma(a, b, c) = a b + c.
// (Intrinsics there, not generic vectors: GCC builds a generic-vector broadcast lane by lane.)

template <int R, int NV, bool TA>
XFMR_INLINE void mm_tile(int64_t K, const float* A, int64_t lda, const float* Bm, int64_t ldb, float* C,
                         int64_t ldc, bool acc) {
  Reg c[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) c[r][v] = acc ? reg_load(C + r * ldc + v * kLanes) : reg_zero();
  for (int64_t k = 0; k < K; k++) {
    Reg b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) b[v] = reg_load(Bm + k * ldb + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      Reg a = reg_bcast(TA ? A + k * lda + r : A + r * lda + k);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) c[r][v] = reg_fma(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) reg_store(C + r * ldc + v * kLanes, c[r][v]);
}

// Edge blocks: the largest instantiated R x NV that matches (rr, nv).
template <int R, int NV, bool TA>
XFMR_INLINE void mm_pick_nv(int64_t nv, int64_t K, const float* A, int64_t lda, const float* Bm, int64_t ldb,
                            float* C, int64_t ldc, bool acc) {
  if (nv == NV) mm_tile<R, NV, TA>(K, A, lda, Bm, ldb, C, ldc, acc);
  else if constexpr (NV > 1) mm_pick_nv<R, NV - 1, TA>(nv, K, A, lda, Bm, ldb, C, ldc, acc);
}
template <int R, bool TA>
XFMR_INLINE void mm_pick(int64_t rr, int64_t nv, int64_t K, const float* A, int64_t lda, const float* Bm,
                         int64_t ldb, float* C, int64_t ldc, bool acc) {
  if (rr == R) mm_pick_nv<R, kCols, TA>(nv, K, A, lda, Bm, ldb, C, ldc, acc);
  else if constexpr (R > 1) mm_pick<R - 1, TA>(rr, nv, K, A, lda, Bm, ldb, C, ldc, acc);
}

// Column panels of kCols registers; the B panel (K x kCols * kLanes floats) stays in L1 while the
// row blocks pass.
template <bool TA>
void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* Bm, int64_t ldb, float* C,
        int64_t ldc, bool acc) {
  for (int64_t n0 = 0; n0 < N; n0 += kCols * kLanes) {
    const int64_t nv = std::min<int64_t>(kCols, (N - n0) / kLanes);
    for (int64_t r0 = 0; r0 < M; r0 += kRows) {
      const int64_t rr = std::min<int64_t>(kRows, M - r0);
      mm_pick<kRows, TA>(rr, nv, K, TA ? A + r0 : A + r0 * lda, lda, Bm + n0, ldb, C + r0 * ldc + n0, ldc, acc);
    }
  }
}
