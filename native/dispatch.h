// Runtime ISA dispatch: the one way a kernel picks its AVX-512, AVX2 or portable variant.
//
// The addon is built without -march (one binary for every x86-64 CPU), so SIMD code carries
// target attributes and isa() picks a variant at run time. isa() (cpu.cc) detects the CPU once;
// XFMR_ISA=portable|avx2|avx512 can only lower it (tests use that to run every path on one machine;
// `xfmr info` shows the choice); XFMR_ISA also names the bf16 paths (Bf16Path below).
//
// An ISA is named by its native vector type V: vf16 (one zmm, AVX-512), vf8 (one ymm, AVX2 + FMA)
// or vf4 (one xmm, SSE2 on x86-64: the portable path). A kernel is written once, as an
// always-inline function template over V, with generic vector operations (`a * b + c`);
// XFMR_DISPATCH(name, body, params, args) compiles body<V> inside a function with each ISA's
// target attribute and defines `name`, which runs the variant isa() picks. Generic vector code
// takes the target of the function it is inlined into, and GCC contracts a * b + c into FMA there.
//
// Where generic vectors fall short (GCC 12 builds a broadcast from memory lane by lane; register
// transposes), a kernel calls an overload taking With<V>, declared with that ISA's XFMR_TARGET_*
// and plain `inline`: GCC inlines it once the body sits inside the variant. (always_inline would
// be refused: the template body itself has the default target.) Code that differs per ISA in more
// than instructions (GEMM's tile sizes and micro-kernels) is a table of functions, and
// XFMR_PER_ISA picks the table.
#pragma once
#include <cstdint>

// Passing vectors by value between non-inlined functions changes the ABI with the ISA; every
// function taking one here is inlined into a variant, so the warning is noise.
#pragma GCC diagnostic ignored "-Wpsabi"

#define XFMR_INLINE __attribute__((always_inline)) inline
// For lambdas inside kernel bodies: without it a lambda is compiled for the default target.
#define XFMR_INLINE_LAMBDA __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#define XFMR_X86 1
#define XFMR_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define XFMR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define XFMR_TARGET_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#endif

namespace xfmr {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };
// The best ISA this CPU supports, lowered by XFMR_ISA when set. Detected on the first call.
Isa isa();
const char* isa_name(Isa i);

// The bf16 GEMM's path (gemm_bf16.cc, linear_bf16.cc): AMX tiles, the same AMX driver on emulated
// tiles, AVX512-BF16 dot products, or f32 FMAs on bf16-rounded values. Default: amx where the CPU
// and OS offer AMX-BF16 and its self-check passes, f32 elsewhere (cpu.cc says why). XFMR_ISA=
//   amx           the default (amx where available, else f32);
//   amx-emulated  the AMX driver with each tile instruction emulated in C++ (any CPU; only when
//                 named: it exists so tests run the whole AMX driver where there is no AMX);
//   avx512bf16    the VDPBF16PS micro-kernel where the CPU has AVX512-BF16, else f32;
//   avx512, avx2, portable   the f32 path.
enum class Bf16Path { F32 = 0, Avx512Bf16 = 1, Amx = 2, AmxEmulated = 3 };
// The path in use, resolved once (gemm_bf16.cc): bf16_path_requested(), except that Amx whose
// self-check fails becomes F32, with one line on stderr.
Bf16Path bf16_path();
// What the CPU and XFMR_ISA ask for, before the AMX self-check (cpu.cc).
Bf16Path bf16_path_requested();
const char* bf16_path_name(Bf16Path p);
// Whether the CPU and OS offer AMX-BF16 (independent of XFMR_ISA); asks Linux for the tile-data
// permission on the first call.
bool cpu_has_amx_bf16();
// Whether the CPU has AVX-512 (F, BW, VL, DQ) with AVX512-BF16 (independent of XFMR_ISA).
bool cpu_has_avx512bf16();

// The argument for the ISA in use. Every run-time choice of ISA goes through here.
template <class T>
T per_isa(T avx512, T avx2, T portable) {
  switch (isa()) {
    case Isa::Avx512: return avx512;
    case Isa::Avx2: return avx2;
    default: return portable;
  }
}

namespace simd {
typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

// Names the ISA of V in overloads that need intrinsics: f(With<vf16>, ...) is the AVX-512 one.
template <class V>
struct With {};
}  // namespace simd

}  // namespace xfmr

#ifdef XFMR_X86
#define XFMR_PER_ISA(avx512, avx2, portable) ::xfmr::per_isa(avx512, avx2, portable)
// Defines `static void name params` running `body<V> args` with the vector type of the ISA in use.
#define XFMR_DISPATCH(name, body, params, args)                                                \
  XFMR_TARGET_AVX512 static void name##_avx512 params { body<::xfmr::simd::vf16> args; }       \
  XFMR_TARGET_AVX2 static void name##_avx2 params { body<::xfmr::simd::vf8> args; }            \
  static void name##_portable params { body<::xfmr::simd::vf4> args; }                         \
  static void name params { XFMR_PER_ISA(name##_avx512, name##_avx2, name##_portable) args; }
#else
#define XFMR_PER_ISA(avx512, avx2, portable) (portable)
#define XFMR_DISPATCH(name, body, params, args) \
  static void name params { body<::xfmr::simd::vf4> args; }
#endif
