// Kernel family: gemm. Batched C_b = alpha * op(A_b) @ op(B_b) + beta * C_b, row-major f32
// (contract: Kernels.gemm in src/kernels/kernels.ts; oracle: src/kernels/js/gemm.ts).
//
// Two paths:
//  - packed (M > Arch::small_m): the Goto/BLIS scheme. For each [kc x nc] block of op(B), pack
//    it once into NR-wide micro-panels shared by all threads; each task then packs its [mc x kc]
//    block of op(A) into MR-tall micro-panels (private, stays in L2) and runs the MR x NR
//    register-tile micro-kernel over its part of C. Packing reads A and B through (row, column)
//    strides, so transA/transB only change which side of the copy is contiguous; no transposed
//    copy of A or B is ever made.
//  - small M (decode GEMV, M = 1; up to 32 rows with AVX-512): packing B would cost as much as
//    the product, so op(B) is streamed once straight from the caller's array with wide loads,
//    N is split across threads, and up to 4 rows of A share each load of B.
//  - N = 1 is turned into M = 1 (C^T = op(B)^T op(A)^T has the same layout); a batch of small
//    products (attention heads) runs one item per thread.
// Each ISA (AVX-512, AVX2+FMA, portable C++) has its own micro-kernel and GEMV kernels, gathered
// in an Arch table; the driver is shared, and XFMR_PER_ISA (dispatch.h) picks the table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "common.h"
#include "dispatch.h"

#ifdef XFMR_X86
// GCC 12's AVX-512 headers fill the unused operand of shuffles with _mm512_undefined_ps(), which
// -Wmaybe-uninitialized then reports inside the header; the warning is spurious.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {

// Writes an m x n corner of a full MR x NR tile held in `t` (matrix edges; gemm_bf16.cc too).
void store_partial(const float* t, int NR, float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      float v = alpha * t[i * NR + j];
      c[i * ldc + j] = beta == 0.f ? v : v + beta * c[i * ldc + j];
    }
}

namespace {

// One batch item, with op() folded into strides: op(A)[i][p] = a[i * rsa + p * csa],
// op(B)[p][j] = b[p * rsb + j * csb], C[i][j] = c[i * ldc + j].
struct Problem {
  const float* a;
  const float* b;
  float* c;
  int64_t M, N, K;
  int64_t rsa, csa, rsb, csb, ldc;
  float alpha, beta;
};

// ---------------------------------------------------------------------------------------------
// Workspace: 64-byte aligned packing buffers per pool thread (thread 0's B buffer holds the
// shared B block). They grow and are kept: allocating and faulting in megabytes on every call
// would cost more than the packing. KC, MC and NC bound them (about 7 MB per thread with
// AVX-512). Not safe for two JS threads calling gemm at once, but neither is the pool.

struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      n = (want + 1023) & ~size_t(1023);
      p = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
    }
    return p;
  }
  ~AlignedBuf() { std::free(p); }
};

// bufs[t]: pool thread t's A block and, when it runs a whole product alone, its B block.
struct ThreadBufs {
  AlignedBuf a, b;
};
std::vector<std::unique_ptr<ThreadBufs>>& bufs() {
  static std::vector<std::unique_ptr<ThreadBufs>> v;
  return v;
}
// Called on the JS thread before any parallel section, so the vector never grows concurrently.
void reserve_thread_bufs(int threads) {
  auto& v = bufs();
  while (static_cast<int>(v.size()) < threads) v.emplace_back(new ThreadBufs());
}

// ---------------------------------------------------------------------------------------------
// Packing. A micro-panel of op(A) is [kc][MR] (row i of the tile is element i of each k step),
// a micro-panel of op(B) is [kc][NR]; both zero-padded past the matrix edge so the micro-kernel
// always computes a full tile.

// op(A) rows [i0, i0 + mc), k [p0, p0 + kc) -> ceil(mc / MR) panels at dst. A is often read
// from DRAM here, so each panel reads its MR rows side by side (MR sequential streams the
// prefetcher follows) and writes contiguously.
template <int MR>
void pack_a(const Problem& P, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    const float* src = P.a + (i0 + ir) * P.rsa + p0 * P.csa;
    if (m == MR && P.csa == 1) {  // rows contiguous in k
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) dst[p * MR + i] = src[i * P.rsa + p];
    } else if (m == MR && P.rsa == 1) {  // transA: the MR values of one k step are contiguous
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) dst[p * MR + i] = src[p * P.csa + i];
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) dst[p * MR + i] = i < m ? src[i * P.rsa + p * P.csa] : 0.f;
    }
  }
}

