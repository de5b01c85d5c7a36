/**
 * The bench-only addon (bench/native/fma_peak.cc): built on first use, and again when one of its
 * sources changed, with `node scripts/build-native.js bench/native` into bench/native/build. The
 * build's output goes to stderr, so stdout stays the figures and the JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface BenchAddon {
  /** GFLOPS of the register-only FMA loop on `threads` threads for about `seconds`. */
  fmaPeak(threads: number, seconds: number): number;
  /** GFLOPS of a register-only VDPBF16PS loop (64 flops each); null without AVX512-BF16. */
  bf16DotPeak(threads: number, seconds: number): number | null;
  /** The ISA the loop runs on: the addon's own choice (XFMR_ISA lowers it). */
  isa(): string;
}

const here = import.meta.dirname;
const root = join(here, '..', '..');
const built = join(here, 'build', 'Release', 'xfmr_bench.node');
const sources = ['fma_peak.cc', 'binding.gyp', '../../native/dispatch.h', '../../native/cpu.cc'].map((f) =>
  join(here, f),
);

/** The addon, or a sentence saying why it is unavailable. */
export function benchAddon(): BenchAddon | string {
  const stale = !existsSync(built) || sources.some((s) => statSync(s).mtimeMs > statSync(built).mtimeMs);
  if (stale) {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.js'), here], {
      cwd: root,
      stdio: ['ignore', 2, 2],
    });
    if (r.status !== 0)
      return `the bench addon did not build (\`node scripts/build-native.js bench/native\`)`;
  }
  try {
    return createRequire(import.meta.url)(built) as BenchAddon;
  } catch (e) {
    return `${built} does not load: ${(e as Error).message}`;
  }
}

/** The best of `runs` calls of `f` (the machine may be shared); null when `f` is. */
function bestOf(runs: number, f: () => number | null): number | null {
  let best = 0;
  for (let i = 0; i < runs; i++) {
    const g = f();
    if (g === null) return null;
    best = Math.max(best, g);
  }
  return best;
}

/** Best of `runs` fmaPeak runs of `seconds` each. */
export function bestPeak(addon: BenchAddon, threads: number, runs = 5, seconds = 0.05): number {
  return bestOf(runs, () => addon.fmaPeak(threads, seconds)) ?? 0;
}

/** Best of `runs` bf16DotPeak runs of `seconds` each; null without AVX512-BF16. */
export function bestBf16DotPeak(addon: BenchAddon, threads: number, runs = 5, seconds = 0.05): number | null {
  return bestOf(runs, () => addon.bf16DotPeak(threads, seconds));
}
