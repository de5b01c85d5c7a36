/**
 * Native kernels against the js oracle on awkward shapes: sizes 1, primes, non-multiples of the
 * SIMD width, shapes large enough to take the threaded paths, attention decode steps reading a KV
 * cache, GQA/MQA/MHA, causal and not, sliding windows and soft-capped scores. Backward kernels get pre-filled gradient buffers, so a
 * kernel that overwrites instead of adding fails. A subset runs again in child processes under
 * XFMR_ISA=avx2 and XFMR_ISA=portable (the ISA is fixed per process).
 *
 * Tolerance: max |native - js| <= tol * max |js| per output. 1e-5 by default: float32 kernels
 * against a float64 oracle differ by a few ulps per rounding. Looser where noted in a case.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { f32ArrayToF16 } from '../../src/kernels/float16.ts';
import { cpuInfo, jsKernels, type Kernels, nativeKernels } from '../../src/kernels/index.ts';
import { quantizeQ8_0 } from '../../src/kernels/js/quant/q8_0.ts';
import { KERNEL_NAMES } from '../../src/kernels/kernels.ts';
import { nativeKernelNames } from '../../src/kernels/native.ts';
import { ATTN_CASES, type AttnShape, attnLabel, WINDOWED } from './attention_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Output = Float32Array | number;

interface Case {
  name: string;
  /** Runs the kernel(s) under test on inputs built from a fixed seed; returns what to compare. */
  run(k: Kernels): Output[];
  tol?: number;
  /** Also run under XFMR_ISA=avx2 and portable. */
  isa?: boolean;
}

// ---- deterministic inputs ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n floats uniform in [lo, hi) from `seed`. */
function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

function randInts(n: number, seed: number, max: number): Int32Array {
  const r = rng(seed);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * max);
  return a;
}

// ---- comparison ----

/** max |a - e| / max |e|; equal NaNs and equal infinities match, any other mismatch is Infinity. */
function relErr(a: Output, e: Output): number {
  if (typeof a === 'number' || typeof e === 'number') {
    if (typeof a !== 'number' || typeof e !== 'number') return Number.POSITIVE_INFINITY;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) return 0;
    return Math.abs(a - e) / Math.max(Math.abs(e), 1e-30);
  }
  if (a.length !== e.length) return Number.POSITIVE_INFINITY;
  let ref = 0;
  let diff = 0;
  for (let i = 0; i < e.length; i++) {
    const x = a[i];
    const y = e[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Number.POSITIVE_INFINITY;
    ref = Math.max(ref, Math.abs(y));
    diff = Math.max(diff, Math.abs(x - y));
  }
  for (let i = 0; i < e.length; i++) if (Number.isFinite(e[i])) ref = Math.max(ref, Math.abs(e[i]));
  return diff === 0 ? 0 : diff / Math.max(ref, 1e-30);
}

/** Worst relative error of one case, native against js. */
function caseError(c: Case, native: Kernels): number {
  const want = c.run(jsKernels);
  const got = c.run(native);
  assert.equal(got.length, want.length);
  return Math.max(...got.map((g, i) => relErr(g, want[i])));
}

// ---- the cases ----

const SIZES = [1, 7, 13, 31, 127, 1000, 70001]; // the last takes the threaded path

const cases: Case[] = [];

