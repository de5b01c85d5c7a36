// Kernel family: elementwise ops and reductions (add, mul, axpy, scale, addBias, sumRows,
// sumSquares). Memory-bound: one SIMD pass, split across threads only when n is large enough that
// the pool's hand-off (~2 us) is small next to the pass. Semantics: src/kernels/js/elementwise.ts.
#include <algorithm>
#include <vector>

#include "simd_kernel.h"

namespace xfmr {
namespace {

using namespace simd;

constexpr int64_t kParallelMin = 1 << 16;  // elements below which one thread is faster
constexpr int64_t kGrain = 1 << 15;

// Runs fn(begin, end) over [0, n), threaded when n is large.
template <class F>
void over_range(int64_t n, F&& fn) {
  if (n < kParallelMin) {
    fn(0, n);
    return;
  }
  parallel_for(n, kGrain, fn);
}

// y = a op b (y may alias a or b: each vector is loaded before it is stored).
enum class Op { Add, Mul };
template <class V, Op op>
XFMR_INLINE void binary_body(const float* a, const float* b, float* y, int64_t n) {
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
    V u = ld<V>(a + i, m), w = ld<V>(b + i, m);
    st<V>(y + i, op == Op::Add ? u + w : u * w, m);
  });
}
template <class V>
XFMR_INLINE void add_body(const float* a, const float* b, float* y, int64_t n) {
  binary_body<V, Op::Add>(a, b, y, n);
}
template <class V>
XFMR_INLINE void mul_body(const float* a, const float* b, float* y, int64_t n) {
  binary_body<V, Op::Mul>(a, b, y, n);
}
XFMR_DISPATCH(add_range, add_body, (const float* a, const float* b, float* y, int64_t n), (a, b, y, n))
XFMR_DISPATCH(mul_range, mul_body, (const float* a, const float* b, float* y, int64_t n), (a, b, y, n))

// y += alpha x
template <class V>
XFMR_INLINE void axpy_body(float alpha, const float* x, float* y, int64_t n) {
  const V va = splat<V>(alpha);
  each_chunk<V>(n, [&](int64_t i, int64_t m)
                       XFMR_INLINE_LAMBDA { st<V>(y + i, ld<V>(y + i, m) + va * ld<V>(x + i, m), m); });
}
XFMR_DISPATCH(axpy_range, axpy_body, (float alpha, const float* x, float* y, int64_t n), (alpha, x, y, n))

// y = alpha x
template <class V>
XFMR_INLINE void scale_body(const float* x, float alpha, float* y, int64_t n) {
  const V va = splat<V>(alpha);
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA { st<V>(y + i, va * ld<V>(x + i, m), m); });
}
XFMR_DISPATCH(scale_range, scale_body, (const float* x, float alpha, float* y, int64_t n), (x, alpha, y, n))

// Rows [r0, r1) of y[N, C] = x[N, C] + bias[C].
template <class V>
XFMR_INLINE void add_bias_body(const float* x, const float* bias, float* y, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) add_body<V>(x + r * C, bias, y + r * C, C);
}
XFMR_DISPATCH(add_bias_rows, add_bias_body,
              (const float* x, const float* bias, float* y, int64_t r0, int64_t r1, int64_t C),
              (x, bias, y, r0, r1, C))

// Columns [c0, c1) of y[C] += sum over rows of x[N, C]: 4 vectors of column sums stay in registers
// while the rows stream past.
template <class V>
XFMR_INLINE void sum_rows_body(const float* x, float* y, int64_t N, int64_t C, int64_t c0, int64_t c1) {
  constexpr int W = lanes<V>;
  int64_t c = c0;
  for (; c + 4 * W <= c1; c += 4 * W) {
    V s0{}, s1{}, s2{}, s3{};
    for (int64_t r = 0; r < N; r++) {
      const float* p = x + r * C + c;
      s0 += load<V>(p);
      s1 += load<V>(p + W);
      s2 += load<V>(p + 2 * W);
      s3 += load<V>(p + 3 * W);
    }
    store<V>(y + c, load<V>(y + c) + s0);
    store<V>(y + c + W, load<V>(y + c + W) + s1);
    store<V>(y + c + 2 * W, load<V>(y + c + 2 * W) + s2);
    store<V>(y + c + 3 * W, load<V>(y + c + 3 * W) + s3);
  }
  for (; c < c1; c += W) {
    int64_t m = std::min<int64_t>(W, c1 - c);
    V s{};
    for (int64_t r = 0; r < N; r++) s += ld<V>(x + r * C + c, m);
    st<V>(y + c, ld<V>(y + c, m) + s, m);
  }
}
XFMR_DISPATCH(sum_rows_cols, sum_rows_body,
              (const float* x, float* y, int64_t N, int64_t C, int64_t c0, int64_t c1), (x, y, N, C, c0, c1))

