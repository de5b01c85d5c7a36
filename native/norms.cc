// Kernel family: LayerNorm, RMSNorm, softmax, log-softmax and fused cross-entropy, forward
// (overwrites) and backward (adds into gradients). Semantics: src/kernels/js/norms.ts.
// Every kernel works row by row: rows are split across threads, each row is SIMD. The weight
// gradients of the norms (dw, db: sums over rows) go to one partial buffer per row chunk, added
// in chunk order, so there are no races and the result does not depend on scheduling.
#include <algorithm>
#include <vector>

#include "math_vec.h"

namespace xfmr {
namespace {

using namespace simd;

// ---- row helpers ----

// log(sum(exp(x))) over a row, -inf for a row of -inf (as the js oracle).
template <class V>
XFMR_INLINE float row_lse(const float* x, int64_t C) {
  float mx = row_max<V>(x, C);
  if (mx == -INFINITY) return -INFINITY;
  V vm = splat<V>(mx), s{};
  each_chunk<V>(C, [&](int64_t c, int64_t m) XFMR_INLINE_LAMBDA {
    V e = vexp(ld<V>(x + c, m, -INFINITY) - vm);  // padding lanes give exp(-inf) = 0
    s += e;
  });
  return mx + std::log(hsum(s));
}

// ---- LayerNorm ----

template <class V>
XFMR_INLINE void layer_norm_fwd_body(const float* x, const float* w, const float* b, float* y, float* mean,
                                     float* rstd, int64_t r0, int64_t r1, int64_t C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float m = row_sum<V>(xr, C) / static_cast<float>(C);
    V vm = splat<V>(m), acc{};
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V d = ld<V>(xr + c, k, m) - vm;  // padding lanes: m - m = 0
      acc += d * d;
    });
    float var = hsum(acc) / static_cast<float>(C);
    float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var) + eps));
    V vr = splat<V>(rs);
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V v = (ld<V>(xr + c, k) - vm) * vr * ld<V>(w + c, k);
      if (b) v += ld<V>(b + c, k);
      st<V>(yr + c, v, k);
    });
    mean[r] = m;
    rstd[r] = rs;
  }
}
XFMR_DISPATCH(layer_norm_fwd, layer_norm_fwd_body,
              (const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t r0,
               int64_t r1, int64_t C, float eps),
              (x, w, b, y, mean, rstd, r0, r1, C, eps))

// dx += rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with dxhat = dy w; dw += dy xhat; db += dy.
template <class V>
XFMR_INLINE void layer_norm_bwd_body(const float* dy, const float* x, const float* w, const float* mean,
                                     const float* rstd, float* dx, float* dw, float* db, int64_t r0, int64_t r1,
                                     int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    float* dxr = dx + r * C;
    V vm = splat<V>(mean[r]), vr = splat<V>(rstd[r]), sd{}, sdx{};
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V d = ld<V>(dyr + c, k) * ld<V>(w + c, k);
      sd += d;
      sdx += d * ((ld<V>(xr + c, k) - vm) * vr);  // padding: d = 0
    });
    V msd = splat<V>(hsum(sd) / static_cast<float>(C)), msdx = splat<V>(hsum(sdx) / static_cast<float>(C));
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V g = ld<V>(dyr + c, k), xhat = (ld<V>(xr + c, k) - vm) * vr;
      st<V>(dxr + c, ld<V>(dxr + c, k) + vr * (g * ld<V>(w + c, k) - msd - xhat * msdx), k);
      st<V>(dw + c, ld<V>(dw + c, k) + g * xhat, k);
      if (db) st<V>(db + c, ld<V>(db + c, k) + g, k);
    });
  }
}
XFMR_DISPATCH(layer_norm_bwd, layer_norm_bwd_body,
              (const float* dy, const float* x, const float* w, const float* mean, const float* rstd, float* dx,
               float* dw, float* db, int64_t r0, int64_t r1, int64_t C),
              (dy, x, w, mean, rstd, dx, dw, db, r0, r1, C))

// ---- RMSNorm ----

