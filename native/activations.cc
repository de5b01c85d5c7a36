// Kernel family: activations. GELU (tanh approximation and exact erf), SiLU and the SwiGLU
// product, forward (overwrites y) and backward (adds into dx). Semantics:
// src/kernels/js/activations.ts. Formulas are rearranged for float accuracy, not copied:
//   tanh GELU:  0.5 x (1 + tanh u) = x * sigmoid(2u), 1 - tanh^2 u = 4 s (1 - s)  (no cancellation
//               in the negative tail, where 1 + tanh u underflows in float)
//   erf GELU:   1 + erf(z) = z >= 0 ? 2 - erfc(z) : erfc(-z)  (same reason)
#include <algorithm>

#include "math_vec.h"

namespace xfmr {
namespace {

using namespace simd;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluC = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// GELU(x), or its derivative when `grad`.
template <bool grad, class V>
XFMR_INLINE V gelu_tanh(const V& x) {
  V x2 = x * x;
  V u = splat<V>(kSqrt2OverPi) * (x + splat<V>(kGeluC) * x2 * x);
  V s = vsigmoid(u + u);  // (1 + tanh u) / 2
  if (!grad) return x * s;
  // 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u'
  V du = splat<V>(kSqrt2OverPi) * (splat<V>(1.f) + splat<V>(3.f * kGeluC) * x2);
  return s + splat<V>(2.f) * x * s * (splat<V>(1.f) - s) * du;
}
template <bool grad, class V>
XFMR_INLINE V gelu_erf(const V& x) {
  V z = x * splat<V>(kInvSqrt2);
  V r = verfc_pos(z < V{} ? -z : z);
  V one_plus_erf = z < V{} ? r : splat<V>(2.f) - r;
  if (!grad) return splat<V>(0.5f) * x * one_plus_erf;
  return splat<V>(0.5f) * one_plus_erf + x * splat<V>(kInvSqrt2Pi) * vexp(splat<V>(-0.5f) * x * x);
}

template <class V>
XFMR_INLINE void gelu_fwd_body(const float* x, float* y, int64_t n, bool approx_tanh) {
  if (approx_tanh)
    each_chunk<V>(n, [&](int64_t i, int64_t m)
                         XFMR_INLINE_LAMBDA { st<V>(y + i, gelu_tanh<false>(ld<V>(x + i, m)), m); });
  else
    each_chunk<V>(n, [&](int64_t i, int64_t m)
                         XFMR_INLINE_LAMBDA { st<V>(y + i, gelu_erf<false>(ld<V>(x + i, m)), m); });
}
template <class V>
XFMR_INLINE void gelu_bwd_body(const float* x, const float* dy, float* dx, int64_t n, bool approx_tanh) {
  if (approx_tanh)
    each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
      st<V>(dx + i, ld<V>(dx + i, m) + ld<V>(dy + i, m) * gelu_tanh<true>(ld<V>(x + i, m)), m);
    });
  else
    each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
      st<V>(dx + i, ld<V>(dx + i, m) + ld<V>(dy + i, m) * gelu_erf<true>(ld<V>(x + i, m)), m);
    });
}
template <class V>
XFMR_INLINE void silu_fwd_body(const float* x, float* y, int64_t n) {
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
    V v = ld<V>(x + i, m);
    st<V>(y + i, v * vsigmoid(v), m);
  });
}
// d/dx x s(x) = s (1 + x (1 - s))
template <class V>
XFMR_INLINE void silu_bwd_body(const float* x, const float* dy, float* dx, int64_t n) {
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
    V v = ld<V>(x + i, m);
    V s = vsigmoid(v);
    st<V>(dx + i, ld<V>(dx + i, m) + ld<V>(dy + i, m) * s * (splat<V>(1.f) + v * (splat<V>(1.f) - s)), m);
  });
}
template <class V>
XFMR_INLINE void swiglu_fwd_body(const float* gate, const float* up, float* y, int64_t n) {
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
    V g = ld<V>(gate + i, m);
    st<V>(y + i, g * vsigmoid(g) * ld<V>(up + i, m), m);
  });
}
template <class V>
XFMR_INLINE void swiglu_bwd_body(const float* gate, const float* up, const float* dy, float* dgate, float* dup,
                                 int64_t n) {
  each_chunk<V>(n, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
    V g = ld<V>(gate + i, m), d = ld<V>(dy + i, m);
    V s = vsigmoid(g);
    V dsilu = s * (splat<V>(1.f) + g * (splat<V>(1.f) - s));
    st<V>(dgate + i, ld<V>(dgate + i, m) + d * ld<V>(up + i, m) * dsilu, m);
    st<V>(dup + i, ld<V>(dup + i, m) + d * g * s, m);
  });
}

