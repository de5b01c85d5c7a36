// Kernel family: fused scaled-dot-product attention (FlashAttention-2 style), forward and
// backward, with GQA/MQA, causal masking relative to qOffset, sliding windows, score soft-capping,
// and K/V read in place from a KV cache (kvBatchStride). Contract:
// Kernels.attentionForward/Backward; oracle: src/kernels/js/attention.ts.
//
// Rows. For one (batch b, KV head hk) the `rows` = Tq * group query vectors that read this KV head
// are numbered r = i * group + g (query position i, head hk * group + g): one row tile then shares
// every K/V tile between the heads of a group, and a decode step (Tq = 1) still has `group` rows.
// Row r sits at absolute position qOffset + r / group.
//
// Forward, per (b, hk, row tile of up to kBq rows): for each key tile of kBk keys,
//   St = K (scale Q)^T                     [keys, rows]   register-blocked micro-kernel
//   online softmax down each column: m' = max(m, max_j St), P = exp(St - m'),
//                                    l = l e^(m - m') + sum_j P, O *= e^(m - m')
//   O += P V                               [rows, D]
// then out = O / l and lse = m + log l. Scores are kept transposed (keys x rows) so that K and V
// are read in place as matrix operands (no per-tile packing when D is a multiple of 16; only
// (scale Q)^T is packed, once per task) and the softmax is vertical: one query row per SIMD lane,
// no horizontal reductions. Only keys some row of the tile can see are visited: from the first
// row's window start to the last row's causal end, so a sliding window of w keys costs
// O(T (w + kBq / group)) instead of O(T^2); rows see different keys within that range, and the
// per-row bounds [first, visible) mask the rest inside the tile. The only [Tq, Tk]-shaped state is
// one tile.
//
// Soft-capping (softcap > 0): St = softcap tanh(St / softcap) right after the product, before the
// mask and the softmax; the backward recomputes t = tanh and multiplies dS by 1 - t^2.
//
// Backward, per (b, hk) (so dk/dv rows have a single writer), key tiles outer, row tiles inner,
// with the same transposed tiles:
//   P^T = exp(St - lse) (recomputed), dV += P^T dO, dP^T = V dO^T, dS^T = P^T (dP^T - delta),
//   dK += dS^T (scale Q), dQ += dS K, with delta = rowsum(dO * out).
// dQ is kept for all rows of the task and added to dq (times scale) at the end. A key tile visits
// only the row tiles that see some of its keys (from its causal start to its window end), and only
// the key tiles some row sees are tasks. When B * Hkv is
// too small to feed the threads, the key tiles of one (b, hk) are also split across tasks; each
// split then writes its dQ to a private buffer, summed afterwards (no atomics).
//
// SIMD: forward and backward are each one body over the ISA's vector type, compiled per ISA by
// XFMR_DISPATCH (dispatch.h); the matrix products go through the register-blocked micro-kernel of
// simd_mm.h, whose block fills each ISA's register file.
//
// bf16 (the trailing `bf16` argument; Kernels.attentionForward states the contract): the operands
// of every product are rounded to bf16 as they are packed (Q, dO) or copied tile by tile (K, V,
// which are otherwise read in place), and P and dS are rounded where they are stored into their
// tiles, after the f32 row sums and the f32 dS have used them. The products then run through the
// same f32 micro-kernel: a product of two bf16 values is exact in f32, so this computes what bf16
// dot-product units would, with f32 accumulation; the softmax statistics (max, sum, lse) and
// delta = rowsum(dO * out) stay f32, from the unrounded values. It is a numerics mode, not a
// speed-up: no bf16 instructions are used here.
//
// Low-precision KV caches (attentionForwardKV, inference): the forward reads K and V stored as f16
// or q8_0 (src/kernels/kv_types.ts) and widens each key tile to f32 as it goes, into the Kpad/Vpad
// tiles the bf16 mode already uses, so the products and the softmax are the f32 path's, and the
// cache itself is never copied. f16 widens with vcvtph2ps on AVX-512 (scalar elsewhere), q8_0 with
// vpmovsxbd + one multiply by the block's scale (exact: an int8 times an f16 fits in an f32).
// The f32 path is the same code with the widening compiled out (a template parameter). Not
// handled: the AVX2 and portable variants widen with scalar code (no F16C in their targets), and a
// widened tile is stored and read back rather than fed to the products straight from registers.
//
// Memory: the backward keeps Q, dO, their transposes and dQ for all rows of its (b, hk), so each
// thread holds about 5x the size of q / (B * Hkv) of scratch (plus one dQ per task when split).
//
// Not handled: a decode step with one (b, hk) pair and a long cache runs on one thread (no split
// of the keys in the forward, "flash-decoding"), and a row tile narrower than 16 rows (MHA decode)
// wastes SIMD lanes in St; K/V that overlap between batches (kvBatchStride < Tk * Hkv * D) make
// the backward run serially, since their gradients would race.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "math_vec.h"
#include "simd_mm.h"

namespace xfmr {
namespace {

using namespace simd;

// Tile sizes. The tile along the causal axis (forward: query rows, backward: keys) is the smaller
// one: a diagonal tile computes its masked half too, about kTile / (2 T) of all the work.
constexpr int64_t kBq = 32;   // forward: query rows per tile
constexpr int64_t kBk = 64;   // forward: keys per tile
constexpr int64_t kBqB = 64;  // backward: query rows per tile
constexpr int64_t kBkB = 32;  // backward: keys per tile
constexpr int64_t kPad = 16;  // D and key counts are padded to this (a multiple of every lane count)

XFMR_INLINE int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

struct AttnShape {
  int64_t B, Tq, Tk, Hq, Hkv, D, Dp, kv_stride, q_offset, group, rows;
  int64_t window;  // 0: no sliding window
  float scale;
  float softcap;  // 0: scores not capped
  bool causal;
  bool bf16;  // round the operands of the products to bf16 (see the opening note)

