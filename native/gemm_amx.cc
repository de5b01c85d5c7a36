// Kernel family: bf16 GEMM, the AMX micro-kernel (driver, packing and path choice: gemm_bf16.cc;
// the tile operations, real and emulated: amx_tiles.h).
//
// Tile of C: 32 x 32 in four f32 accumulator tiles, t0 = rows 0-15 x columns 0-15, t1 = rows 0-15
// x columns 16-31, t2 = rows 16-31 x columns 0-15, t3 = rows 16-31 x columns 16-31. Per 32 values
// of k: two A tiles (t4 = rows 0-15, t5 = rows 16-31, each 16 rows x 32 bf16), two B tiles (t6 =
// columns 0-15, t7 = columns 16-31, each 16 k pairs x 16 columns x 2 bf16) and four TDPBF16PS:
// four loads feed four 16 x 16 x 32 products, each operand tile used twice.
//
// Panels (bf16.h): A [kp / 16][32][16][2], so an A tile is 16 rows of 64 contiguous bytes (stride
// 64); B [kp][32][2], rows of 128 bytes, so the tile of columns 0-15 is the first 64 bytes of 16
// consecutive rows (stride 128) and that of columns 16-31 the next 64. Every tile is full (16 rows
// x 64 bytes): the driver zero-pads M, N and K to 32 in the panels, and edges are cut when C is
// written.
//
// Writing C: with alpha = 1, beta 0 or 1 and a whole 32 x 32 tile (training's products and every
// k block after the first) the accumulators go to and from C directly (beta = 1 loads C into
// them first); otherwise through a 4 KB buffer, scaled by alpha and beta there.
//
// Tile state: each task of the driver loads the configuration on its thread (task_begin) and
// releases the tiles at its end (task_end), so no thread holds 8 KB of tile state between calls.
// The permission to use tiles is asked once per process (cpu.cc) before any of this runs.
//
// Blocking (KC = 512, MC = 256, NC = 2048) is chosen, not measured (this was written on a machine
// without AMX): a B micro-panel of 512 x 32 bf16 (32 KB) stays in L1 while the A panels of a 256 x
// 512 block (256 KB) stream from L2, and the shared 512 x 2048 B block (2 MB) sits in L3.
#include <cmath>
#include <cstdio>
#include <vector>

#include "amx_tiles.h"
#include "bf16.h"
#include "common.h"

namespace xfmr {
namespace {

constexpr int MR = 32, NR = 32;

template <class T>
XFMR_INLINE void amx_tile_body(int64_t kp, const bf16* ap, const bf16* bp, float* c, int64_t ldc, int m, int n,
                               float alpha, float beta) {
  const bool direct = m == MR && n == NR && alpha == 1.f && (beta == 0.f || beta == 1.f);
  const int64_t ldb = ldc * static_cast<int64_t>(sizeof(float));  // C's row stride in bytes
  if (direct && beta == 1.f) {
    T::template load<0>(c, ldb);
    T::template load<1>(c + 16, ldb);
    T::template load<2>(c + 16 * ldc, ldb);
    T::template load<3>(c + 16 * ldc + 16, ldb);
  } else {
    T::template zero<0>();
    T::template zero<1>();
    T::template zero<2>();
    T::template zero<3>();
  }
  for (int64_t s = 0; s < kp; s += 16, ap += MR * 32, bp += 16 * NR * 2) {
    T::template load<4>(ap, 64);
    T::template load<5>(ap + 16 * 32, 64);
    T::template load<6>(bp, NR * 4);
    T::template load<7>(bp + 32, NR * 4);
    T::template dp<0, 4, 6>();
    T::template dp<1, 4, 7>();
    T::template dp<2, 5, 6>();
    T::template dp<3, 5, 7>();
  }
  if (direct) {
    T::template store<0>(c, ldb);
    T::template store<1>(c + 16, ldb);
    T::template store<2>(c + 16 * ldc, ldb);
    T::template store<3>(c + 16 * ldc + 16, ldb);
    return;
  }
  alignas(64) float t[MR * NR];
  T::template store<0>(t, NR * 4);
  T::template store<1>(t + 16, NR * 4);
  T::template store<2>(t + 16 * NR, NR * 4);
  T::template store<3>(t + 16 * NR + 16, NR * 4);
  store_partial(t, NR, c, ldc, m, n, alpha, beta);
}

// All eight tiles 16 rows x 64 bytes.
const TileConfig& full_config() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t = 0; t < 8; t++) c.rows[t] = 16, c.colsb[t] = 64;
    return c;
  }();
  return cfg;
}