template <class V>
XFMR_INLINE void rms_norm_fwd_body(const float* x, const float* w, float* y, float* rstd, int64_t r0,
                                   int64_t r1, int64_t C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float ss = row_dot<V>(xr, xr, C);
    float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(ss) / C + eps));
    V vr = splat<V>(rs);
    each_chunk<V>(C, [&](int64_t c, int64_t k)
                      XFMR_INLINE_LAMBDA { st<V>(yr + c, ld<V>(xr + c, k) * vr * ld<V>(w + c, k), k); });
    rstd[r] = rs;
  }
}
XFMR_DISPATCH(rms_norm_fwd, rms_norm_fwd_body,
              (const float* x, const float* w, float* y, float* rstd, int64_t r0, int64_t r1, int64_t C,
               float eps),
              (x, w, y, rstd, r0, r1, C, eps))

// dx += r dy w - r^3 / C x sum(dy w x); dw += dy x r.
template <class V>
XFMR_INLINE void rms_norm_bwd_body(const float* dy, const float* x, const float* w, const float* rstd,
                                   float* dx, float* dw, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    float* dxr = dx + r * C;
    float rs = rstd[r];
    V acc{};
    each_chunk<V>(C, [&](int64_t c, int64_t k)
                      XFMR_INLINE_LAMBDA { acc += ld<V>(dyr + c, k) * ld<V>(w + c, k) * ld<V>(xr + c, k); });
    V vk = splat<V>(rs * rs * rs * hsum(acc) / static_cast<float>(C)), vr = splat<V>(rs);
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V g = ld<V>(dyr + c, k), xv = ld<V>(xr + c, k);
      st<V>(dxr + c, ld<V>(dxr + c, k) + vr * g * ld<V>(w + c, k) - vk * xv, k);
      st<V>(dw + c, ld<V>(dw + c, k) + g * xv * vr, k);
    });
  }
}
XFMR_DISPATCH(rms_norm_bwd, rms_norm_bwd_body,
              (const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
               int64_t r0, int64_t r1, int64_t C),
              (dy, x, w, rstd, dx, dw, r0, r1, C))

// ---- softmax and log-softmax ----

// y = exp(x - max) / sum; a row of -inf gives NaN, as the js oracle (and PyTorch) do.
template <class V>
XFMR_INLINE void softmax_fwd_body(const float* x, float* y, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float mx = row_max<V>(xr, C);
    if (mx == -INFINITY) {
      std::fill(yr, yr + C, NAN);
      continue;
    }
    V vm = splat<V>(mx), s{};
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      V e = vexp(ld<V>(xr + c, k, -INFINITY) - vm);
      s += e;
      st<V>(yr + c, e, k);
    });
    V inv = splat<V>(1.0f / hsum(s));
    each_chunk<V>(C, [&](int64_t c, int64_t k)
                         XFMR_INLINE_LAMBDA { st<V>(yr + c, ld<V>(yr + c, k) * inv, k); });
  }
}
XFMR_DISPATCH(softmax_fwd, softmax_fwd_body, (const float* x, float* y, int64_t r0, int64_t r1, int64_t C),
              (x, y, r0, r1, C))

// dx += y (dy - sum(dy y))
template <class V>
XFMR_INLINE void softmax_bwd_body(const float* dy, const float* y, float* dx, int64_t r0, int64_t r1,
                                  int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float *dyr = dy + r * C, *yr = y + r * C;
    float* dxr = dx + r * C;
    V dot = splat<V>(row_dot<V>(dyr, yr, C));
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      st<V>(dxr + c, ld<V>(dxr + c, k) + ld<V>(yr + c, k) * (ld<V>(dyr + c, k) - dot), k);
    });
  }
}
XFMR_DISPATCH(softmax_bwd, softmax_bwd_body,
              (const float* dy, const float* y, float* dx, int64_t r0, int64_t r1, int64_t C),
              (dy, y, dx, r0, r1, C))

// y = x - logsumexp(x)
template <class V>
XFMR_INLINE void log_softmax_fwd_body(const float* x, float* y, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    V l = splat<V>(row_lse<V>(xr, C));
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA { st<V>(yr + c, ld<V>(xr + c, k) - l, k); });
  }
}
XFMR_DISPATCH(log_softmax_fwd, log_softmax_fwd_body,
              (const float* x, float* y, int64_t r0, int64_t r1, int64_t C), (x, y, r0, r1, C))