  // Keys [first(r), visible(r)) are seen by row r (none when first >= visible). Both are
  // non-decreasing in r, which the tile ranges below rely on.
  int64_t visible(int64_t r) const {
    if (!causal) return Tk;
    return std::min(Tk, std::max<int64_t>(0, q_offset + r / group + 1));
  }
  int64_t first(int64_t r) const {
    if (window <= 0) return 0;
    return std::min(Tk, std::max<int64_t>(0, q_offset + r / group - window + 1));
  }
  // Offset of row r of (b, hk) in q / out / dq / dout ([B, Tq, Hq, D]).
  int64_t q_index(int64_t b, int64_t hk, int64_t r) const {
    return ((b * Tq + r / group) * Hq + hk * group + r % group) * D;
  }
  int64_t lse_index(int64_t b, int64_t hk, int64_t r) const {
    return (b * Hq + hk * group + r % group) * Tq + r / group;
  }
  // Offset of key j of (b, hk) in k / v / dk / dv.
  int64_t k_index(int64_t b, int64_t hk, int64_t j) const { return b * kv_stride + (j * Hkv + hk) * D; }
};

// ---- 16 x 16 transposes ----

// dst[d * ldd + r] = src[r * lds + d] for a 16 x 16 block.
template <class V>
XFMR_INLINE void transpose16(With<V>, const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int d = 0; d < 16; d++)
    for (int r = 0; r < 16; r++) dst[d * ldd + r] = src[r * lds + d];
}
#ifdef XFMR_X86
// GCC 12's avx512fintrin.h builds "undefined" vectors as `__m512 __Y = __Y;`, which -Wall reports.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// In registers: unpack, shuffle, then two 128-bit lane shuffles (64 shuffles for 256 floats,
// against a load and a store per float done one by one).
XFMR_TARGET_AVX512 inline void transpose16(With<vf16>, const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; j++) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
  for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#pragma GCC diagnostic pop
#endif

// ---- packing and tile helpers ----

// Rows of [B, T, H, D] tensors sit H * D floats apart: strided enough that the hardware
// prefetcher lags; asking for the row kAhead rows ahead hides most of the latency (the row loops
// below were a quarter of the backward's time without it).
constexpr int64_t kAhead = 6;
XFMR_INLINE void prefetch_row(const float* p, int64_t n, bool write) {
  for (int64_t c = 0; c < n; c += 16) {
    if (write) __builtin_prefetch(p + c, 1, 3);
    else __builtin_prefetch(p + c, 0, 3);
  }
}

// Query rows [r0, r0 + n) of (b, hk) times `mul`, as rows [n, Dp] (zero-padded past D); in bf16
// mode each value is rounded to bf16 before the multiply.
XFMR_INLINE void pack_q(const float* base, const AttnShape& s, int64_t b, int64_t hk, int64_t r0, int64_t n,
                        float mul, float* rows) {
  for (int64_t rr = 0; rr < n; rr++) {
    if (rr + kAhead < n) prefetch_row(base + s.q_index(b, hk, r0 + rr + kAhead), s.D, false);
    const float* src = base + s.q_index(b, hk, r0 + rr);
    float* d = rows + rr * s.Dp;
    if (s.bf16)
      for (int64_t c = 0; c < s.D; c++) d[c] = round_bf16(src[c]) * mul;
    else
      for (int64_t c = 0; c < s.D; c++) d[c] = src[c] * mul;
    std::fill(d + s.D, d + s.Dp, 0.f);
  }
}
// cols[d, r] = rows[r, d] for d < D, r < round_up(n, kPad) (rows past n read as 0): [D, ldt].
// By 16 x 16 blocks, so each store fills a whole cache line (a scattered transpose cost ~20% of
// the backward); full blocks go through the ISA's transpose16.
template <class V>
XFMR_INLINE void transpose_rows(const float* rows, int64_t n, int64_t D, int64_t Dp, float* cols, int64_t ldt) {
  const int64_t np = round_up(n, kPad);
  for (int64_t r0 = 0; r0 < np; r0 += kPad)
    for (int64_t d0 = 0; d0 < D; d0 += kPad) {
      if (r0 + kPad <= n && d0 + kPad <= D) {
        transpose16(With<V>{}, rows + r0 * Dp + d0, Dp, cols + d0 * ldt + r0, ldt);
        continue;
      }
      const int64_t dn = std::min(kPad, D - d0);
      for (int64_t d = 0; d < dn; d++) {
        float line[kPad];
        for (int64_t r = 0; r < kPad; r++) line[r] = r0 + r < n ? rows[(r0 + r) * Dp + d0 + d] : 0.f;
        std::copy(line, line + kPad, cols + (d0 + d) * ldt + r0);
      }
    }
}

// K or V rows [j0, j0 + nk) of (b, hk) as a matrix operand: in place (row stride Hkv * D) when D is
// a multiple of kPad and values are not rounded, else copied into `pad` as [nk, Dp], zero-padded
// past D (and rounded to bf16 in bf16 mode).
XFMR_INLINE const float* kv_rows(const float* base, const AttnShape& s, int64_t b, int64_t hk, int64_t j0,
                                 int64_t nk, float* pad, int64_t* ld) {
  if (s.D == s.Dp && !s.bf16) {
    *ld = s.Hkv * s.D;
    return base + s.k_index(b, hk, j0);
  }
  for (int64_t jj = 0; jj < nk; jj++) {
    const float* src = base + s.k_index(b, hk, j0 + jj);
    float* d = pad + jj * s.Dp;
    if (s.bf16)
      for (int64_t c = 0; c < s.D; c++) d[c] = round_bf16(src[c]);
    else
      std::copy(src, src + s.D, d);
    std::fill(d + s.D, d + s.Dp, 0.f);
  }
  *ld = s.Dp;
  return pad;
}

// ---- widening a low-precision KV cache (attentionForwardKV) ----

enum class Kv { F32, F16, Q8_0 };
constexpr int64_t kQ8Block = 32, kQ8Bytes = 34;  // ggml's Q8_0: f16 d, then 32 int8

// IEEE binary16 bits -> float (exact; subnormals, inf and NaN included).
XFMR_INLINE float half_to_float(uint16_t h) {
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu, sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t u;
  if (e == 0) {
    const float f = static_cast<float>(m) * 0x1p-24f;  // subnormal (or zero): m 2^-24, exact
    std::memcpy(&u, &f, 4);
  } else {
    u = (e == 31 ? 0x7f800000u : (e + 112) << 23) | (m << 13);
  }
  u |= sign;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// dst[0, n) = the f16 values src[0, n).
template <class V>
XFMR_INLINE void widen_f16(With<V>, const uint16_t* src, int64_t n, float* dst) {
  for (int64_t c = 0; c < n; c++) dst[c] = half_to_float(src[c]);
}
// dst[0, n) = q * d for the n values of a q8_0 store from value e (run by run within blocks).
template <class V>
XFMR_INLINE void widen_q8(With<V>, const uint8_t* base, int64_t e, int64_t n, float* dst) {
  for (int64_t c = 0; c < n;) {
    const int64_t at = e + c, off = at % kQ8Block, run = std::min(kQ8Block - off, n - c);
    const uint8_t* blk = base + at / kQ8Block * kQ8Bytes;
    const float d = half_to_float(static_cast<uint16_t>(blk[0] | blk[1] << 8));
    const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2 + off);
    for (int64_t i = 0; i < run; i++) dst[c + i] = d * static_cast<float>(q[i]);
    c += run;
  }
}
#ifdef XFMR_X86
// GCC 12's intrinsics build "undefined" vectors that -Wall reports (as for transpose16 above).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
XFMR_TARGET_AVX512 inline void widen_f16(With<vf16>, const uint16_t* src, int64_t n, float* dst) {
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 m = n - c >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - c)) - 1);
    _mm512_mask_storeu_ps(dst + c, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + c)));
  }
}
XFMR_TARGET_AVX512 inline void widen_q8(With<vf16>, const uint8_t* base, int64_t e, int64_t n, float* dst) {
  for (int64_t c = 0; c < n;) {
    const int64_t at = e + c, off = at % kQ8Block, run = std::min(kQ8Block - off, n - c);
    const uint8_t* blk = base + at / kQ8Block * kQ8Bytes;
    const __m512 d = _mm512_set1_ps(half_to_float(static_cast<uint16_t>(blk[0] | blk[1] << 8)));
    for (int64_t i = 0; i < run; i += 16) {
      const __mmask16 m = run - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (run - i)) - 1);
      const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, blk + 2 + off + i)));
      _mm512_mask_storeu_ps(dst + c + i, m, _mm512_mul_ps(d, q));
    }
    c += run;
  }
}
#pragma GCC diagnostic pop
#endif