// One micro-panel: op(B) k [p0, p0 + kc), columns [j, j + n), n <= NR, zero-padded to NR.
void pack_b_panel(const Problem& P, int NR, int64_t p0, int64_t kc, int64_t j, int n, float* dst) {
  const float* src = P.b + p0 * P.rsb + j * P.csb;
  if (P.csb == 1) {  // B stored [K, N]: one k step of the panel is a contiguous run
    for (int64_t p = 0; p < kc; p++) {
      float* d = dst + p * NR;
      std::memcpy(d, src + p * P.rsb, n * sizeof(float));
      for (int q = n; q < NR; q++) d[q] = 0.f;
    }
  } else {  // transB, B stored [N, K]: read each row of B once, write with stride NR (L1-resident)
    for (int q = 0; q < n; q++) {
      const float* s = src + q * P.csb;
      for (int64_t p = 0; p < kc; p++) dst[p * NR + q] = s[p * P.rsb];
    }
    for (int q = n; q < NR; q++)
      for (int64_t p = 0; p < kc; p++) dst[p * NR + q] = 0.f;
  }
}

// op(B) k [p0, p0 + kc), columns [j0, j0 + nc) -> ceil(nc / NR) panels at dst.
void pack_b(const Problem& P, int NR, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  if (P.csb == 1 && nc % NR == 0) {  // B stored [K, N]: walk each row of B once, in order
    for (int64_t p = 0; p < kc; p++) {
      const float* s = P.b + (p0 + p) * P.rsb + j0;
      for (int64_t jr = 0; jr < nc; jr += NR) std::memcpy(dst + jr * kc + p * NR, s + jr, NR * sizeof(float));
    }
    return;
  }
  for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc)
    pack_b_panel(P, NR, p0, kc, j0 + jr, static_cast<int>(std::min<int64_t>(NR, nc - jr)), dst);
}

// Micro-kernel: C[0:m, 0:n] = alpha * (Ap @ Bp) + beta * C, Ap: [kc][MR], Bp: [kc][NR].
// beta == 0 never reads C.
using MicroKernel = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int m,
                             int n, float alpha, float beta);

// GEMV-like kernels for small M, reading op(B) in place. Each computes the C columns [j0, j1).
using SmallKernel = void (*)(const Problem& P, int64_t j0, int64_t j1);
using PackA = void (*)(const Problem& P, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst);
using PackB = void (*)(const Problem& P, int NR, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst);

struct Arch {
  int MR, NR;
  int64_t KC, MC, NC;  // cache blocking: kc x NR B panel, mc x kc A block (L2), kc x nc B block
  int64_t small_m;     // up to this many rows, streaming op(B) in place beats packing it
  MicroKernel kernel;
  PackA pack_a;
  PackB pack_b;
  SmallKernel small_n;  // op(B) rows contiguous (B stored [K, N])
  SmallKernel small_t;  // op(B) columns contiguous (transB, B stored [N, K]): dot products
};

// ---------------------------------------------------------------------------------------------
// SIMD kernels: one header per ISA, written as part of this file (they use Problem, the packing
// helpers and the Arch signatures above).
#ifdef XFMR_X86
#include "gemm_avx2.h"
#include "gemm_avx512.h"
#endif

// ---------------------------------------------------------------------------------------------
// Portable C++ (any CPU; the compiler vectorises it with the baseline ISA, SSE2 on x86-64).

template <int MR, int NR>
void ukernel_portable(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c,
                      int64_t ldc, int m, int n, float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; p++, ap += MR, bp += NR)
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
  store_partial(&acc[0][0], NR, c, ldc, m, n, alpha, beta);
}

void small_n_portable(const Problem& P, int64_t j0, int64_t j1) {
  std::vector<float> row(j1 - j0);
  for (int64_t i = 0; i < P.M; i++) {
    std::fill(row.begin(), row.end(), 0.f);
    for (int64_t p = 0; p < P.K; p++) {
      float a = P.a[i * P.rsa + p * P.csa];
      const float* b = P.b + p * P.rsb + j0;
      for (int64_t j = 0; j < j1 - j0; j++) row[j] += a * b[j];
    }
    float* c = P.c + i * P.ldc + j0;
    for (int64_t j = 0; j < j1 - j0; j++)
      c[j] = P.beta == 0.f ? P.alpha * row[j] : P.alpha * row[j] + P.beta * c[j];
  }
}

