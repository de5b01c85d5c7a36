/**
 * The fused attention in bf16 (Kernels.attentionForward/Backward with bf16 = true) against a
 * float64 reference computed on the bf16-rounded q, k, v (and dout), on awkward shapes (D not a
 * multiple of 16, size-1 dims, GQA/MQA, decode steps in a KV cache, several tiles, rows with no
 * key, sliding windows and soft-capped scores), on both backends, and on the native AVX2 and portable paths in child processes (this file
 * re-runs itself with XFMR_ATTN_BF16_CHILD set; the ISA is fixed per process).
 *
 * Bounds, per element, with u = 2^-8 (bf16 keeps 8 significant bits: rounding to nearest errs by
 * at most 2^-8 relative). The reference uses the exact softmax p of the rounded inputs; the kernel
 * rounds each p (forward, and backward for dv) and each ds (backward, for dq and dk) to bf16. So
 *   |out - ref|  <= 1.25 u sum_j p_j |v_j|
 *   |dv_j - ref| <= 1.25 u sum_i p_ij |dout_i|
 *   |dq_i - ref| <= 1.25 u scale sum_j p_ij (|dP_ij| + |delta_i|) c_ij |k_j|   (dk likewise with q_i)
 * with c_ij = 1 - tanh^2 of the capped score (1 without a soft-cap; the scores are f32 either way)
 * where u is the rounding and the extra u/4 covers f32 error in scores, exp and the sums (below
 * 1e-4 relative for these inputs: |q|, |k| <= 2, D <= 128). Gradients add into pre-filled O(1)
 * buffers, one f32 add per row or key for the js twin: (Tq group + Tk) 2^-24 (|pre-filled| + |ref|)
 * more. lse sees no rounded probability: |lse - ref| <= 1e-5 (1 + |ref|), so a kernel that did not
 * round q and k (an error of ~2^-9 |s|) fails it. Skipping the rounding of p or ds is caught from
 * the other side: the worst error must reach 1/16 of the bound (rounding errors of that size occur).
 * js against native: within the sum of both bounds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cpuInfo, jsKernels, type Kernels, nativeKernels } from '../../src/kernels/index.ts';
import { roundBf16Array } from '../../src/kernels/js/gemm.ts';
import {
  ATTN_CASES,
  type AttnInputs,
  attnInputs,
  attnLabel,
  runAttention,
  type AttnShape as Shape,
  WINDOWED,
} from './attention_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

const SHAPES: Shape[] = [...ATTN_CASES, { ...WINDOWED.tiles, softcap: 2 }, WINDOWED.cache];

/** Forward, then backward from the given forward's out and lse (the same for every backend). */
const run = (
  k: Kernels,
  s: Shape,
  x: AttnInputs,
  bf16: boolean,
  given?: { out: Float32Array; lse: Float32Array },
) => runAttention(k, s, x, { bf16, given });

interface Reference {
  out: Float64Array;
  outBound: Float64Array;
  lse: Float64Array;
  /** Gradients including the pre-filled values. */
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dqBound: Float64Array;
  dkBound: Float64Array;
  dvBound: Float64Array;
}

