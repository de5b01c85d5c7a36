/**
 * Sliding windows and soft-capped scores in the fused attention (Kernels.attentionForward and
 * attentionBackward with `window` and `softcap`), on both backends, against a float64 reference
 * written here from the definitions, not from either kernel: each row's whole score vector
 * s_j = cap tanh(scale q.k_j / cap), the mask built key by key (Hugging Face's: key j is visible to
 * the query at position p iff j <= p when causal and j > p - window), then softmax and its
 * gradient, with ds_j multiplied by 1 - tanh^2 on the way back to the raw scores.
 *
 * The reference's backward is itself checked against central finite differences of its forward
 * (float64, h = 1e-5: truncation error ~h^2 = 1e-10 against gradients of order 0.1).
 *
 * Tolerances, f32 kernel against the f64 reference: max |got - ref| <= 2e-5 max M per output, where
 * M sums the magnitudes of the terms of each value (out_i: sum_j p_ij |v_j|; dq_i: scale
 * sum_j |ds_ij| |k_j| with ds taken as p (|dP| + |delta|) (1 - t^2), ...), so that cancellation
 * (window 1 makes dq exactly 0) does not shrink the bound to nothing. q, k in [-2, 2), v, dout in
 * [-1, 1), D <= 64, <= 200 keys: each score, exp and sum is a few f32 roundings, 2^-24 ~ 6e-8
 * relative, of terms bounded by M. |lse - ref| <= 1e-5 (1 + |ref|). Exact (bitwise) where the math is: a window at least as long as
 * every position is no window; a window of 1 gives out = v of the row's own key; keys outside
 * every row's window leave every output unchanged, in f32 and in bf16 mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsKernels, type Kernels, nativeKernels } from '../../src/kernels/index.ts';
import { type AttnShape, attnInputs, attnLabel, runAttention, WINDOWED } from './attention_inputs.ts';
import { makeRandom } from './gemm_inputs.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Shape = AttnShape;
const WINDOW_1: Shape = {
  B: 2,
  Tq: 70,
  Tk: 70,
  Hq: 3,
  Hkv: 1,
  D: 7,
  qOffset: 0,
  causal: true,
  window: 1,
  why: 'window 1',
};
const SHAPES: Shape[] = [
  WINDOWED.tiles,
  WINDOW_1,
  {
    B: 1,
    Tq: 31,
    Tk: 31,
    Hq: 2,
    Hkv: 2,
    D: 13,
    qOffset: 0,
    causal: true,
    window: 2,
    softcap: 1.5,
    why: 'cap',
  },
  WINDOWED.split,
  WINDOWED.cache,
  {
    ...WINDOWED.cache,
    Tq: 1,
    Tk: 37,
    Hq: 4,
    Hkv: 1,
    D: 16,
    qOffset: 36,
    window: 5,
    softcap: 3,
    why: 'decode',
  },
  { B: 2, Tq: 33, Tk: 33, Hq: 4, Hkv: 4, D: 64, qOffset: 0, causal: true, softcap: 3, why: 'cap only' },
  { B: 1, Tq: 20, Tk: 20, Hq: 2, Hkv: 1, D: 8, qOffset: 0, causal: false, window: 5, why: 'not causal' },
  { B: 1, Tq: 6, Tk: 6, Hq: 2, Hkv: 1, D: 8, qOffset: -2, causal: true, window: 2, why: 'rows see none' },
  { B: 1, Tq: 4, Tk: 6, Hq: 2, Hkv: 1, D: 8, qOffset: 8, causal: false, window: 3, why: 'past the keys' },
];

type Vec = ArrayLike<number>;
interface Reference {
  out: Float64Array;
  lse: Float64Array;
  /** Gradients of sum(out * dout), without the pre-filled values. */
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  /** The magnitudes M of the terms each value sums (see the opening note). */
  outMag: Float64Array;
  dqMag: Float64Array;
  dkMag: Float64Array;
  dvMag: Float64Array;
}

