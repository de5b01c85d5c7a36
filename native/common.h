// Shared helpers of the xfmr addon: N-API argument unpacking (no copies) and the thread pool.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace xfmr {

// ---- thread pool (threadpool.cc) ----
int num_threads();
void set_num_threads(int n);
// Runs fn(task, thread) for task in [0, n_tasks) on the pool; the calling thread takes part
// (thread 0). Tasks are handed out dynamically. Blocks until all are done. Not reentrant:
// calling it from inside a task runs the inner loop serially on that thread.
void parallel_tasks(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);
// Splits [0, n) into contiguous ranges of at least `grain` items and runs fn(begin, end).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// (CPU dispatch: dispatch.h.)

// mapFile(path): a whole file as an ArrayBuffer over a private mapping (mmap.cc).
void register_mmap(napi_env env, napi_value exports);

// ---- size arithmetic for argument checks ----
// Saturating: a product or sum past INT64_MAX is INT64_MAX, which no array length reaches, so a
// check of huge sizes from JavaScript fails instead of wrapping to a small number (npm run fuzz,
// target kernels: logSoftmaxBackward with N = 2^31, C = 2^62 passed its check and read past the
// arrays). Operands are sizes already checked >= 0.
inline int64_t smul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
template <class... T>
inline int64_t smul(int64_t a, int64_t b, T... rest) {
  return smul(smul(a, b), rest...);
}
inline int64_t sadd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

// ---- N-API argument helpers (addon.cc) ----
// Each throws a JS TypeError naming the argument index and returns a sentinel on failure;
// callers check `napi_is_exception_pending` through the ARGS macro below.
struct Args {
  napi_env env;
  size_t argc;
  napi_value argv[24];
  bool failed = false;
  Args(napi_env env, napi_callback_info info);
  float* f32(size_t i, size_t* len = nullptr);        // Float32Array (or null -> nullptr)
  int32_t* i32(size_t i, size_t* len = nullptr);      // Int32Array
  uint16_t* u16(size_t i, size_t* len = nullptr);     // Uint16Array (bf16 / f16 bit patterns)
  uint8_t* u8(size_t i, size_t* len = nullptr);       // Uint8Array (quantized blocks)
  double num(size_t i);
  int64_t int64(size_t i);
  bool boolean(size_t i);
  void fail(size_t i, const char* what);
};

napi_value make_number(napi_env env, double v);
napi_value make_undefined(napi_env env);
// Registers fn as exports[name].
void export_fn(napi_env env, napi_value exports, const char* name, napi_callback fn);

// Each kernel family registers its functions (one file per family).
void register_gemm(napi_env env, napi_value exports);
void register_gemm_bf16(napi_env env, napi_value exports);
void register_linear_bf16(napi_env env, napi_value exports);
void register_linear_quant(napi_env env, napi_value exports);
void register_quantize(napi_env env, napi_value exports);
// The integer-dot path linearQuant uses: avx512vnni, avx2 or portable (linear_quant.cc).
const char* quant_path_name();
// The arguments of gemm and gemmBf16 (Kernels.gemm's contract), unpacked and checked; na and nb are
// the floats of A and B that the batch reads.
struct GemmArgs {
  const float* A;
  const float* B;
  float* C;
  int64_t batch, M, N, K;
  bool ta, tb;
  int64_t sa, sb, sc;
  float alpha, beta;
  int64_t na, nb;
};
// Reads them for the kernel `name`; false when a JS error is pending or there is nothing to do
// (an empty C), and the caller returns nullptr (undefined) either way.
bool read_gemm_args(napi_env env, napi_callback_info info, const char* name, GemmArgs& g);
// C[0:m, 0:n] = alpha * t + beta * C for an m x n corner of an MR x NR tile `t` (GEMM edges).
void store_partial(const float* t, int NR, float* c, int64_t ldc, int m, int n, float alpha, float beta);
// Batched f32 GEMM on checked arguments (Kernels.gemm's contract).
void gemm_f32(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N, int64_t K, bool ta,
              bool tb, int64_t sa, int64_t sb, int64_t sc, float alpha, float beta);
void register_attention(napi_env env, napi_value exports);
void register_norms(napi_env env, napi_value exports);
void register_activations(napi_env env, napi_value exports);
void register_elementwise(napi_env env, napi_value exports);
void register_optim(napi_env env, napi_value exports);
void register_rope_embedding(napi_env env, napi_value exports);

}  // namespace xfmr

// Declares `xfmr::Args a(env, info)` and returns undefined early if unpacking threw.
#define XFMR_CHECK_ARGS(a) \
  if ((a).failed) return nullptr