// Elementwise.
for (const n of SIZES) {
  const isa = n === 127 || n === 70001;
  cases.push(
    {
      name: `add/mul n=${n}`,
      isa,
      run: (k) => {
        const a = rand(n, 1);
        const b = rand(n, 2);
        const y = new Float32Array(n);
        const z = new Float32Array(n);
        k.add(a, b, y, n);
        k.mul(a, b, z, n);
        const inPlace = rand(n, 1);
        k.add(inPlace, b, inPlace, n); // y aliases a
        return [y, z, inPlace];
      },
    },
    {
      name: `axpy/scale n=${n}`,
      isa,
      run: (k) => {
        const x = rand(n, 3);
        const y = rand(n, 4);
        k.axpy(-0.75, x, y, n);
        const z = new Float32Array(n);
        k.scale(x, 1.5, z, n);
        return [y, z];
      },
    },
    {
      name: `sumSquares n=${n}`,
      isa,
      tol: 1e-9, // both accumulate in float64
      run: (k) => [k.sumSquares(rand(n, 5, -3, 3), n)],
    },
  );
}
for (const [N, C] of [
  [1, 1],
  [7, 13],
  [31, 127],
  [300, 257],
]) {
  cases.push(
    {
      name: `addBias ${N}x${C}`,
      isa: C === 257,
      run: (k) => {
        const x = rand(N * C, 6);
        const b = rand(C, 7);
        const y = new Float32Array(N * C);
        k.addBias(x, b, y, N, C);
        k.addBias(x, b, x, N, C); // in place
        return [y, x];
      },
    },
    {
      name: `sumRows ${N}x${C} adds`,
      isa: C === 257,
      run: (k) => {
        const y = rand(C, 8);
        k.sumRows(rand(N * C, 9), y, N, C);
        return [y];
      },
    },
  );
}

// Activations: inputs in [-9, 9] reach the saturated tails of sigmoid, tanh and erf.
for (const n of [1, 7, 13, 127, 20011]) {
  const isa = n === 127 || n === 20011;
  for (const approx of [true, false]) {
    cases.push({
      name: `gelu ${approx ? 'tanh' : 'erf'} n=${n}`,
      isa,
      run: (k) => {
        const x = rand(n, 10, -9, 9);
        const y = new Float32Array(n);
        k.geluForward(x, y, n, approx);
        const dx = rand(n, 11);
        k.geluBackward(x, rand(n, 12), dx, n, approx);
        return [y, dx];
      },
    });
  }
  cases.push(
    {
      name: `silu n=${n}`,
      isa,
      run: (k) => {
        const x = rand(n, 13, -9, 9);
        const y = new Float32Array(n);
        k.siluForward(x, y, n);
        const dx = rand(n, 14);
        k.siluBackward(x, rand(n, 15), dx, n);
        return [y, dx];
      },
    },
    {
      name: `swiglu n=${n}`,
      isa,
      run: (k) => {
        const g = rand(n, 16, -9, 9);
        const u = rand(n, 17, -2, 2);
        const y = new Float32Array(n);
        k.swigluForward(g, u, y, n);
        const dg = rand(n, 18);
        const du = rand(n, 19);
        k.swigluBackward(g, u, rand(n, 20), dg, du, n);
        return [y, dg, du];
      },
    },
  );
}

