/**
 * linearBf16 (Kernels.linearBf16: y[N, Out] = bf16(x) @ W^T, W [Out, In] as bf16 bits) against a
 * float64 reference on the bf16-rounded inputs, native and js twin, on every bf16 path: the
 * native default in this process, and XFMR_ISA=amx (hardware tiles, only where the CPU has them),
 * amx-emulated, avx512bf16 (where the CPU has it) and avx512 (the f32 path) in child processes
 * (the path is fixed per process; this file re-runs itself with XFMR_LINEAR_BF16_CHILD set).
 * N <= 32 streams W the same way on every path; N = 64 and 300 run the path's GEMM.
 *
 * Shapes: every combination of N in {1, 2, 7, 17, 64, 300}, In in {1, 17, 63, 384, 1000} and Out
 * in {1, 17, 63, 1000} (vector tails, row groups of x and W, thread chunks, block edges) but
 * 300 x 1000 x 1000: its 3e8 reference products per path would double the file's time, and
 * 300 x 384 x 1000 and 64 x 1000 x 1000 reach the same blocks.
 *
 * Error bound: products of bf16 values are exact in f32, so only f32 summation of In products
 * separates y from the reference: |y - ref| <= (In + 2) 2^-24 sum_p |x_np w_op|. Skipping the
 * rounding of x, or reading a weight's bits wrongly (a wrong half of the pair, an offset row), is
 * off by 2^-9 relative or more.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsKernels, nativeKernels } from '../../src/kernels/index.ts';
import { roundBf16 } from '../../src/kernels/js/gemm.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { makeRandom } from './gemm_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Linear = Kernels['linearBf16'];

const NS = [1, 2, 7, 17, 64, 300];
const INS = [1, 17, 63, 384, 1000];
const OUTS = [1, 17, 63, 1000];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** bf16 bits of x (round to nearest even, as roundBf16). */
function bits(x: number): number {
  f32[0] = roundBf16(x);
  return u32[0] >>> 16;
}
function fromBits(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

interface Problem {
  N: number;
  In: number;
  Out: number;
  x: Float32Array;
  w: Uint16Array;
  want: Float64Array;
  bound: Float64Array;
}

function problem(N: number, In: number, Out: number, seed: number): Problem {
  const random = makeRandom(seed);
  const x = random(N * In);
  const w = Uint16Array.from(random(Out * In), bits);
  const xr = Float64Array.from(x, roundBf16);
  const wr = Float64Array.from(w, fromBits);
  const want = new Float64Array(N * Out);
  const bound = new Float64Array(N * Out);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let s = 0;
      let mag = 0;
      for (let p = 0; p < In; p++) {
        const v = xr[n * In + p] * wr[o * In + p];
        s += v;
        mag += Math.abs(v);
      }
      want[n * Out + o] = s;
      bound[n * Out + o] = (In + 2) * 2 ** -24 * mag + 1e-30;
    }
  return { N, In, Out, x, w, want, bound };
}

/** Runs `linear` on P (y prefilled with NaN: it must be overwritten); the first failure or null. */
function failure(linear: Linear, P: Problem): string | null {
  const y = new Float32Array(P.N * P.Out).fill(Number.NaN);
  linear(P.x, P.w, y, P.N, P.In, P.Out);
  for (let i = 0; i < y.length; i++)
    if (!(Math.abs(y[i] - P.want[i]) <= P.bound[i]))
      return `N=${P.N} In=${P.In} Out=${P.Out}: y[${Math.floor(i / P.Out)}][${i % P.Out}] = ${y[i]}, want ${P.want[i]} +- ${P.bound[i]}`;
  return null;
}

// Every shape with its reference, made once per process (the reference is most of the cost).
let all: Problem[] | null = null;
function problems(): Problem[] {
  if (!all) {
    all = [];
    for (const N of NS)
      for (const In of INS) for (const Out of OUTS) all.push(problem(N, In, Out, all.length + 1));
  }
  return all;
}

/** Every shape through `linear`; the failures. */
function runShapes(linear: Linear): string[] {
  return problems()
    .map((P) => failure(linear, P))
    .filter((e): e is string => e !== null);
}

/**
 * Rounding of x to bf16 (ties to even), through the streaming kernel (N = 8) and the GEMM
 * (N = 40): y = x @ [1]^T with In = Out = 1 must be round(x) exactly.
 */
