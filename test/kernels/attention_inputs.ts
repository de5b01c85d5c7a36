/**
 * What the fused-attention kernel tests share (attention_bf16, attention_window, native_parity):
 * the shapes, a shape with its mask options, seeded inputs with pre-filled gradients, and one forward +
 * backward call of Kernels.attentionForward / attentionBackward.
 */
import type { Kernels } from '../../src/kernels/index.ts';
import { makeRandom } from './gemm_inputs.ts';

export interface AttnShape {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  qOffset: number;
  causal: boolean;
  /** Sliding window and score soft-cap; 0 or absent: none. */
  window?: number;
  softcap?: number;
  /** Keys per sequence in the KV store (kvBatchStride = cache * Hkv * D); default Tk. */
  cache?: number;
  /** native_parity also runs it under XFMR_ISA=avx2 and portable. */
  isa?: boolean;
  why: string;
}

/**
 * The awkward shapes every attention kernel test runs: D not a multiple of the SIMD width, size-1
 * dims, MHA/GQA/MQA, causal and not, decode steps and chunked prefill reading a longer KV cache,
 * several tiles (and the split backward), rows that see no key.
 */
export const ATTN_CASES: readonly AttnShape[] = [
  { B: 2, Tq: 13, Tk: 13, Hq: 4, Hkv: 2, D: 7, qOffset: 0, causal: true, isa: true, why: 'GQA, D=7' },
  { B: 1, Tq: 31, Tk: 31, Hq: 3, Hkv: 3, D: 13, qOffset: 0, causal: false, why: 'MHA, not causal' },
  {
    B: 2,
    Tq: 1,
    Tk: 37,
    Hq: 6,
    Hkv: 1,
    D: 16,
    qOffset: 36,
    causal: true,
    cache: 50,
    isa: true,
    why: 'MQA decode',
  },
  { B: 3, Tq: 1, Tk: 20, Hq: 4, Hkv: 4, D: 64, qOffset: 19, causal: true, cache: 29, why: 'MHA decode' },
  { B: 1, Tq: 5, Tk: 17, Hq: 4, Hkv: 2, D: 13, qOffset: 12, causal: true, cache: 24, why: 'chunked prefill' },
  {
    B: 1,
    Tq: 130,
    Tk: 130,
    Hq: 2,
    Hkv: 1,
    D: 80,
    qOffset: 0,
    causal: true,
    isa: true,
    why: 'tiles, split bwd',
  },
  { B: 2, Tq: 70, Tk: 200, Hq: 2, Hkv: 2, D: 32, qOffset: 0, causal: false, why: 'Tk > Tq' },
  { B: 1, Tq: 4, Tk: 6, Hq: 2, Hkv: 1, D: 8, qOffset: -2, causal: true, why: 'rows with no key' },
  { B: 4, Tq: 64, Tk: 64, Hq: 8, Hkv: 2, D: 128, qOffset: 0, causal: true, why: 'D=128, many pairs' },
  { B: 2, Tq: 3, Tk: 1, Hq: 2, Hkv: 1, D: 1, qOffset: 0, causal: false, isa: true, why: 'size-1 dims' },
];

/**
 * Shapes with sliding windows and soft-caps that several kernel tests run (each adds its own):
 * row and key tiles that a window cuts anywhere (T = 130: forward row tiles of 32 and key tiles of
 * 64, backward key tiles of 32), a KV cache whose window starts mid-cache, and one (b, hk) pair
 * long enough that the backward splits its key tiles across tasks.
 */
export const WINDOWED = {
  tiles: {
    B: 1,
    Tq: 130,
    Tk: 130,
    Hq: 4,
    Hkv: 2,
    D: 24,
    qOffset: 0,
    causal: true,
    window: 37,
    why: 'window, GQA',
  },
  cache: {
    B: 2,
    Tq: 3,
    Tk: 45,
    Hq: 6,
    Hkv: 2,
    D: 20,
    qOffset: 42,
    causal: true,
    window: 9,
    cache: 64,
    why: 'windowed KV cache (qOffset > 0)',
  },
  split: {
    B: 1,
    Tq: 200,
    Tk: 200,
    Hq: 1,
    Hkv: 1,
    D: 32,
    qOffset: 0,
    causal: true,
    window: 45,
    softcap: 2,
    why: 'window + cap, one pair: split bwd',
  },
} satisfies Record<string, AttnShape>;

export const attnLabel = (s: AttnShape) =>
  `${s.why}: B=${s.B} Tq=${s.Tq} Tk=${s.Tk} Hq=${s.Hq} Hkv=${s.Hkv} D=${s.D} off=${s.qOffset}` +
  `${s.causal ? ' causal' : ''}${s.window ? ` window=${s.window}` : ''}${s.softcap ? ` softcap=${s.softcap}` : ''}`;

export interface AttnInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
  /** Pre-filled gradients: the kernel adds into them. */
  dq0: Float32Array;
  dk0: Float32Array;
  dv0: Float32Array;
  stride: number;
  scale: number;
}

/** q, k in [-2, 2) (peaked rows, not uniform ones: scores up to ~8 at D = 16), the rest in [-1, 1). */
export function attnInputs(s: AttnShape, seed: number): AttnInputs {
  const r = makeRandom(seed);
  const stride = (s.cache ?? s.Tk) * s.Hkv * s.D;
  const qn = s.B * s.Tq * s.Hq * s.D;
  const kn = s.B * stride;
  const x2 = (a: Float32Array) => a.map((x) => 2 * x);
  return {
    q: x2(r(qn)),
    k: x2(r(kn)),
    v: r(kn),
    dout: r(qn),
    dq0: r(qn),
    dk0: r(kn),
    dv0: r(kn),
    stride,
    scale: 1 / Math.sqrt(s.D),
  };
}

export interface AttnResult {
  out: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/**
 * Forward, then backward into copies of the pre-filled gradients. The backward starts from
 * `given` (out, lse) when set (so that several backends' backwards see the same forward), else
 * from this forward; `window` overrides the shape's.
 */
export function runAttention(
  k: Kernels,
  s: AttnShape,
  x: AttnInputs,
  o: { bf16?: boolean; given?: { out: Float32Array; lse: Float32Array }; window?: number } = {},
): AttnResult {
  const out = new Float32Array(x.q.length);
  const lse = new Float32Array(s.B * s.Hq * s.Tq);
  const dims = [s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D, x.stride, s.qOffset, x.scale, s.causal] as const;
  const mask = [o.window ?? s.window ?? 0, s.softcap ?? 0, o.bf16 ?? false] as const;
  k.attentionForward(x.q, x.k, x.v, out, lse, ...dims, ...mask);
  const f = o.given ?? { out, lse };
  const dq = x.dq0.slice();
  const dk = x.dk0.slice();
  const dv = x.dv0.slice();
  k.attentionBackward(x.q, x.k, x.v, f.out, x.dout, f.lse, dq, dk, dv, ...dims, ...mask);
  return { out, lse, dq, dk, dv };
}