void amx_kernel_emu(int64_t kp, const bf16* ap, const bf16* bp, float* c, int64_t ldc, int m, int n, float alpha,
                    float beta) {
  amx_tile_body<EmuTiles>(kp, ap, bp, c, ldc, m, n, alpha, beta);
}
void amx_begin_emu() { EmuTiles::config(full_config()); }
void amx_end_emu() { EmuTiles::release(); }

#ifdef XFMR_X86
void amx_kernel_hw(int64_t kp, const bf16* ap, const bf16* bp, float* c, int64_t ldc, int m, int n,
                                   float alpha, float beta) {
  amx_tile_body<HwTiles>(kp, ap, bp, c, ldc, m, n, alpha, beta);
}
void amx_begin_hw() { HwTiles::config(full_config()); }
void amx_end_hw() { HwTiles::release(); }
#endif

}  // namespace

const Bf16Arch& amx_arch(bool hardware) {
#ifdef XFMR_X86
  static const Bf16Arch hw{MR, NR, 16, 512, 256, 2048, amx_kernel_hw, amx_begin_hw, amx_end_hw};
  if (hardware) return hw;
#else
  (void)hardware;
#endif
  static const Bf16Arch emu{MR, NR, 16, 512, 256, 2048, amx_kernel_emu, amx_begin_emu, amx_end_emu};
  return emu;
}

// Three products that reach every part of the driver a wrong assumption about the hardware would
// break: odd M, N, K (edges of every tile, an odd k pad), several k blocks with beta = 1 (the
// direct C path), transposed A and B, and alpha, beta through the buffer. Bound as in the tests:
// products of bf16 values are exact, so only f32 summation separates C from a float64 reference.
bool amx_self_check(char* why, size_t why_size) {
  struct Shape {
    int64_t M, N, K;
    bool ta, tb;
    float alpha, beta;
  };
  const Shape shapes[] = {{37, 45, 77, false, false, 1.f, 0.f},
                          {33, 70, 1100, false, true, 1.f, 1.f},
                          {45, 37, 63, true, false, 0.5f, 2.f}};
  uint32_t seed = 12345;
  auto uniform = [&] {  // [-1, 1)
    seed = seed * 1664525u + 1013904223u;
    return static_cast<float>(seed >> 8) * (2.f / 16777216.f) - 1.f;
  };
  for (const Shape& s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (float& v : A) v = uniform();
    for (float& v : B) v = uniform();
    for (float& v : C) v = uniform();
    const std::vector<float> C0 = C;
    const Bf16Problem P{A.data(),           B.data(),           nullptr,         C.data(), s.M, s.N, s.K,
                        s.ta ? 1 : s.K,     s.ta ? s.M : 1,     s.tb ? 1 : s.N,  s.tb ? s.K : 1,
                        s.N,                s.alpha,            s.beta};
    gemm_bf16_one(P, amx_arch(true));
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        double ref = 0, mag = 0;
        for (int64_t p = 0; p < s.K; p++) {
          const double x = from_bf16(to_bf16(A[i * P.rsa + p * P.csa])) *
                           static_cast<double>(from_bf16(to_bf16(B[p * P.rsb + j * P.csb])));
          ref += x, mag += std::fabs(x);
        }
        const double c0 = s.beta * static_cast<double>(C0[i * s.N + j]);
        const double want = s.alpha * ref + c0;
        const double bound = (s.K + 2) * std::ldexp(1.0, -24) * (std::fabs(s.alpha) * mag + std::fabs(c0)) + 1e-30;
        const float got = C[i * s.N + j];
        if (!(std::fabs(got - want) <= bound)) {
          std::snprintf(why, why_size, "%lldx%lldx%lld: C[%lld][%lld] = %g, want %g +- %g", (long long)s.M,
                        (long long)s.N, (long long)s.K, (long long)i, (long long)j, got, want, bound);
          return false;
        }
      }
  }
  return true;
}

}  // namespace xfmr
