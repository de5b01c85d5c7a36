// What every non-GEMM kernel file shares: float vectors written with GCC/Clang vector
// extensions, and checked argument unpacking.
//
// How the SIMD works: a kernel body is one `XFMR_INLINE` function template over a vector type V,
// written with generic vector operations (`a * b + c`, `a < b ? a : b`), not intrinsics, and
// XFMR_DISPATCH (dispatch.h) compiles it once per ISA with that ISA's native width and picks one
// at run time. (Vectors wider than the registers are lowered through memory, hence one width per
// ISA rather than 16 floats everywhere.)
#pragma once
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common.h"
#include "dispatch.h"

namespace xfmr::simd {

template <class V>
constexpr int lanes = static_cast<int>(sizeof(V) / sizeof(float));
// The int32 vector a comparison of two V gives (lanes -1 where true, 0 where false).
template <class V>
using mask_t = decltype(V{} < V{});

// x - 0 folds to a plain broadcast (x + 0 does not: -0 + 0 = +0).
template <class V>
XFMR_INLINE V splat(float x) {
  return x - V{};
}
template <class V>
XFMR_INLINE V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
XFMR_INLINE void store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}
// The first n (< lanes) floats from p, the rest `fill` (row tails).
template <class V>
XFMR_INLINE V load_part(const float* p, int64_t n, float fill) {
  V v = splat<V>(fill);
  std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}
template <class V>
XFMR_INLINE void store_part(float* p, const V& v, int64_t n) {
  std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(float));
}
// m lanes from p: a full load when m is the vector width, else a zero-filled tail.
template <class V>
XFMR_INLINE V ld(const float* p, int64_t m, float fill = 0.f) {
  return m == lanes<V> ? load<V>(p) : load_part<V>(p, m, fill);
}
template <class V>
XFMR_INLINE void st(float* p, const V& v, int64_t m) {
  if (m == lanes<V>) store<V>(p, v);
  else store_part<V>(p, v, m);
}
template <class V>
XFMR_INLINE V vmax(const V& a, const V& b) {
  return a > b ? a : b;
}
template <class V>
XFMR_INLINE V vmin(const V& a, const V& b) {
  return a < b ? a : b;
}
// Lane indices 0, 1, ..., lanes - 1 (for masking row tails).
template <class V>
XFMR_INLINE mask_t<V> iota() {
  mask_t<V> r{};
  for (int k = 0; k < lanes<V>; k++) r[k] = k;
  return r;
}

// Pairwise horizontal sum and max (once per row, so plain lane reads are fine).
template <class V>
XFMR_INLINE float hsum(const V& v) {
  float a[lanes<V>];
  std::memcpy(a, &v, sizeof a);
  for (int w = lanes<V> / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; k++) a[k] += a[k + w];
  return a[0];
}
template <class V>
XFMR_INLINE float hmax(const V& v) {
  float m = v[0];
  for (int k = 1; k < lanes<V>; k++) m = v[k] > m ? v[k] : m;
  return m;
}

// Applies f(c, m) to the lanes<V>-float chunks [c, c + m) of [0, n); only the last has m < lanes.
template <class V, class F>
XFMR_INLINE void each_chunk(int64_t n, F&& f) {
  constexpr int W = lanes<V>;
  int64_t c = 0;
  for (; c + W <= n; c += W) f(c, static_cast<int64_t>(W));
  if (c < n) f(c, n - c);
}

// sum(x[0, n)), sum(x * y) and max(x) with four accumulators (latency) and a padded tail.
template <class V>
XFMR_INLINE float row_sum(const float* x, int64_t n) {
  constexpr int W = lanes<V>;
  V a0{}, a1{}, a2{}, a3{};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += load<V>(x + i);
    a1 += load<V>(x + i + W);
    a2 += load<V>(x + i + 2 * W);
    a3 += load<V>(x + i + 3 * W);
  }
  for (; i + W <= n; i += W) a0 += load<V>(x + i);
  if (i < n) a1 += load_part<V>(x + i, n - i, 0.f);
  return hsum((a0 + a1) + (a2 + a3));
}
template <class V>
XFMR_INLINE float row_dot(const float* x, const float* y, int64_t n) {
  constexpr int W = lanes<V>;
  V a0{}, a1{}, a2{}, a3{};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += load<V>(x + i) * load<V>(y + i);
    a1 += load<V>(x + i + W) * load<V>(y + i + W);
    a2 += load<V>(x + i + 2 * W) * load<V>(y + i + 2 * W);
    a3 += load<V>(x + i + 3 * W) * load<V>(y + i + 3 * W);
  }
  for (; i + W <= n; i += W) a0 += load<V>(x + i) * load<V>(y + i);
  if (i < n) a1 += load_part<V>(x + i, n - i, 0.f) * load_part<V>(y + i, n - i, 0.f);
  return hsum((a0 + a1) + (a2 + a3));
}
template <class V>
XFMR_INLINE float row_max(const float* x, int64_t n) {
  constexpr int W = lanes<V>;
  V m = splat<V>(-INFINITY);
  int64_t i = 0;
  for (; i + W <= n; i += W) m = vmax(m, load<V>(x + i));
  if (i < n) m = vmax(m, load_part<V>(x + i, n - i, -INFINITY));
  return hmax(m);
}

}  // namespace xfmr::simd

