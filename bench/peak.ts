/**
 * `npm run bench -- peak [--runs N]`: the float32 FMA roof of this machine, the ceiling for every
 * GEMM figure. A register-only loop (12 independent FMA chains of the widest vector the addon's ISA
 * has; bench/native/fma_peak.cc, a bench-only addon built on first use) runs on 1 thread and on
 * xfmr's thread count at once; each figure is the best of N runs of 0.05 s. No peer: this is the
 * hardware's number, and the machine may be shared, so a low figure means other work was running.
 * Prints the figures, then one JSON line.
 */
import { availableParallelism } from 'node:os';
import { benchAddon, bestPeak } from './native/index.ts';

const i = process.argv.indexOf('--runs');
const runs = i >= 0 ? Number(process.argv[i + 1]) : 5;
// xfmr's own default (native/threadpool.cc): XFMR_THREADS, else the cores this process may use.
const threads = Number(process.env.XFMR_THREADS) || availableParallelism();

const addon = benchAddon();
if (typeof addon === 'string') {
  console.log(`peak: ${addon}`);
  console.log(JSON.stringify({ peak_gflops: null, peak_gflops_1t: null, threads, isa: null, error: addon }));
  process.exitCode = 1;
} else {
  const one = bestPeak(addon, 1, runs);
  const all = bestPeak(addon, threads, runs);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  console.log(`f32 FMA peak, isa ${addon.isa()}, best of ${runs} x 0.05 s:`);
  console.log(`  1 thread   ${one.toFixed(1).padStart(7)} GFLOPS`);
  console.log(
    `  ${`${threads} threads`.padEnd(10)} ${all.toFixed(1).padStart(7)} GFLOPS (${(all / one).toFixed(2)}x one thread)`,
  );
  console.log(
    JSON.stringify({ peak_gflops: r1(all), peak_gflops_1t: r1(one), threads, isa: addon.isa(), runs }),
  );
}
