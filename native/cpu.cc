// CPU detection for dispatch.h: the widest ISA the CPU has, unless XFMR_ISA lowers it (tests use
// that to exercise every path on one machine).
#include <cstdlib>
#include <cstring>

#include "dispatch.h"

#ifdef XFMR_X86
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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
    // amx and avx512bf16 name bf16 paths (bf16_path below); f32 kernels keep the best ISA.
    if (static_cast<int>(w) < static_cast<int>(best)) best = w;
  }
  return best;
}

Isa isa() {
  static const Isa chosen = detect();
  return chosen;
}

bool cpu_has_amx_bf16() {
#ifdef XFMR_X86
  static const bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 24) & 1) || !((d >> 22) & 1)) return false;  // AMX-TILE, AMX-BF16
    // Linux keeps tile data out of the signal frame until a process asks for it (once per
    // process); without the permission the first tile instruction faults.
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

static Bf16Path detect_bf16() {
  Bf16Path best = Bf16Path::F32;
  if (isa() == Isa::Avx512 && __builtin_cpu_supports("avx512bf16")) best = Bf16Path::Avx512Bf16;
  // Bf16Path::Amx is never chosen yet: gemm_bf16.cc has no tile kernel, so an AMX CPU (which also
  // has AVX512-BF16) runs avx512bf16 and says so; cpuInfo's amx_bf16 still reports the hardware.
  const char* want = std::getenv("XFMR_ISA");
  if (want && *want) {
    Bf16Path w = Bf16Path::F32;  // the f32 names (avx512, avx2, portable) select the fallback
    if (!std::strcmp(want, "amx")) w = Bf16Path::Avx512Bf16;  // the best there is until a tile kernel
    else if (!std::strcmp(want, "avx512bf16")) w = Bf16Path::Avx512Bf16;
    if (static_cast<int>(w) < static_cast<int>(best)) best = w;
  }
  return best;
}

Bf16Path bf16_path() {
  static const Bf16Path chosen = detect_bf16();
  return chosen;
}

const char* bf16_path_name(Bf16Path p) {
  switch (p) {
    case Bf16Path::Amx: return "amx";
    case Bf16Path::Avx512Bf16: return "avx512bf16";
    default: return "f32";
  }
}

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace xfmr
