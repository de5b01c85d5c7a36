// Vectorised exp, sigmoid, tanh and erfc on any simd vector type (vf16 / vf8 / vf4), accurate to
// a few float ulps, and rounding to bf16. Generic vector operations only, so they compile for whichever
// ISA the calling XFMR_DISPATCH variant targets (see dispatch.h).
#pragma once
#include "simd_kernel.h"

namespace xfmr::simd {

// exp(x): Cephes expf (range reduction by ln 2 in two parts, degree-6 polynomial), max relative
// error ~2e-7 on [-87.3, 88.37]. exp(x) = 0 below -87.33 (the float normal range; true values
// there are < 1.2e-38), 2.4e38 on (88.37, 88.72], +inf above as expf does; NaN stays NaN.
template <class V>
XFMR_INLINE V vexp(const V& x_in) {
  using I = mask_t<V>;
  V x = x_in;
  const V lo = splat<V>(-87.33654f);
  I over = x > splat<V>(88.72283935546875f);
  I under = x < lo;
  I nan = x != x;
  x = vmin(vmax(x, lo), splat<V>(88.3762626647949f));
  V fx = x * splat<V>(1.44269504088896341f);
  const V magic = splat<V>(12582912.0f);  // 1.5 * 2^23: adding it rounds to the nearest integer
  fx = (fx + magic) - magic;
  x = x - fx * splat<V>(0.693359375f);
  x = x - fx * splat<V>(-2.12194440e-4f);
  V y = splat<V>(1.9875691500e-4f);
  y = y * x + splat<V>(1.3981999507e-3f);
  y = y * x + splat<V>(8.3334519073e-3f);
  y = y * x + splat<V>(4.1665795894e-2f);
  y = y * x + splat<V>(1.6666665459e-1f);
  y = y * x + splat<V>(5.0000001201e-1f);
  y = y * (x * x) + x + splat<V>(1.0f);
  I n = __builtin_convertvector(fx, I);
  V r = y * (V)((n + 127) << 23);  // y * 2^n
  r = under ? V{} : r;
  r = over ? splat<V>(INFINITY) : r;
  return nan ? x_in : r;
}

// exp(x) for x <= 0 (softmax numerators), a few instructions fewer than vexp: no overflow, NaN or
// underflow handling. x below -87.33 (including -inf) gives exp(-87.33) ~ 1.2e-38 instead of ~0,
// harmless next to a softmax denominator >= 1; x > 0 or NaN give unspecified values, so callers
// mask those lanes with a select afterwards.
template <class V>
XFMR_INLINE V vexp_nonpos(const V& x_in) {
  using I = mask_t<V>;
  V x = vmax(x_in, splat<V>(-87.33654f));
  V fx = x * splat<V>(1.44269504088896341f);
  const V magic = splat<V>(12582912.0f);
  fx = (fx + magic) - magic;
  x = x - fx * splat<V>(0.693359375f);
  x = x - fx * splat<V>(-2.12194440e-4f);
  V y = splat<V>(1.9875691500e-4f);
  y = y * x + splat<V>(1.3981999507e-3f);
  y = y * x + splat<V>(8.3334519073e-3f);
  y = y * x + splat<V>(4.1665795894e-2f);
  y = y * x + splat<V>(1.6666665459e-1f);
  y = y * x + splat<V>(5.0000001201e-1f);
  y = y * (x * x) + x + splat<V>(1.0f);
  return y * (V)((__builtin_convertvector(fx, I) + 127) << 23);
}

// 1 / (1 + exp(-x)), never NaN for finite x (exp saturates, 1 / inf = 0).
template <class V>
XFMR_INLINE V vsigmoid(const V& x) {
  return splat<V>(1.0f) / (splat<V>(1.0f) + vexp(-x));
}

// erfc(z) for z >= 0: Numerical Recipes' Chebyshev fit (erfcc), relative error < 1.2e-7, the same
// formula as the js oracle's erf. 1 + erf(x) = x >= 0 ? 2 - erfc(x) : erfc(-x) keeps full relative
// accuracy in the negative tail, which GELU needs.
template <class V>
XFMR_INLINE V verfc_pos(const V& z) {
  V t = splat<V>(1.0f) / (splat<V>(1.0f) + splat<V>(0.5f) * z);
  V p = splat<V>(0.17087277f);
  p = p * t + splat<V>(-0.82215223f);
  p = p * t + splat<V>(1.48851587f);
  p = p * t + splat<V>(-1.13520398f);
  p = p * t + splat<V>(0.27886807f);
  p = p * t + splat<V>(-0.18628806f);
  p = p * t + splat<V>(0.09678418f);
  p = p * t + splat<V>(0.37409196f);
  p = p * t + splat<V>(1.00002368f);
  p = p * t + splat<V>(-1.26551223f);
  return t * vexp(p - z * z);
}

// tanh(x): Cephes tanhf. For |x| < 0.625 the odd polynomial x + x^3 P(x^2) (no cancellation near
// 0), else 1 - 2 / (exp(2|x|) + 1) with the sign of x (exp overflows to inf for |x| > 44, giving
// 1). Max relative error ~1.5e-7 against Math.tanh on [-1e3, 1e3] (checked with the f32 formula
// and an exact exp; vexp adds at most half its own error). NaN stays NaN.
template <class V>
XFMR_INLINE V vtanh(const V& x) {
  const V a = vmax(x, -x);
  const V z = x * x;
  V p = splat<V>(-5.70498872745e-3f);
  p = p * z + splat<V>(2.06390887954e-2f);
  p = p * z + splat<V>(-5.37397155531e-2f);
  p = p * z + splat<V>(1.33314422036e-1f);
  p = p * z + splat<V>(-3.33332819422e-1f);
  const V small = p * z * x + x;
  V big = splat<V>(1.f) - splat<V>(2.f) / (vexp(a + a) + splat<V>(1.f));
  big = x < V{} ? -big : big;
  return a < splat<V>(0.625f) ? small : big;
}

// x rounded to the nearest bf16 (ties to even), kept as a float: the upper 16 bits of its bit
// pattern. NaN stays NaN (its bits unchanged) instead of rounding into infinity; the js twin's
// roundBf16 (src/kernels/js/gemm.ts) is the same rounding. Products of two such values are exact
// in float, so f32 FMAs on them compute what bf16 dot-product units do.
XFMR_INLINE float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, sizeof u);
  return x;
}
template <class V>
XFMR_INLINE V vround_bf16(const V& x) {
  using I = mask_t<V>;
  I u;
  std::memcpy(&u, &x, sizeof u);
  // On the magnitude, so the int32 add cannot overflow (NaN lanes are zeroed first, then restored).
  const I mag = u & 0x7fffffff;
  const I nan = mag > 0x7f800000;
  const I m = nan ? I{} : mag;
  I r = ((m + 0x7fff + ((m >> 16) & 1)) & ~0xffff) | (u & ~0x7fffffff);
  r = nan ? u : r;
  V y;
  std::memcpy(&y, &r, sizeof y);
  return y;
}

}  // namespace xfmr::simd