// K or V rows [j0, j0 + nk) of (b, hk) from an f16 or q8_0 store, widened into `pad` as [nk, Dp]
// (zero-padded past D; rounded to bf16 in bf16 mode, as kv_rows rounds f32 rows).
template <Kv T, class V>
XFMR_INLINE void widen_rows(const void* base, const AttnShape& s, int64_t b, int64_t hk, int64_t j0, int64_t nk,
                            float* pad) {
  // Bytes of a row and the start of row j (for prefetching kAhead rows ahead, as prefetch_row does).
  const int64_t row_bytes = T == Kv::F16 ? 2 * s.D : (s.D + kQ8Block - 1) / kQ8Block * kQ8Bytes + kQ8Bytes;
  const auto at = [&](int64_t j) XFMR_INLINE_LAMBDA {
    const int64_t e = s.k_index(b, hk, j);
    return static_cast<const char*>(base) + (T == Kv::F16 ? 2 * e : e / kQ8Block * kQ8Bytes);
  };
  for (int64_t jj = 0; jj < nk; jj++) {
    if (jj + kAhead < nk)
      for (int64_t c = 0; c < row_bytes; c += 64) __builtin_prefetch(at(j0 + jj + kAhead) + c, 0, 3);
    const int64_t e = s.k_index(b, hk, j0 + jj);
    float* d = pad + jj * s.Dp;
    if constexpr (T == Kv::F16) widen_f16(With<V>{}, static_cast<const uint16_t*>(base) + e, s.D, d);
    else widen_q8(With<V>{}, static_cast<const uint8_t*>(base), e, s.D, d);
    if (s.bf16)
      for (int64_t c = 0; c < s.D; c++) d[c] = round_bf16(d[c]);
    std::fill(d + s.D, d + s.Dp, 0.f);
  }
}

// Masks. Row r0 + rr sees keys [lo, hi) = [first, visible) of the row. Most key tiles need no
// mask at all (every row sees all their keys), those on the causal diagonal only the end, and only
// those where some row's window starts need both ends; each tile takes the cheapest that is exact
// (TileMask, a template parameter of the loops that apply it). Per row, for rr < n:
//   hi[rr]              = hi                 the end: j visible iff j < hi
//   mid[rr], span[rr]   = lo + hi - 1, hi - lo   both ends: lo <= j < hi iff |2j - mid| < span
// as floats (exact while 2j < 2^24; read_shape caps Tk). One comparison per lane in either case:
// GCC 12 turns a select on two lane comparisons into scalar code (the forward took 2.5x as long).
// The padding up to round_up(n, kPad) sees no key (hi = span = 0).
enum TileMask { kNoMask, kEndMask, kBothMask };
XFMR_INLINE void visible_rows(const AttnShape& s, int64_t r0, int64_t n, float* hi, float* mid, float* span) {
  for (int64_t rr = 0; rr < n; rr++) {
    const int64_t a = s.first(r0 + rr), e = s.visible(r0 + rr);
    hi[rr] = static_cast<float>(e);
    mid[rr] = static_cast<float>(a + e - 1);
    span[rr] = static_cast<float>(e - a);
  }
  for (float* p : {hi, mid, span}) std::fill(p + n, p + round_up(n, kPad), 0.f);
}
// The mask that rows [r0, r1) need on keys [j0, j1) (first and visible grow with the row).
XFMR_INLINE TileMask tile_mask(const AttnShape& s, int64_t r0, int64_t r1, int64_t j0, int64_t j1) {
  if (s.first(r1 - 1) > j0) return kBothMask;
  return s.visible(r0) < j1 ? kEndMask : kNoMask;
}
// The row-lane bounds of visible_rows at column c, walked key by key: seek(j0v) with j0v the
// first key in every lane, then for each key apply (x where the lane's row sees the key, else
// `hidden`) and next. The key's position is kept as a vector stepped by one add: GCC 12 builds a
// splat of a run-time float from sixteen masked broadcasts, too slow for every key or column.
template <TileMask kMask, class V>
struct LaneMask {
  V hi, mid, span, at;  // at: the key j (kEndMask) or 2j - mid (kBothMask)
  XFMR_INLINE LaneMask(const float* h, const float* m, const float* s, int64_t c)
      : hi(load<V>(h + c)), mid(load<V>(m + c)), span(load<V>(s + c)) {}
  XFMR_INLINE void seek(const V& j0v) {
    if constexpr (kMask == kEndMask) at = j0v;
    if constexpr (kMask == kBothMask) at = j0v + j0v - mid;
  }
  XFMR_INLINE void next() {
    if constexpr (kMask == kEndMask) at += splat<V>(1.f);
    if constexpr (kMask == kBothMask) at += splat<V>(2.f);
  }
  XFMR_INLINE V apply(const V& x, const V& hidden) const {
    if constexpr (kMask == kNoMask) return x;
    if constexpr (kMask == kEndMask) return at < hi ? x : hidden;
    return vmax(at, -at) < span ? x : hidden;
  }
};
// St = softcap tanh(St / softcap) on rows [0, nk) and columns [0, ncols) of a tile with row
// stride ld (ncols a multiple of the lane count).
template <class V>
XFMR_INLINE void cap_scores(float* St, int64_t ld, int64_t nk, int64_t ncols, float softcap) {
  const V cap = splat<V>(softcap), inv = splat<V>(1.f / softcap);
  for (int64_t j = 0; j < nk; j++)
    for (int64_t c = 0; c < ncols; c += lanes<V>) {
      float* p = St + j * ld + c;
      store<V>(p, cap * vtanh(load<V>(p) * inv));
    }
}

