/**
 * gemmBf16 (Kernels.gemmBf16) against a float64 reference computed on the bf16-rounded inputs, on
 * every path: the native default (amx where the CPU has AMX-BF16, else f32), and in child
 * processes (the path is fixed per process; this file re-runs itself with XFMR_GEMM_BF16_CHILD
 * set) XFMR_ISA=amx (the hardware tiles; only where the CPU has them), XFMR_ISA=amx-emulated (the
 * whole AMX driver, packing, tiling, edges, threads, alpha/beta and batch, with each tile
 * instruction emulated: runs on every machine), XFMR_ISA=avx512bf16 (where the CPU has it) and
 * XFMR_ISA=avx512 (the f32 path); and the js twin.
 *
 * Shapes (acceptance 1 of issue 15): every transpose (NN, NT, TN, TT) with M, N, K from {1, 17, 63,
 * 1000, 3072}, two Latin squares so each size is each of M, N and K twice per transpose; plus
 * 1x1x1, a batch with alpha and beta, and beta = 1 on whole 32 x 32 tiles (the AMX kernel's
 * direct C path). All of them run on every path, the emulation included: its padded work is
 * about 2 GFLOP, a second or two, next to the float64 reference's few seconds per path.
 *
 * Error bound: the rounded inputs are exact bf16, so every product is exact in f32 and the only
 * error is f32 summation of K products and the beta term (beta = 1 may enter the AMX tile's
 * accumulator first): |C - ref| <= (K + 2) 2^-24 (|alpha| sum_p |a_ip b_pj| + |beta C0|). A kernel
 * that skipped the rounding, rounded toward zero, or lost a k pair at a block edge would be off by
 * about 2^-9 relative, far outside it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsKernels, nativeKernels } from '../../src/kernels/index.ts';
import { roundBf16, roundBf16Array } from '../../src/kernels/js/gemm.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { makeRandom, TRANS } from './gemm_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Gemm = Kernels['gemmBf16'];

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batch?: number;
  alpha?: number;
  beta?: number;
}

/** Runs one case; returns null or what went wrong. Also returns C for cross-path comparisons. */
function check(gemm: Gemm, c: Case, seed: number): { err: string | null; C: Float32Array } {
  const { M, N, K, transA, transB } = c;
  const batch = c.batch ?? 1;
  const alpha = c.alpha ?? 1;
  const beta = c.beta ?? 0;
  const random = makeRandom(seed);
  const A = random(batch * M * K);
  const B = random(batch * K * N);
  const C0 = random(batch * M * N);
  const C = beta === 0 ? new Float32Array(batch * M * N).fill(Number.NaN) : C0.slice();
  gemm(A, B, C, batch, M, N, K, transA, transB, M * K, K * N, M * N, alpha, beta);
  const a = roundBf16Array(A);
  const b = roundBf16Array(B);
  const ref = new Float64Array(N);
  const mag = new Float64Array(N);
  // op(B_t) as rows [K][N] and its magnitudes, so the inner loop runs along contiguous rows.
  const ob = new Float64Array(K * N);
  const obAbs = new Float64Array(K * N);
  for (let t = 0; t < batch; t++) {
    const a0 = t * M * K;
    const b0 = t * K * N;
    for (let p = 0; p < K; p++)
      for (let j = 0; j < N; j++) {
        ob[p * N + j] = transB ? b[b0 + j * K + p] : b[b0 + p * N + j];
        obAbs[p * N + j] = Math.abs(ob[p * N + j]);
      }
    for (let i = 0; i < M; i++) {
      ref.fill(0);
      mag.fill(0);
      for (let p = 0; p < K; p++) {
        const x = transA ? a[a0 + p * M + i] : a[a0 + i * K + p];
        const ax = Math.abs(x);
        const row = p * N;
        for (let j = 0; j < N; j++) {
          ref[j] += x * ob[row + j];
          mag[j] += ax * obAbs[row + j];
        }
      }
      for (let j = 0; j < N; j++) {
        const at = t * M * N + i * N + j;
        const c0 = beta === 0 ? 0 : C0[at];
        const want = alpha * ref[j] + beta * c0;
        const bound = (K + 2) * 2 ** -24 * (mag[j] * Math.abs(alpha) + Math.abs(beta * c0)) + 1e-30;
        if (!(Math.abs(C[at] - want) <= bound))
          return { err: `${JSON.stringify(c)}: C[${t}][${i}][${j}] = ${C[at]}, want ${want} +- ${bound}`, C };
      }
    }
  }
  return { err: null, C };
}

