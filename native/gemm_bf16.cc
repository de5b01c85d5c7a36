// Kernel family: bf16 GEMM. Batched C_b = alpha * op(A_b) @ op(B_b) + beta * C_b where A and B
// are f32 arrays rounded to bf16 (round to nearest even) as they are packed or copied; products
// are exact in f32 and accumulate in f32 (contract: Kernels.gemmBf16 in src/kernels/kernels.ts;
// oracle: src/kernels/js/gemm.ts).
//
// Algorithm: the Goto/BLIS scheme of gemm.cc, with bf16 panels. For each [kc x nc] block of
// op(B), pack it once (shared by all threads) into NR-wide micro-panels; each task packs its
// [mc x kc] block of op(A) into MR-tall micro-panels and runs the MR x NR micro-kernel over its
// part of C. Rounding to bf16 happens in the packing copy, so the caller keeps f32 tensors and no
// bf16 copy of a whole matrix is ever made. Panels hold k in pairs, the layout the bf16 dot
// instruction wants: A panel [kc/2][MR][2], B panel [kc/2][NR][2] (an odd kc is zero-padded).
//
// Paths (bf16_path(), dispatch.h):
//  - avx512bf16: a 6 x 64 tile in 24 zmm accumulators; per pair of k, 4 loads of B (16 column
//    pairs each), 6 broadcasts of an A pair and 24 VDPBF16PS.
//  - f32 (any CPU): bf16-rounded f32 copies of A and B go through the f32 GEMM (gemm.cc), so it
//    runs at that GEMM's speed on whatever ISA it picked. On the Sapphire Rapids VM this was
//    written on, VDPBF16PS gives half the flops of f32 FMAs (86 against 174 GFLOPS per core in a
//    register-only loop), so this path (XFMR_ISA=avx512) is the faster one there; the default
//    still prefers avx512bf16 where the CPU has it.
//  - amx: not written yet. AMX is detected (and the tile-data permission requested, cpu.cc), but
//    bf16_path() never picks it: XFMR_ISA=amx and AMX CPUs run avx512bf16.
//
// Not handled: no GEMV path (M = 1 packs B like any other shape, so decode-sized products cost
// about as much packing as compute); batch items run one after another, each on the whole pool;
// VDPBF16PS and VCVTNE2PS2BF16 read denormals as zero, so the avx512bf16 path differs from the
// js twin for inputs below 2^-126 in magnitude (the f32 path does not).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common.h"
#include "dispatch.h"

#ifdef XFMR_X86
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {
namespace {

using bf16 = uint16_t;

// op(A)[i][p] = a[i * rsa + p * csa], op(B)[p][j] = b[p * rsb + j * csb], C[i][j] = c[i * ldc + j].
struct Problem {
  const float* a;
  const float* b;
  float* c;
  int64_t M, N, K;
  int64_t rsa, csa, rsb, csb, ldc;
  float alpha, beta;
};

// Round to nearest even on the bit pattern; a NaN stays a (quiet) NaN instead of rounding into
// infinity.
inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? static_cast<bf16>((u >> 16) | 0x40u) : static_cast<bf16>(r);
}

inline float from_bf16(bf16 h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

#ifdef XFMR_X86
// ---------------------------------------------------------------------------------------------
// Packing (rounds to bf16). Element (row or column r, k = p) of a panel of width W sits at
// [p / 2][r][p % 2]; rows past the matrix edge and the pad of an odd kc are zero.

// A run of kc contiguous k values -> pairs at dst + t * 2 * stride (pair t holds k = 2t, 2t + 1; an
// odd kc leaves the last high half to the caller's zeroing). VCVTNE2PS2BF16 rounds to nearest
// even like to_bf16, but reads f32 denormals as zero: values the kernel's VDPBF16PS would read as
// zero anyway once rounded (below 2^-126), bar the few just under 2^-126 that round up to it.
XFMR_TARGET_AVX512BF16 void pairs_from_run(const float* s, int64_t kc, bf16* dst, int64_t stride) {
  int64_t p = 0;
  alignas(64) uint32_t t[16];
  for (; p + 32 <= kc; p += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + p + 16), _mm512_loadu_ps(s + p));
    _mm512_store_si512(t, (__m512i)v);
    for (int u = 0; u < 16; u++) std::memcpy(dst + (p / 2 + u) * 2 * stride, &t[u], 4);
  }
  for (; p < kc; p++) dst[(p >> 1) * 2 * stride + (p & 1)] = to_bf16(s[p]);
}

// Rows p and p + 1 of a [K, N] block, 16 columns at a time -> interleaved pairs at d (16 dwords).
XFMR_TARGET_AVX512BF16 inline void pairs_from_rows(const float* r0, const float* r1, bf16* d) {
  const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r0)));
  const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r1)));
  _mm512_storeu_si512(d, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
}