/** Float64 attention on the rounded inputs; the backward from `given` (out, lse). */
function reference(s: Shape, x: AttnInputs, given: { out: Float32Array; lse: Float32Array }): Reference {
  const { B, Tq, Tk, Hq, Hkv, D, qOffset, causal } = s;
  const window = s.window ?? 0;
  const cap = s.softcap ?? 0;
  const [q, k, v, dor] = [x.q, x.k, x.v, x.dout].map(roundBf16Array);
  const group = Hq / Hkv;
  const ref: Reference = {
    out: new Float64Array(q.length),
    outBound: new Float64Array(q.length),
    lse: new Float64Array(B * Hq * Tq),
    dq: Float64Array.from(x.dq0),
    dk: Float64Array.from(x.dk0),
    dv: Float64Array.from(x.dv0),
    dqBound: new Float64Array(q.length),
    dkBound: new Float64Array(k.length),
    dvBound: new Float64Array(k.length),
  };
  const u = 1.25 * 2 ** -8;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qi = ((b * Tq + i) * Hq + h) * D;
        const last = causal ? Math.min(Tk - 1, qOffset + i) : Tk - 1;
        const first = window > 0 ? Math.max(0, qOffset + i - window + 1) : 0;
        const li = (b * Hq + h) * Tq + i;
        if (last < first) {
          ref.lse[li] = -Infinity;
          continue;
        }
        const kj = (j: number) => b * x.stride + (j * Hkv + hk) * D;
        const sc: number[] = []; // sc[j - first]: the capped score
        const slope: number[] = []; // its derivative in the raw score, 1 - tanh^2
        for (let j = first; j <= last; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj(j) + d];
          const t = cap > 0 ? Math.tanh((dot * x.scale) / cap) : 0;
          sc.push(cap > 0 ? cap * t : dot * x.scale);
          slope.push(1 - t * t);
        }
        const max = Math.max(...sc);
        const sum = sc.reduce((a, t) => a + Math.exp(t - max), 0);
        ref.lse[li] = max + Math.log(sum);
        let delta = 0; // from the f32 dout and the given out, as the contract says
        for (let d = 0; d < D; d++) delta += x.dout[qi + d] * given.out[qi + d];
        for (let j = first; j <= last; j++) {
          const p = Math.exp(sc[j - first] - max) / sum;
          const pb = Math.exp(sc[j - first] - given.lse[li]); // the backward's p: from the given lse
          let dP = 0;
          for (let d = 0; d < D; d++) dP += dor[qi + d] * v[kj(j) + d];
          const ds = pb * (dP - delta) * slope[j - first];
          const dsMag = pb * (Math.abs(dP) + Math.abs(delta)) * slope[j - first];
          for (let d = 0; d < D; d++) {
            const o = kj(j) + d;
            ref.out[qi + d] += p * v[o];
            ref.outBound[qi + d] += u * p * Math.abs(v[o]);
            ref.dv[o] += pb * dor[qi + d];
            ref.dvBound[o] += u * pb * Math.abs(dor[qi + d]);
            ref.dq[qi + d] += x.scale * ds * k[o];
            ref.dqBound[qi + d] += u * x.scale * dsMag * Math.abs(k[o]);
            ref.dk[o] += x.scale * ds * q[qi + d];
            ref.dkBound[o] += u * x.scale * dsMag * Math.abs(q[qi + d]);
          }
        }
      }
    }
  return ref;
}

/** The worst |got - want| / bound over the elements (Infinity where one is out of bounds by NaN). */
function worstRatio(got: Float32Array, want: Float64Array, bound: Float64Array, floor = 1e-30): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const r = Math.abs(got[i] - want[i]) / (bound[i] + floor);
    worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
  }
  return worst;
}

/** Ratios of error to bound for one backend on one shape (each must be <= 1). */
function ratios(k: Kernels, s: Shape, seed: number): Record<string, number> {
  const x = attnInputs(s, seed);
  const fwd = run(jsKernels, s, x, true); // the one forward every backward starts from
  const ref = reference(s, x, fwd);
  const r = run(k, s, x, true, fwd);
  const lseBound = Float64Array.from(ref.lse, (l) => (Number.isFinite(l) ? 1e-5 * (1 + Math.abs(l)) : 0));
  let lse = 0;
  r.lse.forEach((l, i) => {
    if (l === ref.lse[i]) return; // both -inf: no visible key
    lse = Math.max(lse, Math.abs(l - ref.lse[i]) / lseBound[i]);
  });
  // f32 accumulation into the pre-filled gradients (see the opening note).
  const adds = (s.Tq * s.Hq) / s.Hkv + s.Tk;
  const acc = (bound: Float64Array, want: Float64Array, pre: Float32Array) =>
    bound.map((b, i) => b + adds * 2 ** -24 * (Math.abs(pre[i]) + Math.abs(want[i])));
  return {
    out: worstRatio(r.out, ref.out, ref.outBound),
    lse: Number.isNaN(lse) ? Infinity : lse,
    dq: worstRatio(r.dq, ref.dq, acc(ref.dqBound, ref.dq, x.dq0)),
    dk: worstRatio(r.dk, ref.dk, acc(ref.dkBound, ref.dk, x.dk0)),
    dv: worstRatio(r.dv, ref.dv, acc(ref.dvBound, ref.dv, x.dv0)),
  };
}

function failures(k: Kernels): string[] {
  const out: string[] = [];
  SHAPES.forEach((s, i) => {
    for (const [what, r] of Object.entries(ratios(k, s, 700 + i)))
      if (!(r <= 1)) out.push(`${k.name} ${attnLabel(s)}: ${what} error is ${r.toFixed(2)}x its bound`);
  });
  return out;
}

const expectNone = (f: string[]) =>
  assert.deepEqual(f.slice(0, 5), [], `${f.length} failures, first: ${f[0]}`);

