// Kernel family: linearBf16, a Linear layer on weights kept in memory as bf16 (inference):
// y[N, Out] = bf16(x)[N, In] @ W^T with W [Out, In] given as bf16 bit patterns; products are exact
// in f32 and sum in f32 (contract: Kernels.linearBf16 in src/kernels/kernels.ts; oracle:
// src/kernels/js/gemm.ts).
//
// Three regimes, by N (rows of x):
//  - N <= 32 (decode is N = 1): streaming. Reading W is the whole cost (2 bytes per weight, half
//    of an f32 weight), so W is read once, in place, at memory speed: threads split Out; each
//    takes J rows of W at a time (J * In * 2 bytes, L1) and passes every group of up to 4 rows
//    of x over them. bf16 -> f32 is a zero-extend and a shift (exact), then f32 FMAs into
//    16-lane partial sums; x is rounded to bf16 once, up front. Written once over the vector type
//    (XFMR_DISPATCH: AVX-512, AVX2, portable), so it is the same on every bf16 path.
//  - N > 32 (prefill) on the amx, amx-emulated and avx512bf16 paths: the bf16 GEMM driver
//    (gemm_bf16.cc), B packed straight from W's bits, never an f32 copy of W.
//  - N > 32 on the f32 path: W converted to f32 about 1 MB of rows at a time, each block through
//    the f32 GEMM (gemm.cc) into its columns of y; W is never whole in f32.
//
// Not handled: VDPBF16PS for decode (it would skip the widening, but decode waits on memory, not
// on those two instructions per 16 weights). The f32 path's prefill runs at about 0.7x the f32
// GEMM on f32 weights (1 thread, N = 64, 768 x 3072; noisy): widening each block of W is an extra
// pass, and x is repacked for every block; widening inside gemm.cc's B packing would remove both.
#include <algorithm>
#include <vector>

#include "bf16.h"
#include "simd_kernel.h"

