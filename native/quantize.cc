// Kernel family: quantizeBlocks, ggml's reference quantizers (what llama-quantize writes without an
// importance matrix) for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K: f32 values -> blocks,
// byte-exact with the
// js twin (src/kernels/js/quant/, itself byte-exact with ggml_quantize_chunk; contract:
// Kernels.quantizeBlocks in src/kernels/kernels.ts).
//
// Byte-exactness: every float operation below is the same single float32 operation, in the same
// order, as the twin's `f32(...)`-wrapped expression (which follows ggml's C). This file is built
// with -std=c++17 (GCC then does not contract a*b+c into an FMA) and without -march flags, so each
// `+ - * /` is one SSE float32 operation, as in ggml-base.
// NaN: where the twin uses Math.max / Math.min on floats (which return NaN when an argument is NaN,
// unlike C's fmaxf) or writes a non-finite number into a byte (JS ToInt32: NaN -> 0), the helpers
// js_max / js_min / js_int32 reproduce it, so a row with NaNs gives the twin's bytes too.
//
// Parallelism: blocks are independent, so [0, n / block) is split across the thread pool; each
// worker keeps its scratch on its stack.
// Not handled: importance matrices (llama-quantize --imatrix), and the types the twin handles as
// plain conversions (F16, BF16), which the caller converts itself.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "common.h"
#include "half.h"

namespace xfmr {
namespace {

// ---- the twin's number semantics ----

// Math.max(a, b) on floats: NaN when either is NaN, and V8's NaN (0xfff8... as a double, so
// 0xffc00000 as a float: the sign bit set), which reaches the f16 scale Q8_0 writes (0xfe00; ggml,
// whose MAX keeps a positive NaN, would write 0x7e00).
inline float js_max(float a, float b) { return (a != a || b != b) ? -NAN : (a > b ? a : b); }
// Math.min(a, b) on doubles: NaN when either is NaN.
inline double js_min(double a, double b) { return (a != a || b != b) ? NAN : (a < b ? a : b); }

// JS ToInt32 (what `v & 0xff` or `v | w` applies first): NaN and +-inf -> 0, else truncated modulo 2^32.
inline int32_t js_int32(double v) {
  if (!std::isfinite(v)) return 0;
  double t = std::fmod(std::trunc(v), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(t));
}

// C's roundf (half away from zero), as the twin's roundAway computes it.
inline double round_away(float v) { return v < 0 ? -std::floor(-static_cast<double>(v) + 0.5) : std::floor(v + 0.5); }

// Writes x as f16 at b, returns the value it stores.
inline float put_f16(uint8_t* b, float x) {
  const uint16_t h = f32_to_f16(x);
  b[0] = static_cast<uint8_t>(h & 0xff);
  b[1] = static_cast<uint8_t>(h >> 8);
  return f16_to_f32(h);
}

// ---- Q8_0 and Q4_0 (q8_0.ts, q4_0.ts) ----

void block_q8_0(const float* x, uint8_t* y) {
  float amax = 0.f;
  for (int j = 0; j < 32; j++) amax = js_max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  put_f16(y, d);
  for (int j = 0; j < 32; j++) y[2 + j] = static_cast<uint8_t>(js_int32(round_away(x[j] * id)) & 0xff);
}

// The value of largest magnitude of 32, with its sign (the first one on a tie): signedAbsMax.
inline float signed_abs_max32(const float* x) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; j++)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  return max;
}

void block_q4_0(const float* x, uint8_t* y) {
  const float d = signed_abs_max32(x) / -8.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  put_f16(y, d);
  for (int j = 0; j < 16; j++) {
    const double q0 = js_min(15, std::trunc(x[j] * id + 8.5f));
    const double q1 = js_min(15, std::trunc(x[16 + j] * id + 8.5f));
    y[2 + j] = static_cast<uint8_t>((js_int32(q0) | (js_int32(q1) << 4)) & 0xff);
  }
}

// ---- Q4_1, Q5_0, Q5_1 (q4_1.ts, q5_0.ts, q5_1.ts; llama-quantize's fallback types) ----