namespace xfmr {

// Unpacks and checks one kernel call's arguments. Every failure throws a JS error naming the
// kernel and the argument (a RangeError for a short buffer or a bad size), so a wrong call never
// reads or writes out of bounds. Check bad() after unpacking and return nullptr when it is set.
class KernelArgs {
 public:
  KernelArgs(napi_env env, napi_callback_info info, const char* kernel) : a_(env, info), kernel_(kernel) {}

  napi_env env() const { return a_.env; }
  bool bad() const { return a_.failed || failed_; }

  // A size: an integer >= 0.
  int64_t dim(size_t i, const char* name) {
    int64_t v = a_.int64(i);
    if (!bad() && v < 0) range_error("%s must be >= 0, got %lld", name, static_cast<long long>(v));
    return v;
  }
  int64_t integer(size_t i) { return a_.int64(i); }
  double num(size_t i) { return a_.num(i); }
  bool flag(size_t i) { return a_.boolean(i); }

  // A Float32Array of at least `need` elements; null is accepted only when `optional`. Its length
  // goes to *len_out when given.
  float* f32(size_t i, const char* name, int64_t need, bool optional = false, size_t* len_out = nullptr) {
    size_t len = 0;
    float* p = a_.f32(i, &len);
    if (len_out) *len_out = len;
    if (bad()) return nullptr;
    if (!p) {
      if (!optional && need > 0) range_error("%s is required (a Float32Array)", name);
      return nullptr;
    }
    if (static_cast<int64_t>(len) < need)
      range_error("%s has %zu elements, needs at least %lld", name, len, static_cast<long long>(need));
    return p;
  }
  int32_t* i32(size_t i, const char* name, int64_t need) {
    size_t len = 0;
    int32_t* p = a_.i32(i, &len);
    if (!bad() && static_cast<int64_t>(len) < need)
      range_error("%s has %zu elements, needs at least %lld", name, len, static_cast<long long>(need));
    return p;
  }

  // A Uint16Array / Uint8Array of at least `need` elements (as f32 above, never null).
  uint16_t* u16(size_t i, const char* name, int64_t need) { return need_len(a_.u16(i, &len_), name, need); }
  uint8_t* u8(size_t i, const char* name, int64_t need) { return need_len(a_.u8(i, &len_), name, need); }
  // A string argument that must be one of choices[0, n) (`what` lists them): its index, or -1
  // after a TypeError.
  int choice(size_t i, const char* what, const char* const* choices, int n) {
    char buf[32] = {};
    size_t len = 0;
    if (!bad() && napi_get_value_string_utf8(a_.env, a_.argv[i], buf, sizeof buf, &len) == napi_ok)
      for (int c = 0; c < n; c++)
        if (std::strcmp(buf, choices[c]) == 0) return c;
    a_.fail(i, what);
    return -1;
  }

  void range_error(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (bad()) return;
    failed_ = true;
    char detail[200], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "xfmr native %s: %s", kernel_, detail);
    napi_throw_range_error(a_.env, nullptr, msg);
  }

 private:
  template <class T>
  T* need_len(T* p, const char* name, int64_t need) {
    if (!bad() && static_cast<int64_t>(len_) < need)
      range_error("%s has %zu elements, needs at least %lld", name, len_, static_cast<long long>(need));
    return p;
  }

  Args a_;
  const char* kernel_;
  bool failed_ = false;
  size_t len_ = 0;
};

// Rows per parallel chunk so that each chunk touches about `work` floats (threads only pay off
// past a few microseconds of work; the pool hands a job out in ~1-3 us).
inline int64_t row_grain(int64_t C, int64_t work = 16384) {
  return C >= work ? 1 : (work + C - 1) / (C > 0 ? C : 1);
}

}  // namespace xfmr