const SIZES = [1, 17, 63, 1000, 3072];

// Per transpose: (M, N, K) = (S[r], S[r + 1], S[r + 3]) and (S[r], S[r + 2], S[r + 4]) (indices
// mod 5), then the extras. `big` = false drops the two ~50M-product shapes of each square (the
// js-vs-native agreement check runs both backends twice).
function cases(big: boolean): Case[] {
  const out: Case[] = [];
  const S = (i: number) => SIZES[i % 5];
  for (const [transA, transB] of TRANS) {
    for (const [d1, d2] of [
      [1, 3],
      [2, 4],
    ])
      for (let r = 0; r < 5; r++) {
        const [M, N, K] = [S(r), S(r + d1), S(r + d2)];
        if (big || M * N * K < 1e7) out.push({ M, N, K, transA, transB });
      }
    out.push({ M: 1, N: 1, K: 1, transA, transB });
    out.push({ M: 17, N: 63, K: 17, transA, transB, batch: 3, alpha: 0.5, beta: 2 });
    out.push({ M: 64, N: 96, K: 1000, transA, transB, beta: 1 });
  }
  return out;
}

function runCases(gemm: Gemm, list: Case[]): string[] {
  const failures: string[] = [];
  list.forEach((c, i) => {
    const { err } = check(gemm, c, 100 + i);
    if (err) failures.push(err);
  });
  return failures;
}

/** Halfway and near-halfway values, each with its bf16 rounding (ties to even). */
const ROUNDING: [number, number][] = [
  [1 + 2 ** -8, 1], // halfway between 1 and 1 + 2^-7: to the even mantissa, 1
  [1 + 3 * 2 ** -8, 1 + 2 ** -6], // halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up
  [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7], // just above halfway: up
  [1 + 2 ** -8 - 2 ** -20, 1], // just below: down
  [-(1 + 2 ** -8), -1],
  [-(1 + 3 * 2 ** -8), -(1 + 2 ** -6)],
  [3 * 2 ** 100 + 2 ** 93, 3 * 2 ** 100], // halfway at a large exponent (last mantissa bit 0: even)
  [0, 0],
];

/** The rounding through the GEMM: C = op(A) with B = [1] (K = 1), and the same on the B side. */
function roundingFailures(gemm: Gemm): string[] {
  const x = Float32Array.from(ROUNDING.map(([v]) => v));
  const one = Float32Array.of(1);
  const n = x.length;
  const viaA = new Float32Array(n);
  const viaB = new Float32Array(n);
  gemm(x, one, viaA, 1, n, 1, 1, false, false, 0, 0, 0, 1, 0);
  gemm(one, x, viaB, 1, 1, n, 1, false, false, 0, 0, 0, 1, 0);
  const out: string[] = [];
  ROUNDING.forEach(([v, want], i) => {
    if (viaA[i] !== want) out.push(`A side: ${v} -> ${viaA[i]}, want ${want}`);
    if (viaB[i] !== want) out.push(`B side: ${v} -> ${viaB[i]}, want ${want}`);
  });
  // The same values in runs of 32 k and 16+ columns (the native vector packing), against an
  // identity: C = X @ I and C = I @ op(X), for both layouts of X.
  const n2 = 48;
  const X = Float32Array.from({ length: n2 * n2 }, (_, i) => ROUNDING[(i * 7) % n][0]);
  const I = new Float32Array(n2 * n2);
  for (let i = 0; i < n2; i++) I[i * n2 + i] = 1;
  for (const t of [false, true]) {
    const left = new Float32Array(n2 * n2);
    const right = new Float32Array(n2 * n2);
    gemm(X, I, left, 1, n2, n2, n2, t, false, 0, 0, 0, 1, 0);
    gemm(I, X, right, 1, n2, n2, n2, false, t, 0, 0, 0, 1, 0);
    for (let i = 0; i < n2; i++)
      for (let j = 0; j < n2; j++) {
        const want = roundBf16(t ? X[j * n2 + i] : X[i * n2 + j]);
        if (left[i * n2 + j] !== want)
          out.push(`X @ I (trans ${t}): [${i}][${j}] ${left[i * n2 + j]}, want ${want}`);
        if (right[i * n2 + j] !== want)
          out.push(`I @ X (trans ${t}): [${i}][${j}] ${right[i * n2 + j]}, want ${want}`);
      }
  }
  return out;
}