// The least and greatest of 32 values (minOf / maxOf: strict comparisons, so NaNs are skipped).
inline void min_max32(const float* x, float* mn, float* mx) {
  float lo = INFINITY, hi = -INFINITY;
  for (int j = 0; j < 32; j++) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

void block_q4_1(const float* x, uint8_t* y) {
  float min, max;
  min_max32(x, &min, &max);
  const float d = (max - min) / 15.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  put_f16(y, d);
  put_f16(y + 2, min);
  for (int j = 0; j < 16; j++) {
    const double q0 = js_min(15, std::trunc((x[j] - min) * id + 0.5f));
    const double q1 = js_min(15, std::trunc((x[16 + j] - min) * id + 0.5f));
    y[4 + j] = static_cast<uint8_t>((js_int32(q0) | (js_int32(q1) << 4)) & 0xff);
  }
}

// The quants' low nibbles at ql and their fifth bits as the u32 at qh (Q5_0 / Q5_1's layout).
inline void pack_q5(const int32_t* q, uint8_t* qh, uint8_t* ql) {
  uint32_t h = 0;
  for (int j = 0; j < 16; j++) {
    ql[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[16 + j] & 0x0f) << 4));
    h |= (static_cast<uint32_t>(q[j] >> 4) << j) | (static_cast<uint32_t>(q[16 + j] >> 4) << (j + 16));
  }
  for (int k = 0; k < 4; k++) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}

void block_q5_0(const float* x, uint8_t* y) {
  const float d = signed_abs_max32(x) / -16.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  put_f16(y, d);
  int32_t q[32];
  for (int j = 0; j < 32; j++) q[j] = js_int32(js_min(31, std::trunc(x[j] * id + 16.5f)));
  pack_q5(q, y + 2, y + 6);
}

void block_q5_1(const float* x, uint8_t* y) {
  float min, max;
  min_max32(x, &min, &max);
  const float d = (max - min) / 31.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  put_f16(y, d);
  put_f16(y + 2, min);
  int32_t q[32];
  // C's (uint8_t) conversion, as the twin: truncation, 5 bits kept
  for (int j = 0; j < 32; j++) q[j] = js_int32(std::trunc((x[j] - min) * id + 0.5f)) & 0x1f;
  pack_q5(q, y + 4, y + 8);
}

// ---- the K-quant scale searches (k_scales.ts) ----

const float GROUP_MAX_EPS = 1e-15f;
const float TENTH = 0.1f;

inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// make_qkx2_quants: scale and -min of n values for levels 0..nmax (see makeQkx2Quants).
float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, uint8_t* Laux, float rmin,
                       float rdelta, int nstep, float* the_min) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w = sum_w + w[i];
    sum_x = sum_x + w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, n);
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1.f / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    const int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    const float diff = scale * l + min - x[i];
    best_error = best_error + w[i] * (diff * diff);
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      const int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float wl = w[i] * l;
      sum_l = sum_l + wl;
      sum_l2 = sum_l2 + wl * l;
      sum_xl = sum_xl + wl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; i++) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error = cur_error + w[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, n);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// sc[j] (which 0) or m[j] (which 1) of the 12 packed scale bytes q.
inline int scale_min_k4(int j, const uint8_t* q, int which) {
  if (j < 4) return q[j + 4 * which] & 63;
  if (which == 0) return (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
  return (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
}

// quantizeScalesMinsK: d, dmin and the packed scales of a Q4_K / Q5_K block at y, levels into L.
void scales_mins_k(const float* x, int nmax, float rmin, int nstep, uint8_t* y, uint8_t* L) {
  float weights[32], scales[8], mins[8];
  uint8_t laux[32], ls[8], lm[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; j++) {
    const float* s = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) sum_x2 = sum_x2 + s[l] * s[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; l++) weights[l] = av_x + std::fabs(s[l]);
    scales[j] = make_qkx2_quants(32, nmax, s, weights, L + 32 * j, laux, rmin, TENTH, nstep, &mins[j]);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; j++) {
    // ggml stores nearest_int into a uint8_t before clamping: a negative scale wraps to > 63
    ls[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j]) & 0xff));
    lm[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j]) & 0xff));
  }
  uint8_t* q = y + 4;
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
  const float d = put_f16(y, max_scale / 63);
  const float dmin = put_f16(y + 2, max_min / 63);
  for (int j = 0; j < 8; j++) {
    const float dj = d * static_cast<float>(scale_min_k4(j, q, 0));
    if (dj == 0) continue;
    const float dm = dmin * static_cast<float>(scale_min_k4(j, q, 1));
    for (int i = 0; i < 32; i++) L[32 * j + i] = static_cast<uint8_t>(clampi(nearest_int((x[32 * j + i] + dm) / dj), 0, nmax));
  }
}

