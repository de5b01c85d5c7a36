// Kernel family: rotary position embedding and the token-embedding lookup / scatter-add.
// Semantics: src/kernels/js/rope_embedding.ts and Kernels.rope / embeddingForward/Backward.
#include <algorithm>

#include "simd_kernel.h"

namespace xfmr {
namespace {

using namespace simd;

struct RopeShape {
  int64_t T, H, D, rot_dim, pos_offset;
  bool interleaved, inverse;
};

// [v0 v0 v1 v1 ...] (lanes / 2 values, each twice) and [v1 v0 v3 v2 ...] (pairs swapped).
template <class V>
XFMR_INLINE V dup_pairs(const V& v) {
  if constexpr (lanes<V> == 16)
    return __builtin_shufflevector(v, v, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  else if constexpr (lanes<V> == 8) return __builtin_shufflevector(v, v, 0, 0, 1, 1, 2, 2, 3, 3);
  else return __builtin_shufflevector(v, v, 0, 0, 1, 1);
}
template <class V>
XFMR_INLINE V swap_pairs(const V& v) {
  if constexpr (lanes<V> == 16)
    return __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  else if constexpr (lanes<V> == 8) return __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
  else return __builtin_shufflevector(v, v, 1, 0, 3, 2);
}

// Rows [r0, r1) of the B*T*H head vectors. Every vector is loaded before anything is stored, so
// y may be x (in place).
template <class V>
XFMR_INLINE void rope_body(const float* x, float* y, const float* cos, const float* sin, const RopeShape* shape,
                           int64_t r0, int64_t r1) {
  constexpr int W = lanes<V>;
  const RopeShape s = *shape;
  const int64_t half = s.rot_dim / 2;
  const V sign = splat<V>(s.inverse ? -1.f : 1.f);
  // Interleaved pairs (2i, 2i+1): y = x * [c0 c0 c1 c1 ..] + swap(x) * [-s0 s0 -s1 s1 ..].
  V alternate;
  for (int k = 0; k < W; k++) alternate[k] = k % 2 ? 1.f : -1.f;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t t = (r / s.H) % s.T;
    const float* c = cos + (s.pos_offset + t) * half;
    const float* sn = sin + (s.pos_offset + t) * half;
    const float* xr = x + r * s.D;
    float* yr = y + r * s.D;
    if (s.interleaved) {
      for (int64_t i = 0; i < half; i += W / 2) {
        const int64_t m = std::min<int64_t>(W / 2, half - i);  // pairs in this chunk
        V v = ld<V>(xr + 2 * i, 2 * m);
        V cd = dup_pairs(load_part<V>(c + i, m, 0.f));
        V sd = dup_pairs(load_part<V>(sn + i, m, 0.f)) * sign * alternate;
        st<V>(yr + 2 * i, v * cd + swap_pairs(v) * sd, 2 * m);
      }
    } else {
      each_chunk<V>(half, [&](int64_t i, int64_t m) XFMR_INLINE_LAMBDA {
        V a = ld<V>(xr + i, m), b = ld<V>(xr + half + i, m);
        V cv = ld<V>(c + i, m), sv = ld<V>(sn + i, m) * sign;
        V ya = a * cv - b * sv, yb = a * sv + b * cv;
        st<V>(yr + i, ya, m);
        st<V>(yr + half + i, yb, m);
      });
    }
    if (y != x) std::copy(xr + s.rot_dim, xr + s.D, yr + s.rot_dim);
  }
}
XFMR_DISPATCH(rope_rows, rope_body,
              (const float* x, float* y, const float* cos, const float* sin, const RopeShape* s, int64_t r0,
               int64_t r1),
              (x, y, cos, sin, s, r0, r1))

// dweight[ids[i], c0:c1] += dout[i, c0:c1] for every row i, rows in order (ids may repeat).
template <class V>
XFMR_INLINE void embedding_bwd_body(const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C,
                                    int64_t c0, int64_t c1) {
  for (int64_t i = 0; i < N; i++) {
    const float* src = dout + i * C + c0;
    float* dst = dweight + static_cast<int64_t>(ids[i]) * C + c0;
    each_chunk<V>(c1 - c0, [&](int64_t c, int64_t m) XFMR_INLINE_LAMBDA {
      st<V>(dst + c, ld<V>(dst + c, m) + ld<V>(src + c, m), m);
    });
  }
}
XFMR_DISPATCH(embedding_bwd_cols, embedding_bwd_body,
              (const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C, int64_t c0,
               int64_t c1),
              (dout, ids, dweight, N, C, c0, c1))

// ---- N-API entry points: argument order as in src/kernels/kernels.ts ----

// rope(x, y, cos, sin, B, T, H, D, rotDim, posOffset, interleaved, inverse)
napi_value rope_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "rope");
  int64_t B = a.dim(4, "B"), T = a.dim(5, "T"), H = a.dim(6, "H"), D = a.dim(7, "D");
  int64_t rot = a.dim(8, "rotDim"), pos = a.dim(9, "posOffset");
  bool interleaved = a.flag(10), inverse = a.flag(11);
  if (!a.bad() && (rot % 2 != 0 || rot > D))
    a.range_error("rotDim must be even and <= D, got rotDim %lld, D %lld", static_cast<long long>(rot),
                  static_cast<long long>(D));
  int64_t n = smul(B, T, H, D), table = smul(sadd(pos, T), rot / 2);
  const float* x = a.f32(0, "x", n);
  float* y = a.f32(1, "y", n);
  const float* cos = a.f32(2, "cos", T > 0 ? table : 0);
  const float* sin = a.f32(3, "sin", T > 0 ? table : 0);
  if (a.bad() || n == 0) return nullptr;  // nothing to write; B * T * H alone may be huge when D = 0
  RopeShape s{T, H, D, rot, pos, interleaved, inverse};
  int64_t rows = B * T * H;
  if (n < 32768) rope_rows(x, y, cos, sin, &s, 0, rows);
  else parallel_for(rows, row_grain(D), [&](int64_t b, int64_t e) { rope_rows(x, y, cos, sin, &s, b, e); });
  return nullptr;
}

