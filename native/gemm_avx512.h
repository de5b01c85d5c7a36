// Part of native/gemm.cc, included inside namespace xfmr::{anonymous} after Problem, the packing
// helpers and the Arch signatures; not a standalone header.
#pragma once

// AVX-512F/BW/VL/DQ + FMA kernels.

// (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized inside its own header.)
XFMR_TARGET_AVX512 inline float hsum512(__m512 v) {
  return hsum256(_mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1)));
}

// In-register transpose: r[i] holds row i (16 floats); afterwards r[k] holds column k.
XFMR_TARGET_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {  // per 128-bit lane: pairs of rows interleaved
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) {  // r[4g + c], lane L: rows 4g..4g+3 at column 4L + c
    r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) {  // then gather lane L of r[c], r[4+c], r[8+c], r[12+c]
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
  }
}

// pack_b for transB with 16x16 register transposes instead of one strided scalar store per
// element (that copy is significant next to the compute when M is only a few hundred rows).
// Other layouts use the generic pack.
XFMR_TARGET_AVX512 void pack_b_avx512(const Problem& P, int NR, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                               float* dst) {
  if (P.rsb != 1 || NR % 16) return pack_b(P, NR, p0, kc, j0, nc, dst);
  for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc) {
    const int n = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    if (n < NR) {
      pack_b_panel(P, NR, p0, kc, j0 + jr, n, dst);
      continue;
    }
    const float* src = P.b + p0 + (j0 + jr) * P.csb;
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16)
      for (int g = 0; g < NR; g += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (g + i) * P.csb + p);
        transpose16(r);
        for (int k = 0; k < 16; k++) _mm512_store_ps(dst + (p + k) * NR + g, r[k]);
      }
    for (; p < kc; p++)
      for (int q = 0; q < NR; q++) dst[p * NR + q] = src[q * P.csb + p];
  }
}

// The micro-kernel: a 6 x 64 tile in 24 zmm accumulators (+ 4 B vectors, 1 broadcast). Per k
// step: 4 loads, 6 broadcasts and 24 FMAs, enough independent chains to keep both FMA pipes
// busy; measured at 95-99% of the FMA peak (`npm run bench -- peak`) with its panels in L2.
template <int MR, int NV>
XFMR_TARGET_AVX512 void ukernel_avx512(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                                float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  constexpr int NR = NV * 16;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
  // C is read (or written) right after the loop: start fetching it now.
  for (int i = 0; i < std::min(m, MR); i++)
    for (int v = 0; v < NV; v++) __builtin_prefetch(c + i * ldc + v * 16);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m512 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + v * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      __m512 a = _mm512_set1_ps(ap[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    ap += MR;
    bp += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) {
        float* ci = c + i * ldc + v * 16;
        __m512 r = _mm512_mul_ps(acc[i][v], va);
        if (beta != 0.f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), r);
        _mm512_storeu_ps(ci, r);
      }
    return;
  }
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) _mm512_store_ps(t + i * NR + v * 16, acc[i][v]);
  store_partial(t, NR, c, ldc, m, n, alpha, beta);
}

// Mask of the first `n` (0..16) lanes.
XFMR_TARGET_AVX512 inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(n, 0)) - 1);
}

