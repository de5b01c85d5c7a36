// The SIMD body of linear_quant.cc, included once per x86 ISA inside a `#pragma GCC target`
// region and a namespace of its own. The including file defines, before the include:
//   dot_u8s8(u, s)  -> __m256i of 8 int32: lane i = sum of u[4i..4i+3] * s[4i..4i+3], u unsigned
//                      bytes (levels), s signed bytes (activation quants); AVX2 needs
//                      u * |s| pair sums below 2^15 (maddubs saturates), which holds for every
//                      caller here: levels <= 63, and for the signed types (Q8_0/Q4_0/Q5_0,
//                      whose activations carry the weights' signs) |levels| <= 16, or <= 127 for
//                      Q8_0 as ggml's quantizer writes it.
// Each tile below dots one weight row with R quantized activation rows, each summed in f32: exact
// integer sums per block, scaled by d_w * d_a in f32 lanes (FMA), one hsum at the end. Signed
// weights (Q8_0, Q4_0, Q5_0) go through the sign trick (|w| unsigned times a with w's sign); Q4_1 /
// Q5_1's unsigned levels dot the activations directly and add m * s; the K-quants' sub-block
// scales multiply int16 pair sums (dot_scaled).

XFMR_QI inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

XFMR_QI inline float f16v(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

XFMR_QI inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Decode (R = 1) streams the weights from DRAM once per token, and the hardware prefetcher alone
// leaves much of the bandwidth unused (it stops at each 4 KB page): a 145 MB Q8_0 GEMV read at
// ~10 GB/s without this and ~17-19 GB/s with it, 2 threads, on this machine. So each tile asks for
// the weight bytes kPrefetch ahead of the block it reads (the next rows' blocks, as rows are
// contiguous; a prefetch past the matrix's end is harmless, prefetches never fault). Prefill tiles
// (R > 1) reuse each weight block from L1 and skip it.
constexpr int64_t kPrefetch = 4096;
template <int R>
XFMR_QI inline void prefetch_ahead(const uint8_t* w, int64_t bytes) {
  if (R != 1) return;
  for (int64_t l = 0; l < bytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch + l, _MM_HINT_T0);
}

// Tiles: one weight row against R activation rows (R = 1..4). Each weight block is loaded and
// unpacked once and dotted with the R rows' blocks, so prefill unpacks each block N / R times
// rather than N times; R = 1 is decode. a points at the first row, whose blocks are followed by
// the next row's (stride nb). out[r] = the dot with row r.

// ---- the 32-value block types: one tile template per activation type, the block layout in a
// decoder (bytes per block; the levels of one block as 32 bytes) ----

// 16 bytes of nibble pairs -> 32 levels 0..15: values 0..15 from the low nibbles, 16..31 from the
// high ones (the Q4_0 / Q4_1 / Q5_0 / Q5_1 layout).
XFMR_QI inline __m256i nibbles32(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0f));
}

// The little-endian u32 at p -> byte j = 16 where bit j is set, else 0 (Q5_0 / Q5_1's fifth bits):
// byte j takes byte j / 8 of the word, keeps bit j % 8, and compares.
XFMR_QI inline __m256i fifth_bits32(const uint8_t* p) {
  uint32_t h;
  std::memcpy(&h, p, 4);
  const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                        3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(h)), pick);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(16));
}

// Symmetric types (Q8_0 activations): signed levels.
struct DecQ8_0 {
  static constexpr int64_t bytes = 34;
  XFMR_QI static __m256i levels(const uint8_t* w) { return load32(w + 2); }
};
struct DecQ4_0 {
  static constexpr int64_t bytes = 18;
  XFMR_QI static __m256i levels(const uint8_t* w) { return _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8)); }
};
struct DecQ5_0 {
  static constexpr int64_t bytes = 22;
  XFMR_QI static __m256i levels(const uint8_t* w) {
    return _mm256_sub_epi8(_mm256_or_si256(nibbles32(w + 6), fifth_bits32(w + 2)), _mm256_set1_epi8(16));
  }
};
// Types with a minimum (Q8_1 activations): unsigned levels, d at byte 0 and m at byte 2.
struct DecQ4_1 {
  static constexpr int64_t bytes = 20;
  XFMR_QI static __m256i levels(const uint8_t* w) { return nibbles32(w + 4); }
};
struct DecQ5_1 {
  static constexpr int64_t bytes = 24;
  XFMR_QI static __m256i levels(const uint8_t* w) { return _mm256_or_si256(nibbles32(w + 8), fifth_bits32(w + 4)); }
};