function roundingFailures(linear: Linear): string[] {
  const cases: [number, number][] = [
    [1 + 2 ** -8, 1],
    [1 + 3 * 2 ** -8, 1 + 2 ** -6],
    [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7],
    [-(1 + 2 ** -8), -1],
  ];
  const out: string[] = [];
  for (const N of [8, 40]) {
    const x = Float32Array.from({ length: N }, (_, i) => cases[i % cases.length][0]);
    const y = new Float32Array(N);
    linear(x, Uint16Array.of(0x3f80), y, N, 1, 1); // w = [[1.0]]
    for (let i = 0; i < N; i++)
      if (y[i] !== cases[i % cases.length][1])
        out.push(`N=${N}: ${x[i]} -> ${y[i]}, want ${cases[i % cases.length][1]}`);
  }
  return out;
}

const expectNone = (failures: string[]) =>
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures, first: ${failures[0]}`);

if (process.env.XFMR_LINEAR_BF16_CHILD) {
  const k = nativeKernels();
  const failures = k ? [...runShapes(k.linearBf16), ...roundingFailures(k.linearBf16)] : ['no addon'];
  process.stdout.write(`${JSON.stringify({ bf16: loadNative().cpu?.bf16 ?? null, failures })}\n`);
} else {
  const skip = skipWithoutNative();
  const linear: Linear = (...args) => requireNative().linearBf16(...args);
  const cpu = loadNative().cpu;

  test('linearBf16 (js twin): every shape within the f32 summation bound; x rounds to nearest even', () => {
    expectNone(runShapes(jsKernels.linearBf16));
    expectNone(roundingFailures(jsKernels.linearBf16));
  });

  test(`linearBf16 (native, ${cpu?.bf16 ?? 'n/a'} path): every shape within the bound`, { skip }, () => {
    expectNone(runShapes(linear));
    expectNone(roundingFailures(linear));
  });

  test('linearBf16: In = 0 writes zeros, N = 0 or Out = 0 writes nothing', { skip }, () => {
    const y = new Float32Array(6).fill(Number.NaN);
    linear(new Float32Array(0), new Uint16Array(0), y, 2, 0, 3);
    assert.deepEqual([...y], [0, 0, 0, 0, 0, 0]);
    const z = Float32Array.of(7);
    linear(new Float32Array(4), new Uint16Array(4), z, 0, 4, 1);
    linear(new Float32Array(4), new Uint16Array(0), z, 1, 4, 0);
    assert.deepEqual([...z], [7]);
  });

  test('linearBf16: arrays too short are a RangeError naming the sizes; a wrong type is a TypeError', {
    skip,
  }, () => {
    const [N, In, Out] = [3, 5, 4];
    const x = new Float32Array(N * In);
    const w = new Uint16Array(Out * In);
    const y = new Float32Array(N * Out);
    const tooShort = /linearBf16: arrays too short for N=3 In=5 Out=4/;
    assert.throws(() => linear(x.subarray(1), w, y, N, In, Out), tooShort);
    assert.throws(() => linear(x, w.subarray(1), y, N, In, Out), tooShort);
    assert.throws(() => linear(x, w, y.subarray(1), N, In, Out), tooShort);
    assert.throws(() => linear(x, w, y.subarray(1), N, In, Out), RangeError);
    assert.throws(() => linear(x, w, y, -1, In, Out), RangeError);
    // bf16 weights as f32 (a likely mix-up) must not be read as bits.
    assert.throws(
      () => linear(x, new Float32Array(Out * In) as unknown as Uint16Array, y, N, In, Out),
      (e: Error) => e instanceof TypeError && /Uint16Array/.test(e.message),
    );
  });

  const paths: [string, string, string | false][] = [
    [
      'amx',
      'amx',
      cpu?.amx_bf16 ? false : 'this CPU (or OS) offers no AMX-BF16; amx-emulated runs the same driver',
    ],
    ['amx-emulated', 'amx-emulated', false],
    [
      'avx512bf16',
      'avx512bf16',
      cpu?.avx512bf16 && cpu.isa === 'avx512' ? false : 'this CPU has no AVX512-BF16',
    ],
    ['avx512', 'f32', false],
  ];
  for (const [isa, path, missing] of paths) {
    test(`linearBf16: XFMR_ISA=${isa} runs the ${path} path and passes (child process)`, {
      skip:
        skip ||
        missing ||
        (path === cpu?.bf16 && !process.env.XFMR_ISA ? 'the default path, tested above' : false),
    }, () => {
      requireNative();
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_LINEAR_BF16_CHILD: '1' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
        bf16: string;
        failures: string[];
      };
      assert.equal(out.bf16, path);
      expectNone(out.failures);
    });
  }
}