#ifdef XFMR_X86
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized inside themselves (as in gemm.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {
namespace {

using simd::hsum;
using simd::lanes;
using simd::load;
using simd::load_part;

// Up to this many rows of x, streaming W beats the GEMM (measured on 1 thread, In = 2048, Out =
// 8192: 42 and 53 GFLOPS streaming at N = 17 and 32 against 26 and 43 for gemm on f32 weights;
// at N = 64, 50 against 86; gemm.cc's small-M limit is 32 too).
constexpr int64_t kStreamMaxN = 32;

// lanes<V> bf16 at p as f32 (exact: the 16 bits become the high half). GCC 12 widens a generic
// 16 x u16 vector in two halves, so AVX-512 and AVX2 use the one-instruction zero-extend.
#ifdef XFMR_X86
XFMR_TARGET_AVX512 inline simd::vf16 widen(simd::With<simd::vf16>, const bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return (simd::vf16)_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
}
XFMR_TARGET_AVX2 inline simd::vf8 widen(simd::With<simd::vf8>, const bf16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return (simd::vf8)_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
}
#endif
// Integer vectors with V's lane count (attributes on alias templates and local typedefs in
// templates are dropped, hence a struct).
template <class V>
struct Bits {
  typedef uint16_t u16 __attribute__((vector_size(sizeof(V) / 2)));
  typedef uint32_t u32 __attribute__((vector_size(sizeof(V))));
};
template <class V>
XFMR_INLINE V widen(simd::With<V>, const bf16* p) {
  typename Bits<V>::u16 h;
  std::memcpy(&h, p, sizeof h);
  return (V)(__builtin_convertvector(h, typename Bits<V>::u32) << 16);
}
// The first n < lanes<V> of them, the rest zero (row tails).
template <class V>
XFMR_INLINE V widen_part(const bf16* p, int64_t n) {
  bf16 h[lanes<V>] = {};
  std::memcpy(h, p, static_cast<size_t>(n) * sizeof(bf16));
  return widen(simd::With<V>{}, h);
}

// y[r][q] = dot(x row r, W row q) for R rows of x (row stride In) and J rows of W, into y (row
// stride Out).
template <class V, int R, int J>
XFMR_INLINE void dot_block(const float* x, const bf16* w, float* y, int64_t In, int64_t Out) {
  constexpr int L = lanes<V>;
  V acc[R][J];
  for (int r = 0; r < R; r++)
    for (int q = 0; q < J; q++) acc[r][q] = V{};
  int64_t p = 0;
  for (; p + L <= In; p += L) {
    V xv[R];
    for (int r = 0; r < R; r++) xv[r] = load<V>(x + r * In + p);
    for (int q = 0; q < J; q++) {
      const V wv = widen(simd::With<V>{}, w + q * In + p);
      for (int r = 0; r < R; r++) acc[r][q] += xv[r] * wv;
    }
  }
  if (p < In) {
    V xv[R];
    for (int r = 0; r < R; r++) xv[r] = load_part<V>(x + r * In + p, In - p, 0.f);
    for (int q = 0; q < J; q++) {
      const V wv = widen_part<V>(w + q * In + p, In - p);
      for (int r = 0; r < R; r++) acc[r][q] += xv[r] * wv;
    }
  }
  for (int r = 0; r < R; r++)
    for (int q = 0; q < J; q++) y[r * Out + q] = hsum(acc[r][q]);
}

// Rows [i, i + rows) of x (rows <= 4) against J rows of W.
template <class V, int J>
XFMR_INLINE void dot_rows(int64_t rows, const float* x, const bf16* w, float* y, int64_t In, int64_t Out) {
  switch (rows) {
    case 4: return dot_block<V, 4, J>(x, w, y, In, Out);
    case 3: return dot_block<V, 3, J>(x, w, y, In, Out);
    case 2: return dot_block<V, 2, J>(x, w, y, In, Out);
    default: return dot_block<V, 1, J>(x, w, y, In, Out);
  }
}

// Outputs [o0, o1) of every row: J rows of W at a time (4 with 32 vector registers, 2 with 16),
// each passed over x 4 rows at a time; N = 1 takes 2 J rows of W per pass (independent chains).
template <class V>
XFMR_INLINE void stream_body(const float* x, const bf16* w, float* y, int64_t N, int64_t In, int64_t Out, int64_t o0,
                             int64_t o1) {
  constexpr int J = lanes<V> >= 16 ? 4 : 2;
  int64_t o = o0;
  if (N == 1) {
    for (; o + 2 * J <= o1; o += 2 * J) dot_block<V, 1, 2 * J>(x, w + o * In, y + o, In, Out);
    for (; o < o1; o++) dot_block<V, 1, 1>(x, w + o * In, y + o, In, Out);
    return;
  }
  for (; o + J <= o1; o += J)
    for (int64_t i = 0; i < N; i += 4) dot_rows<V, J>(std::min<int64_t>(4, N - i), x + i * In, w + o * In, y + i * Out + o, In, Out);
  for (; o < o1; o++)
    for (int64_t i = 0; i < N; i += 4) dot_rows<V, 1>(std::min<int64_t>(4, N - i), x + i * In, w + o * In, y + i * Out + o, In, Out);
}
XFMR_DISPATCH(stream_rows, stream_body,
              (const float* x, const bf16* w, float* y, int64_t N, int64_t In, int64_t Out, int64_t o0, int64_t o1),
              (x, w, y, N, In, Out, o0, o1))

// x rounded to bf16 values (kept between calls, like the GEMM's packing buffers).
const float* rounded(const float* x, int64_t n) {
  static std::vector<float> r;
  if (r.size() < static_cast<size_t>(n)) r.resize(static_cast<size_t>(n));
  parallel_for(n, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) r[i] = from_bf16(to_bf16(x[i]));
  });
  return r.data();
}

void linear_stream(const float* x, const bf16* w, float* y, int64_t N, int64_t In, int64_t Out) {
  const float* xr = rounded(x, N * In);
  // Chunks of 16 outputs, 2 per thread (a busy core then holds up half its share), serial when
  // the whole product is a few microseconds.
  const int64_t units = (Out + 15) / 16;
  const int64_t chunks = Out * In < (1 << 16) ? 1 : std::min<int64_t>(units, 2 * num_threads());
  parallel_tasks(chunks, [&](int64_t t, int) {
    stream_rows(xr, w, y, N, In, Out, units * t / chunks * 16, std::min(Out, units * (t + 1) / chunks * 16));
  });
}

// Rows [0, n) of W (bf16 bits) -> f32 at dst.
template <class V>
XFMR_INLINE void widen_all_body(const bf16* w, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + lanes<V> <= n; i += lanes<V>) simd::store<V>(dst + i, widen(simd::With<V>{}, w + i));
  for (; i < n; i++) dst[i] = from_bf16(w[i]);
}
XFMR_DISPATCH(widen_all, widen_all_body, (const bf16* w, float* dst, int64_t n), (w, dst, n))