// Ids must index a row of the table: V = weight.length / C.
bool check_ids(KernelArgs& a, const int32_t* ids, int64_t N, int64_t V) {
  for (int64_t i = 0; i < N; i++)
    if (ids[i] < 0 || ids[i] >= V) {
      a.range_error("ids[%lld] = %d is outside the table [0, %lld)", static_cast<long long>(i), ids[i],
                    static_cast<long long>(V));
      return false;
    }
  return true;
}

// embeddingForward(weight, ids, out, N, C)
napi_value embedding_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "embeddingForward");
  int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  size_t wlen = 0;
  const float* weight = a.f32(0, "weight", 0, false, &wlen);
  const int32_t* ids = a.i32(1, "ids", N);
  float* out = a.f32(2, "out", smul(N, C));
  if (a.bad() || (C > 0 && !check_ids(a, ids, N, static_cast<int64_t>(wlen) / C))) return nullptr;
  auto rows = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) std::copy_n(weight + static_cast<int64_t>(ids[i]) * C, C, out + i * C);
  };
  if (N * C < (1 << 16)) rows(0, N);
  else parallel_for(N, row_grain(C), rows);
  return nullptr;
}

// embeddingBackward(dout, ids, dweight, N, C): threads split the columns, so two rows with the
// same id never race and the sum order (rows in order) does not depend on the thread count.
napi_value embedding_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "embeddingBackward");
  int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  size_t wlen = 0;
  const float* dout = a.f32(0, "dout", smul(N, C));
  const int32_t* ids = a.i32(1, "ids", N);
  float* dweight = a.f32(2, "dweight", 0, false, &wlen);
  if (a.bad() || (C > 0 && !check_ids(a, ids, N, static_cast<int64_t>(wlen) / C))) return nullptr;
  int64_t blocks = N * C < (1 << 16) ? 1 : std::min<int64_t>((C + 63) / 64, 4 * num_threads());
  if (blocks <= 1) {
    embedding_bwd_cols(dout, ids, dweight, N, C, 0, C);
    return nullptr;
  }
  int64_t width = ((C + blocks - 1) / blocks + 15) / 16 * 16;
  parallel_tasks(blocks, [&](int64_t t, int) {
    int64_t c0 = t * width, c1 = std::min(C, c0 + width);
    if (c0 < c1) embedding_bwd_cols(dout, ids, dweight, N, C, c0, c1);
  });
  return nullptr;
}

}  // namespace

void register_rope_embedding(napi_env env, napi_value exports) {
  export_fn(env, exports, "rope", rope_napi);
  export_fn(env, exports, "embeddingForward", embedding_forward_napi);
  export_fn(env, exports, "embeddingBackward", embedding_backward_napi);
}

}  // namespace xfmr
