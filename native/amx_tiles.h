// The AMX tile operations the bf16 GEMM uses, behind one interface with two implementations:
// HwTiles, the instructions (x86 with AMX-TILE and AMX-BF16), and EmuTiles, plain C++ with the
// same semantics (any CPU). gemm_amx.cc writes its tile loop once over this interface, so the
// emulation runs the very loop the hardware runs: packing, tiling, edges and threads are tested
// on machines without AMX, and only the instructions themselves are left to the hardware (whose
// self-check, gemm_amx.cc, guards them).
//
// Interface (static members; tile numbers are template arguments because the instructions take
// them as immediates):
//   config(cfg)           LDTILECFG: rows and bytes per row of each tile; zeroes every tile.
//   release()             TILERELEASE: back to the unconfigured state.
//   zero<T>()             TILEZERO.
//   load<T>(p, stride)    TILELOADD: rows[T] rows of colsb[T] bytes from p, p + stride, ...
//   store<T>(p, stride)   TILESTORED.
//   dp<C, A, B>()         TDPBF16PS: C[m][n] += sum over k of A[m][2k] B[k][2n] + A[m][2k+1] B[k][2n+1],
//                         A rows of bf16 pairs, B rows of bf16 pairs per column, C f32.
//
// What the emulation follows, from the Intel SDM's TDPBF16PS pseudocode: per row of C, the even
// and odd products of all k pairs sum separately in f32 (round to nearest even), then their sum is
// added to C; bf16 inputs below 2^-126 read as zero (DAZ), and f32 results below it are flushed
// to zero (FTZ; the emulation flushes the value written to C, not each partial sum). Shape rules
// the hardware enforces with #UD (rows of A = rows of C, pairs per A row = rows of B, bytes per row
// of B = of C, tiles configured) abort the process with a message here.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dispatch.h"

namespace xfmr {

// The 64-byte LDTILECFG operand (palette 1: 8 tiles of up to 16 rows x 64 bytes).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of tile t
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

struct EmuTiles {
  struct State {
    alignas(64) uint8_t tile[8][16 * 64];
    TileConfig cfg;
    bool configured = false;
  };
  static State& st() {
    thread_local State s;
    return s;
  }
  [[noreturn]] static void fault(const char* what) {
    std::fprintf(stderr, "xfmr: emulated AMX: %s (the hardware would raise #UD)\n", what);
    std::abort();
  }
  static void need(int t) {
    const State& s = st();
    if (!s.configured) fault("tile instruction before LDTILECFG or after TILERELEASE");
    if (s.cfg.rows[t] == 0 || s.cfg.rows[t] > 16 || s.cfg.colsb[t] == 0 || s.cfg.colsb[t] > 64 ||
        s.cfg.colsb[t] % 4)
      fault("tile used with an invalid configuration");
  }
  static void config(const TileConfig& c) {
    if (c.palette != 1) fault("palette other than 1");
    State& s = st();
    s.cfg = c;
    s.configured = true;
    std::memset(s.tile, 0, sizeof s.tile);
  }
  static void release() { st().configured = false; }
  template <int T>
  static void zero() {
    need(T);
    std::memset(st().tile[T], 0, sizeof st().tile[T]);
  }
  // Bytes past colsb in a row and rows past `rows` read as zero afterwards, as on the hardware.
  template <int T>
  static void load(const void* p, int64_t stride) {
    need(T);
    State& s = st();
    std::memset(s.tile[T], 0, sizeof s.tile[T]);
    for (int r = 0; r < s.cfg.rows[T]; r++)
      std::memcpy(s.tile[T] + r * 64, static_cast<const uint8_t*>(p) + r * stride, s.cfg.colsb[T]);
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    need(T);
    const State& s = st();
    for (int r = 0; r < s.cfg.rows[T]; r++)
      std::memcpy(static_cast<uint8_t*>(p) + r * stride, s.tile[T] + r * 64, s.cfg.colsb[T]);
  }
  static float daz(uint16_t h) {
    const uint32_t u = (h & 0x7F80u) ? static_cast<uint32_t>(h) << 16 : (static_cast<uint32_t>(h) & 0x8000u) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static float ftz(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0) u &= 0x80000000u;
    std::memcpy(&f, &u, 4);
    return f;
  }
  template <int C, int A, int B>
  static void dp() {
    need(C), need(A), need(B);
    State& s = st();
    const int M = s.cfg.rows[C], N = s.cfg.colsb[C] / 4, K = s.cfg.colsb[A] / 4;
    if (s.cfg.rows[A] != M || s.cfg.rows[B] != K || s.cfg.colsb[B] != s.cfg.colsb[C])
      fault("TDPBF16PS with tiles of mismatched shapes");
    // B as f32, even and odd halves of each pair apart: be[k][n] = B[k][2n], bo[k][n] = B[k][2n + 1].
    float be[16][16] = {}, bo[16][16] = {};
    for (int k = 0; k < K; k++)
      for (int n = 0; n < N; n++) {
        uint16_t h[2];
        std::memcpy(h, s.tile[B] + k * 64 + n * 4, 4);
        be[k][n] = daz(h[0]), bo[k][n] = daz(h[1]);
      }
    for (int m = 0; m < M; m++) {
      float even[16] = {}, odd[16] = {};
      for (int k = 0; k < K; k++) {
        uint16_t h[2];
        std::memcpy(h, s.tile[A] + m * 64 + k * 4, 4);
        const float a0 = daz(h[0]), a1 = daz(h[1]);
        for (int n = 0; n < 16; n++) even[n] += a0 * be[k][n], odd[n] += a1 * bo[k][n];
      }
      float* c = reinterpret_cast<float*>(s.tile[C] + m * 64);
      for (int n = 0; n < N; n++) c[n] = ftz(c[n] + (even[n] + odd[n]));
    }
  }
};

#ifdef XFMR_X86
// The instructions, as inline assembly: GCC 12's intrinsics paste the tile number into the
// instruction text (so it cannot be a template argument) and declare no memory operands (so the
// compiler could move the packing's stores past a tile load). Here "i" operands print the tile
// number (%c) and every instruction that touches memory clobbers it. No target attribute is
// needed: nothing here is compiled by GCC's code generator, and the CPU check is bf16_path()'s.
struct HwTiles {
  static void config(const TileConfig& c) { __asm__ volatile("ldtilecfg %0" ::"m"(c)); }
  static void release() { __asm__ volatile("tilerelease" ::: "memory"); }
  template <int T>
  static void zero() {
    __asm__ volatile("tilezero %%tmm%c0" ::"i"(T));
  }
  template <int T>
  static void load(const void* p, int64_t stride) {
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(p), "r"(stride), "i"(T) : "memory");
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    __asm__ volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(p), "r"(stride), "i"(T) : "memory");
  }
  template <int C, int A, int B>
  static void dp() {  // AT&T order: sources B, A, then the accumulator
    __asm__ volatile("tdpbf16ps %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
  }
};
#endif

}  // namespace xfmr