/** Float64 attention of (q, k, v) and the gradients of sum(out * dout), from the definitions. */
function reference(s: Shape, stride: number, scale: number, q: Vec, k: Vec, v: Vec, dout: Vec): Reference {
  const { B, Tq, Tk, Hq, Hkv, D, qOffset, causal } = s;
  const window = s.window ?? 0;
  const softcap = s.softcap ?? 0;
  const group = Hq / Hkv;
  const ref: Reference = {
    out: new Float64Array(q.length),
    lse: new Float64Array(B * Hq * Tq),
    dq: new Float64Array(q.length),
    dk: new Float64Array(k.length),
    dv: new Float64Array(k.length),
    outMag: new Float64Array(q.length),
    dqMag: new Float64Array(q.length),
    dkMag: new Float64Array(k.length),
    dvMag: new Float64Array(k.length),
  };
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      const kj = (j: number) => b * stride + (j * Hkv + hk) * D;
      for (let i = 0; i < Tq; i++) {
        const qi = ((b * Tq + i) * Hq + h) * D;
        const pos = qOffset + i;
        const sees = (j: number) => (!causal || j <= pos) && (window === 0 || j > pos - window);
        const score = new Float64Array(Tk);
        const slope = new Float64Array(Tk); // d score / d (scale q.k)
        for (let j = 0; j < Tk; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qi + d] * k[kj(j) + d];
          const raw = dot * scale;
          const t = softcap > 0 ? Math.tanh(raw / softcap) : 0;
          score[j] = softcap > 0 ? softcap * t : raw;
          slope[j] = softcap > 0 ? 1 - t * t : 1;
        }
        const seen = Array.from({ length: Tk }, (_, j) => j).filter(sees);
        const li = (b * Hq + h) * Tq + i;
        if (seen.length === 0) {
          ref.lse[li] = -Infinity;
          continue;
        }
        const max = Math.max(...seen.map((j) => score[j]));
        const sum = seen.reduce((a, j) => a + Math.exp(score[j] - max), 0);
        ref.lse[li] = max + Math.log(sum);
        const p = (j: number) => Math.exp(score[j] - max) / sum;
        const dP = (j: number) => {
          let t = 0;
          for (let d = 0; d < D; d++) t += dout[qi + d] * v[kj(j) + d];
          return t;
        };
        const delta = seen.reduce((a, j) => a + p(j) * dP(j), 0);
        for (const j of seen) {
          const ds = p(j) * (dP(j) - delta) * slope[j];
          const dsMag = p(j) * (Math.abs(dP(j)) + Math.abs(delta)) * slope[j];
          for (let d = 0; d < D; d++) {
            const o = kj(j) + d;
            ref.out[qi + d] += p(j) * v[o];
            ref.dv[o] += p(j) * dout[qi + d];
            ref.dq[qi + d] += scale * ds * k[o];
            ref.dk[o] += scale * ds * q[qi + d];
            ref.outMag[qi + d] += p(j) * Math.abs(v[o]);
            ref.dvMag[o] += p(j) * Math.abs(dout[qi + d]);
            ref.dqMag[qi + d] += scale * dsMag * Math.abs(k[o]);
            ref.dkMag[o] += scale * dsMag * Math.abs(q[qi + d]);
          }
        }
      }
    }
  return ref;
}

function maxAbs(a: Vec): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |got - want| / max |scale| (default: want; 0 when equal; Infinity on NaN). */
function relErr(got: Vec, want: Vec, scale: Vec = want): number {
  let diff = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return diff === 0 ? 0 : diff / maxAbs(scale);
}

const backends = [jsKernels, nativeKernels()].filter((k): k is Kernels => k !== null);

test('the f64 reference backward (through the mask and tanh) matches its own finite differences', () => {
  const s: Shape = {
    B: 1,
    Tq: 5,
    Tk: 7,
    Hq: 2,
    Hkv: 1,
    D: 3,
    qOffset: 2,
    causal: true,
    window: 3,
    softcap: 1.5,
    why: '',
  };
  const x = attnInputs(s, 5);
  const [q, k, v] = [x.q, x.k, x.v].map((a) => Float64Array.from(a));
  const loss = () => {
    const r = reference(s, x.stride, x.scale, q, k, v, x.dout);
    return r.out.reduce((a, o, i) => a + o * x.dout[i], 0);
  };
  const ref = reference(s, x.stride, x.scale, q, k, v, x.dout);
  const h = 1e-5;
  for (const [name, arr, grad] of [
    ['q', q, ref.dq],
    ['k', k, ref.dk],
    ['v', v, ref.dv],
  ] as const) {
    const numeric = arr.map((_, i) => {
      const keep = arr[i];
      arr[i] = keep + h;
      const up = loss();
      arr[i] = keep - h;
      const down = loss();
      arr[i] = keep;
      return (up - down) / (2 * h);
    });
    assert.ok(relErr(grad, numeric) < 1e-6, `d${name}: ${relErr(grad, numeric)}`);
    assert.ok(maxAbs(numeric) > 1e-2, `d${name} is ~0: the check would pass on anything`);
  }
});