// ---- forward ----

// Floats of per-thread scratch for one forward task.
int64_t fwd_scratch(const AttnShape& s) {
  return s.D * kBq + 2 * kBq * s.Dp + kBk * kBq + 2 * kBk * s.Dp + 6 * kBq;
}

// The online-softmax step of key tile [j0, j0 + nk) for the rows of St's columns [0, nrp): St
// (scores, [nk, kBq]) becomes P = exp(St - m') in place, 0 where masked and rounded to bf16 in
// bf16 mode; m (running max), l (running sum of the unrounded P) and alpha (= e^(m - m'), the
// rescale of the rows' output) are updated. Masked scores take no part in the max.
template <TileMask kMask, class V>
XFMR_INLINE void fwd_softmax(float* St, int64_t nk, int64_t nrp, int64_t j0, const float* hi, const float* mid,
                             const float* span, float* m, float* l, float* alpha, bool bf16) {
  const V j0v = splat<V>(static_cast<float>(j0));
  for (int64_t c = 0; c < nrp; c += lanes<V>) {
    LaneMask<kMask, V> mask(hi, mid, span, c);
    V mx = splat<V>(-INFINITY);
    mask.seek(j0v);
    for (int64_t j = 0; j < nk; j++, mask.next())
      mx = vmax(mx, mask.apply(load<V>(St + j * kBq + c), splat<V>(-INFINITY)));
    const V mold = load<V>(m + c), mnew = vmax(mold, mx);
    // A row that has seen no key yet keeps m = -inf; exp against 0 then gives alpha = 0.
    const V msub = mnew == splat<V>(-INFINITY) ? V{} : mnew;
    const V a = vexp(mold - msub);
    V sum{};
    mask.seek(j0v);
    for (int64_t j = 0; j < nk; j++, mask.next()) {
      float* p = St + j * kBq + c;
      const V e = mask.apply(vexp_nonpos(load<V>(p) - msub), V{});
      store<V>(p, bf16 ? vround_bf16(e) : e);
      sum += e;
    }
    store<V>(l + c, load<V>(l + c) * a + sum);
    store<V>(m + c, mnew);
    store<V>(alpha + c, a);
  }
}

// Rows [r0, r1) of (b, hk): out and lse. Scores are kept transposed, St[key][row], so K and V are
// read in place and the online softmax runs down the columns, one query row per SIMD lane.
// V: the ISA's vector (dispatch.h).
// T: how K and V are stored (f32: read in place; f16, q8_0: widened tile by tile).
template <Kv T, class V>
XFMR_INLINE void attn_fwd_impl(const float* q, const void* k, const void* v, float* out, float* lse,
                               const AttnShape* sp, int64_t b, int64_t hk, int64_t r0, int64_t r1,
                               float* scratch) {
  constexpr int W = lanes<V>;
  const AttnShape& s = *sp;
  const int64_t nr = r1 - r0, nrp = round_up(nr, kPad), D = s.D, Dp = s.Dp;
  float* Qt = scratch;        // [D, kBq]    scale * q, transposed
  float* Q = Qt + D * kBq;    // [kBq, Dp]   scale * q (staging for the transpose)
  float* O = Q + kBq * Dp;    // [kBq, Dp]   unnormalised output
  float* St = O + kBq * Dp;   // [kBk, kBq]  scores, then probabilities
  float* Vpad = St + kBk * kBq;  // [kBk, Dp] V rows when D is not a multiple of kPad, or bf16
  float* Kpad = Vpad + kBk * Dp;  // [kBk, Dp] K rows in bf16 mode
  float* m = Kpad + kBk * Dp;    // [kBq] running max
  float* l = m + kBq;            // [kBq] running sum
  float* alpha = l + kBq;        // [kBq] rescale of this key tile
  float* hi = alpha + kBq;       // [kBq] keys seen per row, as visible_rows encodes them
  float* mid = hi + kBq;         // [kBq]
  float* span = mid + kBq;       // [kBq]
  pack_q(q, s, b, hk, r0, nr, s.scale, Q);
  transpose_rows<V>(Q, nr, D, Dp, Qt, kBq);
  visible_rows(s, r0, nr, hi, mid, span);
  std::fill(O, O + nr * Dp, 0.f);
  std::fill(m, m + nrp, -INFINITY);
  std::fill(l, l + nrp, 0.f);
  // Keys some row sees: from the first row's window start to the last row's causal end.
  const int64_t kbegin = s.first(r0), kend = s.visible(r1 - 1);
  for (int64_t j0 = kbegin; j0 < kend; j0 += kBk) {
    const int64_t nk = std::min(kBk, kend - j0);
    // K in place (its first D columns are the operand), or rounded to bf16 / widened into Kpad.
    int64_t ldk = s.Hkv * D;
    const float* Kr = Kpad;
    if constexpr (T == Kv::F32) {
      const float* kf = static_cast<const float*>(k);
      Kr = s.bf16 ? kv_rows(kf, s, b, hk, j0, nk, Kpad, &ldk) : kf + s.k_index(b, hk, j0);
    } else {
      widen_rows<T, V>(k, s, b, hk, j0, nk, Kpad);
      ldk = Dp;
    }
    mm(With<V>{}, false, nk, nrp, D, Kr, ldk, Qt, kBq, St, kBq, false);  // St = K (scale Q)^T
    if (s.softcap > 0) cap_scores<V>(St, kBq, nk, nrp, s.softcap);
    switch (tile_mask(s, r0, r1, j0, j0 + nk)) {
      case kNoMask: fwd_softmax<kNoMask, V>(St, nk, nrp, j0, hi, mid, span, m, l, alpha, s.bf16); break;
      case kEndMask: fwd_softmax<kEndMask, V>(St, nk, nrp, j0, hi, mid, span, m, l, alpha, s.bf16); break;
      case kBothMask: fwd_softmax<kBothMask, V>(St, nk, nrp, j0, hi, mid, span, m, l, alpha, s.bf16); break;
    }
    for (int64_t rr = 0; rr < nr; rr++)
      if (alpha[rr] != 1.f) {
        float* o = O + rr * Dp;
        const V va = splat<V>(alpha[rr]);
        for (int64_t c = 0; c < Dp; c += W) store<V>(o + c, load<V>(o + c) * va);
      }
    int64_t ldv = Dp;
    const float* Vr = Vpad;
    if constexpr (T == Kv::F32) Vr = kv_rows(static_cast<const float*>(v), s, b, hk, j0, nk, Vpad, &ldv);
    else widen_rows<T, V>(v, s, b, hk, j0, nk, Vpad);
    mm(With<V>{}, true, nr, Dp, nk, St, kBq, Vr, ldv, O, Dp, true);  // O += P V
  }
  for (int64_t rr = 0; rr < nr; rr++) {
    if (rr + kAhead < nr) prefetch_row(out + s.q_index(b, hk, r0 + rr + kAhead), D, true);
    float* dst = out + s.q_index(b, hk, r0 + rr);
    const float* o = O + rr * Dp;
    if (l[rr] > 0) {
      const float inv = 1.f / l[rr];
      for (int64_t c = 0; c < D; c++) dst[c] = o[c] * inv;
      lse[s.lse_index(b, hk, r0 + rr)] = m[rr] + std::log(l[rr]);
    } else {  // no visible key (qOffset < 0, a window past the keys, Tk = 0): zeros, as the js oracle
      std::fill(dst, dst + D, 0.f);
      lse[s.lse_index(b, hk, r0 + rr)] = -INFINITY;
    }
  }
}

