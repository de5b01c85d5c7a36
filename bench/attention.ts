/**
 * `npm run bench -- attention`: the fused native attention kernel against two peers, causal, B=8,
 * H=6, T=256, D=64: PyTorch (Debian's torch 1.13, bench/peers/attention_torch.py: softmax(scale
 * q k^T, causal mask) v written out, as 1.13 has no scaled_dot_product_attention; forward under
 * no_grad, backward by autograd; its best over 1 and xfmr's thread count of its own threads and of
 * OpenBLAS's, as its pools fight over 2 cores), and the unfused path a tensor library would take
 * with xfmr's own kernels.
 *
 * Unfused forward: permute q, k, v [B, T, H, D] -> [B, H, T, D] (copies); S = scale Q K^T (batched
 * gemm); causal mask; P = softmax(S); O = P V (batched gemm); permute O back. Backward: permute
 * dout; dV = P^T dO; dP = dO V^T; dS = softmaxBackward(dP, P); dQ = scale dS K; dK = scale dS^T Q;
 * permute dQ, dK, dV back. Its buffers are allocated once, outside the timing (a tensor library
 * would allocate them per call, so this flatters the unfused path).
 *
 * Sliding window: the fused kernel at T = 2048 (B = 1) with a window of 256 against the same call
 * without one; the kernel visits only the key tiles a window can see, so the work is T w - w^2 / 2
 * scores instead of T^2 / 2 (4.3x fewer here), and the printed speed-up should approach that.
 *
 * FLOPs counted for both paths as the causal attention needs them: 4 B H T^2 D / 2 forward, 2.5x
 * that backward (the unfused gemms do twice that, the masked half included). Times are best of N
 * (the machine may be shared); CPU times summed over threads are printed too, as they move less
 * when other processes compete for the cores. The gemm is whatever nativeKernels() provides: the
 * native one when built, else the js fallback (then the unfused path is very slow and N small).
 * Prints the figures, then one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/kernels/index.ts';
import { nativeKernelNames } from '../src/kernels/native.ts';
import {
  BLAS_INFO_PY,
  type BlasInfo,
  describeBlas,
  PEER_PYTHON,
  peerEnv,
  torchThreadSettings,
} from './peers/python.ts';

const B = 8;
const H = 6;
const T = 256;
const D = 64;
const scale = 1 / Math.sqrt(D);

const k = nativeKernels();
if (!k) {
  console.error('bench attention: the native addon is not built (run `node scripts/build-native.js`)');
  process.exit(1);
}
const gemmKind = nativeKernelNames().includes('gemm') ? 'native' : 'js fallback';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

interface Timing {
  /** Best wall time of one call, ms. */
  ms: number;
  /** Best CPU time of one call summed over all threads, ms: steadier than wall time when other
   * processes compete for the cores, and equal to ms x threads when the kernel scales perfectly. */
  cpu: number;
}

/** Best of up to `maxRuns` runs of fn within about `budgetMs` (after one warm-up). */
function best(fn: () => void, budgetMs: number, maxRuns = 20): Timing {
  fn();
  let ms = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  const start = performance.now();
  for (let i = 0; i < maxRuns && (i < 2 || performance.now() - start < budgetMs); i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  return { ms, cpu };
}

const n = B * T * H * D;
const q = rand(n, 1); // [B, T, H, D]
const kk = rand(n, 2);
const v = rand(n, 3);
const dout = rand(n, 4);

// ---- fused ----
const out = new Float32Array(n);
const lse = new Float32Array(B * H * T);
const dq = new Float32Array(n);
const dk = new Float32Array(n);
const dv = new Float32Array(n);
const fusedForward = () =>
  k.attentionForward(q, kk, v, out, lse, B, T, T, H, H, D, T * H * D, 0, scale, true, 0, 0, false);
const fusedBackward = () => {
  dq.fill(0);
  dk.fill(0);
  dv.fill(0);
  k.attentionBackward(
    q,
    kk,
    v,
    out,
    dout,
    lse,
    dq,
    dk,
    dv,
    B,
    T,
    T,
    H,
    H,
    D,
    T * H * D,
    0,
    scale,
    true,
    0,
    0,
    false,
  );
};

// ---- unfused ----
const BH = B * H;
const qh = new Float32Array(n); // [B, H, T, D]
const kh = new Float32Array(n);
const vh = new Float32Array(n);
const S = new Float32Array(BH * T * T); // [B, H, T, T]
const P = new Float32Array(BH * T * T);
const oh = new Float32Array(n);
const out2 = new Float32Array(n);
const doh = new Float32Array(n);
const dP = new Float32Array(BH * T * T);
const dS = new Float32Array(BH * T * T);
const dqh = new Float32Array(n);
const dkh = new Float32Array(n);
const dvh = new Float32Array(n);
const dq2 = new Float32Array(n);
const dk2 = new Float32Array(n);
const dv2 = new Float32Array(n);

/** [B, T, H, D] -> [B, H, T, D] (toHeads) or back. */
function permute(src: Float32Array, dst: Float32Array, toHeads: boolean): void {
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const bthd = ((b * T + t) * H + h) * D;
        const bhtd = ((b * H + h) * T + t) * D;
        if (toHeads) dst.set(src.subarray(bthd, bthd + D), bhtd);
        else dst.set(src.subarray(bhtd, bhtd + D), bthd);
      }
}