// Small M, B stored [K, N]: C[i, j0:j1] = sum_k A(i, k) * B[k, j0:j1], R rows of A and 16 * NV
// columns at a time, so each B row segment is loaded once for R rows.
template <int R, int NV>
XFMR_TARGET_AVX512 void small_n_block_avx512(const Problem& P, int64_t i0, int64_t j, int64_t n) {
  __mmask16 mk[NV];
  for (int v = 0; v < NV; v++) mk[v] = lanes(n - v * 16);
  __m512 acc[R][NV];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  const float* b = P.b + j * P.csb;
  const float* a = P.a + i0 * P.rsa;
  if (n == NV * 16) {
#pragma GCC unroll 2
    for (int64_t p = 0; p < P.K; p++, b += P.rsb, a += P.csa) {
      __m512 bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(b + v * 16);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) {
        __m512 av = _mm512_set1_ps(a[r * P.rsa]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
    }
  } else {
    for (int64_t p = 0; p < P.K; p++, b += P.rsb, a += P.csa) {
      __m512 bv[NV];
      for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(mk[v], b + v * 16);
      for (int r = 0; r < R; r++) {
        __m512 av = _mm512_set1_ps(a[r * P.rsa]);
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
    }
  }
  const __m512 va = _mm512_set1_ps(P.alpha), vb = _mm512_set1_ps(P.beta);
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) {
      float* c = P.c + (i0 + r) * P.ldc + j + v * 16;
      __m512 x = _mm512_mul_ps(acc[r][v], va);
      if (P.beta != 0.f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], c), x);
      _mm512_mask_storeu_ps(c, mk[v], x);
    }
}

// GEMV, B stored [K, N]: y[j0:j1] = sum_k x[k] * B[k, j0:j1], walking B row by row (long
// contiguous runs the prefetcher follows) with y in an L1 buffer, 4 rows of B per pass over y.
XFMR_TARGET_AVX512 void gemv_n_avx512(const Problem& P, int64_t j0, int64_t j1) {
  constexpr int64_t W = 2048;  // 8 KB of y
  alignas(64) float y[W];
  for (int64_t jb = j0; jb < j1; jb += W) {
    const int64_t w = std::min(W, j1 - jb), wv = w & ~int64_t(15);
    const __mmask16 tail = lanes(w - wv);
    std::memset(y, 0, sizeof(float) * ((w + 15) & ~int64_t(15)));
    const float* b = P.b + jb;
    int64_t p = 0;
    for (; p + 4 <= P.K; p += 4) {
      const __m512 x0 = _mm512_set1_ps(P.a[p * P.csa]), x1 = _mm512_set1_ps(P.a[(p + 1) * P.csa]);
      const __m512 x2 = _mm512_set1_ps(P.a[(p + 2) * P.csa]), x3 = _mm512_set1_ps(P.a[(p + 3) * P.csa]);
      const float *b0 = b + p * P.rsb, *b1 = b0 + P.rsb, *b2 = b1 + P.rsb, *b3 = b2 + P.rsb;
      for (int64_t j = 0; j < wv; j += 16) {
        __m512 acc = _mm512_load_ps(y + j);
        acc = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b0 + j), acc);
        acc = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b1 + j), acc);
        acc = _mm512_fmadd_ps(x2, _mm512_loadu_ps(b2 + j), acc);
        acc = _mm512_fmadd_ps(x3, _mm512_loadu_ps(b3 + j), acc);
        _mm512_store_ps(y + j, acc);
      }
      if (wv < w) {
        __m512 acc = _mm512_load_ps(y + wv);
        acc = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(tail, b0 + wv), acc);
        acc = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(tail, b1 + wv), acc);
        acc = _mm512_fmadd_ps(x2, _mm512_maskz_loadu_ps(tail, b2 + wv), acc);
        acc = _mm512_fmadd_ps(x3, _mm512_maskz_loadu_ps(tail, b3 + wv), acc);
        _mm512_store_ps(y + wv, acc);
      }
    }
    for (; p < P.K; p++) {
      const __m512 x0 = _mm512_set1_ps(P.a[p * P.csa]);
      const float* b0 = b + p * P.rsb;
      for (int64_t j = 0; j < w; j += 16) {
        const __mmask16 mk = lanes(w - j);
        _mm512_store_ps(y + j, _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mk, b0 + j), _mm512_load_ps(y + j)));
      }
    }
    float* c = P.c + jb;
    for (int64_t j = 0; j < w; j++) c[j] = P.beta == 0.f ? P.alpha * y[j] : P.alpha * y[j] + P.beta * c[j];
  }
}