if (process.env.XFMR_ATTN_BF16_CHILD) {
  const k = nativeKernels();
  process.stdout.write(
    `${JSON.stringify({ isa: cpuInfo()?.isa ?? null, failures: k ? failures(k) : ['no addon'] })}\n`,
  );
} else {
  const skip = skipWithoutNative();

  test('attention bf16 (js): within the rounding bound of an f64 reference on rounded inputs', () => {
    expectNone(failures(jsKernels));
  });

  test('attention bf16 (native): within the rounding bound of an f64 reference', { skip }, () => {
    expectNone(failures(requireNative()));
  });

  for (const isa of ['avx2', 'portable']) {
    test(`attention bf16 (native, XFMR_ISA=${isa}): within the bound (child process)`, { skip }, () => {
      requireNative();
      const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_ATTN_BF16_CHILD: '1' },
        encoding: 'utf8',
      });
      assert.equal(child.status, 0, child.stderr);
      const report = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as {
        isa: string;
        failures: string[];
      };
      const hostHas = cpuInfo()?.avx2 && cpuInfo()?.fma;
      assert.equal(report.isa, isa === 'avx2' && !hostHas ? 'portable' : isa);
      expectNone(report.failures);
    });
  }

  test('attention bf16: native and js agree within the sum of their bounds', { skip }, () => {
    const nat = requireNative();
    SHAPES.forEach((s, i) => {
      const x = attnInputs(s, 900 + i);
      const fwd = run(jsKernels, s, x, true);
      const ref = reference(s, x, fwd);
      const a = run(jsKernels, s, x, true, fwd);
      const b = run(nat, s, x, true, fwd);
      const pairs = [
        ['out', a.out, b.out, ref.outBound],
        ['dq', a.dq, b.dq, ref.dqBound],
        ['dk', a.dk, b.dk, ref.dkBound],
        ['dv', a.dv, b.dv, ref.dvBound],
      ] as const;
      for (const [what, js, native, bound] of pairs)
        for (let j = 0; j < js.length; j++) {
          const tol = 2 * bound[j] + ((s.Tq * s.Hq) / s.Hkv + s.Tk) * 2 ** -23 * (1 + Math.abs(js[j]));
          assert.ok(
            Math.abs(js[j] - native[j]) <= tol,
            `${attnLabel(s)} ${what}[${j}]: js ${js[j]}, native ${native[j]}`,
          );
        }
    });
  });

  test('attention bf16 rounds: errors of the size bf16 implies occur, and bf16 differs from f32', () => {
    // If p or ds were not rounded, out and dq would match the reference to f32 accuracy, far inside
    // the bound; with the rounding the worst error is a sizeable fraction of it.
    for (const backend of [jsKernels, nativeKernels()].filter((k): k is Kernels => k !== null)) {
      const s = SHAPES[4];
      const r = ratios(backend, s, 42);
      for (const what of ['out', 'dq', 'dk', 'dv'] as const)
        assert.ok(
          r[what] > 1 / 16,
          `${backend.name} ${what}: worst error only ${r[what].toFixed(4)}x the bound`,
        );
      const x = attnInputs(s, 42);
      const bf = run(backend, s, x, true);
      const f32 = run(backend, s, x, false);
      let diff = 0;
      for (let i = 0; i < bf.out.length; i++) diff = Math.max(diff, Math.abs(bf.out[i] - f32.out[i]));
      assert.ok(diff > 1e-4, `${backend.name}: bf16 and f32 outputs differ by only ${diff}`);

      // One key: p = 1 exactly, so out = bf16(v) and dv = bf16(dout) exactly (onto zeros), which
      // only a kernel that rounds v and dout as operands gives (the bounds above would let an
      // unrounded v or dout through).
      const one: Shape = {
        B: 1,
        Tq: 1,
        Tk: 1,
        Hq: 1,
        Hkv: 1,
        D: 5,
        qOffset: 0,
        causal: true,
        why: 'one key',
      };
      const y = {
        ...attnInputs(one, 7),
        dq0: new Float32Array(5),
        dk0: new Float32Array(5),
        dv0: new Float32Array(5),
      };
      const r1 = run(backend, one, y, true);
      assert.deepEqual(r1.out, roundBf16Array(y.v), `${backend.name}: out of one key is bf16(v)`);
      assert.deepEqual(r1.dv, roundBf16Array(y.dout), `${backend.name}: dv of one key is bf16(dout)`);
    }
  });
}
