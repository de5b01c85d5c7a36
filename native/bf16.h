// What the bf16 kernels share (gemm_bf16.cc, gemm_amx.cc, linear_bf16.cc): the bf16 type and its
// conversions, the problem and micro-kernel types of the bf16 GEMM driver, and its entry points.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dispatch.h"

namespace xfmr {

using bf16 = uint16_t;

// Round to nearest even on the bit pattern; a NaN stays a (quiet) NaN instead of rounding into
// infinity.
inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? static_cast<bf16>((u >> 16) | 0x40u) : static_cast<bf16>(r);
}

inline float from_bf16(bf16 h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// One product of the bf16 GEMM driver, C = alpha * op(A) @ op(B) + beta * C, with op() folded
// into strides: op(A)[i][p] = a[i * rsa + p * csa] (f32, rounded to bf16 while packing);
// op(B)[p][j] = b[p * rsb + j * csb] (f32, rounded while packing), or bh[p * rsb + j * csb] when
// bh is set (bf16 bit patterns, copied as they are: linearBf16's weights); C[i][j] = c[i * ldc + j].
struct Bf16Problem {
  const float* a;
  const float* b;
  const bf16* bh;
  float* c;
  int64_t M, N, K;
  int64_t rsa, csa, rsb, csb, ldc;
  float alpha, beta;
};

// Micro-kernel: C[0:m, 0:n] = alpha * (Ap @ Bp) + beta * C for one MR x NR tile over kp pairs of k
// (a multiple of the arch's kgroup; the zero pad past K adds nothing). beta == 0 never reads C.
// Panels: B [kp][NR][2] (k pairs interleaved per column, the layout of VDPBF16PS and of an AMX B
// tile); A [kp / kgroup][MR][kgroup][2] (kgroup = 1: one pair per row per step, VDPBF16PS's
// broadcast; kgroup = 16: 32 consecutive k per row, an AMX A tile row).
using Bf16MicroKernel = void (*)(int64_t kp, const bf16* ap, const bf16* bp, float* c, int64_t ldc, int m, int n,
                                 float alpha, float beta);

struct Bf16Arch {
  int MR, NR, kgroup;
  int64_t KC, MC, NC;  // kc x NR B panel (L1), mc x kc A block (L2), kc x nc shared B block (L3)
  Bf16MicroKernel kernel;
  // Run on the task's thread around each task (AMX: load the tile configuration, release the
  // tiles); null for none.
  void (*task_begin)();
  void (*task_end)();
};

// The driver (gemm_bf16.cc): one product on the whole pool, with packing buffers shared between
// calls, so it is called from the JS thread (inside a pool task it runs serially, but two tasks
// calling it at once would share those buffers). Empty M or N do nothing; K = 0 scales C.
void gemm_bf16_one(const Bf16Problem& P, const Bf16Arch& ar);
// The driver's arch for a path other than F32 (gemm_bf16.cc).
const Bf16Arch& bf16_arch(Bf16Path p);
// The AMX arch on hardware tiles or on their emulation (gemm_amx.cc).
const Bf16Arch& amx_arch(bool hardware);
// A small odd-shaped product through the driver on hardware tiles against a float64 reference
// (gemm_amx.cc). Needs AMX and its permission; false with the first disagreement written to `why`.
bool amx_self_check(char* why, size_t n);

}  // namespace xfmr