template <class V>
XFMR_INLINE void attn_fwd_body(const float* q, const float* k, const float* v, float* out, float* lse,
                               const AttnShape* sp, int64_t b, int64_t hk, int64_t r0, int64_t r1,
                               float* scratch) {
  attn_fwd_impl<Kv::F32, V>(q, k, v, out, lse, sp, b, hk, r0, r1, scratch);
}
template <class V>
XFMR_INLINE void attn_fwd_kv_body(const float* q, const void* k, const void* v, Kv t, float* out, float* lse,
                                  const AttnShape* sp, int64_t b, int64_t hk, int64_t r0, int64_t r1,
                                  float* scratch) {
  if (t == Kv::F16) attn_fwd_impl<Kv::F16, V>(q, k, v, out, lse, sp, b, hk, r0, r1, scratch);
  else attn_fwd_impl<Kv::Q8_0, V>(q, k, v, out, lse, sp, b, hk, r0, r1, scratch);
}

// ---- backward ----

// Floats of per-thread scratch for one backward task (dQ excluded when it has its own buffer).
int64_t bwd_scratch(const AttnShape& s, bool with_dq) {
  const int64_t rows_p = round_up(s.rows, kPad);
  return (with_dq ? 3 : 2) * s.rows * s.Dp + 2 * s.D * rows_p + 5 * rows_p + 2 * kBkB * kBqB + 4 * kBkB * s.Dp;
}

// P^T and dS^T of key tile [j0, j0 + nk) against the rows of columns [0, nrp), in place: St (the
// scores, [nk, kBqB]) becomes P^T = exp(St - lse), and dSt (dP^T) becomes dS^T = P^T (dP^T - delta),
// times 1 - t^2 with the soft-cap (St then holds raw scores and the capped one is softcap t,
// t = tanh(St / softcap)). Both are 0 where masked, and rounded to bf16 in bf16 mode after dS has
// used the unrounded P.
template <TileMask kMask, bool kCap, class V>
XFMR_INLINE void bwd_p_ds(float* St, float* dSt, int64_t nk, int64_t nrp, int64_t j0, const float* hi,
                          const float* mid, const float* span, const float* lse, const float* delta, float softcap,
                          bool bf16) {
  const V cap = splat<V>(softcap), inv = splat<V>(kCap ? 1.f / softcap : 0.f), one = splat<V>(1.f);
  const V j0v = splat<V>(static_cast<float>(j0));
  for (int64_t c = 0; c < nrp; c += lanes<V>) {
    LaneMask<kMask, V> mask(hi, mid, span, c);
    const V l = load<V>(lse + c), dl = load<V>(delta + c);
    mask.seek(j0v);
    for (int64_t j = 0; j < nk; j++, mask.next()) {
      float *p = St + j * kBqB + c, *ds = dSt + j * kBqB + c;
      V e, d;
      if constexpr (kCap) {
        const V t = vtanh(load<V>(p) * inv);
        e = mask.apply(vexp_nonpos(cap * t - l), V{});  // garbage where masked, then 0
        d = e * (load<V>(ds) - dl) * (one - t * t);
      } else {
        e = mask.apply(vexp_nonpos(load<V>(p) - l), V{});
        d = e * (load<V>(ds) - dl);  // dS from the unrounded P
      }
      store<V>(p, bf16 ? vround_bf16(e) : e);
      store<V>(ds, bf16 ? vround_bf16(d) : d);
    }
  }
}
template <bool kCap, class V>
XFMR_INLINE void bwd_p_ds(TileMask mode, float* St, float* dSt, int64_t nk, int64_t nrp, int64_t j0,
                          const float* hi, const float* mid, const float* span, const float* lse,
                          const float* delta, float softcap, bool bf16) {
  switch (mode) {
    case kNoMask: bwd_p_ds<kNoMask, kCap, V>(St, dSt, nk, nrp, j0, hi, mid, span, lse, delta, softcap, bf16); break;
    case kEndMask: bwd_p_ds<kEndMask, kCap, V>(St, dSt, nk, nrp, j0, hi, mid, span, lse, delta, softcap, bf16); break;
    case kBothMask: bwd_p_ds<kBothMask, kCap, V>(St, dSt, nk, nrp, j0, hi, mid, span, lse, delta, softcap, bf16); break;
  }
}

struct BwdArgs {
  const float *q, *k, *v, *out, *dout, *lse;
  float *dq, *dk, *dv;
};

