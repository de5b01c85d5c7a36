// Kernel family: bf16 GEMM. Batched C_b = alpha * op(A_b) @ op(B_b) + beta * C_b where A and B
// are f32 arrays rounded to bf16 (round to nearest even) as they are packed or copied; products
// are exact in f32 and accumulate in f32 (contract: Kernels.gemmBf16 in src/kernels/kernels.ts;
// oracle: src/kernels/js/gemm.ts). linear_bf16.cc runs its prefill products through the same
// driver, with B given as bf16 bits.
//
// Algorithm: the Goto/BLIS scheme of gemm.cc, with bf16 panels. For each [kc x nc] block of
// op(B), pack it once (shared by all threads) into NR-wide micro-panels; each task packs its
// [mc x kc] block of op(A) into MR-tall micro-panels and runs the MR x NR micro-kernel over its
// part of C. Rounding to bf16 happens in the packing copy, so the caller keeps f32 tensors and no
// bf16 copy of a whole matrix is ever made. Panels hold k in pairs, the layout the bf16 dot
// instructions want (bf16.h): B [kc/2][NR][2]; A [kc/2/g][MR][g][2], g = 1 for VDPBF16PS's
// broadcast, g = 16 for AMX tile rows (kc is zero-padded to a whole number of groups).
//
// Paths (bf16_path(), dispatch.h; the default per CPU class is argued in cpu.cc):
//  - amx: a 32 x 32 tile in four AMX accumulator tiles, TDPBF16PS (gemm_amx.cc). Before its first
//    use, a self-check runs odd-shaped products through the hardware tiles against a float64
//    reference; if they disagree, the f32 path runs instead and stderr says why (one line).
//  - amx-emulated: the same driver and tile loop with each tile instruction emulated in C++
//    (amx_tiles.h); slow, only when XFMR_ISA names it, so tests check the AMX path anywhere.
//  - avx512bf16: a 6 x 64 tile in 24 zmm accumulators; per pair of k, 4 loads of B (16 column
//    pairs each), 6 broadcasts of an A pair and 24 VDPBF16PS.
//  - f32 (the default without AMX): bf16-rounded f32 copies of A and B go through the f32 GEMM
//    (gemm.cc), at that GEMM's speed on whatever ISA it picked. On the Sapphire Rapids VM this
//    was written on (AMX hidden), VDPBF16PS gives half the flops of f32 FMAs (86 against 174
//    GFLOPS per core in a register-only loop), so this path is the faster one there.
//
// Not handled: no GEMV path (M = 1 packs B like any other shape; linearBf16 is the decode
// kernel); batch items run one after another, each on the whole pool; VDPBF16PS, TDPBF16PS and
// VCVTNE2PS2BF16 read denormals as zero, so the avx512bf16 and amx paths differ from the js twin
// for inputs below 2^-126 in magnitude (the f32 path does not). The AMX blocking is untuned.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bf16.h"
#include "common.h"
#include "dispatch.h"

#ifdef XFMR_X86
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ---------------------------------------------------------------------------------------------
// Packing (rounds f32 to bf16, or copies bf16 bits). Pair t (k = 2t, 2t + 1) of panel row r sits
// at Pairs::at(r, t); rows past the matrix edge and the pad past kc are zero.

struct Pairs {
  int64_t g, width, panel;  // g pairs of a row together, `width` rows per panel of `panel` bf16
  int64_t at(int64_t r, int64_t t) const {
    return (r / width) * panel + ((t / g) * width * g + (r % width) * g + t % g) * 2;
  }
};

// Whether the packing may use AVX512-BF16 (every CPU that runs the amx or avx512bf16 paths has it;
// elsewhere, e.g. amx-emulated on an older CPU, it packs with the scalar to_bf16).
bool vector_packing() {
  static const bool ok = cpu_has_avx512bf16();
  return ok;
}

#ifdef XFMR_X86
// s[0, 32 * blocks) -> pairs 0 .. 16 * blocks of row r. VCVTNE2PS2BF16 rounds to nearest even like
// to_bf16, but reads f32 denormals as zero: values the bf16 dot instructions read as zero anyway
// once rounded (below 2^-126), bar the few just under 2^-126 that round up to it.
XFMR_TARGET_AVX512BF16 void run_to_pairs(const float* s, int64_t blocks, bf16* dst, const Pairs& L, int64_t r) {
  alignas(64) uint32_t t[16];
  for (int64_t b = 0; b < blocks; b++) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + 32 * b + 16), _mm512_loadu_ps(s + 32 * b));
    if (L.g == 16) {  // 16 pairs of one row are contiguous: one store
      _mm512_storeu_si512(dst + L.at(r, 16 * b), (__m512i)v);
      continue;
    }
    _mm512_store_si512(t, (__m512i)v);
    for (int u = 0; u < 16; u++) std::memcpy(dst + L.at(r, 16 * b + u), &t[u], 4);
  }
}

