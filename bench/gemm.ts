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
 * bf16: gemmBf16 (its active path, `xfmr info`'s bf16 line; XFMR_ISA=amx|avx512bf16|avx512 picks
 * another) on the training shapes beside PyTorch's bf16 matmul (torch.matmul on bfloat16
 * tensors, oneDNN) in one python3 process, timed in alternating bursts like numpy; PyTorch's
 * figure is its best of torch.set_num_threads(1) and (all), as PEERS.md says is fair. Beside the
 * FMA peak, the bench addon's VDPBF16PS peak: where it is below the FMA peak (Sapphire Rapids
 * without AMX: about half), rounding to bf16 and running the f32 GEMM (the f32 path) beats the
 * avx512bf16 path, which is why that is the default without AMX (native/cpu.cc).
 *
 * linearBf16 (bf16 weights kept in memory, inference): decode shapes (N = 1 row of x, a GEMV
 * bound by reading W) and a batch and a prefill, in GB/s of weight traffic (Out * In * 2 bytes
 * per call) beside the f32 GEMM on the same weights in f32 (x @ W^T, 4 bytes per weight) and
 * PyTorch's bf16 matmul on [N, In] @ [Out, In]^T (torch.nn.functional.linear's product), each
 * in the same run; "speedup" is the f32 GEMM's time over linearBf16's; GFLOPS for the batch and
 * prefill rows, where GB/s of weights says less.
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
import { benchAddon, bestBf16DotPeak, bestPeak } from './native/index.ts';
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

/** Best seconds per call of `run` within `seconds` (at least 2 calls, after one warm-up call). */
function bestSeconds(run: () => void, seconds: number): number {
  run();
  let best = Number.POSITIVE_INFINITY;
  const end = performance.now() + seconds * 1000;
  for (let n = 0; n < 2 || performance.now() < end; n++) {
    const t = performance.now();
    run();
    best = Math.min(best, performance.now() - t);
  }
  return best / 1000;
}

/** Best GFLOPS of repeated calls within `seconds`. */
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
  return flopsOf(s) / bestSeconds(run, seconds) / 1e9;
}

// linearBf16 shapes: y[N, Out] = x[N, In] @ W^T.
interface LinearShape {
  N: number;
  In: number;
  Out: number;
  what: string;
}
const LINEAR: LinearShape[] = [
  { N: 1, In: 768, Out: 768, what: 'decode, attention projection (C=768)' },
  { N: 1, In: 768, Out: 3072, what: 'decode, MLP up' },
  { N: 1, In: 3072, Out: 768, what: 'decode, MLP down' },
  { N: 1, In: 2048, Out: 8192, what: 'decode, 1B-class MLP up (32 MB of bf16)' },
  { N: 1, In: 8192, Out: 2048, what: 'decode, 1B-class MLP down' },
  { N: 8, In: 2048, Out: 8192, what: 'batched decode, 8 sequences' },
  { N: 256, In: 768, Out: 3072, what: 'prefill, 256 tokens' },
];
const linearKey = (s: LinearShape) => `${s.N}x${s.In}x${s.Out}`;