void block_q4_k(const float* x, uint8_t* y) {
  uint8_t L[256];
  scales_mins_k(x, 15, -1.f, 20, y, L);
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++) y[16 + 32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

void block_q5_k(const float* x, uint8_t* y) {
  uint8_t L[256];
  scales_mins_k(x, 31, -0.5f, 15, y, L);
  std::memset(y + 16, 0, 32);
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      y[48 + 32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      y[16 + l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
}

// make_qx_quants, rmse_type 1, no importance weights (makeQxQuants): levels + nmax into L.
float make_qx_quants(int n, int nmax, const float* x, uint8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    std::memset(L, 0, n);
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<uint8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx = sumlx + w * x[i] * l;
    suml2 = suml2 + w * l * l;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(nmax + TENTH * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx = sumlx + w * x[i] * l;
      suml2 = suml2 + w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; i++)
        L[i] = static_cast<uint8_t>(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void block_q6_k(const float* x, uint8_t* y) {
  uint8_t L[256];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; j++) {
    scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(y, 0, 210);
  if (max_abs_scale < GROUP_MAX_EPS) return;  // all zero, d = 0
  const float iscale = -128.f / max_scale;
  const float d = put_f16(y + 208, 1.f / iscale);
  for (int j = 0; j < 16; j++) y[192 + j] = static_cast<uint8_t>(std::min(127, nearest_int(iscale * scales[j])) & 0xff);
  for (int j = 0; j < 16; j++) {
    const float dj = d * static_cast<float>(static_cast<int8_t>(y[192 + j]));
    if (dj == 0) continue;  // keeps the levels of the search
    for (int i = 16 * j; i < 16 * j + 16; i++) L[i] = static_cast<uint8_t>(clampi(nearest_int(x[i] / dj), -32, 31) + 32);
  }
  for (int h = 0; h < 2; h++) {
    uint8_t* ql = y + 64 * h;
    uint8_t* qh = y + 128 + 32 * h;
    for (int l = 0; l < 32; l++) {
      const int p = 128 * h + l;
      const int q1 = L[p], q2 = L[p + 32], q3 = L[p + 64], q4 = L[p + 96];
      ql[l] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
      ql[32 + l] = static_cast<uint8_t>((q2 & 0x0f) | ((q4 & 0x0f) << 4));
      qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

struct QuantKind {
  const char* name;
  int block, bytes;
  void (*fn)(const float*, uint8_t*);
};

const QuantKind KINDS[] = {
    {"Q8_0", 32, 34, block_q8_0},   {"Q4_0", 32, 18, block_q4_0},    {"Q4_1", 32, 20, block_q4_1},
    {"Q5_0", 32, 22, block_q5_0},   {"Q5_1", 32, 24, block_q5_1},    {"Q4_K", 256, 144, block_q4_k},
    {"Q5_K", 256, 176, block_q5_k}, {"Q6_K", 256, 210, block_q6_k},
};

// quantizeBlocks(x, type, out, n)
napi_value js_quantize_blocks(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t lx = 0;
  const float* x = a.f32(0, &lx);
  const int64_t n = a.int64(3);
  XFMR_CHECK_ARGS(a);
  char s[8] = {};
  size_t sl = 0;
  const QuantKind* kind = nullptr;
  if (napi_get_value_string_utf8(env, a.argv[1], s, sizeof s, &sl) == napi_ok)
    for (const QuantKind& k : KINDS)
      if (std::string(s, sl) == k.name) kind = &k;
  if (!kind) {
    napi_throw_type_error(env, nullptr,
                          "quantizeBlocks: type must be one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K");
    return nullptr;
  }
  bool is_ta = false;
  napi_is_typedarray(env, a.argv[2], &is_ta);
  napi_typedarray_type tt = napi_int8_array;
  size_t lo = 0;
  void* data = nullptr;
  if (is_ta) napi_get_typedarray_info(env, a.argv[2], &tt, &lo, &data, nullptr, nullptr);
  if (!is_ta || tt != napi_uint8_array) {
    napi_throw_type_error(env, nullptr, "quantizeBlocks: argument 2 (out) must be a Uint8Array");
    return nullptr;
  }
  uint8_t* y = static_cast<uint8_t*>(data);
  char msg[200];
  if (n < 0 || n % kind->block != 0) {
    snprintf(msg, sizeof msg, "quantizeBlocks: n=%lld is not a whole number of %s blocks of %d", (long long)n,
             kind->name, kind->block);
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  const int64_t nb = n / kind->block;
  if (static_cast<int64_t>(lx) < n || static_cast<int64_t>(lo) < smul(nb, kind->bytes)) {
    snprintf(msg, sizeof msg, "quantizeBlocks: arrays too short for %s n=%lld: x has %zu (needs %lld), out %zu (%lld)",
             kind->name, (long long)n, lx, (long long)n, lo, (long long)(nb * kind->bytes));
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  // ~10 us per K-quant block: 64 blocks a task keeps the pool's overhead negligible
  const QuantKind k = *kind;
  parallel_for(nb, 64, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) k.fn(x + b * k.block, y + b * k.bytes);
  });
  return make_undefined(env);
}

}  // namespace

void register_quantize(napi_env env, napi_value exports) { export_fn(env, exports, "quantizeBlocks", js_quantize_blocks); }

}  // namespace xfmr