void linear_via_f32(const float* x, const bf16* w, float* y, int64_t N, int64_t In, int64_t Out) {
  const float* xr = rounded(x, N * In);
  // Blocks of about 1 MB of f32 W (L2): widening one costs about a fifth of its product at N = 64
  // (measured: 0.3 against 1.55 ms for 1365 x 768), less for larger N.
  const int64_t ob = std::min(Out, std::max<int64_t>(64, (int64_t(1) << 18) / In / 16 * 16));
  // Kept between calls: a fresh vector per call would fault its pages in every time.
  static std::vector<float> wf, t;
  if (wf.size() < static_cast<size_t>(ob * In)) wf.resize(static_cast<size_t>(ob * In));
  if (ob < Out && t.size() < static_cast<size_t>(N * ob)) t.resize(static_cast<size_t>(N * ob));
  for (int64_t o0 = 0; o0 < Out; o0 += ob) {
    const int64_t n = std::min(ob, Out - o0);
    const bf16* src = w + o0 * In;
    parallel_for(n * In, 1 << 16, [&](int64_t i0, int64_t i1) { widen_all(src + i0, wf.data() + i0, i1 - i0); });
    float* dst = ob == Out ? y : t.data();
    gemm_f32(xr, wf.data(), dst, 1, N, n, In, false, true, 0, 0, 0, 1.f, 0.f);
    if (dst != y)
      for (int64_t i = 0; i < N; i++) std::memcpy(y + i * Out + o0, t.data() + i * n, n * sizeof(float));
  }
}

// linearBf16(x, w, y, N, In, Out)
napi_value js_linear_bf16(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t lx = 0, lw = 0, ly = 0;
  const float* x = a.f32(0, &lx);
  const bf16* w = a.u16(1, &lw);
  float* y = a.f32(2, &ly);
  const int64_t N = a.int64(3), In = a.int64(4), Out = a.int64(5);
  XFMR_CHECK_ARGS(a);
  if (N < 0 || In < 0 || Out < 0) {
    napi_throw_range_error(env, nullptr, "linearBf16: N, In and Out must be >= 0");
    return nullptr;
  }
  if (static_cast<int64_t>(lx) < smul(N, In) || static_cast<int64_t>(lw) < smul(Out, In) ||
      static_cast<int64_t>(ly) < smul(N, Out)) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "linearBf16: arrays too short for N=%lld In=%lld Out=%lld: x has %zu (needs %lld), w %zu (%lld), "
             "y %zu (%lld)",
             (long long)N, (long long)In, (long long)Out, lx, (long long)smul(N, In), lw, (long long)smul(Out, In), ly,
             (long long)smul(N, Out));
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  if (N == 0 || Out == 0) return make_undefined(env);
  if (In == 0) {
    std::fill(y, y + N * Out, 0.f);
    return make_undefined(env);
  }
  const Bf16Path path = bf16_path();
  if (N <= kStreamMaxN) {
    linear_stream(x, w, y, N, In, Out);
  } else if (path == Bf16Path::F32) {
    linear_via_f32(x, w, y, N, In, Out);
  } else {
    // op(A) = x [N, In]; op(B)[p][j] = W[j][p]; C = y [N, Out].
    const Bf16Problem P{x, nullptr, w, y, N, Out, In, In, 1, 1, In, Out, 1.f, 0.f};
    gemm_bf16_one(P, bf16_arch(path));
  }
  return make_undefined(env);
}

}  // namespace

void register_linear_bf16(napi_env env, napi_value exports) { export_fn(env, exports, "linearBf16", js_linear_bf16); }

}  // namespace xfmr