// A [K, N] panel of n <= NR columns (rows contiguous), k [0, kc) -> [kc/2][NR][2] at dst.
XFMR_TARGET_AVX512BF16 void pack_b_rows(const float* src, int64_t rsb, int NR, int64_t kc, int n, bf16* dst) {
  const int n16 = n / 16 * 16;
  int64_t p = 0;
  for (; p + 2 <= kc; p += 2) {
    const float* r0 = src + p * rsb;
    bf16* d = dst + (p >> 1) * NR * 2;
    for (int q = 0; q < n16; q += 16) pairs_from_rows(r0 + q, r0 + rsb + q, d + q * 2);
    for (int q = n16; q < n; q++) d[q * 2] = to_bf16(r0[q]), d[q * 2 + 1] = to_bf16(r0[rsb + q]);
  }
  if (p < kc)  // odd kc: the high halves stay zero
    for (int q = 0; q < n; q++) dst[(p >> 1) * NR * 2 + q * 2] = to_bf16(src[p * rsb + q]);
}

// pack_a for transA (A stored [K, M]): a whole block at a time, so each k pair converts 16 rows of
// op(A) per vector (a panel is only MR = 6 wide) and scatters the pairs to their panels.
XFMR_TARGET_AVX512BF16 void pack_a_trans(const Problem& P, int MR, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                                         bf16* dst) {
  const int64_t kp = ceil_div(kc, 2), panel = kp * MR * 2;
  if (kc % 2 || mc % MR) std::memset(dst, 0, ceil_div(mc, MR) * panel * sizeof(bf16));
  const float* src = P.a + i0 * P.rsa + p0 * P.csa;  // op(A)[i0 + i][p0 + p] = src[i + p * csa]
  alignas(64) uint32_t t[16];
  for (int64_t p = 0; p < kc; p += 2) {
    const float* r0 = src + p * P.csa;
    const float* r1 = p + 1 < kc ? r0 + P.csa : nullptr;
    bf16* d = dst + (p >> 1) * MR * 2;
    int64_t i = 0;
    if (r1)
      for (; i + 16 <= mc; i += 16) {
        pairs_from_rows(r0 + i, r1 + i, reinterpret_cast<bf16*>(t));
        for (int u = 0; u < 16; u++) std::memcpy(d + ((i + u) / MR) * panel + ((i + u) % MR) * 2, &t[u], 4);
      }
    for (; i < mc; i++) {
      bf16* e = d + (i / MR) * panel + (i % MR) * 2;
      e[0] = to_bf16(r0[i]);
      if (r1) e[1] = to_bf16(r1[i]);
    }
  }
}

// op(A) rows [i0, i0 + mc), k [p0, p0 + kc) -> ceil(mc / MR) panels of kp * MR * 2 at dst.
void pack_a(const Problem& P, int MR, int64_t i0, int64_t mc, int64_t p0, int64_t kc, bf16* dst) {
  if (P.rsa == 1 && P.csa != 1) return pack_a_trans(P, MR, i0, mc, p0, kc, dst);
  const int64_t kp = ceil_div(kc, 2);
  for (int64_t ir = 0; ir < mc; ir += MR, dst += kp * MR * 2) {
    const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    if (kc % 2 || m < MR) std::memset(dst, 0, kp * MR * 2 * sizeof(bf16));
    const float* src = P.a + (i0 + ir) * P.rsa + p0 * P.csa;
    if (P.csa == 1) {  // rows contiguous in k
      for (int i = 0; i < m; i++) pairs_from_run(src + i * P.rsa, kc, dst + i * 2, MR);
    } else {
      for (int i = 0; i < m; i++)
        for (int64_t p = 0; p < kc; p++)
          dst[(p >> 1) * MR * 2 + i * 2 + (p & 1)] = to_bf16(src[i * P.rsa + p * P.csa]);
    }
  }
}

// op(B) k [p0, p0 + kc), columns [j0, j0 + nc) -> ceil(nc / NR) panels of kp * NR * 2 at dst.
void pack_b(const Problem& P, int NR, int64_t p0, int64_t kc, int64_t j0, int64_t nc, bf16* dst) {
  const int64_t kp = ceil_div(kc, 2);
  for (int64_t jr = 0; jr < nc; jr += NR, dst += kp * NR * 2) {
    const int n = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    if (kc % 2 || n < NR) std::memset(dst, 0, kp * NR * 2 * sizeof(bf16));
    const float* src = P.b + p0 * P.rsb + (j0 + jr) * P.csb;
    if (P.csb == 1) {  // B stored [K, N]: two rows of the block at a time
      pack_b_rows(src, P.rsb, NR, kc, n, dst);
    } else if (P.rsb == 1) {  // transB, B stored [N, K]: each column of op(B) is contiguous
      for (int q = 0; q < n; q++) pairs_from_run(src + q * P.csb, kc, dst + q * 2, NR);
    } else {
      for (int q = 0; q < n; q++)
        for (int64_t p = 0; p < kc; p++)
          dst[(p >> 1) * NR * 2 + q * 2 + (p & 1)] = to_bf16(src[q * P.csb + p * P.rsb]);
    }
  }
}