// Signed levels q (|q| <= 128) with Q8_0 activations: |q| times the activations with q's sign.
template <class Dec, int R>
XFMR_QI inline void tile_sym32(const uint8_t* w, const Act0* a, int64_t nb, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++, w += Dec::bytes) {
    prefetch_ahead<R>(w, 1);
    const __m256i q = Dec::levels(w), u = _mm256_sign_epi8(q, q);
    const float dw = f16v(w);
    for (int r = 0; r < R; r++) {
      const Act0& x = a[r * nb + i];
      const __m256i p = dot_u8s8(u, _mm256_sign_epi8(load32(x.q), q));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

// Levels 0..31 with Q8_1 activations: d_w d_a (levels . q) + m_w s_a per block, the m s terms
// summed apart in f32 as ggml does.
template <class Dec, int R>
XFMR_QI inline void tile_min32(const uint8_t* w, const Act1* a, int64_t nb, float* out) {
  __m256 acc[R];
  float accm[R];
  for (int r = 0; r < R; r++) {
    acc[r] = _mm256_setzero_ps();
    accm[r] = 0.f;
  }
  for (int64_t i = 0; i < nb; i++, w += Dec::bytes) {
    prefetch_ahead<R>(w, 1);
    const __m256i u = Dec::levels(w);
    const float dw = f16v(w), mw = f16v(w + 2);
    for (int r = 0; r < R; r++) {
      const Act1& x = a[r * nb + i];
      const __m256i p = dot_u8s8(u, load32(x.q));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(p), acc[r]);
      accm[r] += mw * x.s;
    }
  }
  for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]) + accm[r];
}

// u8 levels times s8 quants, pairs summed to int16 (maddubs: levels <= 63, |q| <= 128, so no pair
// exceeds 2^15) then times the int16 sub-block scale and summed in pairs to int32: exact, and one
// instruction cheaper than a 32-bit multiply of the sums.
XFMR_QI inline __m256i dot_scaled(__m256i u, __m256i s, __m256i sc16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc16);
}

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales sc and mins m (k_scales.ts's packing).
XFMR_QI inline void scales_mins_k4(const uint8_t* q, int32_t* sc, int32_t* m) {
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

template <bool Five, int R>
XFMR_QI inline void tile_qk45(const uint8_t* w, const ActK* a, int64_t nb, float* out) {
  constexpr int64_t TS = Five ? 176 : 144;
  const __m256i lo = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256 acc[R];
  float accm[R];
  for (int r = 0; r < R; r++) {
    acc[r] = _mm256_setzero_ps();
    accm[r] = 0.f;
  }
  for (int64_t i = 0; i < nb; i++, w += TS) {
    prefetch_ahead<R>(w, TS);
    int32_t sc[8], m[8];
    scales_mins_k4(w + 4, sc, m);
    const uint8_t* ql = w + (Five ? 48 : 16);
    const __m256i hb = Five ? load32(w + 16) : _mm256_setzero_si256();
    __m256i q[8], s[8];
    for (int c = 0; c < 4; c++) {
      const __m256i b = load32(ql + 32 * c);
      q[2 * c] = _mm256_and_si256(b, lo);
      q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(b, 4), lo);
      if (Five) {
        q[2 * c] = _mm256_or_si256(q[2 * c], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4));
        q[2 * c + 1] =
            _mm256_or_si256(q[2 * c + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4));
      }
    }
    for (int j = 0; j < 8; j++) s[j] = _mm256_set1_epi16(static_cast<int16_t>(sc[j]));
    const float dw = f16v(w), dmin = f16v(w + 2);
    for (int r = 0; r < R; r++) {
      const ActK& x = a[r * nb + i];
      int32_t summ = 0;
      for (int j = 0; j < 8; j++) summ += m[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
      __m256i sumi = _mm256_setzero_si256();
      for (int j = 0; j < 8; j++) sumi = _mm256_add_epi32(sumi, dot_scaled(q[j], load32(x.q + 32 * j), s[j]));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(sumi), acc[r]);
      accm[r] += dmin * x.d * static_cast<float>(summ);
    }
  }
  for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]) - accm[r];
}

