// Kernel family: the fused AdamW step (one pass over param, grad, m, v). Semantics and formula:
// src/kernels/js/optim.ts and Kernels.adamw. The loop is plain C++ over restrict pointers: the
// compiler vectorises it (sqrt and division included, -fno-math-errno) for each ISA variant.
#include <algorithm>

#include "simd_kernel.h"

namespace xfmr {
namespace {

struct AdamHyper {
  float lr, beta1, beta2, eps, weight_decay, inv_bc1, inv_bc2, grad_scale;
};

// V is unused: the loop is plain C++ and auto-vectorised at each ISA's width.
template <class V>
XFMR_INLINE void adamw_body(float* __restrict param, const float* __restrict grad, float* __restrict m,
                            float* __restrict v, int64_t n, const AdamHyper* hp) {
  const AdamHyper h = *hp;
  const float one_b1 = 1.f - h.beta1, one_b2 = 1.f - h.beta2;
  for (int64_t i = 0; i < n; i++) {
    float g = grad[i] * h.grad_scale;
    float mi = h.beta1 * m[i] + one_b1 * g;
    float vi = h.beta2 * v[i] + one_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float p = param[i];
    param[i] = p - h.lr * (mi * h.inv_bc1 / (std::sqrt(vi * h.inv_bc2) + h.eps) + h.weight_decay * p);
  }
}
XFMR_DISPATCH(adamw_range, adamw_body,
              (float* param, const float* grad, float* m, float* v, int64_t n, const AdamHyper* h),
              (param, grad, m, v, n, h))

// adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale)
napi_value adamw_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "adamw");
  int64_t n = a.dim(4, "n");
  float* param = a.f32(0, "param", n);
  const float* grad = a.f32(1, "grad", n);
  float* m = a.f32(2, "m", n);
  float* v = a.f32(3, "v", n);
  double bc1 = a.num(10), bc2 = a.num(11);
  AdamHyper h{static_cast<float>(a.num(5)),       static_cast<float>(a.num(6)),
              static_cast<float>(a.num(7)),       static_cast<float>(a.num(8)),
              static_cast<float>(a.num(9)),       static_cast<float>(1.0 / bc1),
              static_cast<float>(1.0 / bc2),      static_cast<float>(a.num(12))};
  if (a.bad()) return nullptr;
  if (!(bc1 > 0 && bc2 > 0)) {
    a.range_error("bc1 and bc2 must be > 0 (1 - beta^t), got %g and %g", bc1, bc2);
    return nullptr;
  }
  // ~20 flops per element over four streams: threads pay off from ~64K elements.
  if (n < (1 << 16)) adamw_range(param, grad, m, v, n, &h);
  else
    parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
      adamw_range(param + b, grad + b, m + b, v + b, e - b, &h);
    });
  return nullptr;
}

}  // namespace

void register_optim(napi_env env, napi_value exports) { export_fn(env, exports, "adamw", adamw_napi); }

}  // namespace xfmr