// dx += dy - exp(y) sum(dy)
template <class V>
XFMR_INLINE void log_softmax_bwd_body(const float* dy, const float* y, float* dx, int64_t r0, int64_t r1,
                                      int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float *dyr = dy + r * C, *yr = y + r * C;
    float* dxr = dx + r * C;
    V sum = splat<V>(row_sum<V>(dyr, C));
    each_chunk<V>(C, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      st<V>(dxr + c, ld<V>(dxr + c, k) + ld<V>(dyr + c, k) - vexp(ld<V>(yr + c, k)) * sum, k);
    });
  }
}
XFMR_DISPATCH(log_softmax_bwd, log_softmax_bwd_body,
              (const float* dy, const float* y, float* dx, int64_t r0, int64_t r1, int64_t C),
              (dy, y, dx, r0, r1, C))

// ---- cross-entropy ----

template <class Vec>
XFMR_INLINE void cross_entropy_fwd_body(const float* logits, const int32_t* targets, float* losses, float* lse,
                                        int64_t r0, int64_t r1, int64_t V, int32_t ignore) {
  for (int64_t r = r0; r < r1; r++) {
    float l = row_lse<Vec>(logits + r * V, V);
    lse[r] = l;
    int32_t t = targets[r];
    losses[r] = t == ignore ? 0.f : l - logits[r * V + t];
  }
}
XFMR_DISPATCH(cross_entropy_fwd, cross_entropy_fwd_body,
              (const float* logits, const int32_t* targets, float* losses, float* lse, int64_t r0, int64_t r1,
               int64_t V, int32_t ignore),
              (logits, targets, losses, lse, r0, r1, V, ignore))

// dlogits[r] += dlosses[r] (softmax(logits[r]) - onehot(t)), nothing for ignored rows.
template <class Vec>
XFMR_INLINE void cross_entropy_bwd_body(const float* logits, const int32_t* targets, const float* lse,
                                        const float* dlosses, float* dlogits, int64_t r0, int64_t r1, int64_t V,
                                        int32_t ignore) {
  for (int64_t r = r0; r < r1; r++) {
    int32_t t = targets[r];
    if (t == ignore) continue;
    const float* xr = logits + r * V;
    float* dr = dlogits + r * V;
    Vec g = splat<Vec>(dlosses[r]), l = splat<Vec>(lse[r]);
    each_chunk<Vec>(V, [&](int64_t c, int64_t k) XFMR_INLINE_LAMBDA {
      st<Vec>(dr + c, ld<Vec>(dr + c, k) + g * vexp(ld<Vec>(xr + c, k) - l), k);
    });
    dr[t] -= dlosses[r];
  }
}
XFMR_DISPATCH(cross_entropy_bwd, cross_entropy_bwd_body,
              (const float* logits, const int32_t* targets, const float* lse, const float* dlosses,
               float* dlogits, int64_t r0, int64_t r1, int64_t V, int32_t ignore),
              (logits, targets, lse, dlosses, dlogits, r0, r1, V, ignore))

// ---- threading helpers ----

// Runs fn(r0, r1) over the rows, threaded when the work is large enough.
template <class F>
void over_rows(int64_t N, int64_t C, F&& fn) {
  if (N * C < 32768) fn(0, N);
  else parallel_for(N, row_grain(C), fn);
}

// Runs fn(r0, r1, dw, db) over row chunks for a backward that also sums per-column gradients:
// one chunk writes dw/db directly; several get zeroed partial buffers, added afterwards in order.
template <class F>
void over_rows_with_partials(int64_t N, int64_t C, float* dw, float* db, F&& fn) {
  int64_t chunks = N * C < 32768 ? 1 : std::min<int64_t>(num_threads(), (N + row_grain(C) - 1) / row_grain(C));
  if (chunks <= 1) {
    fn(0, N, dw, db);
    return;
  }
  int64_t per = (N + chunks - 1) / chunks;
  int64_t width = db ? 2 * C : C;
  std::vector<float> part(static_cast<size_t>(chunks * width), 0.f);
  parallel_tasks(chunks, [&](int64_t t, int) {
    int64_t b = t * per, e = std::min(N, b + per);
    float* p = part.data() + t * width;
    if (b < e) fn(b, e, p, db ? p + C : nullptr);
  });
  for (int64_t t = 0; t < chunks; t++) {
    const float* p = part.data() + t * width;
    for (int64_t c = 0; c < C; c++) dw[c] += p[c];
    if (db)
      for (int64_t c = 0; c < C; c++) db[c] += p[C + c];
  }
}

// ---- N-API entry points: argument order as in src/kernels/kernels.ts ----

