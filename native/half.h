// Scalar helpers of the ggml block formats, shared by linear_quant.cc and quantize.cc: IEEE
// binary16 conversions (round to nearest even; a NaN narrows to a quiet NaN keeping its sign, as
// src/kernels/float16.ts does) and ggml's nearest_int.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace xfmr {

// ---- f16 <-> f32 (IEEE binary16, round to nearest even) ----
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float f;
  if (e == 0) {
    f = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u |= sign;
    std::memcpy(&f, &u, 4);
    return f;
  }
  const uint32_t u = sign | (e == 31 ? (0xffu << 23) | (m << 13) : ((e + 112) << 23) | (m << 13));
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (u >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: inf
  if (u < 0x38800000u) {                       // below 2^-14: subnormal f16, m = x * 2^24 rounded
    float a;
    std::memcpy(&a, &u, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.f));
  }
  // drop 13 mantissa bits with round half to even, and rebias the exponent (127 -> 15)
  const uint32_t r = (u + 0xfffu + ((u >> 13) & 1u)) >> 13;
  return sign | static_cast<uint16_t>(r - (112u << 10));
}

// ggml's nearest_int, as the twin's nearestInt: 1.5 * 2^23 added in float32 rounds half to even,
// and the integer is read from the low mantissa bits: exact for |v| < 2^22, ggml's garbage beyond
// (which quantize.cc reproduces on purpose). Inline integer work, where std::nearbyint would be a
// libm call per value without SSE4.1.
inline int nearest_int(float v) {
  const float val = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

}  // namespace xfmr
