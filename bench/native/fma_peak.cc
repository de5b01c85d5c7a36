// Bench-only addon (`npm run bench -- peak`, bench/native/index.ts): the float32 FMA roof that the
// GEMM figures are compared with, and the bf16 dot-product roof that decides which bf16 GEMM path
// is faster on a CPU without AMX. Not part of xfmr: built on demand into bench/native/build.
//
// fmaPeak(threads, seconds): GFLOPS of a register-only loop (12 independent FMA chains of the
// ISA's widest vector, so both FMA pipes stay busy despite the 4-cycle latency) run on `threads`
// threads at once for about `seconds`. The ISA is the one the addon uses: the same detection
// (native/cpu.cc) and the same XFMR_DISPATCH, so XFMR_ISA lowers it here too. Portable: 4-wide
// multiply + add (SSE2 has no FMA), counted as 2 flops per lane like an FMA.
//
// bf16DotPeak(threads, seconds): the same with 12 VDPBF16PS chains (zmm: 32 bf16 products summed
// into 16 f32 lanes, 64 flops per instruction); null where the CPU has no AVX512-BF16.
#include <node_api.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "dispatch.h"

#ifdef XFMR_X86
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {
namespace {

constexpr int kChains = 12;

// *out = a sum of the chains (so the loop is not dead code), *lanes = multiply-adds per
// instruction (floats per vector for an FMA).
template <class V>
XFMR_INLINE void fma_loop_body(int64_t iters, double* out, int* lanes) {
  const V m = 0.9999f - V{}, c = 1e-4f - V{};  // x - V{} broadcasts a constant
  V x[kChains];
  for (int i = 0; i < kChains; i++) x[i] = 0.001f * i - V{};
  for (int64_t it = 0; it < iters; it++)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; i++) x[i] = x[i] * m + c;
  V s = x[0];
  for (int i = 1; i < kChains; i++) s += x[i];
  float f[sizeof(V) / sizeof(float)];
  std::memcpy(f, &s, sizeof f);
  *out = f[0];
  *lanes = static_cast<int>(sizeof(V) / sizeof(float));
}
XFMR_DISPATCH(fma_loop, fma_loop_body, (int64_t iters, double* out, int* lanes), (iters, out, lanes))

#ifdef XFMR_X86
XFMR_TARGET_AVX512BF16 void dot_loop(int64_t iters, double* out, int* lanes) {
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // pairs of bf16 1.0
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x38D138D1);  // pairs of bf16 ~1e-4: no overflow
  __m512 x[kChains];
  for (int i = 0; i < kChains; i++) x[i] = _mm512_set1_ps(0.001f * i);
  for (int64_t it = 0; it < iters; it++)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; i++) x[i] = _mm512_dpbf16_ps(x[i], a, b);
  __m512 s = x[0];
  for (int i = 1; i < kChains; i++) s = _mm512_add_ps(s, x[i]);
  float f[16];
  _mm512_storeu_ps(f, s);
  *out = f[0];
  *lanes = 32;
}
#endif

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

using Loop = void (*)(int64_t iters, double* out, int* lanes);

double peak(Loop loop, int threads, double seconds) {
  double sink = 0;
  int lanes = 0;
  // Calibrate the iteration count on one thread, then run every thread for ~seconds.
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    loop(iters, &sink, &lanes);
    double dt = seconds_since(t0);
    if (dt > 0.02) {
      iters = static_cast<int64_t>(iters * seconds / dt) + 1;
      break;
    }
    iters *= 4;
  }
  std::vector<double> sinks(threads);
  std::vector<std::thread> pool;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int> unused(threads);
  for (int t = 1; t < threads; t++) pool.emplace_back([&, t] { loop(iters, &sinks[t], &unused[t]); });
  loop(iters, &sinks[0], &unused[0]);
  for (auto& th : pool) th.join();
  double wall = seconds_since(t0);
  return threads * iters * kChains * lanes * 2.0 / wall / 1e9;
}

// (threads, seconds) from JS, checked; false after throwing.
bool peak_args(napi_env env, napi_callback_info info, const char* name, int32_t* threads, double* seconds) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  *threads = 1;
  *seconds = 0.2;
  if (argc > 0) napi_get_value_int32(env, argv[0], threads);
  if (argc > 1) napi_get_value_double(env, argv[1], seconds);
  if (*threads < 1 || *threads > 1024 || !(*seconds > 0 && *seconds < 60)) {
    char msg[120];
    snprintf(msg, sizeof msg, "%s(threads 1..1024, seconds in (0, 60))", name);
    napi_throw_range_error(env, nullptr, msg);
    return false;
  }
  return true;
}

napi_value js_fma_peak(napi_env env, napi_callback_info info) {
  int32_t threads;
  double seconds;
  if (!peak_args(env, info, "fmaPeak", &threads, &seconds)) return nullptr;
  napi_value r;
  napi_create_double(env, peak(fma_loop, threads, seconds), &r);
  return r;
}

napi_value js_bf16_dot_peak(napi_env env, napi_callback_info info) {
  int32_t threads;
  double seconds;
  if (!peak_args(env, info, "bf16DotPeak", &threads, &seconds)) return nullptr;
  napi_value r;
#ifdef XFMR_X86
  if (cpu_has_avx512bf16()) {
    napi_create_double(env, peak(dot_loop, threads, seconds), &r);
    return r;
  }
#endif
  napi_get_null(env, &r);
  return r;
}

napi_value js_isa(napi_env env, napi_callback_info) {
  napi_value s;
  napi_create_string_utf8(env, isa_name(isa()), NAPI_AUTO_LENGTH, &s);
  return s;
}

napi_value init(napi_env env, napi_value exports) {
  napi_value f;
  napi_create_function(env, "fmaPeak", NAPI_AUTO_LENGTH, js_fma_peak, nullptr, &f);
  napi_set_named_property(env, exports, "fmaPeak", f);
  napi_create_function(env, "bf16DotPeak", NAPI_AUTO_LENGTH, js_bf16_dot_peak, nullptr, &f);
  napi_set_named_property(env, exports, "bf16DotPeak", f);
  napi_create_function(env, "isa", NAPI_AUTO_LENGTH, js_isa, nullptr, &f);
  napi_set_named_property(env, exports, "isa", f);
  return exports;
}

}  // namespace
}  // namespace xfmr

NAPI_MODULE(NODE_GYP_MODULE_NAME, xfmr::init)