for (const kern of backends) {
  test(`attention window/softcap (${kern.name}): f64 reference on awkward shapes`, (t) => {
    let worst = 0;
    SHAPES.forEach((s, n) => {
      const x = attnInputs(s, 300 + n);
      const r = runAttention(kern, s, x);
      const ref = reference(s, x.stride, x.scale, x.q, x.k, x.v, x.dout);
      r.lse.forEach((l, i) => {
        const want = ref.lse[i];
        const ok = l === want || Math.abs(l - want) <= 1e-5 * (1 + Math.abs(want));
        assert.ok(ok, `${attnLabel(s)}: lse[${i}] = ${l}, reference ${want}`);
      });
      const added = (g: Float32Array, pre: Float32Array) => g.map((v, i) => v - pre[i]);
      for (const [what, got, want, mag] of [
        ['out', r.out, ref.out, ref.outMag],
        ['dq', added(r.dq, x.dq0), ref.dq, ref.dqMag],
        ['dk', added(r.dk, x.dk0), ref.dk, ref.dkMag],
        ['dv', added(r.dv, x.dv0), ref.dv, ref.dvMag],
      ] as const) {
        const err = relErr(got, want, mag);
        worst = Math.max(worst, err);
        assert.ok(err <= 2e-5, `${attnLabel(s)}: ${what} relative error ${err.toExponential(2)}`);
      }
    });
    t.diagnostic(`worst relative error ${worst.toExponential(2)}`);
  });

  test(`attention window/softcap (${kern.name}): a window past every position is no window, bitwise`, () => {
    for (const s of SHAPES.filter((c) => c.causal && c.qOffset >= 0)) {
      const x = attnInputs(s, 11);
      const none = runAttention(kern, s, x, { window: 0 });
      for (const w of [s.qOffset + s.Tq, s.qOffset + s.Tq + 17]) {
        const wide = runAttention(kern, s, x, { window: w });
        for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const)
          assert.deepEqual(wide[key], none[key], `${attnLabel(s)}: window ${w}, ${key}`);
      }
    }
  });

  test(`attention window/softcap (${kern.name}): window 1 attends to its own key only`, () => {
    const s = WINDOW_1;
    const x = attnInputs(s, 12);
    const { out } = runAttention(kern, s, x);
    const group = s.Hq / s.Hkv;
    for (let b = 0; b < s.B; b++)
      for (let i = 0; i < s.Tq; i++)
        for (let h = 0; h < s.Hq; h++) {
          const o = ((b * s.Tq + i) * s.Hq + h) * s.D;
          const vo = b * x.stride + (i * s.Hkv + Math.floor(h / group)) * s.D;
          assert.deepEqual(out.subarray(o, o + s.D), x.v.subarray(vo, vo + s.D), `b=${b} i=${i} h=${h}`);
        }
  });

  for (const bf16 of [false, true])
    test(`attention window/softcap (${kern.name}${bf16 ? ', bf16' : ''}): keys outside every window change nothing`, () => {
      // The KV-cache shape: rows at 42..44 with window 9 see keys 34..44 only.
      for (const s of [WINDOWED.cache, { ...WINDOWED.cache, softcap: 2 }]) {
        const x = attnInputs(s, 13);
        const base = runAttention(kern, s, x, { bf16 });
        const r = makeRandom(99);
        const hidden = 34 * s.Hkv * s.D; // keys 0..33 of each sequence
        const [k2, v2] = [x.k.slice(), x.v.slice()];
        for (let b = 0; b < s.B; b++) {
          k2.set(
            r(hidden).map((z) => 50 * z),
            b * x.stride,
          ); // large scores, were they seen
          v2.set(
            r(hidden).map((z) => 50 * z),
            b * x.stride,
          );
        }
        const moved = runAttention(kern, s, { ...x, k: k2, v: v2 }, { bf16 });
        for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const)
          assert.deepEqual(moved[key], base[key], `${attnLabel(s)}: ${key}`);
        // and their gradients stay as pre-filled
        for (let b = 0; b < s.B; b++) {
          const o = b * x.stride;
          assert.deepEqual(base.dk.subarray(o, o + hidden), x.dk0.subarray(o, o + hidden));
          assert.deepEqual(base.dv.subarray(o, o + hidden), x.dv0.subarray(o, o + hidden));
        }
      }
    });
}

test('attention kernels reject a negative window or a bad softcap, naming them', {
  skip: skipWithoutNative(),
}, () => {
  const k = requireNative();
  const a = new Float32Array(16);
  assert.throws(
    () => k.attentionForward(a, a, a, a, a, 1, 1, 1, 1, 1, 4, 4, 0, 1, true, -1, 0, false),
    /window/,
  );
  assert.throws(
    () => k.attentionForward(a, a, a, a, a, 1, 1, 1, 1, 1, 4, 4, 0, 1, true, 0, Number.NaN, false),
    /softcap/,
  );
});