// layerNormForward(x, w, b, y, mean, rstd, N, C, eps)
napi_value layer_norm_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "layerNormForward");
  int64_t N = a.dim(6, "N"), C = a.dim(7, "C");
  float eps = static_cast<float>(a.num(8));
  const float* x = a.f32(0, "x", smul(N, C));
  const float* w = a.f32(1, "w", C);
  const float* b = a.f32(2, "b", C, true);
  float* y = a.f32(3, "y", smul(N, C));
  float* mean = a.f32(4, "mean", N);
  float* rstd = a.f32(5, "rstd", N);
  if (a.bad()) return nullptr;
  over_rows(N, C, [&](int64_t r0, int64_t r1) { layer_norm_fwd(x, w, b, y, mean, rstd, r0, r1, C, eps); });
  return nullptr;
}

// layerNormBackward(dy, x, w, mean, rstd, dx, dw, db, N, C)
napi_value layer_norm_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "layerNormBackward");
  int64_t N = a.dim(8, "N"), C = a.dim(9, "C");
  const float* dy = a.f32(0, "dy", smul(N, C));
  const float* x = a.f32(1, "x", smul(N, C));
  const float* w = a.f32(2, "w", C);
  const float* mean = a.f32(3, "mean", N);
  const float* rstd = a.f32(4, "rstd", N);
  float* dx = a.f32(5, "dx", smul(N, C));
  float* dw = a.f32(6, "dw", C);
  float* db = a.f32(7, "db", C, true);
  if (a.bad()) return nullptr;
  over_rows_with_partials(N, C, dw, db, [&](int64_t r0, int64_t r1, float* pw, float* pb) {
    layer_norm_bwd(dy, x, w, mean, rstd, dx, pw, pb, r0, r1, C);
  });
  return nullptr;
}

// rmsNormForward(x, w, y, rstd, N, C, eps)
napi_value rms_norm_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "rmsNormForward");
  int64_t N = a.dim(4, "N"), C = a.dim(5, "C");
  float eps = static_cast<float>(a.num(6));
  const float* x = a.f32(0, "x", smul(N, C));
  const float* w = a.f32(1, "w", C);
  float* y = a.f32(2, "y", smul(N, C));
  float* rstd = a.f32(3, "rstd", N);
  if (a.bad()) return nullptr;
  over_rows(N, C, [&](int64_t r0, int64_t r1) { rms_norm_fwd(x, w, y, rstd, r0, r1, C, eps); });
  return nullptr;
}

// rmsNormBackward(dy, x, w, rstd, dx, dw, N, C)
napi_value rms_norm_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "rmsNormBackward");
  int64_t N = a.dim(6, "N"), C = a.dim(7, "C");
  const float* dy = a.f32(0, "dy", smul(N, C));
  const float* x = a.f32(1, "x", smul(N, C));
  const float* w = a.f32(2, "w", C);
  const float* rstd = a.f32(3, "rstd", N);
  float* dx = a.f32(4, "dx", smul(N, C));
  float* dw = a.f32(5, "dw", C);
  if (a.bad()) return nullptr;
  over_rows_with_partials(N, C, dw, nullptr, [&](int64_t r0, int64_t r1, float* pw, float*) {
    rms_norm_bwd(dy, x, w, rstd, dx, pw, r0, r1, C);
  });
  return nullptr;
}

// The four (x, y, N, C) / (dy, y, dx, N, C) softmax kernels share their unpacking.
template <void (*fwd)(const float*, float*, int64_t, int64_t, int64_t)>
napi_value rows_forward_napi(napi_env env, napi_callback_info info, const char* name) {
  KernelArgs a(env, info, name);
  int64_t N = a.dim(2, "N"), C = a.dim(3, "C");
  const float* x = a.f32(0, "x", smul(N, C));
  float* y = a.f32(1, "y", smul(N, C));
  // Rows of no columns: nothing to write (and N alone, unchecked by any length, may be huge).
  if (a.bad() || C == 0) return nullptr;
  over_rows(N, C, [&](int64_t r0, int64_t r1) { fwd(x, y, r0, r1, C); });
  return nullptr;
}
template <void (*bwd)(const float*, const float*, float*, int64_t, int64_t, int64_t)>
napi_value rows_backward_napi(napi_env env, napi_callback_info info, const char* name) {
  KernelArgs a(env, info, name);
  int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  const float* dy = a.f32(0, "dy", smul(N, C));
  const float* y = a.f32(1, "y", smul(N, C));
  float* dx = a.f32(2, "dx", smul(N, C));
  if (a.bad() || C == 0) return nullptr;
  over_rows(N, C, [&](int64_t r0, int64_t r1) { bwd(dy, y, dx, r0, r1, C); });
  return nullptr;
}
napi_value softmax_forward_napi(napi_env env, napi_callback_info info) {
  return rows_forward_napi<softmax_fwd>(env, info, "softmaxForward");
}
napi_value softmax_backward_napi(napi_env env, napi_callback_info info) {
  return rows_backward_napi<softmax_bwd>(env, info, "softmaxBackward");
}
napi_value log_softmax_forward_napi(napi_env env, napi_callback_info info) {
  return rows_forward_napi<log_softmax_fwd>(env, info, "logSoftmaxForward");
}
napi_value log_softmax_backward_napi(napi_env env, napi_callback_info info) {
  return rows_backward_napi<log_softmax_bwd>(env, info, "logSoftmaxBackward");
}