const unfusedForward = () => {
  permute(q, qh, true);
  permute(kk, kh, true);
  permute(v, vh, true);
  k.gemm(qh, kh, S, BH, T, T, D, false, true, T * D, T * D, T * T, scale, 0); // S = scale Q K^T
  for (let r = 0; r < BH * T; r++) {
    const i = r % T;
    S.fill(Number.NEGATIVE_INFINITY, r * T + i + 1, (r + 1) * T); // causal mask
  }
  k.softmaxForward(S, P, BH * T, T);
  k.gemm(P, vh, oh, BH, T, D, T, false, false, T * T, T * D, T * D, 1, 0); // O = P V
  permute(oh, out2, false);
};
const unfusedBackward = () => {
  permute(dout, doh, true);
  k.gemm(P, doh, dvh, BH, T, D, T, true, false, T * T, T * D, T * D, 1, 0); // dV = P^T dO
  k.gemm(doh, vh, dP, BH, T, T, D, false, true, T * D, T * D, T * T, 1, 0); // dP = dO V^T
  dS.fill(0);
  k.softmaxBackward(dP, P, dS, BH * T, T);
  k.gemm(dS, kh, dqh, BH, T, D, T, false, false, T * T, T * D, T * D, scale, 0); // dQ = scale dS K
  k.gemm(dS, qh, dkh, BH, T, D, T, true, false, T * T, T * D, T * D, scale, 0); // dK = scale dS^T Q
  permute(dqh, dq2, false);
  permute(dkh, dk2, false);
  permute(dvh, dv2, false);
};

// ---- agreement (a benchmark of a wrong kernel is worthless) ----
fusedForward();
fusedBackward();
unfusedForward();
unfusedBackward();
function maxRel(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return diff / ref;
}
const agreement = Math.max(maxRel(out, out2), maxRel(dq, dq2), maxRel(dk, dk2), maxRel(dv, dv2));
if (!(agreement < 1e-4)) {
  console.error(`bench attention: fused and unfused disagree (max relative difference ${agreement})`);
  process.exit(1);
}

// ---- timing ----
const slow = gemmKind !== 'native';
const budget = slow ? 3000 : 4000;
const fusedFwd = best(fusedForward, budget);
const fusedFwdBwd = best(() => {
  fusedForward();
  fusedBackward();
}, budget);
const unfusedFwd = best(unfusedForward, budget, slow ? 2 : 20);
const unfusedFwdBwd = best(
  () => {
    unfusedForward();
    unfusedBackward();
  },
  budget,
  slow ? 2 : 20,
);

