// Register-blocked micro-kernel for the small matrix products inside fused kernels (attention):
//   C[M, N] (+)= A[M, K] B[K, N]
// B and C are row-major with N a multiple of lanes<V> (callers pad N to 16);
// A(r, k) is A[r * lda + k], or A[k * lda + r] when TA (A stored transposed). A kRows x kCols block
// of accumulator registers stays live over the whole K loop: per k, kCols loads of B, kRows
// broadcasts of A and kRows * kCols FMAs. A template over V like every kernel body (dispatch.h);
// only the broadcast is an intrinsic per ISA.
#pragma once
#include <algorithm>

#include "simd_kernel.h"

#ifdef XFMR_X86
#include <immintrin.h>
#endif

namespace xfmr::simd {

// The register block that fills each ISA's register file: AVX-512 6 x 4 zmm (24 accumulators + 4 B
// + 1 broadcast of 32), AVX2 6 x 2 ymm (12 + 2 + 1 of 16), portable SSE2 3 x 4 xmm (12 of 16).
template <class V>
struct MmBlock {
  static constexpr int kRows = lanes<V> == 4 ? 3 : 6;
  static constexpr int kCols = lanes<V> == 8 ? 2 : 4;
};

// *p in every lane. Generic vectors build this lane by lane (GCC 12), so x86 uses the instruction.
template <class V>
XFMR_INLINE V broadcast(With<V>, const float* p) {
  return splat<V>(*p);
}
#ifdef XFMR_X86
XFMR_TARGET_AVX512 inline vf16 broadcast(With<vf16>, const float* p) { return (vf16)_mm512_set1_ps(*p); }
XFMR_TARGET_AVX2 inline vf8 broadcast(With<vf8>, const float* p) { return (vf8)_mm256_broadcast_ss(p); }
#endif

template <class V, int R, int NV, bool TA>
XFMR_INLINE void mm_tile(int64_t K, const float* A, int64_t lda, const float* Bm, int64_t ldb, float* C,
                         int64_t ldc, bool acc) {
  constexpr int L = lanes<V>;
  V c[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) c[r][v] = acc ? load<V>(C + r * ldc + v * L) : V{};
  for (int64_t k = 0; k < K; k++) {
    V b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) b[v] = load<V>(Bm + k * ldb + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const V a = broadcast(With<V>{}, TA ? A + k * lda + r : A + r * lda + k);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) c[r][v] = a * b[v] + c[r][v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) store<V>(C + r * ldc + v * L, c[r][v]);
}

// Edge blocks: the largest instantiated R x NV that matches (rr, nv).
template <class V, int R, int NV, bool TA>
XFMR_INLINE void mm_pick_nv(int64_t nv, int64_t K, const float* A, int64_t lda, const float* Bm, int64_t ldb,
                            float* C, int64_t ldc, bool acc) {
  if (nv == NV) mm_tile<V, R, NV, TA>(K, A, lda, Bm, ldb, C, ldc, acc);
  else if constexpr (NV > 1) mm_pick_nv<V, R, NV - 1, TA>(nv, K, A, lda, Bm, ldb, C, ldc, acc);
}
template <class V, int R, bool TA>
XFMR_INLINE void mm_pick(int64_t rr, int64_t nv, int64_t K, const float* A, int64_t lda, const float* Bm,
                         int64_t ldb, float* C, int64_t ldc, bool acc) {
  if (rr == R) mm_pick_nv<V, R, MmBlock<V>::kCols, TA>(nv, K, A, lda, Bm, ldb, C, ldc, acc);
  else if constexpr (R > 1) mm_pick<V, R - 1, TA>(rr, nv, K, A, lda, Bm, ldb, C, ldc, acc);
}

// Column panels of kCols registers; the B panel (K x kCols * lanes floats) stays in L1 while the
// row blocks pass.
template <class V>
XFMR_INLINE void mm_blocks(bool ta, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                           const float* Bm, int64_t ldb, float* C, int64_t ldc, bool acc) {
  constexpr int64_t kRows = MmBlock<V>::kRows, kCols = MmBlock<V>::kCols, L = lanes<V>;
  for (int64_t n0 = 0; n0 < N; n0 += kCols * L) {
    const int64_t nv = std::min<int64_t>(kCols, (N - n0) / L);
    for (int64_t r0 = 0; r0 < M; r0 += kRows) {
      const int64_t rr = std::min<int64_t>(kRows, M - r0);
      float* c = C + r0 * ldc + n0;
      if (ta) mm_pick<V, kRows, true>(rr, nv, K, A + r0, lda, Bm + n0, ldb, c, ldc, acc);
      else mm_pick<V, kRows, false>(rr, nv, K, A + r0 * lda, lda, Bm + n0, ldb, c, ldc, acc);
    }
  }
}

// mm(With<V>{}, ta, ...): C (+)= op(A) B, one out-of-line copy per ISA compiled with its target (a
// kernel calls it from several places, and a copy holds every edge-block variant).
#ifdef XFMR_X86
XFMR_TARGET_AVX512 static void mm(With<vf16>, bool ta, int64_t M, int64_t N, int64_t K,
                                                            const float* A, int64_t lda, const float* Bm,
                                                            int64_t ldb, float* C, int64_t ldc, bool acc) {
  mm_blocks<vf16>(ta, M, N, K, A, lda, Bm, ldb, C, ldc, acc);
}
XFMR_TARGET_AVX2 static void mm(With<vf8>, bool ta, int64_t M, int64_t N, int64_t K,
                                                          const float* A, int64_t lda, const float* Bm, int64_t ldb,
                                                          float* C, int64_t ldc, bool acc) {
  mm_blocks<vf8>(ta, M, N, K, A, lda, Bm, ldb, C, ldc, acc);
}
#endif
static void mm(With<vf4>, bool ta, int64_t M, int64_t N, int64_t K, const float* A,
                                         int64_t lda, const float* Bm, int64_t ldb, float* C, int64_t ldc, bool acc) {
  mm_blocks<vf4>(ta, M, N, K, A, lda, Bm, ldb, C, ldc, acc);
}

}  // namespace xfmr::simd