// Norms and softmax; 64 x 768 and 40 x 1000 take the threaded paths.
for (const [N, C] of [
  [1, 1],
  [7, 13],
  [31, 127],
  [64, 768],
  [40, 1000],
]) {
  const isa = C === 127 || C === 768;
  for (const withBias of [true, false]) {
    cases.push({
      name: `layerNorm ${N}x${C}${withBias ? '' : ' no bias'}`,
      isa,
      run: (k) => {
        const x = rand(N * C, 21, -2, 3); // mean != 0
        const w = rand(C, 22, 0.5, 1.5);
        const b = withBias ? rand(C, 23) : null;
        const y = new Float32Array(N * C);
        const mean = new Float32Array(N);
        const rstd = new Float32Array(N);
        k.layerNormForward(x, w, b, y, mean, rstd, N, C, 1e-5);
        const dx = rand(N * C, 24);
        const dw = rand(C, 25);
        const db = withBias ? rand(C, 26) : null;
        k.layerNormBackward(rand(N * C, 27), x, w, mean, rstd, dx, dw, db, N, C);
        return db ? [y, mean, rstd, dx, dw, db] : [y, mean, rstd, dx, dw];
      },
    });
  }
  cases.push(
    {
      name: `rmsNorm ${N}x${C}`,
      isa,
      run: (k) => {
        const x = rand(N * C, 28, -2, 2);
        const w = rand(C, 29, 0.5, 1.5);
        const y = new Float32Array(N * C);
        const rstd = new Float32Array(N);
        k.rmsNormForward(x, w, y, rstd, N, C, 1e-6);
        const dx = rand(N * C, 30);
        const dw = rand(C, 31);
        k.rmsNormBackward(rand(N * C, 32), x, w, rstd, dx, dw, N, C);
        return [y, rstd, dx, dw];
      },
    },
    {
      name: `softmax/logSoftmax ${N}x${C}`,
      isa,
      run: (k) => {
        const x = rand(N * C, 33, -20, 20);
        for (let i = 0; i < N; i++) if (C > 1) x[i * C + ((i * 7) % C)] = Number.NEGATIVE_INFINITY; // masked
        const y = new Float32Array(N * C);
        const ly = new Float32Array(N * C);
        k.softmaxForward(x, y, N, C);
        k.logSoftmaxForward(x, ly, N, C);
        const dx = rand(N * C, 34);
        const ldx = rand(N * C, 35);
        const dy = rand(N * C, 36);
        k.softmaxBackward(dy, y, dx, N, C);
        k.logSoftmaxBackward(dy, ly, ldx, N, C);
        return [y, ly, dx, ldx];
      },
    },
    {
      name: `crossEntropy ${N}x${C}`,
      isa,
      run: (k) => {
        const logits = rand(N * C, 37, -10, 10);
        const targets = randInts(N, 38, C);
        for (let i = 2; i < N; i += 3) targets[i] = -100; // ignored rows
        const losses = new Float32Array(N);
        const lse = new Float32Array(N);
        const valid = k.crossEntropyForward(logits, targets, losses, lse, N, C, -100);
        const dlogits = rand(N * C, 39);
        k.crossEntropyBackward(logits, targets, lse, rand(N, 40), dlogits, N, C, -100);
        return [valid, losses, lse, dlogits];
      },
    },
  );
}
cases.push({
  name: 'softmax of a fully masked row is NaN, as in js',
  run: (k) => {
    const x = new Float32Array([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, 2]);
    const y = new Float32Array(4);
    k.softmaxForward(x, y, 2, 2);
    return [y];
  },
});

// RoPE: interleaved and half-split, inverse, in place, rotDim < D, a position offset.
for (const [B, T, H, D, rot] of [
  [1, 1, 1, 2, 2],
  [2, 5, 3, 14, 10],
  [1, 7, 2, 13 + 1, 14],
  [2, 64, 4, 64, 64],
  [1, 3, 2, 40, 34],
]) {
  for (const interleaved of [true, false]) {
    cases.push({
      name: `rope ${B}x${T}x${H}x${D} rot=${rot} ${interleaved ? 'interleaved' : 'half'}`,
      isa: D === 64 || rot === 34,
      run: (k) => {
        const n = B * T * H * D;
        const pos = 3;
        const cos = rand((pos + T) * (rot / 2), 41);
        const sin = rand((pos + T) * (rot / 2), 42);
        const x = rand(n, 43);
        const y = new Float32Array(n);
        k.rope(x, y, cos, sin, B, T, H, D, rot, pos, interleaved, false);
        const back = new Float32Array(n);
        k.rope(y, back, cos, sin, B, T, H, D, rot, pos, interleaved, true);
        const inPlace = rand(n, 43);
        k.rope(inPlace, inPlace, cos, sin, B, T, H, D, rot, pos, interleaved, false);
        return [y, back, inPlace];
      },
    });
  }
}

// Embedding: repeated ids (the scatter-add must sum them), 600 x 130 takes the threaded path.
for (const [N, C] of [
  [1, 1],
  [31, 13],
  [31, 127],
  [600, 130],
]) {
  cases.push({
    name: `embedding ${N}x${C}`,
    isa: C >= 127,
    run: (k) => {
      const V = 50;
      const weight = rand(V * C, 44);
      const ids = randInts(N, 45, V);
      const out = new Float32Array(N * C);
      k.embeddingForward(weight, ids, out, N, C);
      const dweight = rand(V * C, 46);
      k.embeddingBackward(rand(N * C, 47), ids, dweight, N, C);
      return [out, dweight];
    },
  });
}