template <int R>
XFMR_QI inline void tile_q6_k(const uint8_t* w, const ActK* a, int64_t nb, float* out) {
  const __m256i lo = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
  __m256 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++, w += 210) {
    prefetch_ahead<R>(w, 210);
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    __m256i q[8], s[8];
    for (int h = 0; h < 2; h++) {
      const __m256i l0 = load32(w + 64 * h), l1 = load32(w + 64 * h + 32), hb = load32(w + 128 + 32 * h);
      q[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, lo), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
      q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, lo),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
      q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
      q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
      for (int k = 0; k < 4; k++) {
        // values 128h + 32k .. +31: sub-blocks 8h + 2k (lanes 0-3) and 8h + 2k + 1 (lanes 4-7)
        const int j = 8 * h + 2 * k;
        s[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(sc[j + 1]), _mm_set1_epi16(sc[j]));
      }
    }
    const float dw = f16v(w + 208);
    for (int r = 0; r < R; r++) {
      const ActK& x = a[r * nb + i];
      int32_t offs = 0;  // sum_j sc[j] * 32 * bsum_j: the -32 of the levels
      for (int j = 0; j < 16; j++) offs += sc[j] * x.bsums[j];
      __m256i sumi = _mm256_setr_epi32(-32 * offs, 0, 0, 0, 0, 0, 0, 0);
      for (int k = 0; k < 8; k++) sumi = _mm256_add_epi32(sumi, dot_scaled(q[k], load32(x.q + 32 * k), s[k]));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(sumi), acc[r]);
    }
  }
  for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

template <int R>
XFMR_QI inline void tile(QType t, const uint8_t* wr, const void* acts, int64_t nb, float* v) {
  const Act0* a0 = static_cast<const Act0*>(acts);
  const Act1* a1 = static_cast<const Act1*>(acts);
  const ActK* ak = static_cast<const ActK*>(acts);
  switch (t) {
    case QType::Q8_0: tile_sym32<DecQ8_0, R>(wr, a0, nb, v); break;
    case QType::Q4_0: tile_sym32<DecQ4_0, R>(wr, a0, nb, v); break;
    case QType::Q5_0: tile_sym32<DecQ5_0, R>(wr, a0, nb, v); break;
    case QType::Q4_1: tile_min32<DecQ4_1, R>(wr, a1, nb, v); break;
    case QType::Q5_1: tile_min32<DecQ5_1, R>(wr, a1, nb, v); break;
    case QType::Q4_K: tile_qk45<false, R>(wr, ak, nb, v); break;
    case QType::Q5_K: tile_qk45<true, R>(wr, ak, nb, v); break;
    default: tile_q6_k<R>(wr, ak, nb, v); break;
  }
}

// Outputs [o0, o1) of every row of x. Weight rows go in groups of 16 (a few KB, kept in L1) and
// each group meets the rows of x four at a time, so every weight block is unpacked N / 4 times and
// the activation tile being read (4 rows) also stays in L1.
XFMR_QI inline void rows_body(QType t, const uint8_t* w, int64_t rb, const void* acts, int64_t nb, float* y,
                              int64_t N, int64_t Out, int64_t o0, int64_t o1) {
  constexpr int R = 4;
  const size_t ab = act_bytes(t);
  for (int64_t g0 = o0; g0 < o1; g0 += 16) {
    const int64_t g1 = std::min(o1, g0 + 16);
    for (int64_t n = 0; n < N; n += R) {
      const int r = static_cast<int>(std::min<int64_t>(R, N - n));
      const void* an = static_cast<const char*>(acts) + n * nb * ab;
      for (int64_t o = g0; o < g1; o++) {
        const uint8_t* wr = w + o * rb;
        float v[R];
        switch (r) {
          case 4: tile<4>(t, wr, an, nb, v); break;
          case 3: tile<3>(t, wr, an, nb, v); break;
          case 2: tile<2>(t, wr, an, nb, v); break;
          default: tile<1>(t, wr, an, nb, v); break;
        }
        for (int k = 0; k < r; k++) y[(n + k) * Out + o] = v[k];
      }
    }
  }
}

__attribute__((noinline)) void rows(QType t, const uint8_t* w, int64_t rb, const void* acts, int64_t nb, float* y,
                                    int64_t N, int64_t Out, int64_t o0, int64_t o1) {
  rows_body(t, w, rb, acts, nb, y, N, Out, o0, o1);
}
