// The SIMD body of linear_quant.cc, included once per x86 ISA inside a `#pragma GCC target`
// region and a namespace of its own. The including file defines, before the include:
//   dot_u8s8(u, s)  -> __m256i of 8 int32: lane i = sum of u[4i..4i+3] * s[4i..4i+3], u unsigned
//                      bytes (levels), s signed bytes (activation quants); AVX2 needs
//                      u * |s| pair sums below 2^15 (maddubs saturates), which holds for every
//                      caller here: levels <= 63 except Q8_0/Q4_0, which go through dot_s8s8.
// Each function below is the dot of one weight row with one quantized activation row, summed in
// f32: exact integer sums per block, scaled by d_w * d_a in f32 lanes (FMA), one hsum at the end.

XFMR_QI inline __m256i dot_s8s8(__m256i w, __m256i a) {
  // sign trick: |w| unsigned times a with w's sign
  return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

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

XFMR_QI inline float row_q8_0(const uint8_t* w, const Act0* a, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++, w += 34) {
    const __m256i p = dot_s8s8(load32(w + 2), load32(a[i].q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16v(w) * a[i].d), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum8(acc);
}

XFMR_QI inline float row_q4_0(const uint8_t* w, const Act0* a, int64_t nb) {
  const __m256i lo = _mm256_set1_epi8(0x0f), off = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++, w += 18) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2));
    // values 0..15 in the low nibbles, 16..31 in the high ones
    const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), lo);
    const __m256i p = dot_s8s8(_mm256_sub_epi8(q, off), load32(a[i].q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16v(w) * a[i].d), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum8(acc);
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

template <bool Five>
XFMR_QI inline float row_qk45(const uint8_t* w, const ActK* a, int64_t nb) {
  constexpr int64_t TS = Five ? 176 : 144;
  const __m256i lo = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float accm = 0.f;
  for (int64_t i = 0; i < nb; i++, w += TS) {
    int32_t sc[8], m[8];
    scales_mins_k4(w + 4, sc, m);
    const ActK& x = a[i];
    int32_t summ = 0;
    for (int j = 0; j < 8; j++) summ += m[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
    const uint8_t* ql = w + (Five ? 48 : 16);
    const __m256i hb = Five ? load32(w + 16) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i b = load32(ql + 32 * c);
      __m256i q0 = _mm256_and_si256(b, lo), q1 = _mm256_and_si256(_mm256_srli_epi16(b, 4), lo);
      if (Five) {
        q0 = _mm256_or_si256(q0, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4));
        q1 = _mm256_or_si256(q1, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4));
      }
      const __m256i p0 = dot_u8s8(q0, load32(x.q + 64 * c));
      const __m256i p1 = dot_u8s8(q1, load32(x.q + 64 * c + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p0, _mm256_set1_epi32(sc[2 * c])));
      sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p1, _mm256_set1_epi32(sc[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16v(w) * x.d), _mm256_cvtepi32_ps(sumi), acc);
    accm += f16v(w + 2) * x.d * static_cast<float>(summ);
  }
  return hsum8(acc) - accm;
}

XFMR_QI inline float row_q6_k(const uint8_t* w, const ActK* a, int64_t nb) {
  const __m256i lo = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++, w += 210) {
    const ActK& x = a[i];
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    int32_t offs = 0;  // sum_j sc[j] * 32 * bsum_j: the -32 of the levels
    for (int j = 0; j < 16; j++) offs += sc[j] * x.bsums[j];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const __m256i l0 = load32(w + 64 * h), l1 = load32(w + 64 * h + 32), hb = load32(w + 128 + 32 * h);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, lo), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, lo),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4)),
      };
      for (int k = 0; k < 4; k++) {
        // values 128h + 32k .. +31: sub-blocks 8h + 2k (lanes 0-3) and 8h + 2k + 1 (lanes 4-7)
        const int j = 8 * h + 2 * k;
        const __m256i s = _mm256_set_m128i(_mm_set1_epi32(sc[j + 1]), _mm_set1_epi32(sc[j]));
        sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(dot_u8s8(q[k], load32(x.q + 128 * h + 32 * k)), s));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * offs, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16v(w + 208) * x.d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

// Outputs [o0, o1) of every row of x (activations: acts, row stride `astride` blocks).
XFMR_QI inline void rows_body(QType t, const uint8_t* w, int64_t rb, const void* acts, int64_t nb, float* y,
                              int64_t N, int64_t Out, int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; o++) {
    const uint8_t* wr = w + o * rb;
    for (int64_t n = 0; n < N; n++) {
      const Act0* a0 = static_cast<const Act0*>(acts) + n * nb;
      const ActK* ak = static_cast<const ActK*>(acts) + n * nb;
      float v;
      switch (t) {
        case QType::Q8_0: v = row_q8_0(wr, a0, nb); break;
        case QType::Q4_0: v = row_q4_0(wr, a0, nb); break;
        case QType::Q4_K: v = row_qk45<false>(wr, ak, nb); break;
        case QType::Q5_K: v = row_qk45<true>(wr, ak, nb); break;
        default: v = row_q6_k(wr, ak, nb); break;
      }
      y[n * Out + o] = v;
    }
  }
}

__attribute__((noinline)) void rows(QType t, const uint8_t* w, int64_t rb, const void* acts, int64_t nb, float* y,
                                    int64_t N, int64_t Out, int64_t o0, int64_t o1) {
  rows_body(t, w, rb, acts, nb, y, N, Out, o0, o1);
}