void small_t_portable(const Problem& P, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < P.M; i++) {
    const float* a = P.a + i * P.rsa;
    for (int64_t j = j0; j < j1; j++) {
      const float* b = P.b + j * P.csb;
      float s[4] = {0, 0, 0, 0};  // 4 partial sums so the loop vectorises
      int64_t p = 0;
      for (; p + 4 <= P.K; p += 4)
        for (int u = 0; u < 4; u++) s[u] += a[p + u] * b[p + u];
      for (; p < P.K; p++) s[0] += a[p] * b[p];
      float v = P.alpha * ((s[0] + s[1]) + (s[2] + s[3]));
      float* c = P.c + i * P.ldc + j;
      *c = P.beta == 0.f ? v : v + P.beta * *c;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch tables. Blocking: the A block (mc x kc) stays in L2 (1 MB here), a B micro-panel
// (kc x NR) is reused for every MR rows of it, the shared B block (kc x nc) sits in L3. For
// AVX-512, kc in 256..768 and mc in 96..384 measured within noise of each other on the benchmark
// shapes (Zen 5, 2 cores); small_m = 32 is where the packed path started to win.

const Arch& arch() {
  static const Arch a = XFMR_PER_ISA(
      (Arch{6, 64, 384, 192, 4096, 32, ukernel_avx512<6, 4>, pack_a<6>, pack_b_avx512, small_n_avx512,
            small_t_avx512}),
      (Arch{6, 16, 256, 144, 4096, 4, ukernel_avx2<6, 2>, pack_a<6>, pack_b, small_n_avx2, small_t_avx2}),
      (Arch{4, 16, 256, 128, 2048, 4, ukernel_portable<4, 16>, pack_a<4>, pack_b, small_n_portable,
            small_t_portable}));
  return a;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// Drivers.

// Scales C by beta (K == 0: the product is empty).
void scale_c(const Problem& P) {
  for (int64_t i = 0; i < P.M; i++)
    for (int64_t j = 0; j < P.N; j++) {
      float& c = P.c[i * P.ldc + j];
      c = P.beta == 0.f ? 0.f : P.beta * c;
    }
}

void gemm_small(const Problem& P, const Arch& ar, int thread) {
  Problem Q = P;
  std::vector<float> a_copy;
  const bool trans_b = P.csb != 1;  // columns of op(B) are contiguous: dot products
  if (trans_b && P.csa != 1) {  // dot kernels want rows of A contiguous: copy (M x K, tiny)
    a_copy.resize(P.M * P.K);
    for (int64_t i = 0; i < P.M; i++)
      for (int64_t p = 0; p < P.K; p++) a_copy[i * P.K + p] = P.a[i * P.rsa + p * P.csa];
    Q.a = a_copy.data();
    Q.rsa = P.K;
    Q.csa = 1;
  }
  SmallKernel k = trans_b ? ar.small_t : ar.small_n;
  // Each thread streams its own columns of B once: 2 chunks per thread (multiples of 64 columns),
  // so a busy spell on one core costs half its share, not all of it.
  const int64_t units = ceil_div(P.N, 64);
  const int64_t chunks = thread >= 0 ? 1 : std::min<int64_t>(units, 2 * num_threads());
  if (chunks < 2) return k(Q, 0, P.N);
  parallel_tasks(chunks, [&](int64_t t, int) {
    k(Q, units * t / chunks * 64, std::min(P.N, units * (t + 1) / chunks * 64));
  });
}

// Splits rows into mb blocks and columns into nb blocks so that every thread gets the same number
// of similar tasks: blocks of at most `mc` rows, and at least 4 tasks per thread when possible
// (a busy spell on one core then costs less than a whole task).
void plan_tasks(int64_t M, int64_t nc, const Arch& ar, int64_t mc, int threads, int64_t* mb, int64_t* nb) {
  int64_t um = ceil_div(M, ar.MR), un = ceil_div(nc, ar.NR);
  *mb = ceil_div(um, std::max<int64_t>(1, mc / ar.MR));
  *nb = 1;
  if (threads <= 1) return;
  *mb = std::min(um, ceil_div(*mb, threads) * threads);
  if (*mb * *nb < 4 * threads) *nb = std::min(un, ceil_div(4 * threads, *mb));
  while ((*mb * *nb) % threads && *nb < un) ++*nb;
}

// thread < 0: use the whole pool (B block in thread 0's buffer, shared); thread >= 0: run alone on
// that pool thread with its own buffers.
void gemm_packed(const Problem& P, const Arch& ar, int thread) {
  const int MR = ar.MR, NR = ar.NR;
  const int threads = thread < 0 ? num_threads() : 1;
  const int64_t KC = ar.KC, NC = ar.NC;
  // Even k blocks: K = 768 with KC = 384 is two passes, K = 1000 is three of 336 (not 384+384+232).
  const int64_t kblocks = ceil_div(P.K, KC), kc_even = ceil_div(ceil_div(P.K, kblocks), 4) * 4;
  const int64_t kc_max = std::min(P.K, kc_even);
  const int64_t nc_max = std::min(ceil_div(P.N, NR) * NR, NC);
  float* bp = bufs()[std::max(thread, 0)]->b.get(static_cast<size_t>(kc_max * ceil_div(nc_max, NR) * NR));
  int64_t mb, nb;
  for (int64_t jc = 0; jc < P.N; jc += NC) {
    const int64_t nc = std::min(NC, P.N - jc);
    const int64_t panels = ceil_div(nc, NR);
    plan_tasks(P.M, nc, ar, ar.MC, threads, &mb, &nb);
    const int64_t um = ceil_div(P.M, MR);
    for (int64_t pc = 0; pc < P.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, P.K - pc);
      const float beta = pc == 0 ? P.beta : 1.f;  // later k blocks accumulate
      // Pack the shared B block, split by micro-panels.
      auto pack = [&](int64_t q0, int64_t q1) {
        ar.pack_b(P, NR, pc, kc, jc + q0 * NR, std::min(nc, q1 * NR) - q0 * NR, bp + q0 * NR * kc);
      };
      if (threads > 1) parallel_for(panels, 4, pack);
      else pack(0, panels);
      // Compute: task (ib, jb) packs its A rows and sweeps its B panels. Panel ranges are split
      // evenly in micro-panel units so tasks are equal to within one panel.
      auto task = [&](int64_t t, int worker) {
        const int64_t ib = t / nb, jb = t % nb;
        const int64_t i0 = (um * ib / mb) * MR, i1 = std::min(P.M, (um * (ib + 1) / mb) * MR);
        const int64_t q0 = panels * jb / nb, q1 = panels * (jb + 1) / nb;
        if (i0 >= i1 || q0 >= q1) return;
        const size_t a_size = static_cast<size_t>(ceil_div(i1 - i0, MR) * MR * kc);
        float* ap = bufs()[thread < 0 ? worker : thread]->a.get(a_size);
        ar.pack_a(P, i0, i1 - i0, pc, kc, ap);
        for (int64_t q = q0; q < q1; q++) {
          const int64_t j = q * NR, n = std::min<int64_t>(NR, nc - j);
          const float* bq = bp + q * NR * kc;
          for (int64_t i = i0; i < i1; i += MR) {
            const int m = static_cast<int>(std::min<int64_t>(MR, i1 - i));
            ar.kernel(kc, ap + (i - i0) * kc, bq, P.c + i * P.ldc + jc + j, P.ldc, m, static_cast<int>(n),
                      P.alpha, beta);
          }
        }
      };
      if (threads > 1) parallel_tasks(mb * nb, task);
      else
        for (int64_t t = 0; t < mb * nb; t++) task(t, std::max(thread, 0));
    }
  }
}

// thread: as in gemm_packed.
void gemm_one(Problem P, const Arch& ar, int thread) {
  if (P.M == 0 || P.N == 0) return;
  if (P.K == 0) return scale_c(P);
  // C is [M, 1] or [1, N]: its layout is the same as C^T's, so C^T = op(B)^T op(A)^T turns a
  // matrix-vector product with N = 1 into the M = 1 GEMV path.
  if (P.N == 1 && P.M > 1) {
    Problem T = P;
    T.a = P.b, T.b = P.a;
    T.M = 1, T.N = P.M;
    T.rsa = P.csb, T.csa = P.rsb;
    T.rsb = P.csa, T.csb = P.rsa;
    T.ldc = P.M;
    P = T;
  }
  if (P.M <= ar.small_m) return gemm_small(P, ar, thread);
  gemm_packed(P, ar, thread);
}

// ---------------------------------------------------------------------------------------------
// N-API.

// gemm(A, B, C, batch, M, N, K, transA, transB, strideA, strideB, strideC, alpha, beta)
napi_value js_gemm(napi_env env, napi_callback_info info) {
  GemmArgs g;
  if (!read_gemm_args(env, info, "gemm", g)) return nullptr;
  gemm_f32(g.A, g.B, g.C, g.batch, g.M, g.N, g.K, g.ta, g.tb, g.sa, g.sb, g.sc, g.alpha, g.beta);
  return make_undefined(env);
}

}  // namespace

bool read_gemm_args(napi_env env, napi_callback_info info, const char* name, GemmArgs& g) {
  Args a(env, info);
  size_t la = 0, lb = 0, lc = 0;
  g.A = a.f32(0, &la);
  g.B = a.f32(1, &lb);
  g.C = a.f32(2, &lc);
  g.batch = a.int64(3), g.M = a.int64(4), g.N = a.int64(5), g.K = a.int64(6);
  g.ta = a.boolean(7), g.tb = a.boolean(8);
  g.sa = a.int64(9), g.sb = a.int64(10), g.sc = a.int64(11);
  g.alpha = static_cast<float>(a.num(12)), g.beta = static_cast<float>(a.num(13));
  if (a.failed) return false;
  const int64_t batch = g.batch, M = g.M, N = g.N, K = g.K;
  if (batch < 0 || M < 0 || N < 0 || K < 0 || g.sa < 0 || g.sb < 0 || g.sc < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: batch, M, N, K and strides must be >= 0", name);
    napi_throw_range_error(env, nullptr, msg);
    return false;
  }
  if (batch == 0 || M == 0 || N == 0) return false;
  auto need = [&](int64_t stride, int64_t size) { return sadd(smul(batch - 1, stride), size); };
  g.na = need(g.sa, smul(M, K));
  g.nb = need(g.sb, smul(K, N));
  const int64_t nc = need(g.sc, smul(M, N));
  if (static_cast<int64_t>(la) < g.na || static_cast<int64_t>(lb) < g.nb || static_cast<int64_t>(lc) < nc) {
    char msg[400];
    snprintf(msg, sizeof msg,
             "%s: arrays too short for batch=%lld M=%lld N=%lld K=%lld strides=(%lld,%lld,%lld): "
             "A has %zu (needs %lld), B %zu (%lld), C %zu (%lld)",
             name, (long long)batch, (long long)M, (long long)N, (long long)K, (long long)g.sa, (long long)g.sb,
             (long long)g.sc, la, (long long)g.na, lb, (long long)g.nb, lc, (long long)nc);
    napi_throw_range_error(env, nullptr, msg);
    return false;
  }
  return true;
}

// The batched f32 GEMM after argument checks (also gemm_bf16.cc's f32 path).
void gemm_f32(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N, int64_t K, bool ta,
              bool tb, int64_t sa, int64_t sb, int64_t sc, float alpha, float beta) {
  const Arch& ar = arch();
  reserve_thread_bufs(num_threads());
  auto item = [&](int64_t b) {
    Problem P{A + b * sa, B + b * sb, C + b * sc, M, N, K, 0, 0, 0, 0, N, alpha, beta};
    P.rsa = ta ? 1 : K, P.csa = ta ? M : 1;
    P.rsb = tb ? 1 : N, P.csb = tb ? K : 1;
    return P;
  };
  // Many small products (attention heads): one item per task, each single-threaded, as long as
  // the C matrices do not overlap (strideC = 0 accumulates in order, so it stays serial).
  const double flops = 2.0 * M * N * K;
  if (batch > 1 && sc >= M * N && flops < 4e7 && num_threads() > 1) {
    parallel_tasks(batch, [&](int64_t b, int thread) { gemm_one(item(b), ar, thread); });
    return;
  }
  for (int64_t b = 0; b < batch; b++) gemm_one(item(b), ar, -1);
}

void register_gemm(napi_env env, napi_value exports) {
  export_fn(env, exports, "gemm", js_gemm);
}

}  // namespace xfmr