// *out = sum of x[i]^2 over [0, n), in float64 (the global gradient norm must not lose the small
// gradients of a billion-element model). Doubles of V's byte width, fed from half a V of floats.
typedef float vf2 __attribute__((vector_size(8)));
typedef double vd2 __attribute__((vector_size(16)));
typedef double vd4 __attribute__((vector_size(32)));
typedef double vd8 __attribute__((vector_size(64)));
template <class V>
struct Halves;  // floats of half V's width, doubles of V's width
template <>
struct Halves<vf16> {
  using hf = vf8;
  using vd = vd8;
};
template <>
struct Halves<vf8> {
  using hf = vf4;
  using vd = vd4;
};
template <>
struct Halves<vf4> {
  using hf = vf2;
  using vd = vd2;
};
template <class V>
XFMR_INLINE void sum_squares_body(const float* x, int64_t n, double* out) {
  constexpr int H = lanes<V> / 2;
  using hf = typename Halves<V>::hf;
  using vd = typename Halves<V>::vd;
  vd a0{}, a1{};
  int64_t i = 0;
  for (; i + 2 * H <= n; i += 2 * H) {
    hf u, w;
    std::memcpy(&u, x + i, sizeof u);
    std::memcpy(&w, x + i + H, sizeof w);
    vd du = __builtin_convertvector(u, vd), dw = __builtin_convertvector(w, vd);
    a0 += du * du;
    a1 += dw * dw;
  }
  double s = 0;
  for (; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  vd a = a0 + a1;
  for (int k = 0; k < H; k++) s += a[k];
  *out = s;
}
XFMR_DISPATCH(sum_squares_range, sum_squares_body, (const float* x, int64_t n, double* out), (x, n, out))

// ---- N-API entry points: argument order as in src/kernels/kernels.ts ----

// add(a, b, y, n) / mul(a, b, y, n)
template <void (*range)(const float*, const float*, float*, int64_t)>
napi_value binary_napi(napi_env env, napi_callback_info info, const char* name) {
  KernelArgs a(env, info, name);
  int64_t n = a.dim(3, "n");
  const float* x = a.f32(0, "a", n);
  const float* w = a.f32(1, "b", n);
  float* y = a.f32(2, "y", n);
  if (a.bad()) return nullptr;
  over_range(n, [&](int64_t b, int64_t e) { range(x + b, w + b, y + b, e - b); });
  return nullptr;
}
napi_value add_napi(napi_env env, napi_callback_info info) { return binary_napi<add_range>(env, info, "add"); }
napi_value mul_napi(napi_env env, napi_callback_info info) { return binary_napi<mul_range>(env, info, "mul"); }

// axpy(alpha, x, y, n)
napi_value axpy_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "axpy");
  float alpha = static_cast<float>(a.num(0));
  int64_t n = a.dim(3, "n");
  const float* x = a.f32(1, "x", n);
  float* y = a.f32(2, "y", n);
  if (a.bad()) return nullptr;
  over_range(n, [&](int64_t b, int64_t e) { axpy_range(alpha, x + b, y + b, e - b); });
  return nullptr;
}

// scale(x, alpha, y, n)
napi_value scale_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "scale");
  float alpha = static_cast<float>(a.num(1));
  int64_t n = a.dim(3, "n");
  const float* x = a.f32(0, "x", n);
  float* y = a.f32(2, "y", n);
  if (a.bad()) return nullptr;
  over_range(n, [&](int64_t b, int64_t e) { scale_range(x + b, alpha, y + b, e - b); });
  return nullptr;
}

// addBias(x, bias, y, N, C)
napi_value add_bias_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "addBias");
  int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  const float* x = a.f32(0, "x", smul(N, C));
  const float* bias = a.f32(1, "bias", C);
  float* y = a.f32(2, "y", smul(N, C));
  if (a.bad() || C == 0) return nullptr;  // nothing to write; N alone is unchecked and may be huge
  if (N * C < kParallelMin) add_bias_rows(x, bias, y, 0, N, C);
  else parallel_for(N, row_grain(C, kGrain), [&](int64_t b, int64_t e) { add_bias_rows(x, bias, y, b, e, C); });
  return nullptr;
}

// sumRows(x, y, N, C): threads split the columns (blocks of 256), so no two write the same y[c]
// and the sum order does not depend on the thread count.
napi_value sum_rows_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "sumRows");
  int64_t N = a.dim(2, "N"), C = a.dim(3, "C");
  const float* x = a.f32(0, "x", smul(N, C));
  float* y = a.f32(1, "y", C);
  if (a.bad()) return nullptr;
  constexpr int64_t kBlock = 256;
  int64_t blocks = (C + kBlock - 1) / kBlock;
  if (N * C < kParallelMin || blocks < 2) sum_rows_cols(x, y, N, C, 0, C);
  else
    parallel_tasks(blocks, [&](int64_t t, int) {
      sum_rows_cols(x, y, N, C, t * kBlock, std::min(C, (t + 1) * kBlock));
    });
  return nullptr;
}

// sumSquares(x, n) -> number. Fixed chunks summed in order: the result does not depend on
// which thread ran which chunk.
napi_value sum_squares_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "sumSquares");
  int64_t n = a.dim(1, "n");
  const float* x = a.f32(0, "x", n);
  if (a.bad()) return nullptr;
  double total = 0;
  if (n < kParallelMin) {
    sum_squares_range(x, n, &total);
  } else {
    int64_t chunks = std::min<int64_t>((n + kGrain - 1) / kGrain, 4 * num_threads());
    int64_t per = (n + chunks - 1) / chunks;
    std::vector<double> part(chunks, 0.0);
    parallel_tasks(chunks, [&](int64_t c, int) {
      int64_t b = c * per, e = std::min(n, b + per);
      if (b < e) sum_squares_range(x + b, e - b, &part[c]);
    });
    for (double p : part) total += p;
  }
  return make_number(env, total);
}

}  // namespace

void register_elementwise(napi_env env, napi_value exports) {
  export_fn(env, exports, "add", add_napi);
  export_fn(env, exports, "mul", mul_napi);
  export_fn(env, exports, "axpy", axpy_napi);
  export_fn(env, exports, "scale", scale_napi);
  export_fn(env, exports, "addBias", add_bias_napi);
  export_fn(env, exports, "sumRows", sum_rows_napi);
  export_fn(env, exports, "sumSquares", sum_squares_napi);
}

}  // namespace xfmr