// Targets must index a logit (or be ignoreIndex): a bad id would read outside the row.
bool check_targets(KernelArgs& a, const int32_t* targets, int64_t N, int64_t V, int32_t ignore) {
  for (int64_t i = 0; i < N; i++) {
    int32_t t = targets[i];
    if (t != ignore && (t < 0 || t >= V)) {
      a.range_error("targets[%lld] = %d is outside [0, V = %lld) and is not ignoreIndex (%d)",
                    static_cast<long long>(i), t, static_cast<long long>(V), ignore);
      return false;
    }
  }
  return true;
}

// crossEntropyForward(logits, targets, losses, lse, N, V, ignoreIndex) -> rows not ignored
napi_value cross_entropy_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "crossEntropyForward");
  int64_t N = a.dim(4, "N"), V = a.dim(5, "V");
  int32_t ignore = static_cast<int32_t>(a.integer(6));
  const float* logits = a.f32(0, "logits", smul(N, V));
  const int32_t* targets = a.i32(1, "targets", N);
  float* losses = a.f32(2, "losses", N);
  float* lse = a.f32(3, "lse", N);
  if (a.bad() || !check_targets(a, targets, N, V, ignore)) return nullptr;
  over_rows(N, V, [&](int64_t r0, int64_t r1) {
    cross_entropy_fwd(logits, targets, losses, lse, r0, r1, V, ignore);
  });
  int64_t valid = 0;
  for (int64_t i = 0; i < N; i++) valid += targets[i] != ignore;
  return make_number(env, static_cast<double>(valid));
}

// crossEntropyBackward(logits, targets, lse, dlosses, dlogits, N, V, ignoreIndex)
napi_value cross_entropy_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "crossEntropyBackward");
  int64_t N = a.dim(5, "N"), V = a.dim(6, "V");
  int32_t ignore = static_cast<int32_t>(a.integer(7));
  const float* logits = a.f32(0, "logits", smul(N, V));
  const int32_t* targets = a.i32(1, "targets", N);
  const float* lse = a.f32(2, "lse", N);
  const float* dlosses = a.f32(3, "dlosses", N);
  float* dlogits = a.f32(4, "dlogits", smul(N, V));
  if (a.bad() || !check_targets(a, targets, N, V, ignore)) return nullptr;
  over_rows(N, V, [&](int64_t r0, int64_t r1) {
    cross_entropy_bwd(logits, targets, lse, dlosses, dlogits, r0, r1, V, ignore);
  });
  return nullptr;
}

}  // namespace

void register_norms(napi_env env, napi_value exports) {
  export_fn(env, exports, "layerNormForward", layer_norm_forward_napi);
  export_fn(env, exports, "layerNormBackward", layer_norm_backward_napi);
  export_fn(env, exports, "rmsNormForward", rms_norm_forward_napi);
  export_fn(env, exports, "rmsNormBackward", rms_norm_backward_napi);
  export_fn(env, exports, "softmaxForward", softmax_forward_napi);
  export_fn(env, exports, "softmaxBackward", softmax_backward_napi);
  export_fn(env, exports, "logSoftmaxForward", log_softmax_forward_napi);
  export_fn(env, exports, "logSoftmaxBackward", log_softmax_backward_napi);
  export_fn(env, exports, "crossEntropyForward", cross_entropy_forward_napi);
  export_fn(env, exports, "crossEntropyBackward", cross_entropy_backward_napi);
}

}  // namespace xfmr
