// Entry point of the xfmr N-API addon: argument helpers, thread and CPU info, registration.
#include <cstdio>
#include <cstring>

#include "common.h"
#include "dispatch.h"

namespace xfmr {

Args::Args(napi_env e, napi_callback_info info) : env(e), argc(24) {
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  for (size_t i = argc; i < 24; i++) napi_get_undefined(env, &argv[i]);
}

void Args::fail(size_t i, const char* what) {
  if (failed) return;
  failed = true;
  char msg[160];
  snprintf(msg, sizeof msg, "xfmr native kernel: argument %zu must be %s", i, what);
  napi_throw_type_error(env, nullptr, msg);
}

float* Args::f32(size_t i, size_t* len) {
  napi_valuetype t;
  napi_typeof(env, argv[i], &t);
  if (t == napi_null || t == napi_undefined) {
    if (len) *len = 0;
    return nullptr;
  }
  bool is_ta = false;
  napi_is_typedarray(env, argv[i], &is_ta);
  if (!is_ta) {
    fail(i, "a Float32Array");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t n;
  void* data;
  napi_get_typedarray_info(env, argv[i], &type, &n, &data, nullptr, nullptr);
  if (type != napi_float32_array) {
    fail(i, "a Float32Array");
    return nullptr;
  }
  if (len) *len = n;
  return static_cast<float*>(data);
}

// A typed array of the given type, or nullptr after a TypeError naming `what`.
static void* typed(Args& a, size_t i, napi_typedarray_type want, const char* what, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(a.env, a.argv[i], &is_ta);
  napi_typedarray_type type = napi_int8_array;
  size_t n = 0;
  void* data = nullptr;
  if (is_ta) napi_get_typedarray_info(a.env, a.argv[i], &type, &n, &data, nullptr, nullptr);
  if (!is_ta || type != want) {
    a.fail(i, what);
    return nullptr;
  }
  if (len) *len = n;
  return data;
}

int32_t* Args::i32(size_t i, size_t* len) {
  return static_cast<int32_t*>(typed(*this, i, napi_int32_array, "an Int32Array", len));
}

uint16_t* Args::u16(size_t i, size_t* len) {
  return static_cast<uint16_t*>(typed(*this, i, napi_uint16_array, "a Uint16Array", len));
}

uint8_t* Args::u8(size_t i, size_t* len) {
  return static_cast<uint8_t*>(typed(*this, i, napi_uint8_array, "a Uint8Array", len));
}

double Args::num(size_t i) {
  double v = 0;
  if (napi_get_value_double(env, argv[i], &v) != napi_ok) fail(i, "a number");
  return v;
}

int64_t Args::int64(size_t i) {
  int64_t v = 0;
  if (napi_get_value_int64(env, argv[i], &v) != napi_ok) fail(i, "an integer");
  return v;
}

bool Args::boolean(size_t i) {
  bool v = false;
  if (napi_get_value_bool(env, argv[i], &v) != napi_ok) fail(i, "a boolean");
  return v;
}

napi_value make_number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

napi_value make_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

void export_fn(napi_env env, napi_value exports, const char* name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f);
  napi_set_named_property(env, exports, name, f);
}

static napi_value threads(napi_env env, napi_callback_info) { return make_number(env, num_threads()); }

static napi_value set_threads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.int64(0);
  XFMR_CHECK_ARGS(a);
  set_num_threads(static_cast<int>(n));
  return make_undefined(env);
}

// cpuInfo(): { isa, bf16, quant, avx512f, avx512bw, avx512bf16, amx_bf16, avx2, fma, threads }; bf16 is
// bf16_path()'s name (resolving it runs the AMX self-check on an AMX CPU).
static napi_value cpu_info(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  auto set_bool = [&](const char* k, bool v) {
    napi_value b;
    napi_get_boolean(env, v, &b);
    napi_set_named_property(env, o, k, b);
  };
  napi_value s;
  napi_create_string_utf8(env, isa_name(isa()), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "isa", s);
  napi_create_string_utf8(env, bf16_path_name(bf16_path()), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "bf16", s);
  napi_create_string_utf8(env, quant_path_name(), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "quant", s);
  __builtin_cpu_init();
  set_bool("avx512f", __builtin_cpu_supports("avx512f"));
  set_bool("avx512bw", __builtin_cpu_supports("avx512bw"));
  set_bool("avx512bf16", __builtin_cpu_supports("avx512bf16"));
  set_bool("amx_bf16", cpu_has_amx_bf16());
  set_bool("avx2", __builtin_cpu_supports("avx2"));
  set_bool("fma", __builtin_cpu_supports("fma"));
  napi_set_named_property(env, o, "threads", make_number(env, num_threads()));
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "threads", threads);
  export_fn(env, exports, "setThreads", set_threads);
  export_fn(env, exports, "cpuInfo", cpu_info);
  register_mmap(env, exports);
  register_gemm(env, exports);
  register_gemm_bf16(env, exports);
  register_linear_bf16(env, exports);
  register_linear_quant(env, exports);
  register_quantize(env, exports);
  register_attention(env, exports);
  register_norms(env, exports);
  register_activations(env, exports);
  register_elementwise(env, exports);
  register_optim(env, exports);
  register_rope_embedding(env, exports);
  return exports;
}

}  // namespace xfmr

NAPI_MODULE(NODE_GYP_MODULE_NAME, xfmr::init)
