/**
 * Native gemm against the pure-TS oracle (src/kernels/js/gemm.ts): awkward sizes around the SIMD
 * widths and tile sizes, every transA/transB pair, batches with strides and broadcast (stride 0),
 * alpha/beta, NaN in C with beta = 0, subarray views, and the same parity under every ISA the CPU
 * has (XFMR_ISA is read once per process, so those run in child processes: this file re-runs
 * itself with XFMR_GEMM_PARITY_CHILD=1 and reports failures as JSON on stdout).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsKernels, nativeKernels } from '../../src/kernels/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { makeRandom, TRANS } from './gemm_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Gemm = Kernels['gemm'];

interface Case {
  batch?: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Extra elements between batch items (strides = size + gap); strideB 0 when broadcastB. */
  gap?: number;
  broadcastB?: boolean;
  alpha?: number;
  beta?: number;
  /** Fill C with NaN first (only meaningful with beta = 0). */
  nanC?: boolean;
  /** Run on subarray views starting this many elements into larger buffers. */
  offset?: number;
}

const describe = (c: Case) => JSON.stringify(c);

/**
 * Runs one case through `gemm` and the oracle; returns null or what went wrong. The tolerance is
 * relative to the largest magnitude in the expected C (the oracle sums in float64).
 */
function check(gemm: Gemm, c: Case, random: (n: number) => Float32Array): string | null {
  const { M, N, K } = c;
  const batch = c.batch ?? 1;
  const gap = c.gap ?? 0;
  const off = c.offset ?? 0;
  const sA = M * K + gap;
  const sB = c.broadcastB ? 0 : K * N + gap;
  const sC = M * N + gap;
  const lenA = (batch - 1) * sA + M * K;
  const lenB = (batch - 1) * sB + K * N;
  const lenC = (batch - 1) * sC + M * N;
  const bufA = random(off + lenA + off);
  const bufB = random(off + lenB + off);
  const C0 = random(off + lenC + off);
  if (c.nanC) C0.fill(Number.NaN, off, off + lenC);
  const got = C0.slice();
  const want = C0.slice();
  const view = (a: Float32Array, len: number) => (off ? a.subarray(off, off + len) : a);
  const args = [
    batch,
    M,
    N,
    K,
    c.transA ?? false,
    c.transB ?? false,
    sA,
    sB,
    sC,
    c.alpha ?? 1,
    c.beta ?? 0,
  ] as const;
  gemm(view(bufA, lenA), view(bufB, lenB), view(got, lenC), ...args);
  jsKernels.gemm(view(bufA, lenA), view(bufB, lenB), view(want, lenC), ...args);
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++)
    if (Number.isFinite(want[i])) maxAbs = Math.max(maxAbs, Math.abs(want[i]));
  const tol = 1e-5 * Math.max(1, maxAbs);
  for (let i = 0; i < want.length; i++) {
    const inside = i >= off && i < off + lenC;
    const ok = inside ? Math.abs(got[i] - want[i]) <= tol : Object.is(got[i], C0[i]);
    if (!ok) {
      const where = inside ? `C[${i - off}]` : `element ${i} outside the C view`;
      return `${describe(c)}: ${where} = ${got[i]}, expected ${want[i]} (tol ${tol.toExponential(1)})`;
    }
  }
  return null;
}

const SIZES = [1, 7, 13, 31, 127, 64, 65, 300];
/** Every M, N, K in `sizes` with every transpose pair; beta = 0 over a NaN-filled C. */
function shapeCases(sizes: number[]): Case[] {
  const cases: Case[] = [];
  for (const M of sizes)
    for (const N of sizes)
      for (const K of sizes)
        for (const [transA, transB] of TRANS) cases.push({ M, N, K, transA, transB, nanC: true });
  return cases;
}

/** Cases for the other code paths: small M (GEMV), several k and n blocks, batches, alpha/beta. */
function pathCases(): Case[] {
  const cases: Case[] = [];
  for (const [transA, transB] of TRANS) {
    for (const M of [2, 3, 4, 5]) cases.push({ M, N: 67, K: 129, transA, transB, beta: 1 });
    cases.push({ M: 1, N: 3072, K: 768, transA, transB });
    cases.push({ M: 33, N: 1, K: 300, transA, transB, beta: 1 });
    cases.push({ M: 97, N: 75, K: 1000, transA, transB, alpha: 0.5, beta: 1 }); // several k blocks
    cases.push({ M: 7, N: 4100, K: 5, transA, transB }); // more than one n block
    cases.push({ batch: 3, M: 31, N: 13, K: 65, transA, transB, gap: 5, beta: 1 });
    cases.push({ batch: 3, M: 2, N: 13, K: 65, transA, transB, gap: 3, broadcastB: true, alpha: 0.5 });
    cases.push({ batch: 3, M: 65, N: 31, K: 7, transA, transB, broadcastB: true, alpha: 0.5, beta: 0 });
    cases.push({ batch: 2, M: 130, N: 70, K: 300, transA, transB, gap: 1, alpha: -2, beta: 0.25 });
    cases.push({ M: 64, N: 65, K: 31, transA, transB, offset: 3, alpha: 0.5, beta: 1 });
    cases.push({ M: 1, N: 65, K: 31, transA, transB, offset: 5, beta: 1 });
  }
  return cases;
}

