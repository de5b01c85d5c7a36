// Kernel family: linearQuant, a Linear layer on ggml-quantized weights kept in memory as their
// blocks (inference): y[N, Out] = x[N, In] @ W^T, W [Out, In] as Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K or Q6_K blocks, computed as llama.cpp's CPU backend computes it (contract: Kernels.linearQuant in
// src/kernels/kernels.ts; oracle: src/kernels/js/linear_quant.ts over the codecs of
// src/kernels/js/quant/, byte-exact with ggml).
//
// 1. Each row of x is quantized once to 8 bits per block, exactly as `quantizeActivations` does
//    (Q8_0 for Q8_0/Q4_0/Q5_0: d = f16(amax / 127), q = round-half-even(x * 127 / amax); Q8_1 for
//    Q4_1/Q5_1: the same plus s = f16(d * sum q); Q8_K: d = 1 / (-127 / max), plus the sums of q
//    over each 16): the same bytes as the twin, so integer sums agree exactly.
// 2. Threads split Out in chunks. Within a chunk, weight rows go in groups of 16 and each group
//    meets the rows of x four at a time (a tile): each weight block is loaded and unpacked once
//    per tile and dotted with the 4 activation rows, so prefill unpacks W N / 4 times instead of
//    N times, and both the 16 weight rows and the 4 activation rows stay in L1. Decode (N = 1)
//    streams W once at memory speed, asking for the bytes 4 KB ahead (linear_quant_body.h).
// 3. A dot is, per block, exact integer products of weight levels (unpacked nibbles, 5th/6th bits
//    OR-ed in) with the activation quants, scaled by d_w * d_a in f32 lanes and summed in f32.
//    Integer products: Q8_0 / Q4_0 / Q5_0 (signed weights, through the sign trick) and Q4_1 / Q5_1
//    (unsigned levels; their minimum m adds m * s per block) with AVX-512 VNNI's vpdpbusd (256-bit,
//    u8 x s8 -> s32) where the CPU has it, AVX2's vpmaddubsw + vpmaddwd otherwise; the K-quants with vpmaddubsw to int16 pairs, then vpmaddwd by the sub-block scale
//    (cheaper than a 32-bit multiply of the sums); portable: scalar integer loops.
//
// Paths: XFMR_ISA=avx512 (the default on this CPU) takes VNNI when the CPU has AVX512-VNNI (else
// AVX2), avx2 takes the AVX2 body, portable the scalar one.
// Not handled: the portable path is not tiled (it is the fallback, not a fast path); tiles do not
// reuse activation loads across weight rows (a 2 x 4 tile would, at the cost of registers).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <cstring>
#include <vector>

#include "common.h"
#include "dispatch.h"
#include "half.h"

#ifdef XFMR_X86
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace xfmr {
namespace {

enum class QType { Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K };

// The activation type each weight type dots with (ggml's vec_dot_type).
enum class ActType { Q8_0, Q8_1, Q8_K };
inline ActType act_type(QType t) {
  if (t == QType::Q4_1 || t == QType::Q5_1) return ActType::Q8_1;
  return (t == QType::Q8_0 || t == QType::Q4_0 || t == QType::Q5_0) ? ActType::Q8_0 : ActType::Q8_K;
}

// A Q8_0 activation block (d already rounded through f16), a Q8_1 one (d and s = d * sum q, both
// rounded through f16) and a Q8_K one.
struct Act0 {
  float d;
  int8_t q[32];
};
struct Act1 {
  float d, s;
  int8_t q[32];
};
struct ActK {
  float d;
  int8_t q[256];
  int16_t bsums[16];
};

// ---- activation quantizers (quantizeQ8_0Activations, quantizeQ8_K) ----
void quantize_q8_0(const float* x, int64_t nb, Act0* out) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
    out[i].d = f16_to_f32(f32_to_f16(amax / 127.f));
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int j = 0; j < 32; j++) out[i].q[j] = static_cast<int8_t>(std::clamp(nearest_int(x[j] * id), -128, 127));
  }
}

void quantize_q8_1(const float* x, int64_t nb, Act1* out) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
      out[i].q[j] = static_cast<int8_t>(std::clamp(nearest_int(x[j] * id), -128, 127));
      sum += out[i].q[j];
    }
    out[i].d = f16_to_f32(f32_to_f16(d));
    out[i].s = f16_to_f32(f32_to_f16(d * static_cast<float>(sum)));
  }
}

