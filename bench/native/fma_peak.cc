// Bench-only addon (`npm run bench -- peak`, bench/native/index.ts): the float32 FMA roof that the
// GEMM figures are compared with. Not part of xfmr: built on demand into bench/native/build.
//
// fmaPeak(threads, seconds): GFLOPS of a register-only loop (12 independent FMA chains of the
// ISA's widest vector, so both FMA pipes stay busy despite the 4-cycle latency) run on `threads`
// threads at once for about `seconds`. The ISA is the one the addon uses: the same detection
// (native/cpu.cc) and the same XFMR_DISPATCH, so XFMR_ISA lowers it here too. Portable: 4-wide
// multiply + add (SSE2 has no FMA), counted as 2 flops per lane like an FMA.
#include <node_api.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "dispatch.h"

namespace xfmr {
namespace {

constexpr int kChains = 12;

// *out = a sum of the chains (so the loop is not dead code), *lanes = floats per vector.
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

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double fma_peak(int threads, double seconds) {
  double sink = 0;
  int lanes = 0;
  // Calibrate the iteration count on one thread, then run every thread for ~seconds.
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    fma_loop(iters, &sink, &lanes);
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
  for (int t = 1; t < threads; t++) pool.emplace_back([&, t] { fma_loop(iters, &sinks[t], &unused[t]); });
  fma_loop(iters, &sinks[0], &unused[0]);
  for (auto& th : pool) th.join();
  double wall = seconds_since(t0);
  return threads * iters * kChains * lanes * 2.0 / wall / 1e9;
}

napi_value js_fma_peak(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t threads = 1;
  double seconds = 0.2;
  if (argc > 0) napi_get_value_int32(env, argv[0], &threads);
  if (argc > 1) napi_get_value_double(env, argv[1], &seconds);
  if (threads < 1 || threads > 1024 || !(seconds > 0 && seconds < 60)) {
    napi_throw_range_error(env, nullptr, "fmaPeak(threads 1..1024, seconds in (0, 60))");
    return nullptr;
  }
  napi_value r;
  napi_create_double(env, fma_peak(threads, seconds), &r);
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
  napi_create_function(env, "isa", NAPI_AUTO_LENGTH, js_isa, nullptr, &f);
  napi_set_named_property(env, exports, "isa", f);
  return exports;
}

}  // namespace
}  // namespace xfmr

NAPI_MODULE(NODE_GYP_MODULE_NAME, xfmr::init)