XFMR_DISPATCH(gelu_fwd, gelu_fwd_body, (const float* x, float* y, int64_t n, bool t), (x, y, n, t))
XFMR_DISPATCH(gelu_bwd, gelu_bwd_body, (const float* x, const float* dy, float* dx, int64_t n, bool t),
              (x, dy, dx, n, t))
XFMR_DISPATCH(silu_fwd, silu_fwd_body, (const float* x, float* y, int64_t n), (x, y, n))
XFMR_DISPATCH(silu_bwd, silu_bwd_body, (const float* x, const float* dy, float* dx, int64_t n), (x, dy, dx, n))
XFMR_DISPATCH(swiglu_fwd, swiglu_fwd_body, (const float* g, const float* u, float* y, int64_t n), (g, u, y, n))
XFMR_DISPATCH(swiglu_bwd, swiglu_bwd_body,
              (const float* g, const float* u, const float* dy, float* dg, float* du, int64_t n),
              (g, u, dy, dg, du, n))

// Compute-bound enough (an exp or two per element) that threads pay off from 16K elements.
template <class F>
void split(int64_t n, F&& fn) {
  if (n < (1 << 14)) fn(0, n);
  else parallel_for(n, 1 << 13, fn);
}

// ---- N-API entry points: argument order as in src/kernels/kernels.ts ----

// geluForward(x, y, n, approxTanh)
napi_value gelu_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "geluForward");
  int64_t n = a.dim(2, "n");
  const float* x = a.f32(0, "x", n);
  float* y = a.f32(1, "y", n);
  bool t = a.flag(3);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { gelu_fwd(x + b, y + b, e - b, t); });
  return nullptr;
}

// geluBackward(x, dy, dx, n, approxTanh)
napi_value gelu_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "geluBackward");
  int64_t n = a.dim(3, "n");
  const float* x = a.f32(0, "x", n);
  const float* dy = a.f32(1, "dy", n);
  float* dx = a.f32(2, "dx", n);
  bool t = a.flag(4);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { gelu_bwd(x + b, dy + b, dx + b, e - b, t); });
  return nullptr;
}

// siluForward(x, y, n)
napi_value silu_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "siluForward");
  int64_t n = a.dim(2, "n");
  const float* x = a.f32(0, "x", n);
  float* y = a.f32(1, "y", n);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { silu_fwd(x + b, y + b, e - b); });
  return nullptr;
}

// siluBackward(x, dy, dx, n)
napi_value silu_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "siluBackward");
  int64_t n = a.dim(3, "n");
  const float* x = a.f32(0, "x", n);
  const float* dy = a.f32(1, "dy", n);
  float* dx = a.f32(2, "dx", n);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { silu_bwd(x + b, dy + b, dx + b, e - b); });
  return nullptr;
}

// swigluForward(gate, up, y, n)
napi_value swiglu_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "swigluForward");
  int64_t n = a.dim(3, "n");
  const float* g = a.f32(0, "gate", n);
  const float* u = a.f32(1, "up", n);
  float* y = a.f32(2, "y", n);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { swiglu_fwd(g + b, u + b, y + b, e - b); });
  return nullptr;
}

// swigluBackward(gate, up, dy, dgate, dup, n)
napi_value swiglu_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "swigluBackward");
  int64_t n = a.dim(5, "n");
  const float* g = a.f32(0, "gate", n);
  const float* u = a.f32(1, "up", n);
  const float* dy = a.f32(2, "dy", n);
  float* dg = a.f32(3, "dgate", n);
  float* du = a.f32(4, "dup", n);
  if (a.bad()) return nullptr;
  split(n, [&](int64_t b, int64_t e) { swiglu_bwd(g + b, u + b, dy + b, dg + b, du + b, e - b); });
  return nullptr;
}

}  // namespace

void register_activations(napi_env env, napi_value exports) {
  export_fn(env, exports, "geluForward", gelu_forward_napi);
  export_fn(env, exports, "geluBackward", gelu_backward_napi);
  export_fn(env, exports, "siluForward", silu_forward_napi);
  export_fn(env, exports, "siluBackward", silu_backward_napi);
  export_fn(env, exports, "swigluForward", swiglu_forward_napi);
  export_fn(env, exports, "swigluBackward", swiglu_backward_napi);
}

}  // namespace xfmr
