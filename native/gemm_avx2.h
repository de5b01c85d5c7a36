// Part of native/gemm.cc, included inside namespace xfmr::{anonymous} after Problem, the packing
// helpers and the Arch signatures; not a standalone header.
#pragma once

// AVX2 + FMA: a 6 x 16 tile (12 ymm accumulators), the classic Haswell shape.

XFMR_TARGET_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int MR, int NV>
XFMR_TARGET_AVX2 void ukernel_avx2(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c,
                            int64_t ldc, int m, int n, float alpha, float beta) {
  constexpr int NR = NV * 8;
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + v * 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      __m256 a = _mm256_broadcast_ss(ap + i);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
    }
    ap += MR;
    bp += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) {
        float* ci = c + i * ldc + v * 8;
        __m256 r = _mm256_mul_ps(acc[i][v], va);
        if (beta != 0.f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r);
        _mm256_storeu_ps(ci, r);
      }
    return;
  }
  alignas(32) float t[MR * NR];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) _mm256_store_ps(t + i * NR + v * 8, acc[i][v]);
  store_partial(t, NR, c, ldc, m, n, alpha, beta);
}

// Small M, B stored [K, N]: one row of A, 32 columns (4 ymm) per block; the column tail is
// scalar.
XFMR_TARGET_AVX2 void small_n_avx2(const Problem& P, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < P.M; i++) {
    const float* arow = P.a + i * P.rsa;
    float* crow = P.c + i * P.ldc;
    int64_t j = j0;
    for (; j + 32 <= j1; j += 32) {
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      const float* b = P.b + j;
      for (int64_t p = 0; p < P.K; p++, b += P.rsb) {
        __m256 av = _mm256_set1_ps(arow[p * P.csa]);
        for (int v = 0; v < 4; v++) acc[v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + v * 8), acc[v]);
      }
      for (int v = 0; v < 4; v++) {
        __m256 r = _mm256_mul_ps(acc[v], _mm256_set1_ps(P.alpha));
        if (P.beta != 0.f) r = _mm256_fmadd_ps(_mm256_set1_ps(P.beta), _mm256_loadu_ps(crow + j + v * 8), r);
        _mm256_storeu_ps(crow + j + v * 8, r);
      }
    }
    for (; j < j1; j++) {
      float s = 0.f;
      for (int64_t p = 0; p < P.K; p++) s += arow[p * P.csa] * P.b[p * P.rsb + j];
      crow[j] = P.beta == 0.f ? P.alpha * s : P.alpha * s + P.beta * crow[j];
    }
  }
}

// Small M, transB: 4 dot products at a time (4 ymm chains), scalar k tail.
XFMR_TARGET_AVX2 void small_t_avx2(const Problem& P, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < P.M; i++) {
    const float* a = P.a + i * P.rsa;
    float* crow = P.c + i * P.ldc;
    for (int64_t j = j0; j < j1; j += 4) {
      int J = static_cast<int>(std::min<int64_t>(4, j1 - j));
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      float tail[4] = {0, 0, 0, 0};
      int64_t p = 0;
      for (; p + 8 <= P.K; p += 8) {
        __m256 av = _mm256_loadu_ps(a + p);
        for (int q = 0; q < J; q++)
          acc[q] = _mm256_fmadd_ps(av, _mm256_loadu_ps(P.b + (j + q) * P.csb + p), acc[q]);
      }
      for (; p < P.K; p++)
        for (int q = 0; q < J; q++) tail[q] += a[p] * P.b[(j + q) * P.csb + p];
      for (int q = 0; q < J; q++) {
        float v = P.alpha * (hsum256(acc[q]) + tail[q]);
        crow[j + q] = P.beta == 0.f ? v : v + P.beta * crow[j + q];
      }
    }
  }
}