// AdamW, including the threaded size.
for (const n of [1, 13, 127, 70001]) {
  cases.push({
    name: `adamw n=${n}`,
    isa: n >= 127,
    run: (k) => {
      const p = rand(n, 48);
      const m = rand(n, 49, -0.1, 0.1);
      const v = rand(n, 50, 0, 0.01);
      for (let step = 1; step <= 3; step++) {
        const bc1 = 1 - 0.9 ** step;
        const bc2 = 1 - 0.999 ** step;
        k.adamw(p, rand(n, 50 + step), m, v, n, 1e-2, 0.9, 0.999, 1e-8, 0.1, bc1, bc2, 0.5);
      }
      return [p, m, v];
    },
  });
}

// Attention, on the shared awkward shapes (attention_inputs.ts) and these masks.
const attnCases: AttnShape[] = [
  ...ATTN_CASES,
  // Sliding windows (tiles a window cuts, window 1, a cache whose window starts mid-cache, a split
  // backward) and soft-capped scores (|s| up to ~8 here, so caps of 2 and 3 bend them hard).
  { ...WINDOWED.tiles, isa: true },
  { B: 2, Tq: 70, Tk: 70, Hq: 2, Hkv: 1, D: 16, qOffset: 0, causal: true, window: 1, why: 'window 1' },
  { ...WINDOWED.split, isa: true },
  { ...WINDOWED.cache, isa: true },
  { B: 2, Tq: 33, Tk: 33, Hq: 4, Hkv: 4, D: 64, qOffset: 0, causal: true, softcap: 3, why: 'softcap' },
];
for (const a of attnCases) {
  const { B, Tq, Tk, Hq, Hkv, D, qOffset, causal } = a;
  const window = a.window ?? 0;
  const cap = a.softcap ?? 0;
  const stride = (a.cache ?? Tk) * Hkv * D;
  const scale = 1 / Math.sqrt(D);
  const label = `attention ${attnLabel(a)}`;
  const qn = B * Tq * Hq * D;
  const kn = B * stride;
  const forward = (k: Kernels) => {
    const q = rand(qn, 60, -2, 2);
    const kk = rand(kn, 61, -2, 2);
    const v = rand(kn, 62);
    const out = new Float32Array(qn);
    const lse = new Float32Array(B * Hq * Tq);
    k.attentionForward(
      q,
      kk,
      v,
      out,
      lse,
      B,
      Tq,
      Tk,
      Hq,
      Hkv,
      D,
      stride,
      qOffset,
      scale,
      causal,
      window,
      cap,
      false,
    );
    return { q, kk, v, out, lse };
  };
  cases.push({
    name: `${label} fwd`,
    isa: a.isa,
    run: (k) => {
      const { out, lse } = forward(k);
      return [out, lse];
    },
  });
  cases.push({
    name: `${label} bwd adds`,
    isa: a.isa,
    run: (k) => {
      // The same forward for both backends, so only the backward is compared here.
      const { q, kk, v, out, lse } = forward(jsKernels);
      const dq = rand(qn, 63);
      const dk = rand(kn, 64);
      const dv = rand(kn, 65);
      k.attentionBackward(
        q,
        kk,
        v,
        out,
        rand(qn, 66),
        lse,
        dq,
        dk,
        dv,
        B,
        Tq,
        Tk,
        Hq,
        Hkv,
        D,
        stride,
        qOffset,
        scale,
        causal,
        window,
        cap,
        false,
      );
      return [dq, dk, dv];
    },
  });
}

// attentionForwardKV: the same shapes with K and V stored as f16 or q8_0. Both backends widen the
// stored values exactly, so the bound is the f32 forward's.
for (const a of attnCases)
  for (const kvType of ['f16', 'q8_0'] as const) {
    const { B, Tq, Tk, Hq, Hkv, D, qOffset, causal } = a;
    const stride = (a.cache ?? Tk) * Hkv * D;
    const qn = B * Tq * Hq * D;
    const kn = Math.ceil((B * stride) / 32) * 32; // q8_0 stores whole blocks
    const encode = (x: Float32Array) => (kvType === 'f16' ? f32ArrayToF16(x) : quantizeQ8_0(x, kn));
    cases.push({
      name: `attentionForwardKV ${kvType} ${attnLabel(a)}`,
      isa: a.isa,
      run: (k) => {
        const out = new Float32Array(qn);
        const lse = new Float32Array(B * Hq * Tq);
        const [kk, v] = [encode(rand(kn, 61, -2, 2)), encode(rand(kn, 62))];
        const shape = [B, Tq, Tk, Hq, Hkv, D, stride, qOffset, 1 / Math.sqrt(D), causal] as const;
        k.attentionForwardKV(
          rand(qn, 60, -2, 2),
          kk,
          v,
          kvType,
          out,
          lse,
          ...shape,
          a.window ?? 0,
          a.softcap ?? 0,
          false,
        );
        return [out, lse];
      },
    });
  }