// Rows p and p + 1 of a [K, N] block, 16 columns at a time -> 16 interleaved pairs at d.
XFMR_TARGET_AVX512BF16 void rows_to_pairs(const float* r0, const float* r1, bf16* d) {
  const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r0)));
  const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r1)));
  _mm512_storeu_si512(d, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
}
#endif

// A run of kc contiguous k values (a row of op(A), or a column of op(B) stored [N, K]) -> panel
// row r.
void pack_run(const float* s, int64_t kc, bf16* dst, const Pairs& L, int64_t r) {
  int64_t p = 0;
#ifdef XFMR_X86
  if (vector_packing()) {
    run_to_pairs(s, kc / 32, dst, L, r);
    p = kc / 32 * 32;
  }
#endif
  for (; p < kc; p++) dst[L.at(r, p >> 1) + (p & 1)] = to_bf16(s[p]);
}

// Two consecutive k rows of a [K, N] block of op(B), or of a transposed [K, M] block of op(A):
// elements q of rows p and p + 1 -> pair t = p / 2 of panel row q, for q in [0, n). r1 is null
// past an odd kc (the high halves stay zero).
void pack_row_pair(const float* r0, const float* r1, int64_t n, bf16* dst, const Pairs& L, int64_t t) {
  int64_t q = 0;
#ifdef XFMR_X86
  if (r1 && vector_packing()) {
    alignas(64) uint32_t v[16];
    for (; q + 16 <= n; q += 16) {
      if (L.g == 1 && q % L.width + 16 <= L.width) {  // 16 rows' pairs are contiguous
        rows_to_pairs(r0 + q, r1 + q, dst + L.at(q, t));
        continue;
      }
      rows_to_pairs(r0 + q, r1 + q, reinterpret_cast<bf16*>(v));
      for (int u = 0; u < 16; u++) std::memcpy(dst + L.at(q + u, t), &v[u], 4);
    }
  }
#endif
  for (; q < n; q++) {
    bf16* e = dst + L.at(q, t);
    e[0] = to_bf16(r0[q]);
    if (r1) e[1] = to_bf16(r1[q]);
  }
}

// op(A) rows [i0, i0 + mc), k [p0, p0 + kc) -> ceil(mc / MR) panels of kpp pairs at dst.
void pack_a(const Bf16Problem& P, const Bf16Arch& ar, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int64_t kpp,
            bf16* dst) {
  const int MR = ar.MR;
  const Pairs L{ar.kgroup, MR, kpp * MR * 2};
  if (kc < 2 * kpp || mc % MR) std::memset(dst, 0, ceil_div(mc, MR) * L.panel * sizeof(bf16));
  const float* src = P.a + i0 * P.rsa + p0 * P.csa;
  if (P.csa == 1) {  // rows contiguous in k
    for (int64_t i = 0; i < mc; i++) pack_run(src + i * P.rsa, kc, dst, L, i);
  } else if (P.rsa == 1) {  // transA (A stored [K, M]): a k row holds consecutive rows of op(A)
    for (int64_t p = 0; p < kc; p += 2)
      pack_row_pair(src + p * P.csa, p + 1 < kc ? src + (p + 1) * P.csa : nullptr, mc, dst, L, p >> 1);
  } else {
    for (int64_t i = 0; i < mc; i++)
      for (int64_t p = 0; p < kc; p++) dst[L.at(i, p >> 1) + (p & 1)] = to_bf16(src[i * P.rsa + p * P.csa]);
  }
}

