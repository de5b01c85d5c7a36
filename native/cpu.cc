// CPU detection for dispatch.h: the widest ISA the CPU has, unless XFMR_ISA lowers it (tests use
// that to exercise every path on one machine).
#include <cstdlib>
#include <cstring>

#include "dispatch.h"

namespace xfmr {

static Isa detect() {
  __builtin_cpu_init();
  Isa best = Isa::Portable;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::Avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    best = Isa::Avx512;
  const char* want = std::getenv("XFMR_ISA");
  if (want && *want) {
    Isa w = best;
    if (!std::strcmp(want, "portable")) w = Isa::Portable;
    else if (!std::strcmp(want, "avx2")) w = Isa::Avx2;
    else if (!std::strcmp(want, "avx512")) w = Isa::Avx512;
    if (static_cast<int>(w) < static_cast<int>(best)) best = w;
  }
  return best;
}

Isa isa() {
  static const Isa chosen = detect();
  return chosen;
}

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace xfmr