// Key tiles [kt0, kt1) of (b, hk): adds into dk, dv. dQ (rows x Dp, unscaled) is accumulated in
// `dQ` (zeroed here); when `add_dq`, it is then added into dq times scale. Transposed tiles as in
// the forward: St = K (scale Q)^T, P^T = exp(St - lse), dP^T = V dO^T, dS^T = P^T (dP^T - delta).
template <class V>
XFMR_INLINE void attn_bwd_body(const BwdArgs* ap, const AttnShape* sp, int64_t b, int64_t hk, int64_t kt0,
                               int64_t kt1, float* scratch, float* dQ, bool add_dq) {
  const BwdArgs& a = *ap;
  const AttnShape& s = *sp;
  const int64_t rows = s.rows, rows_p = round_up(rows, kPad), D = s.D, Dp = s.Dp, ldk = s.Hkv * D;
  float* Q = scratch;                 // [rows, Dp]   scale * q
  float* dO = Q + rows * Dp;          // [rows, Dp]   dout
  float* Qt = dO + rows * Dp;         // [D, rows_p]  scale * q, transposed
  float* dOt = Qt + D * rows_p;       // [D, rows_p]  dout, transposed
  float* lse_r = dOt + D * rows_p;    // [rows_p]
  float* delta = lse_r + rows_p;      // [rows_p]     rowsum(dout * out)
  float* hi = delta + rows_p;         // [rows_p]     keys seen per row (visible_rows)
  float* mid = hi + rows_p;           // [rows_p]
  float* span = mid + rows_p;         // [rows_p]
  float* St = span + rows_p;          // [kBkB, kBqB]   P^T
  float* dSt = St + kBkB * kBqB;        // [kBkB, kBqB]   dP^T, then dS^T
  float* Kpad = dSt + kBkB * kBqB;      // [kBkB, Dp]    K rows when D is not a multiple of kPad, or bf16
  float* Vpad = Kpad + kBkB * Dp;      // [kBkB, Dp]    V rows in bf16 mode
  float* dKa = Vpad + kBkB * Dp;       // [kBkB, Dp]
  float* dVa = dKa + kBkB * Dp;        // [kBkB, Dp]
  pack_q(a.q, s, b, hk, 0, rows, s.scale, Q);
  pack_q(a.dout, s, b, hk, 0, rows, 1.f, dO);
  transpose_rows<V>(Q, rows, D, Dp, Qt, rows_p);
  transpose_rows<V>(dO, rows, D, Dp, dOt, rows_p);
  visible_rows(s, 0, rows, hi, mid, span);
  std::fill(dQ, dQ + rows * Dp, 0.f);
  for (int64_t r = 0; r < rows_p; r++) {
    if (r + kAhead < rows) prefetch_row(a.out + s.q_index(b, hk, r + kAhead), D, false);
    lse_r[r] = r < rows ? a.lse[s.lse_index(b, hk, r)] : 0.f;
    // From dout itself, not the packed dO (which bf16 mode rounds): delta is a statistic, kept f32.
    delta[r] = r < rows ? row_dot<V>(a.dout + s.q_index(b, hk, r), a.out + s.q_index(b, hk, r), D) : 0.f;
  }
  for (int64_t kt = kt0; kt < kt1; kt++) {
    const int64_t j0 = kt * kBkB;
    if (j0 >= s.Tk) break;
    // Rows before rstart see none of these keys (causal), nor of any later tile.
    const int64_t first = s.causal ? std::max<int64_t>(0, (j0 - s.q_offset) * s.group) : 0;
    if (first >= rows) break;
    const int64_t rstart = first / kPad * kPad;  // aligned, so column blocks stay inside rows_p
    const int64_t nk = std::min(kBkB, s.Tk - j0);
    // Rows from rend on are past the window of every key here (their first key is later).
    const int64_t rend =
        s.window > 0 ? std::min(rows, std::max<int64_t>(0, (j0 + nk - 1 + s.window - s.q_offset) * s.group))
                     : rows;
    if (rend <= first) continue;
    // K and V in place, or (bf16) rounded copies: Kr doubles as Kj then, Vr as Vj.
    int64_t ldkr, ldvj = ldk;
    const float* Kr = kv_rows(a.k, s, b, hk, j0, nk, Kpad, &ldkr);
    const float* Kj = s.bf16 ? Kr : a.k + s.k_index(b, hk, j0);
    const int64_t ldkj = s.bf16 ? ldkr : ldk;
    const float* Vj = s.bf16 ? kv_rows(a.v, s, b, hk, j0, nk, Vpad, &ldvj) : a.v + s.k_index(b, hk, j0);
    std::fill(dKa, dKa + nk * Dp, 0.f);
    std::fill(dVa, dVa + nk * Dp, 0.f);
    for (int64_t r0 = rstart; r0 < rend; r0 += kBqB) {
      const int64_t nr = std::min(kBqB, rend - r0), nrp = round_up(nr, kPad);
      mm(With<V>{}, false, nk, nrp, D, Kj, ldkj, Qt + r0, rows_p, St, kBqB, false);  // St = K (scale Q)^T
      mm(With<V>{}, false, nk, nrp, D, Vj, ldvj, dOt + r0, rows_p, dSt, kBqB, false);  // dP^T = V dO^T
      const TileMask mode = tile_mask(s, r0, r0 + nr, j0, j0 + nk);
      const float *h = hi + r0, *md = mid + r0, *sp = span + r0, *l = lse_r + r0, *dl = delta + r0;
      if (s.softcap > 0) bwd_p_ds<true, V>(mode, St, dSt, nk, nrp, j0, h, md, sp, l, dl, s.softcap, s.bf16);
      else bwd_p_ds<false, V>(mode, St, dSt, nk, nrp, j0, h, md, sp, l, dl, 0.f, s.bf16);
      mm(With<V>{}, false, nk, Dp, nr, St, kBqB, dO + r0 * Dp, Dp, dVa, Dp, true);     // dV += P^T dO
      mm(With<V>{}, false, nk, Dp, nr, dSt, kBqB, Q + r0 * Dp, Dp, dKa, Dp, true);     // dK += dS^T (scale Q)
      mm(With<V>{}, true, nr, Dp, nk, dSt, kBqB, Kr, ldkr, dQ + r0 * Dp, Dp, true);  // dQ += dS K
    }
    for (int64_t jj = 0; jj < nk; jj++) {
      const int64_t o = s.k_index(b, hk, j0 + jj);
      if (jj + kAhead < nk) {
        prefetch_row(a.dk + o + kAhead * ldk, D, true);
        prefetch_row(a.dv + o + kAhead * ldk, D, true);
      }
      for (int64_t c = 0; c < D; c++) {
        a.dk[o + c] += dKa[jj * Dp + c];
        a.dv[o + c] += dVa[jj * Dp + c];
      }
    }
  }
  if (add_dq)
    for (int64_t r = 0; r < rows; r++) {
      if (r + kAhead < rows) prefetch_row(a.dq + s.q_index(b, hk, r + kAhead), D, true);
      float* dst = a.dq + s.q_index(b, hk, r);
      for (int64_t c = 0; c < D; c++) dst[c] += s.scale * dQ[r * Dp + c];
    }
}