// One B micro-panel: op(B) k [p0, p0 + kc), columns [j, j + n), n <= NR -> [kpp][NR][2] at dst.
void pack_b_panel(const Bf16Problem& P, int NR, int64_t p0, int64_t kc, int64_t kpp, int64_t j, int n, bf16* dst) {
  const Pairs L{1, NR, kpp * NR * 2};
  if (kc < 2 * kpp || n < NR) std::memset(dst, 0, kpp * NR * 2 * sizeof(bf16));
  if (P.bh) {  // bf16 bits: a copy
    const bf16* src = P.bh + p0 * P.rsb + j * P.csb;
    if (P.rsb == 1) {  // columns of op(B) contiguous in k (linearBf16's W [Out, In]): pairs are dwords
      for (int q = 0; q < n; q++) {
        const bf16* s = src + q * P.csb;
        for (int64_t t = 0; t < kc / 2; t++) std::memcpy(dst + L.at(q, t), s + 2 * t, 4);
        if (kc & 1) dst[L.at(q, kc / 2)] = s[kc - 1];
      }
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int q = 0; q < n; q++) dst[L.at(q, p >> 1) + (p & 1)] = src[p * P.rsb + q * P.csb];
    }
    return;
  }
  const float* src = P.b + p0 * P.rsb + j * P.csb;
  if (P.csb == 1) {  // B stored [K, N]: two rows of the block at a time
    for (int64_t p = 0; p < kc; p += 2)
      pack_row_pair(src + p * P.rsb, p + 1 < kc ? src + (p + 1) * P.rsb : nullptr, n, dst, L, p >> 1);
  } else if (P.rsb == 1) {  // transB, B stored [N, K]: each column of op(B) is contiguous
    for (int q = 0; q < n; q++) pack_run(src + q * P.csb, kc, dst, L, q);
  } else {
    for (int64_t p = 0; p < kc; p++)
      for (int q = 0; q < n; q++) dst[L.at(q, p >> 1) + (p & 1)] = to_bf16(src[p * P.rsb + q * P.csb]);
  }
}

#ifdef XFMR_X86
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
#endif

// Packing buffers: [0] holds the shared B block, [1 + t] pool thread t's A block. Kept between
// calls (faulting in megabytes each call would cost more than packing); not safe for two JS
// threads at once, like the pool itself. at() gives a 64-byte aligned start (whole AMX tile rows
// per cache line).
struct PackBuf {
  std::vector<bf16> v;
  bf16* at(size_t n) {
    if (v.size() < n + 32) v.resize(n + 32);  // grow only: resizing up again would zero-fill
    const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
    return v.data() + ((64 - p % 64) % 64) / sizeof(bf16);
  }
};
std::vector<PackBuf>& bufs() {
  static std::vector<PackBuf> v;
  return v;
}

void scale_c(const Bf16Problem& P) {
  for (int64_t i = 0; i < P.M; i++)
    for (int64_t j = 0; j < P.N; j++) {
      float& c = P.c[i * P.ldc + j];
      c = P.beta == 0.f ? 0.f : P.beta * c;
    }
}