const expectNone = (failures: string[]) =>
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures, first: ${failures[0]}`);

if (process.env.XFMR_GEMM_BF16_CHILD) {
  const k = nativeKernels();
  const failures = k ? [...runCases(k.gemmBf16, cases(true)), ...roundingFailures(k.gemmBf16)] : ['no addon'];
  process.stdout.write(`${JSON.stringify({ bf16: loadNative().cpu?.bf16 ?? null, failures })}\n`);
} else {
  const skip = skipWithoutNative();
  const gemm: Gemm = (...args) => requireNative().gemmBf16(...args);

  test('roundBf16: round to nearest even, NaN stays NaN, the largest f32 rounds to infinity', () => {
    for (const [v, want] of ROUNDING) assert.equal(roundBf16(v), want, `${v}`);
    assert.ok(Number.isNaN(roundBf16(Number.NaN)));
    assert.equal(roundBf16(3.4028234663852886e38), Number.POSITIVE_INFINITY);
    assert.equal(roundBf16(Number.NEGATIVE_INFINITY), Number.NEGATIVE_INFINITY);
  });

  test('gemmBf16 (js): every transpose within the f32 summation bound; rounding ties to even', () => {
    expectNone(runCases(jsKernels.gemmBf16, cases(true)));
    expectNone(roundingFailures(jsKernels.gemmBf16));
  });

  test(`gemmBf16 (native, ${loadNative().cpu?.bf16 ?? 'n/a'}): shapes from {1,17,63,1000,3072} x transposes`, {
    skip,
  }, () => {
    expectNone(runCases(gemm, cases(true)));
    expectNone(roundingFailures(gemm));
  });

  test('gemmBf16: native and js agree to within twice the bound', { skip }, () => {
    cases(false).forEach((c, i) => {
      const js = check(jsKernels.gemmBf16, c, 500 + i).C;
      const nat = check(gemm, c, 500 + i).C;
      // Both are within the bound of the same reference, and |a|, |b| <= 1 makes sum |a b| <= K.
      const bound = 2 * (c.K + 2) * 2 ** -24 * c.K * Math.abs(c.alpha ?? 1) + 2 ** -20;
      for (let j = 0; j < js.length; j++)
        assert.ok(Math.abs(js[j] - nat[j]) <= bound, `${JSON.stringify(c)}: C[${j}] ${js[j]} vs ${nat[j]}`);
    });
  });

  test('gemmBf16: beta = 0 overwrites NaN; arrays too short are a RangeError', { skip }, () => {
    const a = new Float32Array(10);
    assert.throws(() => gemm(a, a, a, 1, 4, 4, 4, false, false, 0, 0, 0, 1, 0), RangeError);
    const C = new Float32Array(4).fill(Number.NaN);
    gemm(Float32Array.of(1, 2), Float32Array.of(3, 4), C, 1, 2, 2, 1, false, false, 0, 0, 0, 1, 0);
    assert.deepEqual([...C], [3, 4, 6, 8]);
  });

  const cpu = loadNative().cpu;
  test('gemmBf16: the default path is amx where the CPU has AMX-BF16, else f32 (native/cpu.cc)', {
    skip: skip || (process.env.XFMR_ISA ? 'XFMR_ISA is set' : false),
  }, () => {
    requireNative();
    // On an AMX CPU a failed self-check would leave f32 here, and this test says so.
    assert.equal(cpu?.bf16, cpu?.amx_bf16 ? 'amx' : 'f32');
  });

  const paths: [string, string, string | false][] = [
    [
      'amx',
      'amx',
      cpu?.amx_bf16
        ? false
        : 'this CPU (or OS) offers no AMX-BF16, so the hardware tiles cannot run here; amx-emulated runs the same driver',
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
    test(`gemmBf16: XFMR_ISA=${isa} runs the ${path} path and passes (child process)`, {
      // The default path already ran in this process.
      skip:
        skip ||
        missing ||
        (path === cpu?.bf16 && !process.env.XFMR_ISA ? 'the default path, tested above' : false),
    }, () => {
      requireNative();
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_GEMM_BF16_CHILD: '1' },
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
