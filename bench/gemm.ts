/**
 * `npm run bench -- gemm`: GFLOPS of the native GEMM on the transformer's shapes, on 1 thread and
 * on all threads, beside numpy (OpenBLAS) measured in the same run, and the machine's f32 peak.
 *
 * Noise: the machine may be shared, so every figure is a best-of-N, and xfmr and numpy are timed
 * in alternating bursts per shape (a busy spell hurts both, not one). numpy runs in one python3
 * process per thread count that stays up for the whole run (env OPENBLAS_NUM_THREADS etc.).
 * numpy's environment and the OpenBLAS kernel it runs come from bench/peers/python.ts (inherited
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed); each numpy process reports its kernel.
 * Peak: bench/native (a bench-only addon) runs a register-only FMA loop (12 independent chains of
 * the widest vector the addon's ISA has) on 1 and on all threads; best of 5 runs of 0.05 s.
 *
 * bf16: gemmBf16 (its active path, `xfmr info`'s bf16 line; XFMR_ISA=avx512bf16|avx512 picks
 * another) on the training shapes beside PyTorch's bf16 matmul (torch.matmul on bfloat16
 * tensors, oneDNN) in one python3 process, timed in alternating bursts like numpy; PyTorch's
 * figure is its best of torch.set_num_threads(1) and (all), as PEERS.md says is fair.
 *
 * Usage: npm run bench -- gemm [--quick]   (--quick: shorter bursts, for a smoke run)
 * The last line of output is one JSON object with every figure (keys "MxKxN").
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { nativeKernels } from '../src/kernels/index.ts';
import type { Kernels } from '../src/kernels/kernels.ts';
import { loadNative } from '../src/kernels/native.ts';
import { benchAddon, bestPeak } from './native/index.ts';
import { BLAS_INFO_PY, type BlasInfo, describeBlas, PEER_PYTHON, peerEnv } from './peers/python.ts';

interface Shape {
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  what: string;
}

const SHAPES: Shape[] = [
  { M: 4096, K: 768, N: 3072, transA: false, transB: false, what: 'MLP up (B*T=4096, C=768)' },
  { M: 4096, K: 3072, N: 768, transA: false, transB: false, what: 'MLP down' },
  { M: 768, K: 4096, N: 3072, transA: true, transB: false, what: 'weight gradient A^T @ B' },
  { M: 2048, K: 768, N: 768, transA: false, transB: false, what: 'attention projection' },
  { M: 4096, K: 384, N: 1536, transA: false, transB: false, what: 'small model MLP up' },
  { M: 1, K: 768, N: 3072, transA: false, transB: true, what: 'decode GEMV x @ W^T' },
  { M: 1, K: 3072, N: 768, transA: false, transB: true, what: 'decode GEMV x @ W^T' },
];

const quick = process.argv.includes('--quick');
const BURST_S = quick ? 0.08 : 0.3; // one timing burst; each figure is the best over ROUNDS bursts
const ROUNDS = quick ? 1 : 3;
const SETTLE_MS = 200; // after a numpy burst, OpenBLAS's workers spin for a while before sleeping

const key = (s: Shape) => `${s.M}x${s.K}x${s.N}`;
const flopsOf = (s: Shape) => 2 * s.M * s.N * s.K;

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** Best GFLOPS of repeated calls within `seconds` (at least 2 calls, after one warm-up call). */
function timeXfmr(
  k: Kernels,
  s: Shape,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  seconds: number,
  fn: 'gemm' | 'gemmBf16' = 'gemm',
) {
  const run = () => k[fn](A, B, C, 1, s.M, s.N, s.K, s.transA, s.transB, 0, 0, 0, 1, 0);
  run();
  let best = Number.POSITIVE_INFINITY;
  const end = performance.now() + seconds * 1000;
  for (let n = 0; n < 2 || performance.now() < end; n++) {
    const t = performance.now();
    run();
    best = Math.min(best, performance.now() - t);
  }
  return flopsOf(s) / (best / 1000) / 1e9;
}