// Row blocks of at most mc rows times column blocks, at least 4 tasks per thread when possible,
// a multiple of the thread count where the panels allow.
void plan_tasks(int64_t M, int64_t nc, const Bf16Arch& ar, int threads, int64_t* mb, int64_t* nb) {
  const int64_t um = ceil_div(M, ar.MR), un = ceil_div(nc, ar.NR);
  *mb = ceil_div(um, std::max<int64_t>(1, ar.MC / ar.MR));
  *nb = 1;
  if (threads <= 1) return;
  *mb = std::min(um, ceil_div(*mb, threads) * threads);
  if (*mb * *nb < 4 * threads) *nb = std::min(un, ceil_div(4 * threads, *mb));
  while ((*mb * *nb) % threads && *nb < un) ++*nb;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Driver (as gemm.cc's gemm_packed, without its small-M and batched-small paths).

void gemm_bf16_one(const Bf16Problem& P, const Bf16Arch& ar) {
  if (P.M == 0 || P.N == 0) return;
  if (P.K == 0) return scale_c(P);
  const int MR = ar.MR, NR = ar.NR, g = ar.kgroup;
  const int threads = num_threads();
  auto& buf = bufs();
  if (static_cast<int>(buf.size()) < 1 + threads) buf.resize(1 + threads);  // before any task runs
  // Even k blocks (K = 1000 is two of 500, not 512 + 488), each a whole number of pair groups.
  const int64_t kblocks = ceil_div(P.K, ar.KC);
  const int64_t kc_max = std::min(P.K, round_up(ceil_div(P.K, kblocks), std::max(8, 2 * g)));
  const int64_t kpp_max = round_up(ceil_div(kc_max, 2), g);
  const int64_t nc_max = std::min(round_up(P.N, NR), ar.NC);
  bf16* bp = buf[0].at(static_cast<size_t>(kpp_max * 2 * round_up(nc_max, NR)));
  int64_t mb, nb;
  for (int64_t jc = 0; jc < P.N; jc += ar.NC) {
    const int64_t nc = std::min(ar.NC, P.N - jc), panels = ceil_div(nc, NR);
    plan_tasks(P.M, nc, ar, threads, &mb, &nb);
    const int64_t um = ceil_div(P.M, MR);
    for (int64_t pc = 0; pc < P.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, P.K - pc), kpp = round_up(ceil_div(kc, 2), g);
      const float beta = pc == 0 ? P.beta : 1.f;  // later k blocks accumulate
      auto pack = [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; q++)
          pack_b_panel(P, NR, pc, kc, kpp, jc + q * NR, static_cast<int>(std::min<int64_t>(NR, nc - q * NR)),
                       bp + q * NR * kpp * 2);
      };
      if (threads > 1) parallel_for(panels, 4, pack);
      else pack(0, panels);
      auto task = [&](int64_t t, int worker) {
        const int64_t ib = t / nb, jb = t % nb;
        const int64_t i0 = (um * ib / mb) * MR, i1 = std::min(P.M, (um * (ib + 1) / mb) * MR);
        const int64_t q0 = panels * jb / nb, q1 = panels * (jb + 1) / nb;
        if (i0 >= i1 || q0 >= q1) return;
        bf16* ap = buf[1 + worker].at(static_cast<size_t>(ceil_div(i1 - i0, MR) * MR * kpp * 2));
        pack_a(P, ar, i0, i1 - i0, pc, kc, kpp, ap);
        if (ar.task_begin) ar.task_begin();
        for (int64_t q = q0; q < q1; q++) {
          const int64_t j = q * NR, n = std::min<int64_t>(NR, nc - j);
          const bf16* bq = bp + q * NR * kpp * 2;
          for (int64_t i = i0; i < i1; i += MR) {
            const int m = static_cast<int>(std::min<int64_t>(MR, i1 - i));
            ar.kernel(kpp, ap + (i - i0) * kpp * 2, bq, P.c + i * P.ldc + jc + j, P.ldc, m, static_cast<int>(n),
                      P.alpha, beta);
          }
        }
        if (ar.task_end) ar.task_end();
      };
      if (threads > 1) parallel_tasks(mb * nb, task);
      else
        for (int64_t t = 0; t < mb * nb; t++) task(t, 0);
    }
  }
}

const Bf16Arch& bf16_arch(Bf16Path p) {
#ifdef XFMR_X86
  static const Bf16Arch avx512bf16{6, 64, 1, 512, 192, 2048, ukernel_avx512bf16<6, 4>, nullptr, nullptr};
  if (p == Bf16Path::Avx512Bf16) return avx512bf16;
#endif
  return amx_arch(p == Bf16Path::Amx);
}

Bf16Path bf16_path() {
  static const Bf16Path chosen = [] {
    const Bf16Path want = bf16_path_requested();
    char why[256] = "";
    if (want == Bf16Path::Amx && !amx_self_check(why, sizeof why)) {
      std::fprintf(stderr, "xfmr: the AMX self-check failed (%s); the bf16 GEMM uses the f32 path instead\n", why);
      return Bf16Path::F32;
    }
    return want;
  }();
  return chosen;
}

namespace {

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
  const Bf16Path path = bf16_path();
  if (g.K == 0) {
    gemm_f32(g.A, g.B, g.C, g.batch, g.M, g.N, g.K, g.ta, g.tb, g.sa, g.sb, g.sc, g.alpha, g.beta);
  } else if (path == Bf16Path::F32) {
    gemm_bf16_via_f32(g.A, static_cast<size_t>(g.na), g.B, static_cast<size_t>(g.nb), g.C, g.batch, g.M, g.N, g.K,
                      g.ta, g.tb, g.sa, g.sb, g.sc, g.alpha, g.beta);
  } else {
    const Bf16Arch& ar = bf16_arch(path);
    for (int64_t b = 0; b < g.batch; b++) {
      Bf16Problem P{g.A + b * g.sa, g.B + b * g.sb, nullptr, g.C + b * g.sc, g.M, g.N, g.K, 0, 0, 0, 0, g.N,
                    g.alpha, g.beta};
      P.rsa = g.ta ? 1 : g.K, P.csa = g.ta ? g.M : 1;
      P.rsb = g.tb ? 1 : g.N, P.csb = g.tb ? g.K : 1;
      gemm_bf16_one(P, ar);
    }
  }
  return make_undefined(env);
}

}  // namespace

void register_gemm_bf16(napi_env env, napi_value exports) { export_fn(env, exports, "gemmBf16", js_gemm_bf16); }

}  // namespace xfmr
