// CPU detection for dispatch.h: the widest ISA the CPU has, unless XFMR_ISA lowers it (tests use
// that to exercise every path on one machine), and the bf16 GEMM path this CPU class should run.
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
    // amx, amx-emulated and avx512bf16 name bf16 paths (bf16_path_requested below); the f32
    // kernels keep the best ISA then.
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
    // Linux keeps tile data out of the signal frame until a process asks for it; without the
    // permission the first tile instruction faults. The permission is process-wide (every thread,
    // the pool's included, started before or after), and this runs from bf16_path_requested(),
    // which bf16_path() resolves on the JS thread before any tile instruction anywhere.
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

bool cpu_has_avx512bf16() {
#ifdef XFMR_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// The default per CPU class, from measurements (bench/gemm.ts prints both rates on any CPU):
//  - AMX-BF16 (Sapphire Rapids and later): amx. A 2-core AMX probe reached 1.7-1.8 TFLOPS, 5-6x
//    the f32 FMA peak.
//  - otherwise f32, AVX512-BF16 or not: on the Sapphire Rapids VM (AMX hidden) VDPBF16PS gives
//    half the flops of f32 FMAs (86 against 174 GFLOPS per core, register-only loops), so rounding
//    and running the f32 GEMM is the faster path there. No CPU where VDPBF16PS is faster has been
//    measured; where `npm run bench -- gemm` shows its peak above the FMA peak, XFMR_ISA=avx512bf16
//    is the one to set.
Bf16Path bf16_path_requested() {
  const bool bf16 = cpu_has_avx512bf16();
  const char* want = std::getenv("XFMR_ISA");
  if (want && !std::strcmp(want, "amx-emulated")) return Bf16Path::AmxEmulated;
  if (want && !std::strcmp(want, "avx512bf16")) return bf16 ? Bf16Path::Avx512Bf16 : Bf16Path::F32;
  if (want && (!std::strcmp(want, "avx512") || !std::strcmp(want, "avx2") || !std::strcmp(want, "portable")))
    return Bf16Path::F32;
  // Unset or "amx". (The AMX driver packs with AVX512-BF16, which every AMX CPU has.)
  return bf16 && cpu_has_amx_bf16() ? Bf16Path::Amx : Bf16Path::F32;
}

const char* bf16_path_name(Bf16Path p) {
  switch (p) {
    case Bf16Path::Amx: return "amx";
    case Bf16Path::AmxEmulated: return "amx-emulated";
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