// ---- sliding window ----
const W = { B: 1, T: 2048, window: 256 };
const wn = W.B * W.T * H * D;
const [wq, wk, wv, wdo] = [5, 6, 7, 8].map((seed) => rand(wn, seed));
const [wo, wdq, wdk, wdv] = [0, 0, 0, 0].map(() => new Float32Array(wn));
const wlse = new Float32Array(W.B * H * W.T);
const windowed = (window: number) => () => {
  const dims = [W.B, W.T, W.T, H, H, D, W.T * H * D, 0, scale, true, window, 0, false] as const;
  k.attentionForward(wq, wk, wv, wo, wlse, ...dims);
  k.attentionBackward(wq, wk, wv, wo, wdo, wlse, wdq, wdk, wdv, ...dims);
};
// Best of 5, alternated (after a warm-up of each), so that both see the same load from other
// processes.
const windowFull: Timing = { ms: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
const windowSliding: Timing = { ...windowFull };
const pair = [
  [windowed(0), windowFull],
  [windowed(W.window), windowSliding],
] as const;
for (const [fn] of pair) fn();
for (let i = 0; i < 5; i++)
  for (const [fn, t] of pair) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    t.ms = Math.min(t.ms, performance.now() - t0);
    const c = process.cpuUsage(c0);
    t.cpu = Math.min(t.cpu, (c.user + c.system) / 1000);
  }
const windowWork = (W.T * W.T) / 2 / (W.T * W.window - (W.window * W.window) / 2);

// ---- PyTorch ----
interface TorchRun {
  blas: BlasInfo;
  threads: number;
  fwd_ms: number;
  fwdbwd_ms: number;
}
const torchEnv = peerEnv('torch', 1);
const torchRuns: TorchRun[] = [];
let torchError: string | null = torchEnv.blas ? null : `torch is not installed for ${PEER_PYTHON}`;
const script = readFileSync(join(import.meta.dirname, 'peers', 'attention_torch.py'), 'utf8');
for (const t of torchEnv.blas ? torchThreadSettings(k.threads()) : []) {
  const r = spawnSync(
    PEER_PYTHON,
    ['-c', `${BLAS_INFO_PY}\n${script}`, ...[t.torch, B, H, T, D, budget / 4000].map(String)],
    { encoding: 'utf8', env: peerEnv('torch', t.blas).env },
  );
  if (r.status !== 0) {
    torchError = `the PyTorch peer failed: ${r.stderr.trim().split('\n').at(-1)}`;
    break;
  }
  torchRuns.push(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as TorchRun);
}
const bestTorch = (key: 'fwd_ms' | 'fwdbwd_ms') =>
  torchRuns.reduce<TorchRun | null>((b, r) => (b && b[key] <= r[key] ? b : r), null);
const torchFwd = bestTorch('fwd_ms');
const torchFwdBwd = bestTorch('fwdbwd_ms');

const fwdFlops = (4 * B * H * T * T * D) / 2;
const fwdBwdFlops = fwdFlops * 3.5;
const gflops = (flops: number, ms: number) => Number((flops / ms / 1e6).toFixed(2));
const round = (x: number) => Number(x.toFixed(3));
const figures = (fwd: Timing, fwdBwd: Timing) => ({
  fwd_ms: round(fwd.ms),
  fwdbwd_ms: round(fwdBwd.ms),
  fwd_gflops: gflops(fwdFlops, fwd.ms),
  fwdbwd_gflops: gflops(fwdBwdFlops, fwdBwd.ms),
  fwd_cpu_ms: round(fwd.cpu),
  fwdbwd_cpu_ms: round(fwdBwd.cpu),
});
const result = {
  fused: figures(fusedFwd, fusedFwdBwd),
  unfused: figures(unfusedFwd, unfusedFwdBwd),
  pytorch:
    torchFwd && torchFwdBwd
      ? {
          fwd_ms: round(torchFwd.fwd_ms),
          fwdbwd_ms: round(torchFwdBwd.fwdbwd_ms),
          fwd_gflops: gflops(fwdFlops, torchFwd.fwd_ms),
          fwdbwd_gflops: gflops(fwdBwdFlops, torchFwdBwd.fwdbwd_ms),
          threads: { fwd: torchFwd.threads, fwdbwd: torchFwdBwd.threads },
          blas_threads: { fwd: torchFwd.blas.blas_threads, fwdbwd: torchFwdBwd.blas.blas_threads },
          runs: torchRuns.map(({ threads, blas, fwd_ms, fwdbwd_ms }) => ({
            threads,
            blas_threads: blas.blas_threads,
            fwd_ms: round(fwd_ms),
            fwdbwd_ms: round(fwdbwd_ms),
          })),
          blas: torchFwdBwd.blas,
          blas_note: torchEnv.note,
        }
      : { error: torchError },
  // Peer time / xfmr fused time: above 1, xfmr is faster.
  ratio_vs_pytorch:
    torchFwd && torchFwdBwd
      ? { fwd: round(torchFwd.fwd_ms / fusedFwd.ms), fwdbwd: round(torchFwdBwd.fwdbwd_ms / fusedFwdBwd.ms) }
      : null,
  speedup: { fwd: round(unfusedFwd.ms / fusedFwd.ms), fwdbwd: round(unfusedFwdBwd.ms / fusedFwdBwd.ms) },
  speedup_cpu: {
    fwd: round(unfusedFwd.cpu / fusedFwd.cpu),
    fwdbwd: round(unfusedFwdBwd.cpu / fusedFwdBwd.cpu),
  },
  sliding_window: {
    shape: { B: W.B, H, T: W.T, D, window: W.window },
    full_fwdbwd_ms: round(windowFull.ms),
    window_fwdbwd_ms: round(windowSliding.ms),
    speedup: round(windowFull.ms / windowSliding.ms),
    speedup_cpu: round(windowFull.cpu / windowSliding.cpu),
    work_ratio: round(windowWork),
  },
  shape: { B, H, T, D, causal: true },
  threads: k.threads(),
  gemm: gemmKind,
  agreement: Number(agreement.toExponential(2)),
};