// ---- per-ISA variants (dispatch.h) ----

XFMR_DISPATCH(attn_fwd, attn_fwd_body,
              (const float* q, const float* k, const float* v, float* out, float* lse, const AttnShape* s,
               int64_t b, int64_t hk, int64_t r0, int64_t r1, float* scratch),
              (q, k, v, out, lse, s, b, hk, r0, r1, scratch))
XFMR_DISPATCH(attn_fwd_kv, attn_fwd_kv_body,
              (const float* q, const void* k, const void* v, Kv t, float* out, float* lse, const AttnShape* s,
               int64_t b, int64_t hk, int64_t r0, int64_t r1, float* scratch),
              (q, k, v, t, out, lse, s, b, hk, r0, r1, scratch))
XFMR_DISPATCH(attn_bwd, attn_bwd_body,
              (const BwdArgs* a, const AttnShape* s, int64_t b, int64_t hk, int64_t kt0, int64_t kt1,
               float* scratch, float* dQ, bool add_dq),
              (a, s, b, hk, kt0, kt1, scratch, dQ, add_dq))

// A 64-byte aligned float buffer owned by one kernel call.
struct Scratch {
  float* p = nullptr;
  explicit Scratch(int64_t n) {
    size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(n, 1), 16)) * sizeof(float);
    p = static_cast<float*>(std::aligned_alloc(64, bytes));
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// ---- N-API entry points: argument order as in src/kernels/kernels.ts ----

// Unpacks the shape arguments shared by forward (first = 5) and backward (first = 9):
// B, Tq, Tk, Hq, Hkv, D, kvBatchStride, qOffset, scale, causal, window, softcap, bf16.
bool read_shape(KernelArgs& a, size_t first, AttnShape& s) {
  s.B = a.dim(first, "B");
  s.Tq = a.dim(first + 1, "Tq");
  s.Tk = a.dim(first + 2, "Tk");
  s.Hq = a.dim(first + 3, "Hq");
  s.Hkv = a.dim(first + 4, "Hkv");
  s.D = a.dim(first + 5, "D");
  s.kv_stride = a.dim(first + 6, "kvBatchStride");
  s.q_offset = a.integer(first + 7);
  s.scale = static_cast<float>(a.num(first + 8));
  s.causal = a.flag(first + 9);
  s.window = a.integer(first + 10);
  const double softcap = a.num(first + 11);
  s.softcap = static_cast<float>(softcap);
  s.bf16 = a.flag(first + 12);
  if (a.bad()) return false;
  if (s.Tk > (int64_t{1} << 23)) {  // key indices are compared as floats (visible_rows)
    a.range_error("Tk (%lld) must be at most 2^23", static_cast<long long>(s.Tk));
    return false;
  }
  if (s.window < 0 || !(softcap >= 0) || std::isinf(softcap)) {
    a.range_error("window (%lld) and softcap (%g) must be >= 0 and finite (0: none)",
                  static_cast<long long>(s.window), softcap);
    return false;
  }
  if (s.Hkv < 1 || s.Hq % s.Hkv != 0) {
    a.range_error("Hq (%lld) must be a multiple of Hkv (%lld >= 1)", static_cast<long long>(s.Hq),
                  static_cast<long long>(s.Hkv));
    return false;
  }
  s.group = s.Hq / s.Hkv;
  s.rows = smul(s.Tq, s.group);
  s.Dp = round_up(std::max<int64_t>(s.D, 1), kPad);
  return true;
}
int64_t q_len(const AttnShape& s) { return smul(s.B, s.Tq, s.Hq, s.D); }
int64_t kv_len(const AttnShape& s) {
  return s.B > 0 && s.Tk > 0 ? sadd(smul(s.B - 1, s.kv_stride), smul(s.Tk, s.Hkv, s.D)) : 0;
}

// Runs fwd(b, hk, r0, r1, scratch) for every (b, hk, row tile) on the pool.
template <class F>
void forward_tasks(const AttnShape& s, F&& fwd) {
  const int64_t pairs = s.B * s.Hkv, threads = num_threads();
  // Smaller row tiles when there are too few (b, hk, tile) tasks to keep the threads busy.
  int64_t bq = kBq;
  while (bq > 16 && pairs * ((s.rows + bq - 1) / bq) < 2 * threads) bq /= 2;
  const int64_t tiles = (s.rows + bq - 1) / bq;
  Scratch scratch(threads * fwd_scratch(s));
  // Task order: the last row tiles (the most keys when causal) of every head first.
  parallel_tasks(pairs * tiles, [&](int64_t t, int thread) {
    const int64_t tile = tiles - 1 - t / pairs, pair = t % pairs;
    const int64_t r0 = tile * bq, r1 = std::min(s.rows, r0 + bq);
    fwd(pair / s.Hkv, pair % s.Hkv, r0, r1, scratch.p + thread * fwd_scratch(s));
  });
}

// attentionForward(q, k, v, out, lse, B, Tq, Tk, Hq, Hkv, D, kvBatchStride, qOffset, scale, causal,
//                  window, softcap, bf16)
napi_value attention_forward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "attentionForward");
  AttnShape s{};
  if (!read_shape(a, 5, s)) return nullptr;
  const float* q = a.f32(0, "q", q_len(s));
  const float* k = a.f32(1, "k", kv_len(s));
  const float* v = a.f32(2, "v", kv_len(s));
  float* out = a.f32(3, "out", q_len(s));
  float* lse = a.f32(4, "lse", smul(s.B, s.Hq, s.Tq));
  if (a.bad() || s.B == 0 || s.rows == 0 || s.D == 0) return nullptr;
  forward_tasks(s, [&](int64_t b, int64_t hk, int64_t r0, int64_t r1, float* scratch) {
    attn_fwd(q, k, v, out, lse, &s, b, hk, r0, r1, scratch);
  });
  return nullptr;
}

