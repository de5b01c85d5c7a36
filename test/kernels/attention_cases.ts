/**
 * The attention shapes the kernel tests share (native_parity.test.ts in f32, attention_bf16.test.ts
 * in bf16): D not a multiple of the SIMD width, size-1 dims, MHA/GQA/MQA, causal and not, decode
 * steps and chunked prefill reading a longer KV cache, several tiles (and the split backward), rows
 * that see no key.
 */
export interface AttnCase {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  qOffset: number;
  causal: boolean;
  /** The KV cache length (kvBatchStride = cache * Hkv * D), >= Tk; default Tk. */
  cache?: number;
  /** native_parity also runs it under XFMR_ISA=avx2 and portable. */
  isa?: boolean;
  why: string;
}
export const ATTN_CASES: readonly AttnCase[] = [
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