// numpy side: a python3 process that first prints its BLAS (one JSON line), then reads
// "M K N transA transB seconds" lines and answers the best GFLOPS of `a @ b` with the matching
// transposed views (a 1-D x for M = 1, so numpy uses its GEMV). The arrays are made once per
// shape; `out=` avoids timing an allocation.
const NUMPY_SERVER = `${BLAS_INFO_PY}
import json, sys, time
import numpy as np
print(json.dumps(blas_info("numpy")), flush=True)
rng = np.random.default_rng(0)
cache = {}
for line in sys.stdin:
    M, K, N, ta, tb, secs = line.split()
    M, K, N, ta, tb, secs = int(M), int(K), int(N), ta == '1', tb == '1', float(secs)
    k = (M, K, N, ta, tb)
    if k not in cache:
        a = rng.random((K, M) if ta else (M, K), dtype=np.float32)
        b = rng.random((N, K) if tb else (K, N), dtype=np.float32)
        a = a.T if ta else a
        b = b.T if tb else b
        if M == 1:
            a = np.ascontiguousarray(a[0])
        cache = {k: (a, b, np.empty(N if M == 1 else (M, N), dtype=np.float32))}
    a, b, c = cache[k]
    np.matmul(a, b, out=c)
    best, n, end = float('inf'), 0, time.perf_counter() + secs
    while n < 2 or time.perf_counter() < end:
        t = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t)
        n += 1
    print(2.0 * M * N * K / best / 1e9, flush=True)
`;

class NumpyServer {
  private proc: ChildProcessWithoutNullStreams;
  private waiting: ((line: string) => void)[] = [];
  /** The server's first line: the BLAS it runs on. */
  readonly blas: Promise<BlasInfo | null>;

  constructor(env: NodeJS.ProcessEnv, threads: number) {
    const threadVars = ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'];
    this.proc = spawn(PEER_PYTHON, ['-c', NUMPY_SERVER], {
      env: { ...env, ...Object.fromEntries(threadVars.map((v) => [v, String(threads)])) },
    });
    this.blas = new Promise((resolve) =>
      this.waiting.push((line) => resolve(line === 'NaN' ? null : JSON.parse(line))),
    );
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    // A crashed server answers NaN to whoever waits, so the run still ends with its JSON line.
    this.proc.on('exit', () => {
      for (const w of this.waiting.splice(0)) w('NaN');
    });
  }

  time(s: Shape, seconds: number): Promise<number> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(Number.NaN);
      this.waiting.push((line) => resolve(Number(line)));
      this.proc.stdin.write(`${s.M} ${s.K} ${s.N} ${+s.transA} ${+s.transB} ${seconds}\n`);
    });
  }

  close() {
    this.proc.stdin.end();
  }
}

// PyTorch bf16 side: like the numpy server, with bfloat16 tensors and a thread count per request
// ("M K N transA transB seconds threads"; torch.set_num_threads before timing).
const TORCH_BF16_SERVER = `${BLAS_INFO_PY}
import json, sys, time
import torch
info = blas_info("torch")
info["mkldnn"] = bool(torch.backends.mkldnn.is_available())
print(json.dumps(info), flush=True)
torch.manual_seed(0)
cache = {}
for line in sys.stdin:
    M, K, N, ta, tb, secs, th = line.split()
    M, K, N, ta, tb, secs = int(M), int(K), int(N), ta == '1', tb == '1', float(secs)
    torch.set_num_threads(int(th))
    k = (M, K, N, ta, tb)
    if k not in cache:
        a = torch.rand((K, M) if ta else (M, K)).bfloat16()
        b = torch.rand((N, K) if tb else (K, N)).bfloat16()
        cache = {k: (a.t() if ta else a, b.t() if tb else b)}
    a, b = cache[k]
    torch.matmul(a, b)
    best, n, end = float('inf'), 0, time.perf_counter() + secs
    while n < 2 or time.perf_counter() < end:
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
        n += 1
    print(2.0 * M * N * K / best / 1e9, flush=True)
`;

class TorchBf16Server {
  private proc: ChildProcessWithoutNullStreams;
  private waiting: ((line: string) => void)[] = [];
  readonly info: Promise<(BlasInfo & { mkldnn: boolean }) | null>;

  constructor(env: NodeJS.ProcessEnv) {
    this.proc = spawn(PEER_PYTHON, ['-c', TORCH_BF16_SERVER], { env });
    this.info = new Promise((resolve) =>
      this.waiting.push((line) => resolve(line === 'NaN' ? null : JSON.parse(line))),
    );
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    this.proc.on('exit', () => {
      for (const w of this.waiting.splice(0)) w('NaN');
    });
  }