/** bf16 bit patterns of w (truncated: any bf16 values do for timing). */
function bf16Bits(w: Float32Array): Uint16Array {
  const u = new Uint32Array(w.buffer, w.byteOffset, w.length);
  return Uint16Array.from(u, (v) => v >>> 16);
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
  const dotPeak1 = typeof addon === 'string' ? null : bestBf16DotPeak(addon, 1);
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
  if (typeof addon !== 'string')
    console.log(
      dotPeak1 === null
        ? '\nVDPBF16PS peak: no AVX512-BF16 on this CPU'
        : `\nVDPBF16PS peak (register-only, 1 thread): ${fmt(dotPeak1, 0)} GFLOPS against the f32 FMA peak ` +
            `${fmt(peak1, 0)}: ${dotPeak1 > (peak1 ?? 0) ? 'the avx512bf16 path can beat' : 'the f32 path beats'} ` +
            `avx512bf16 here${native.cpu.amx_bf16 ? ' (AMX runs neither)' : ''}`,
    );
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
  // linearBf16 at decode shapes, in GB/s of weight traffic, against f32 weights and PyTorch bf16.
  console.log(
    `\nxfmr linearBf16 (bf16 weights; N <= 32 streams W, larger N runs the ${bf16Path} GEMM path):\n` +
      `${'N x In x Out'.padEnd(16)} ${'bf16 1t'.padStart(8)} ${`bf16 ${threads}t`.padStart(8)} ` +
      `${`f32 ${threads}t`.padStart(8)} ${'speedup'.padStart(7)} ${'torch'.padStart(8)} ${'ratio'.padStart(6)} ` +
      `${'GFLOPS'.padStart(8)}  (GB/s of weights; f32 = gemm on f32 weights; speedup = f32 time / bf16 time ` +
      `at ${threads}t; torch = bf16 matmul, best of 1t and ${threads}t; ratio = xfmr ${threads}t / torch; ` +
      `GFLOPS = bf16 at ${threads}t)`,
  );
  const lin: Record<string, number> = {};
  const lin1: Record<string, number> = {};
  const linF32: Record<string, number> = {};
  const linSpeedup: Record<string, number> = {};
  const linTorch: Record<string, number> = {};
  const linRatio: Record<string, number> = {};
  const linGflops: Record<string, number> = {};
  for (const s of LINEAR) {
    const x = random(s.N * s.In);
    const wf = random(s.Out * s.In);
    const w = bf16Bits(wf);
    const y = new Float32Array(s.N * s.Out);
    const bytes = s.Out * s.In * 2;
    let b1 = 0;
    let ba = 0;
    let fa = 0;
    let tb = 0;
    for (let r = 0; r < ROUNDS; r++) {
      k.setThreads(1);
      b1 = Math.max(b1, bytes / bestSeconds(() => k.linearBf16(x, w, y, s.N, s.In, s.Out), BURST_S) / 1e9);
      k.setThreads(threads);
      ba = Math.max(ba, bytes / bestSeconds(() => k.linearBf16(x, w, y, s.N, s.In, s.Out), BURST_S) / 1e9);
      const f32 = () => k.gemm(x, wf, y, 1, s.N, s.Out, s.In, false, true, 0, 0, 0, 1, 0);
      fa = Math.max(fa, (2 * bytes) / bestSeconds(f32, BURST_S) / 1e9);
      if (torch) {
        const shape: Shape = { M: s.N, K: s.In, N: s.Out, transA: false, transB: true, what: s.what };
        // GFLOPS -> GB/s of bf16 weights: 2 N flops per 2 bytes.
        for (const t of [...new Set([1, threads])])
          tb = Math.max(tb, (await torch.time(shape, BURST_S, t)) / s.N);
      }
    }
    const id = linearKey(s);
    lin1[id] = round1(b1);
    lin[id] = round1(ba);
    linGflops[id] = round1(ba * s.N); // 2 N flops per 2-byte weight
    linF32[id] = round1(fa);
    // f32 time / bf16 time = (4 bytes / fa) / (2 bytes / ba).
    linSpeedup[id] = Math.round(((2 * ba) / fa) * 100) / 100;
    if (torch) {
      linTorch[id] = round1(tb);
      linRatio[id] = Math.round((ba / tb) * 100) / 100;
    }
    console.log(
      `${id.padEnd(16)} ${fmt(b1)} ${fmt(ba)} ${fmt(fa)} ${linSpeedup[id].toFixed(2).padStart(7)} ` +
        `${fmt(torch ? tb : null)} ${torch ? linRatio[id].toFixed(2).padStart(6) : '     -'} ` +
        `${fmt(linGflops[id])}  ${s.what}`,
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
        dot_peak_gflops_1t: dotPeak1 === null ? null : round1(dotPeak1),
      },
      // keys "NxInxOut"; GB/s of weight traffic
      linear_bf16: {
        gbps: lin,
        gbps_1t: lin1,
        gflops: linGflops,
        f32_gemm_gbps: linF32,
        speedup_vs_f32: linSpeedup,
        pytorch_gbps: torch ? linTorch : null,
        ratio_vs_pytorch: torch ? linRatio : null,
      },
    }),
  );
}

await main();