void quantize_q8_k(const float* x, int64_t nb, ActK* out) {
  for (int64_t i = 0; i < nb; i++, x += 256) {
    float max = 0.f, amax = 0.f;
    for (int j = 0; j < 256; j++) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    ActK& a = out[i];
    if (amax == 0.f) {
      std::memset(&a, 0, sizeof a);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; j++) a.q[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < 16; g++) {
      int s = 0;
      for (int j = 0; j < 16; j++) s += a.q[16 * g + j];
      a.bsums[g] = static_cast<int16_t>(s);
    }
    a.d = 1.f / iscale;
  }
}

// ---- portable: scalar unpacking into levels, integer dots ----
inline float f16p(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void scales_mins(const uint8_t* q, int32_t* sc, int32_t* m) {
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

size_t act_bytes(QType t) {
  const ActType a = act_type(t);
  return a == ActType::Q8_0 ? sizeof(Act0) : a == ActType::Q8_1 ? sizeof(Act1) : sizeof(ActK);
}

// The 32 levels of a Q4_0/Q4_1 (no qh) or Q5_0/Q5_1 block: low nibbles at ql, fifth bits in the
// little-endian u32 at qh.
void levels32(const uint8_t* ql, const uint8_t* qh, int* L) {
  uint32_t h = 0;
  if (qh) std::memcpy(&h, qh, 4);
  for (int j = 0; j < 16; j++) {
    L[j] = (ql[j] & 0x0f) | (((h >> j) & 1) << 4);
    L[16 + j] = (ql[j] >> 4) | (((h >> (16 + j)) & 1) << 4);
  }
}

float dot_portable(QType t, const uint8_t* w, const void* acts, int64_t nb) {
  float sum = 0.f;
  const ActType at = act_type(t);
  if (at == ActType::Q8_0) {
    const Act0* a = static_cast<const Act0*>(acts);
    int L[32];
    for (int64_t i = 0; i < nb; i++) {
      int32_t s = 0;
      const uint8_t* b;
      if (t == QType::Q8_0) {
        b = w + 34 * i;
        for (int j = 0; j < 32; j++) s += static_cast<int8_t>(b[2 + j]) * a[i].q[j];
      } else {
        const bool five = t == QType::Q5_0;
        b = w + (five ? 22 : 18) * i;
        levels32(b + (five ? 6 : 2), five ? b + 2 : nullptr, L);
        const int off = five ? 16 : 8;
        for (int j = 0; j < 32; j++) s += (L[j] - off) * a[i].q[j];
      }
      sum += f16p(b) * a[i].d * static_cast<float>(s);
    }
    return sum;
  }
  if (at == ActType::Q8_1) {
    const Act1* a = static_cast<const Act1*>(acts);
    const bool five = t == QType::Q5_1;
    int L[32];
    for (int64_t i = 0; i < nb; i++) {
      const uint8_t* b = w + (five ? 24 : 20) * i;
      levels32(b + (five ? 8 : 4), five ? b + 4 : nullptr, L);
      int32_t s = 0;
      for (int j = 0; j < 32; j++) s += L[j] * a[i].q[j];
      sum += f16p(b) * a[i].d * static_cast<float>(s) + f16p(b + 2) * a[i].s;
    }
    return sum;
  }
  const ActK* a = static_cast<const ActK*>(acts);
  uint8_t L[256];
  for (int64_t i = 0; i < nb; i++) {
    const ActK& x = a[i];
    if (t == QType::Q6_K) {
      const uint8_t* b = w + 210 * i;
      for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
          const uint8_t* ql = b + 64 * h;
          const int hb = b[128 + 32 * h + l], p = 128 * h + l;
          L[p] = (ql[l] & 0x0f) | ((hb & 3) << 4);
          L[p + 32] = (ql[32 + l] & 0x0f) | (((hb >> 2) & 3) << 4);
          L[p + 64] = (ql[l] >> 4) | (((hb >> 4) & 3) << 4);
          L[p + 96] = (ql[32 + l] >> 4) | (((hb >> 6) & 3) << 4);
        }
      int32_t s = 0;
      for (int j = 0; j < 16; j++) {
        int32_t sj = 0;
        for (int l = 16 * j; l < 16 * j + 16; l++) sj += (L[l] - 32) * x.q[l];
        s += static_cast<int8_t>(b[192 + j]) * sj;
      }
      sum += f16p(b + 208) * x.d * static_cast<float>(s);
      continue;
    }
    const bool five = t == QType::Q5_K;
    const uint8_t* b = w + (five ? 176 : 144) * i;
    const uint8_t* ql = b + (five ? 48 : 16);
    for (int c = 0; c < 4; c++)
      for (int l = 0; l < 32; l++) {
        const int h = five ? b[16 + l] : 0;
        L[64 * c + l] = (ql[32 * c + l] & 0x0f) | (((h >> (2 * c)) & 1) << 4);
        L[64 * c + 32 + l] = (ql[32 * c + l] >> 4) | (((h >> (2 * c + 1)) & 1) << 4);
      }
    int32_t sc[8], m[8], s = 0, sm = 0;
    scales_mins(b + 4, sc, m);
    for (int j = 0; j < 8; j++) {
      int32_t sj = 0;
      for (int l = 32 * j; l < 32 * j + 32; l++) sj += L[l] * x.q[l];
      s += sc[j] * sj;
      sm += m[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
    }
    sum += f16p(b) * x.d * static_cast<float>(s) - f16p(b + 2) * x.d * static_cast<float>(sm);
  }
  return sum;
}

void rows_portable(QType t, const uint8_t* w, int64_t rb, const void* acts, int64_t nb, float* y, int64_t N,
                   int64_t Out, int64_t o0, int64_t o1) {
  const size_t ab = act_bytes(t);
  for (int64_t o = o0; o < o1; o++)
    for (int64_t n = 0; n < N; n++)
      y[n * Out + o] = dot_portable(t, w + o * rb, static_cast<const char*>(acts) + n * nb * ab, nb);
}

}  // namespace

#ifdef XFMR_X86
// ---- AVX2 (vpmaddubsw + vpmaddwd) ----
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace qavx2 {
#define XFMR_QI __attribute__((always_inline))
XFMR_QI inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
#include "linear_quant_body.h"
#undef XFMR_QI
}  // namespace qavx2
#pragma GCC pop_options

// ---- AVX-512 VNNI (vpdpbusd on ymm registers) ----
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
namespace qvnni {
#define XFMR_QI __attribute__((always_inline))
XFMR_QI inline __m256i dot_u8s8(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
#include "linear_quant_body.h"
#undef XFMR_QI
}  // namespace qvnni
#pragma GCC pop_options
#endif

namespace {

using RowsFn = void (*)(QType, const uint8_t*, int64_t, const void*, int64_t, float*, int64_t, int64_t, int64_t,
                        int64_t);

// The rows function of the ISA in use (see the file comment).
RowsFn rows_fn() {
#ifdef XFMR_X86
  static const RowsFn fn = [] {
    __builtin_cpu_init();
    const bool f16c = __builtin_cpu_supports("f16c");
    const Isa i = isa();
    if (i == Isa::Avx512 && f16c && __builtin_cpu_supports("avx512vnni")) return RowsFn(qvnni::rows);
    if (i != Isa::Portable && f16c) return RowsFn(qavx2::rows);
    return RowsFn(rows_portable);
  }();
  return fn;
#else
  return rows_portable;
#endif
}

}  // namespace

const char* quant_path_name() {
  const RowsFn fn = rows_fn();
#ifdef XFMR_X86
  if (fn == RowsFn(qvnni::rows)) return "avx512vnni";
  if (fn == RowsFn(qavx2::rows)) return "avx2";
#endif
  return fn == RowsFn(rows_portable) ? "portable" : "unknown";
}

namespace {

bool parse_type(napi_env env, napi_value v, QType& t, int& block, int& bytes) {
  char s[8] = {};
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) == napi_ok) {
    const std::string name(s, n);
    if (name == "Q8_0") { t = QType::Q8_0; block = 32; bytes = 34; return true; }
    if (name == "Q4_0") { t = QType::Q4_0; block = 32; bytes = 18; return true; }
    if (name == "Q4_1") { t = QType::Q4_1; block = 32; bytes = 20; return true; }
    if (name == "Q5_0") { t = QType::Q5_0; block = 32; bytes = 22; return true; }
    if (name == "Q5_1") { t = QType::Q5_1; block = 32; bytes = 24; return true; }
    if (name == "Q4_K") { t = QType::Q4_K; block = 256; bytes = 144; return true; }
    if (name == "Q5_K") { t = QType::Q5_K; block = 256; bytes = 176; return true; }
    if (name == "Q6_K") { t = QType::Q6_K; block = 256; bytes = 210; return true; }
  }
  napi_throw_type_error(env, nullptr,
                        "linearQuant: type must be one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K");
  return false;
}

uint8_t* u8(Args& a, size_t i, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(a.env, a.argv[i], &is_ta);
  napi_typedarray_type type = napi_int8_array;
  void* data = nullptr;
  if (is_ta) napi_get_typedarray_info(a.env, a.argv[i], &type, len, &data, nullptr, nullptr);
  if (!is_ta || type != napi_uint8_array) {
    a.fail(i, "a Uint8Array");
    return nullptr;
  }
  return static_cast<uint8_t*>(data);
}

// linearQuant(x, w, type, y, N, In, Out)
napi_value js_linear_quant(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t lx = 0, lw = 0, ly = 0;
  const float* x = a.f32(0, &lx);
  const uint8_t* w = u8(a, 1, &lw);
  float* y = a.f32(3, &ly);
  const int64_t N = a.int64(4), In = a.int64(5), Out = a.int64(6);
  XFMR_CHECK_ARGS(a);
  QType t;
  int block = 0, tbytes = 0;
  if (!parse_type(env, a.argv[2], t, block, tbytes)) return nullptr;
  if (N < 0 || In < 0 || Out < 0) {
    napi_throw_range_error(env, nullptr, "linearQuant: N, In and Out must be >= 0");
    return nullptr;
  }
  if (In % block != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "linearQuant: In=%lld is not a multiple of the block size %d", (long long)In, block);
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  const int64_t nb = In / block, rb = nb * tbytes;
  if (static_cast<int64_t>(lx) < smul(N, In) || static_cast<int64_t>(lw) < smul(Out, rb) ||
      static_cast<int64_t>(ly) < smul(N, Out)) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "linearQuant: arrays too short for N=%lld In=%lld Out=%lld: x has %zu (needs %lld), w %zu (%lld), "
             "y %zu (%lld)",
             (long long)N, (long long)In, (long long)Out, lx, (long long)smul(N, In), lw, (long long)smul(Out, rb), ly,
             (long long)smul(N, Out));
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  if (N == 0 || Out == 0) return make_undefined(env);
  if (In == 0) {
    std::fill(y, y + N * Out, 0.f);
    return make_undefined(env);
  }
  // The activations, quantized once per call (kept between calls, like the GEMM's buffers).
  static std::vector<Act0> a0;
  static std::vector<Act1> a1;
  static std::vector<ActK> ak;
  const void* acts;
  const ActType at = act_type(t);
  if (at == ActType::Q8_K) {
    if (ak.size() < static_cast<size_t>(N * nb)) ak.resize(static_cast<size_t>(N * nb));
    parallel_for(N, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) quantize_q8_k(x + i * In, nb, ak.data() + i * nb);
    });
    acts = ak.data();
  } else if (at == ActType::Q8_1) {
    if (a1.size() < static_cast<size_t>(N * nb)) a1.resize(static_cast<size_t>(N * nb));
    parallel_for(N, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) quantize_q8_1(x + i * In, nb, a1.data() + i * nb);
    });
    acts = a1.data();
  } else {
    if (a0.size() < static_cast<size_t>(N * nb)) a0.resize(static_cast<size_t>(N * nb));
    parallel_for(N, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) quantize_q8_0(x + i * In, nb, a0.data() + i * nb);
    });
    acts = a0.data();
  }
  const RowsFn fn = rows_fn();
  // Chunks of 16 outputs, a few per thread (a busy core then holds up a small share), serial when
  // the whole product is a few microseconds.
  const int64_t units = (Out + 15) / 16;
  const int64_t chunks = Out * rb * N < (1 << 16) ? 1 : std::min<int64_t>(units, 4 * num_threads());
  parallel_tasks(chunks, [&](int64_t c, int) {
    const int64_t o0 = units * c / chunks * 16, o1 = std::min(Out, units * (c + 1) / chunks * 16);
    fn(t, w, rb, acts, nb, y, N, Out, o0, o1);
  });
  return make_undefined(env);
}

}  // namespace

void register_linear_quant(napi_env env, napi_value exports) { export_fn(env, exports, "linearQuant", js_linear_quant); }

}  // namespace xfmr