// Micro-kernel: C[0:m, 0:n] = alpha * (Ap @ Bp) + beta * C over kp pairs of k. beta == 0 never
// reads C.
using MicroKernel = void (*)(int64_t kp, const bf16* ap, const bf16* bp, float* c, int64_t ldc, int m, int n,
                             float alpha, float beta);

// AVX512-BF16 micro-kernel, MR x (16 NV) (see the opening note).
template <int MR, int NV>
XFMR_TARGET_AVX512BF16 void ukernel_avx512bf16(int64_t kp, const bf16* __restrict ap, const bf16* __restrict bp,
                                               float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  constexpr int NR = NV * 16;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
  for (int i = 0; i < std::min(m, MR); i++)
    for (int v = 0; v < NV; v++) __builtin_prefetch(c + i * ldc + v * 16);
#pragma GCC unroll 2
  for (int64_t p = 0; p < kp; p++, ap += MR * 2, bp += NR * 2) {
    __m512bh b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) b[v] = (__m512bh)_mm512_loadu_si512(bp + v * 32);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      int32_t pair;
      std::memcpy(&pair, ap + i * 2, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
    }
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

struct Arch {
  int MR, NR;
  int64_t KC, MC, NC;  // kc x NR B panel, mc x kc A block (L2), kc x nc shared B block (L3)
  MicroKernel kernel;
};

const Arch& arch() {
  static const Arch avx512bf16{6, 64, 512, 192, 2048, ukernel_avx512bf16<6, 4>};
  return avx512bf16;
}

// Packing buffers: [0] holds the shared B block, [1 + t] pool thread t's A block. Kept between
// calls (faulting in megabytes each call would cost more than packing); not safe for two JS
// threads at once, like the pool itself.
std::vector<std::vector<bf16>>& bufs() {
  static std::vector<std::vector<bf16>> v;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Driver (as gemm.cc's gemm_packed, without its small-M and batched-small paths).

void scale_c(const Problem& P) {
  for (int64_t i = 0; i < P.M; i++)
    for (int64_t j = 0; j < P.N; j++) {
      float& c = P.c[i * P.ldc + j];
      c = P.beta == 0.f ? 0.f : P.beta * c;
    }
}

// Row blocks of at most mc rows times column blocks, at least 4 tasks per thread when possible,
// a multiple of the thread count where the panels allow.
void plan_tasks(int64_t M, int64_t nc, const Arch& ar, int threads, int64_t* mb, int64_t* nb) {
  const int64_t um = ceil_div(M, ar.MR), un = ceil_div(nc, ar.NR);
  *mb = ceil_div(um, std::max<int64_t>(1, ar.MC / ar.MR));
  *nb = 1;
  if (threads <= 1) return;
  *mb = std::min(um, ceil_div(*mb, threads) * threads);
  if (*mb * *nb < 4 * threads) *nb = std::min(un, ceil_div(4 * threads, *mb));
  while ((*mb * *nb) % threads && *nb < un) ++*nb;
}

void gemm_one(const Problem& P, const Arch& ar) {
  if (P.M == 0 || P.N == 0) return;
  if (P.K == 0) return scale_c(P);
  const int MR = ar.MR, NR = ar.NR;
  const int threads = num_threads();
  // Even k blocks (K = 1000 is two of 500, not 512 + 488), each a whole number of pairs.
  const int64_t kblocks = ceil_div(P.K, ar.KC), kc_max = std::min(P.K, ceil_div(ceil_div(P.K, kblocks), 8) * 8);
  const int64_t kp_max = ceil_div(kc_max, 2);
  const int64_t nc_max = std::min(ceil_div(P.N, NR) * NR, ar.NC);
  auto& buf = bufs();
  buf[0].resize(static_cast<size_t>(kp_max * 2 * ceil_div(nc_max, NR) * NR));
  bf16* bp = buf[0].data();
  int64_t mb, nb;
  for (int64_t jc = 0; jc < P.N; jc += ar.NC) {
    const int64_t nc = std::min(ar.NC, P.N - jc), panels = ceil_div(nc, NR);
    plan_tasks(P.M, nc, ar, threads, &mb, &nb);
    const int64_t um = ceil_div(P.M, MR);
    for (int64_t pc = 0; pc < P.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, P.K - pc), kp = ceil_div(kc, 2);
      const float beta = pc == 0 ? P.beta : 1.f;  // later k blocks accumulate
      auto pack = [&](int64_t q0, int64_t q1) {
        pack_b(P, NR, pc, kc, jc + q0 * NR, std::min(nc, q1 * NR) - q0 * NR, bp + q0 * NR * kp * 2);
      };
      if (threads > 1) parallel_for(panels, 4, pack);
      else pack(0, panels);
      auto task = [&](int64_t t, int worker) {
        const int64_t ib = t / nb, jb = t % nb;
        const int64_t i0 = (um * ib / mb) * MR, i1 = std::min(P.M, (um * (ib + 1) / mb) * MR);
        const int64_t q0 = panels * jb / nb, q1 = panels * (jb + 1) / nb;
        if (i0 >= i1 || q0 >= q1) return;
        std::vector<bf16>& abuf = buf[1 + worker];
        abuf.resize(static_cast<size_t>(ceil_div(i1 - i0, MR) * MR * kp * 2));
        bf16* ap = abuf.data();
        pack_a(P, MR, i0, i1 - i0, pc, kc, ap);
        for (int64_t q = q0; q < q1; q++) {
          const int64_t j = q * NR, n = std::min<int64_t>(NR, nc - j);
          const bf16* bq = bp + q * NR * kp * 2;
          for (int64_t i = i0; i < i1; i += MR) {
            const int m = static_cast<int>(std::min<int64_t>(MR, i1 - i));
            ar.kernel(kp, ap + (i - i0) * kp * 2, bq, P.c + i * P.ldc + jc + j, P.ldc, m, static_cast<int>(n),
                      P.alpha, beta);
          }
        }
      };
      if (threads > 1) parallel_tasks(mb * nb, task);
      else
        for (int64_t t = 0; t < mb * nb; t++) task(t, 0);
    }
  }
}

#endif  // XFMR_X86

// f32 path: bf16-rounded f32 copies of the spans of A and B the batch reads, then the f32 GEMM
// (products of bf16 values are exact in f32, so this is the same math; it costs one copy of A
// and B, small next to the product for all but GEMV shapes).
void gemm_bf16_via_f32(const float* A, size_t na, const float* B, size_t nb, float* C, int64_t batch, int64_t M,
                       int64_t N, int64_t K, bool ta, bool tb, int64_t sa, int64_t sb, int64_t sc, float alpha,
                       float beta) {
  std::vector<float> ra(na), rb(nb);
  auto round = [](const float* src, float* dst, size_t n) {
    parallel_for(static_cast<int64_t>(n), 1 << 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) dst[i] = from_bf16(to_bf16(src[i]));
    });
  };
  round(A, ra.data(), na);
  round(B, rb.data(), nb);
  gemm_f32(ra.data(), rb.data(), C, batch, M, N, K, ta, tb, sa, sb, sc, alpha, beta);
}