function runCases(gemm: Gemm, cases: Case[]): string[] {
  const random = makeRandom(12345);
  const failures: string[] = [];
  for (const c of cases) {
    const f = check(gemm, c, random);
    if (f) failures.push(f);
  }
  return failures;
}

// The children skip 300 (the main process covers it; pathCases still spans several k and n blocks).
const childSizes = [1, 7, 13, 64, 65, 127];

if (process.env.XFMR_GEMM_PARITY_CHILD) {
  // Child mode: parity under the ISA chosen by XFMR_ISA, reported as one JSON line.
  const k = nativeKernels();
  const failures = k ? runCases(k.gemm, [...shapeCases(childSizes), ...pathCases()]) : ['addon not built'];
  process.stdout.write(`${JSON.stringify({ isa: loadNative().cpu?.isa ?? null, failures })}\n`);
} else {
  const skip = skipWithoutNative();
  // Through requireNative, so a required run without the addon fails instead of testing js.
  const gemm: Gemm = (...args) => requireNative().gemm(...args);

  const expectNone = (failures: string[]) =>
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} mismatches, first: ${failures[0]}`);

  test('gemm: M, N, K in {1,7,13,31,127,64,65,300} x all transposes match the oracle', { skip }, () => {
    expectNone(runCases(gemm, shapeCases(SIZES)));
  });

  test('gemm: GEMV/small M, several k and n blocks, batches, strides, broadcast B, alpha/beta, views', {
    skip,
  }, () => {
    expectNone(runCases(gemm, pathCases()));
  });

  test('gemm: beta = 0 overwrites NaN in C; beta = 1 accumulates; strideC = 0 accumulates in order', {
    skip,
  }, () => {
    const random = makeRandom(7);
    for (const M of [1, 5, 64]) {
      const A = random(M * 40);
      const B = random(40 * 9);
      const C = new Float32Array(M * 9).fill(Number.NaN);
      gemm(A, B, C, 1, M, 9, 40, false, false, 0, 0, 0, 1, 0);
      assert.ok(C.every(Number.isFinite), `M=${M}: NaN survived beta = 0`);
      const once = C.slice();
      gemm(A, B, C, 1, M, 9, 40, false, false, 0, 0, 0, 1, 1);
      for (let i = 0; i < C.length; i++) {
        assert.ok(Math.abs(C[i] - 2 * once[i]) <= 1e-5 * (1 + Math.abs(C[i])), `M=${M}: beta = 1`);
      }
    }
    // batch 3 into one C (strideC = 0, beta = 1): the three products add up.
    const A = random(3 * 6 * 33);
    const B = random(33 * 20);
    const got = random(6 * 20);
    const want = got.slice();
    gemm(A, B, got, 3, 6, 20, 33, false, false, 6 * 33, 0, 0, 1, 1);
    jsKernels.gemm(A, B, want, 3, 6, 20, 33, false, false, 6 * 33, 0, 0, 1, 1);
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) <= 1e-4, `strideC = 0: C[${i}] ${got[i]} vs ${want[i]}`);
    }
  });

  test('gemm: arrays too short for the shape are a RangeError, not a crash', { skip }, () => {
    const a = new Float32Array(10);
    assert.throws(() => gemm(a, a, a, 1, 4, 4, 4, false, false, 0, 0, 0, 1, 0), RangeError);
    assert.throws(() => gemm(a, a, a, 2, 1, 1, 1, false, false, 0, 0, 10, 1, 0), RangeError);
  });

  for (const isa of ['avx2', 'portable'] as const) {
    test(`gemm: parity under XFMR_ISA=${isa} (child process)`, { skip }, () => {
      requireNative();
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_GEMM_PARITY_CHILD: '1' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
        isa: string;
        failures: string[];
      };
      // XFMR_ISA only lowers the ISA: a CPU without AVX2 runs portable for both.
      const cpu = loadNative().cpu;
      const expected = isa === 'avx2' && !(cpu?.avx2 && cpu.fma) ? 'portable' : isa;
      assert.equal(out.isa, expected);
      expectNone(out.failures);
    });
  }
}