  time(s: Shape, seconds: number, threads: number): Promise<number> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(Number.NaN);
      this.waiting.push((line) => resolve(Number(line)));
      this.proc.stdin.write(`${s.M} ${s.K} ${s.N} ${+s.transA} ${+s.transB} ${seconds} ${threads}\n`);
    });
  }

  close() {
    this.proc.stdin.end();
  }
}

const fmt = (x: number | null | undefined, w = 8) => (x == null ? '-' : x.toFixed(1)).padStart(w);
const round1 = (x: number) => Math.round(x * 10) / 10;

async function main() {
  const k = nativeKernels();
  const native = loadNative();
  if (!k || !native.cpu) {
    console.log(`xfmr native addon not available: ${native.error}`);
    console.log('build it with `node scripts/build-native.js`; nothing to measure.');
    console.log(JSON.stringify({ gflops: null, gflops_1t: null, numpy_gflops: null, peak_gflops: null }));
    return;
  }
  const threads = k.threads();
  const addon = benchAddon();
  const peak1 = typeof addon === 'string' ? null : bestPeak(addon, 1);
  const peakAll = typeof addon === 'string' ? null : bestPeak(addon, threads);
  console.log(`xfmr gemm: isa ${native.cpu.isa}, ${threads} threads`);
  console.log(
    typeof addon === 'string'
      ? `f32 FMA peak: not measured (${addon})`
      : `f32 FMA peak (register-only FMA loop, best of 5 x 0.05 s; \`npm run bench -- peak\`): ` +
          `${fmt(peak1, 0)} GFLOPS on 1 thread, ${fmt(peakAll, 0)} on ${threads}`,
  );

  const numpyEnv = peerEnv('numpy');
  const hasNumpy = numpyEnv.blas !== null;
  const np1 = hasNumpy ? new NumpyServer(numpyEnv.env, 1) : null;
  const npAll = hasNumpy ? new NumpyServer(numpyEnv.env, threads) : null;
  const npBlas = { '1t': (await np1?.blas) ?? null, [`${threads}t`]: (await npAll?.blas) ?? null };
  if (!hasNumpy) console.log(`numpy is NOT installed for ${PEER_PYTHON}: no numpy comparison`);
  else {
    console.log('numpy measured alongside, best of bursts:');
    for (const [t, b] of Object.entries(npBlas)) console.log(`  ${t}: ${describeBlas(b)}`);
    if (numpyEnv.note) console.log(`  (${numpyEnv.note})`);
  }

  const gflops: Record<string, number> = {};
  const gflops1: Record<string, number> = {};
  const npG: Record<string, number> = {};
  const npG1: Record<string, number> = {};
  const ratio: Record<string, number> = {};
  const ratioBest: Record<string, number> = {};
  console.log(
    `${'M x K x N'.padEnd(16)} ${'trans'.padEnd(5)} ${'xfmr 1t'.padStart(8)} ${`xfmr ${threads}t`.padStart(8)} ` +
      `${'np 1t'.padStart(8)} ${`np ${threads}t`.padStart(8)} ${'ratio'.padStart(6)} ${'best'.padStart(6)}  ` +
      `(GFLOPS; ratio = xfmr/numpy at ${threads}t; best = each side's best of 1t and ${threads}t)`,
  );
  for (const s of SHAPES) {
    const A = random(s.M * s.K);
    const B = random(s.K * s.N);
    const C = new Float32Array(s.M * s.N);
    let x1 = 0;
    let xa = 0;
    let n1 = 0;
    let na = 0;
    for (let r = 0; r < ROUNDS; r++) {
      k.setThreads(1);
      x1 = Math.max(x1, timeXfmr(k, s, A, B, C, BURST_S));
      k.setThreads(threads);
      xa = Math.max(xa, timeXfmr(k, s, A, B, C, BURST_S));
      if (np1 && npAll) {
        n1 = Math.max(n1, await np1.time(s, BURST_S));
        na = Math.max(na, await npAll.time(s, BURST_S));
        await sleep(SETTLE_MS);
      }
    }
    const id = key(s);
    gflops1[id] = round1(x1);
    gflops[id] = round1(xa);
    if (hasNumpy) {
      npG1[id] = round1(n1);
      npG[id] = round1(na);
      ratio[id] = Math.round((xa / na) * 100) / 100;
      ratioBest[id] = Math.round((Math.max(x1, xa) / Math.max(n1, na)) * 100) / 100;
    }
    const trans = `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
    console.log(
      `${id.padEnd(16)} ${trans.padEnd(5)} ${fmt(x1)} ${fmt(xa)} ${fmt(hasNumpy ? n1 : null)} ` +
        `${fmt(hasNumpy ? na : null)} ${hasNumpy ? ratio[id].toFixed(2).padStart(6) : '     -'} ` +
        `${hasNumpy ? ratioBest[id].toFixed(2).padStart(6) : '     -'}  ${s.what}`,
    );
  }
  np1?.close();
  npAll?.close();

  // bf16 on the training shapes (M > 1), against PyTorch's bf16 matmul.
  const bf16Path = native.cpu.bf16;
  const torchEnv = peerEnv('torch', threads);
  const torch = torchEnv.blas ? new TorchBf16Server(torchEnv.env) : null;
  const torchInfo = (await torch?.info) ?? null;
  console.log(
    `\nxfmr gemmBf16: path ${bf16Path}; PyTorch bf16 matmul: ` +
      (torchInfo
        ? `torch ${torchInfo.version} (${torchInfo.python}), mkldnn ${torchInfo.mkldnn}`
        : 'not installed'),
  );
  const bf: Record<string, number> = {};
  const bf1: Record<string, number> = {};
  const tG: Record<string, number> = {};
  const tThreads: Record<string, number> = {};
  const bfRatio: Record<string, number> = {};
  console.log(
    `${'M x K x N'.padEnd(16)} ${'trans'.padEnd(5)} ${'bf16 1t'.padStart(8)} ${`bf16 ${threads}t`.padStart(8)} ` +
      `${'torch'.padStart(8)} ${'ratio'.padStart(6)}  (GFLOPS; torch = its best of 1t and ${threads}t; ` +
      `ratio = xfmr ${threads}t / torch)`,
  );
  for (const s of SHAPES.filter((x) => x.M > 1)) {
    const A = random(s.M * s.K);
    const B = random(s.K * s.N);
    const C = new Float32Array(s.M * s.N);
    let x1 = 0;
    let xa = 0;
    let tb = 0;
    let tbThreads = 0;
    for (let r = 0; r < ROUNDS; r++) {
      k.setThreads(1);
      x1 = Math.max(x1, timeXfmr(k, s, A, B, C, BURST_S, 'gemmBf16'));
      k.setThreads(threads);
      xa = Math.max(xa, timeXfmr(k, s, A, B, C, BURST_S, 'gemmBf16'));
      if (torch)
        for (const t of [...new Set([1, threads])]) {
          const g = await torch.time(s, BURST_S, t);
          if (g > tb) [tb, tbThreads] = [g, t];
        }
    }
    const id = key(s);
    bf1[id] = round1(x1);
    bf[id] = round1(xa);
    if (torch) {
      tG[id] = round1(tb);
      tThreads[id] = tbThreads;
      bfRatio[id] = Math.round((xa / tb) * 100) / 100;
    }
    const trans = `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
    console.log(
      `${id.padEnd(16)} ${trans.padEnd(5)} ${fmt(x1)} ${fmt(xa)} ${fmt(torch ? tb : null)} ` +
        `${torch ? bfRatio[id].toFixed(2).padStart(6) : '     -'}  ${s.what}`,
    );
  }
  torch?.close();
  k.setThreads(threads);
  console.log(
    JSON.stringify({
      gflops,
      gflops_1t: gflops1,
      numpy_gflops: hasNumpy ? npG : null,
      numpy_gflops_1t: hasNumpy ? npG1 : null,
      peak_gflops: peakAll === null ? null : round1(peakAll),
      peak_gflops_1t: peak1 === null ? null : round1(peak1),
      threads,
      isa: native.cpu.isa,
      ratio_vs_numpy: hasNumpy ? ratio : null,
      // Each side's best of 1 and all threads: OpenBLAS's threaded GEMV can collapse on a busy machine.
      ratio_vs_numpy_best: hasNumpy ? ratioBest : null,
      numpy: hasNumpy ? { blas: npBlas, note: numpyEnv.note } : null,
      bf16: {
        path: bf16Path,
        gflops: bf,
        gflops_1t: bf1,
        pytorch_gflops: torch ? tG : null,
        pytorch_threads: torch ? tThreads : null,
        ratio_vs_pytorch: torch ? bfRatio : null,
        pytorch: torchInfo,
      },
    }),
  );
}

await main();