// ---- running ----

const native = nativeKernels();
const SKIP = skipWithoutNative();

/** Child mode: run the ISA subset and print one JSON line for the parent. */
function runChild(k: Kernels): void {
  const results = cases
    .filter((c) => c.isa)
    .map((c) => {
      const err = caseError(c, k);
      // JSON has no Infinity: report a mismatch as the largest double.
      return { name: c.name, err: Number.isFinite(err) ? err : Number.MAX_VALUE, tol: c.tol ?? 1e-5 };
    });
  process.stdout.write(`${JSON.stringify({ isa: cpuInfo()?.isa, threads: k.threads(), results })}\n`);
}

if (process.env.XFMR_PARITY_CHILD === '1') {
  if (native) runChild(native);
} else {
  test('every kernel but gemm is implemented natively', { skip: SKIP }, () => {
    requireNative();
    const missing = KERNEL_NAMES.filter((n) => n !== 'gemm' && !nativeKernelNames().includes(n));
    assert.deepEqual(missing, []);
  });

  for (const c of cases) {
    test(`native matches js: ${c.name}`, { skip: SKIP }, () => {
      const err = caseError(c, requireNative());
      const tol = c.tol ?? 1e-5;
      assert.ok(err <= tol, `relative error ${err.toExponential(2)} > ${tol}`);
    });
  }

  test('native kernels reject short buffers and bad ids instead of reading out of bounds', {
    skip: SKIP,
  }, () => {
    const k = requireNative();
    assert.throws(() => k.add(new Float32Array(3), new Float32Array(4), new Float32Array(4), 4), RangeError);
    assert.throws(
      () =>
        k.crossEntropyForward(
          new Float32Array(6),
          new Int32Array([0, 3]),
          new Float32Array(2),
          new Float32Array(2),
          2,
          3,
          -100,
        ),
      /targets\[1\] = 3/,
    );
    assert.throws(
      () => k.embeddingForward(new Float32Array(6), new Int32Array([2]), new Float32Array(3), 1, 3),
      /ids\[0\] = 2/,
    );
    const q = new Float32Array(16);
    assert.throws(
      () => k.attentionForward(q, q, q, q, q, 1, 1, 1, 3, 2, 4, 4, 0, 1, true, 0, 0, false),
      /multiple of Hkv/,
    );
    assert.throws(
      () => k.attentionForward(q, q, q, q, q, 1, 1, 8, 1, 1, 4, 32, 0, 1, true, 0, 0, false),
      /k has 16/,
    );
  });

  // Other ISAs (and thread counts: 3 threads on 2 cores, and 1) in child processes.
  for (const [isa, threads] of [
    ['avx2', '3'],
    ['portable', '1'],
  ] as const) {
    test(`native matches js under XFMR_ISA=${isa} XFMR_THREADS=${threads}`, { skip: SKIP }, () => {
      requireNative();
      const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_THREADS: threads, XFMR_PARITY_CHILD: '1' },
        encoding: 'utf8',
      });
      assert.equal(child.status, 0, child.stderr);
      const lines = child.stdout.trim().split('\n');
      const report = JSON.parse(lines[lines.length - 1]) as {
        isa: string;
        threads: number;
        results: { name: string; err: number; tol: number }[];
      };
      const hostHas = cpuInfo()?.avx2 && cpuInfo()?.fma;
      assert.equal(report.isa, isa === 'avx2' && !hostHas ? 'portable' : isa);
      assert.equal(report.threads, Number(threads));
      assert.ok(report.results.length > 20);
      const bad = report.results.filter((r) => !(r.err <= r.tol));
      assert.deepEqual(bad, []);
    });
  }
}