// attentionForwardKV(q, k, v, kvType, out, lse, B, Tq, Tk, Hq, Hkv, D, kvBatchStride, qOffset,
//                    scale, causal, window, softcap, bf16): k, v f16 (Uint16Array) or q8_0 blocks
//                    (Uint8Array), counted in values as attentionForward counts floats.
napi_value attention_forward_kv_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "attentionForwardKV");
  AttnShape s{};
  if (!read_shape(a, 6, s)) return nullptr;
  static const char* const kTypes[] = {"f16", "q8_0"};
  const Kv t = a.choice(3, "\"f16\" or \"q8_0\" (kvType)", kTypes, 2) == 0 ? Kv::F16 : Kv::Q8_0;
  const int64_t n = kv_len(s);
  const void *k = nullptr, *v = nullptr;
  if (t == Kv::F16) {
    k = a.u16(1, "k", n);
    v = a.u16(2, "v", n);
  } else {
    const int64_t bytes = smul(n / kQ8Block + (n % kQ8Block != 0), kQ8Bytes);  // the blocks holding [0, n)
    k = a.u8(1, "k", bytes);
    v = a.u8(2, "v", bytes);
  }
  const float* q = a.f32(0, "q", q_len(s));
  float* out = a.f32(4, "out", q_len(s));
  float* lse = a.f32(5, "lse", smul(s.B, s.Hq, s.Tq));
  if (a.bad() || s.B == 0 || s.rows == 0 || s.D == 0) return nullptr;
  forward_tasks(s, [&](int64_t b, int64_t hk, int64_t r0, int64_t r1, float* scratch) {
    attn_fwd_kv(q, k, v, t, out, lse, &s, b, hk, r0, r1, scratch);
  });
  return nullptr;
}

// attentionBackward(q, k, v, out, dout, lse, dq, dk, dv, B, Tq, Tk, Hq, Hkv, D, kvBatchStride,
//                   qOffset, scale, causal, window, softcap, bf16)
napi_value attention_backward_napi(napi_env env, napi_callback_info info) {
  KernelArgs a(env, info, "attentionBackward");
  AttnShape s{};
  if (!read_shape(a, 9, s)) return nullptr;
  BwdArgs args{};
  args.q = a.f32(0, "q", q_len(s));
  args.k = a.f32(1, "k", kv_len(s));
  args.v = a.f32(2, "v", kv_len(s));
  args.out = a.f32(3, "out", q_len(s));
  args.dout = a.f32(4, "dout", q_len(s));
  args.lse = a.f32(5, "lse", smul(s.B, s.Hq, s.Tq));
  args.dq = a.f32(6, "dq", q_len(s));
  args.dk = a.f32(7, "dk", kv_len(s));
  args.dv = a.f32(8, "dv", kv_len(s));
  if (a.bad() || s.B == 0 || s.rows == 0 || s.D == 0 || s.Tk == 0) return nullptr;
  const int64_t pairs = s.B * s.Hkv, threads = num_threads();
  // Key tiles [kt_first, kt_first + ktiles) hold the keys some row sees: from the first row's
  // window start to the last row's causal end.
  const int64_t kend = s.visible(s.rows - 1), kbegin = std::min(s.first(0), kend);
  const int64_t kt_first = kbegin / kBkB, ktiles = (kend + kBkB - 1) / kBkB - kt_first;
  if (ktiles <= 0) return nullptr;
  if (s.B > 1 && s.kv_stride < s.Tk * s.Hkv * s.D) {
    // Batches share K/V rows, so their dk/dv would race: one thread, one (b, hk) at a time.
    Scratch scratch(bwd_scratch(s, true));
    float* dQ = scratch.p + bwd_scratch(s, false);
    for (int64_t p = 0; p < pairs; p++)
      attn_bwd(&args, &s, p / s.Hkv, p % s.Hkv, kt_first, kt_first + ktiles, scratch.p, dQ, true);
    return nullptr;
  }
  int64_t splits = 1;
  if (pairs < 2 * threads) {
    splits = std::min(ktiles, (4 * threads + pairs - 1) / pairs);
    // Each split holds a private dQ of rows x Dp floats; cap that memory at 256 MiB.
    const int64_t dq_floats = s.rows * s.Dp;
    while (splits > 1 && splits * pairs * dq_floats > (int64_t{64} << 20)) splits--;
  }
  if (splits == 1) {
    const int64_t per = bwd_scratch(s, true);
    Scratch scratch(threads * per);
    parallel_tasks(pairs, [&](int64_t p, int thread) {
      float* mine = scratch.p + thread * per;
      attn_bwd(&args, &s, p / s.Hkv, p % s.Hkv, kt_first, kt_first + ktiles, mine, mine + bwd_scratch(s, false),
               true);
    });
    return nullptr;
  }
  // Split: task t = (pair, split) covers a contiguous run of key tiles and writes its own dQ.
  const int64_t per = bwd_scratch(s, false), dq_floats = s.rows * s.Dp;
  const int64_t tiles_per = (ktiles + splits - 1) / splits;
  Scratch scratch(threads * per);
  Scratch dqs(pairs * splits * dq_floats);
  parallel_tasks(pairs * splits, [&](int64_t t, int thread) {
    const int64_t p = t / splits, sp = t % splits;
    float* dQ = dqs.p + t * dq_floats;
    const int64_t kt0 = kt_first + sp * tiles_per, kt1 = std::min(kt_first + ktiles, kt0 + tiles_per);
    if (kt0 < kt1) attn_bwd(&args, &s, p / s.Hkv, p % s.Hkv, kt0, kt1, scratch.p + thread * per, dQ, false);
    else std::fill(dQ, dQ + dq_floats, 0.f);
  });
  parallel_for(pairs * s.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t pr = begin; pr < end; pr++) {
      const int64_t p = pr / s.rows, r = pr % s.rows;
      float* dst = args.dq + s.q_index(p / s.Hkv, p % s.Hkv, r);
      for (int64_t sp = 0; sp < splits; sp++) {
        const float* src = dqs.p + (p * splits + sp) * dq_floats + r * s.Dp;
        for (int64_t c = 0; c < s.D; c++) dst[c] += s.scale * src[c];
      }
    }
  });
  return nullptr;
}

}  // namespace

void register_attention(napi_env env, napi_value exports) {
  export_fn(env, exports, "attentionForward", attention_forward_napi);
  export_fn(env, exports, "attentionForwardKV", attention_forward_kv_napi);
  export_fn(env, exports, "attentionBackward", attention_backward_napi);
}

}  // namespace xfmr