// ---------------------------------------------------------------------------------------------
// N-API.

// gemmBf16(A, B, C, batch, M, N, K, transA, transB, strideA, strideB, strideC, alpha, beta)
napi_value js_gemm_bf16(napi_env env, napi_callback_info info) {
  GemmArgs g;
  if (!read_gemm_args(env, info, "gemmBf16", g)) return nullptr;
  const float *A = g.A, *B = g.B;
  float* C = g.C;
  const int64_t batch = g.batch, M = g.M, N = g.N, K = g.K, sa = g.sa, sb = g.sb, sc = g.sc;
  const bool ta = g.ta, tb = g.tb;
  const float alpha = g.alpha, beta = g.beta;
#ifdef XFMR_X86
  if (bf16_path() != Bf16Path::F32) {
    const Arch& ar = arch();
    auto& buf = bufs();
    if (static_cast<int>(buf.size()) < 1 + num_threads()) buf.resize(1 + num_threads());
    for (int64_t b = 0; b < batch; b++) {
      Problem P{A + b * sa, B + b * sb, C + b * sc, M, N, K, 0, 0, 0, 0, N, alpha, beta};
      P.rsa = ta ? 1 : K, P.csa = ta ? M : 1;
      P.rsb = tb ? 1 : N, P.csb = tb ? K : 1;
      gemm_one(P, ar);
    }
    return make_undefined(env);
  }
#endif
  if (K == 0) {
    gemm_f32(A, B, C, batch, M, N, K, ta, tb, sa, sb, sc, alpha, beta);
    return make_undefined(env);
  }
  gemm_bf16_via_f32(A, static_cast<size_t>(g.na), B, static_cast<size_t>(g.nb), C, batch, M, N, K, ta, tb, sa, sb, sc,
                    alpha, beta);
  return make_undefined(env);
}

}  // namespace

void register_gemm_bf16(napi_env env, napi_value exports) { export_fn(env, exports, "gemmBf16", js_gemm_bf16); }

}  // namespace xfmr