const line = (name: string, t: Timing, flops: number) =>
  `${name.padEnd(17)} ${t.ms.toFixed(2).padStart(8)} ms  ${gflops(flops, t.ms).toFixed(1).padStart(6)} GFLOPS  (cpu ${t.cpu.toFixed(2)} ms)`;
console.log(`attention B=${B} H=${H} T=${T} D=${D} causal, ${k.threads()} threads, gemm: ${gemmKind}`);
console.log(line('fused fwd', fusedFwd, fwdFlops));
console.log(line('fused fwd+bwd', fusedFwdBwd, fwdBwdFlops));
console.log(line('unfused fwd', unfusedFwd, fwdFlops));
console.log(line('unfused fwd+bwd', unfusedFwdBwd, fwdBwdFlops));
if (torchFwd && torchFwdBwd) {
  const ms = (name: string, t: number, flops: number, run: TorchRun) =>
    `${name.padEnd(17)} ${t.toFixed(2).padStart(8)} ms  ${gflops(flops, t).toFixed(1).padStart(6)} GFLOPS  ` +
    `(its best: torch ${run.threads} thread${run.threads > 1 ? 's' : ''}, OpenBLAS ${run.blas.blas_threads})`;
  console.log(ms('pytorch fwd', torchFwd.fwd_ms, fwdFlops, torchFwd));
  console.log(ms('pytorch fwd+bwd', torchFwdBwd.fwdbwd_ms, fwdBwdFlops, torchFwdBwd));
  console.log(`  ${describeBlas(torchFwdBwd.blas, torchEnv.note)}`);
  console.log(
    `xfmr fused vs pytorch: fwd ${result.ratio_vs_pytorch?.fwd}x, fwd+bwd ${result.ratio_vs_pytorch?.fwdbwd}x faster`,
  );
} else console.log(`pytorch: ${torchError}`);
console.log(`speed-up fused/unfused: fwd ${result.speedup.fwd}x, fwd+bwd ${result.speedup.fwdbwd}x`);
console.log(`  by cpu time:          fwd ${result.speedup_cpu.fwd}x, fwd+bwd ${result.speedup_cpu.fwdbwd}x`);
console.log(`fused vs unfused max relative difference: ${result.agreement}`);
console.log(
  `sliding window ${W.window} at B=${W.B} T=${W.T}: fwd+bwd ${windowSliding.ms.toFixed(2)} ms against ` +
    `${windowFull.ms.toFixed(2)} ms without: ${result.sliding_window.speedup}x ` +
    `(by cpu time ${result.sliding_window.speedup_cpu}x; ` +
    `${result.sliding_window.work_ratio.toFixed(1)}x fewer scores)`,
);
console.log(JSON.stringify(result));