// Small M, B stored [K, N]. Column blocks outer, row groups inner: a K x 64 block of B is read
// from memory once and then from L2 by every group of up to 4 rows of A.
XFMR_TARGET_AVX512 void small_n_avx512(const Problem& P, int64_t j0, int64_t j1) {
  if (P.M == 1) return gemv_n_avx512(P, j0, j1);
  for (int64_t j = j0; j < j1; j += 64) {
    const int64_t n = std::min<int64_t>(64, j1 - j);
    for (int64_t i = 0; i < P.M; i += 4) {
      switch (std::min<int64_t>(4, P.M - i)) {
        case 4: small_n_block_avx512<4, 4>(P, i, j, n); break;
        case 3: small_n_block_avx512<3, 4>(P, i, j, n); break;
        case 2: small_n_block_avx512<2, 4>(P, i, j, n); break;
        default: small_n_block_avx512<1, 4>(P, i, j, n); break;
      }
    }
  }
}

// Small M, transB (B stored [N, K], W in y = x @ W^T): C[i, j] = dot(A row i, B row j) for R
// rows of A and J rows of B at a time, 16 k per step. A rows must be contiguous (csa == 1).
template <int R, int J>
XFMR_TARGET_AVX512 void small_t_block_avx512(const Problem& P, int64_t i0, int64_t j) {
  __m512 acc[R][J];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int q = 0; q < J; q++) acc[r][q] = _mm512_setzero_ps();
  const float* a = P.a + i0 * P.rsa;
  const float* b = P.b + j * P.csb;
  int64_t p = 0;
  for (; p + 16 <= P.K; p += 16) {
    __m512 av[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) av[r] = _mm512_loadu_ps(a + r * P.rsa + p);
#pragma GCC unroll 8
    for (int q = 0; q < J; q++) {
      __m512 bv = _mm512_loadu_ps(b + q * P.csb + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) acc[r][q] = _mm512_fmadd_ps(av[r], bv, acc[r][q]);
    }
  }
  if (p < P.K) {
    __mmask16 mk = lanes(P.K - p);
    for (int q = 0; q < J; q++) {
      __m512 bv = _mm512_maskz_loadu_ps(mk, b + q * P.csb + p);
      for (int r = 0; r < R; r++)
        acc[r][q] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + r * P.rsa + p), bv, acc[r][q]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int q = 0; q < J; q++) {
      float* c = P.c + (i0 + r) * P.ldc + j + q;
      float v = P.alpha * hsum512(acc[r][q]);
      *c = P.beta == 0.f ? v : v + P.beta * *c;
    }
}

// Rows [i, i + R) of A against rows [j, j_end) of B (at most 4).
template <int R>
XFMR_TARGET_AVX512 void small_t_group_avx512(const Problem& P, int64_t i, int64_t j, int64_t j_end) {
  if (j + 4 <= j_end) return small_t_block_avx512<R, 4>(P, i, j);
  for (; j < j_end; j++) small_t_block_avx512<R, 1>(P, i, j);
}

// Columns outer, row groups inner: 4 rows of B (4 * K floats) stay in L1 while every group of up
// to 4 rows of A passes over them, so B is read from memory once whatever M is.
XFMR_TARGET_AVX512 void small_t_avx512(const Problem& P, int64_t j0, int64_t j1) {
  if (P.M == 1) {  // 8 rows of B at a time: 8 independent FMA chains for one row of A
    int64_t j = j0;
    for (; j + 8 <= j1; j += 8) small_t_block_avx512<1, 8>(P, 0, j);
    for (; j < j1; j++) small_t_block_avx512<1, 1>(P, 0, j);
    return;
  }
  for (int64_t j = j0; j < j1; j += 4) {
    const int64_t j_end = std::min(j + 4, j1);
    for (int64_t i = 0; i < P.M; i += 4) {
      switch (std::min<int64_t>(4, P.M - i)) {
        case 4: small_t_group_avx512<4>(P, i, j, j_end); break;
        case 3: small_t_group_avx512<3>(P, i, j, j_end); break;
        case 2: small_t_group_avx512<2>(P, i, j, j_end); break;
        default: small_t_group_avx512<1>(P, i, j, j_end); break;
      }
    }
  }
}
