/**
 * The kernel interface: every hot loop in xfmr goes through one of these functions.
 *
 * Two implementations exist: `js/` (pure TypeScript, runs anywhere, the oracle in tests) and the
 * native N-API addon (`native/`, C++17 with SIMD and a thread pool). Both take the same
 * positional arguments so the addon's exports can be used directly.
 *
 * Conventions (hold for every kernel):
 * - All buffers are row-major Float32Array (ids are Int32Array); a kernel never allocates or
 *   copies a buffer it is given, and views (subarray) are fine.
 * - Forward kernels overwrite their outputs.
 * - Backward kernels ADD into their gradient outputs (`dx += ...`), as llm.c does: the caller
 *   zeroes them, and gradients of shared inputs accumulate for free.
 * - Attention tensors use the layout the projections produce, [B, T, H, D], so no transpose is
 *   ever materialised; K/V may live inside a larger KV cache (see `kvBatchStride`).
 */
import type { LowKVType } from './kv_types.ts';
import type { LinearQuantType } from './quant_types.ts';

export interface Kernels {
  readonly name: 'js' | 'native';
  /** Threads used by parallel kernels (1 for js). */
  threads(): number;
  setThreads(n: number): void;

  /**
   * Batched GEMM: for b in [0, batch): C_b = alpha * op(A_b) @ op(B_b) + beta * C_b.
   * op(A_b): [M, K] (stored [K, M] when transA); op(B_b): [K, N] (stored [N, K] when transB);
   * C_b: [M, N]. A_b starts at A[b * strideA] (strideA 0 broadcasts one matrix), likewise B, C.
   * beta = 0 overwrites C (its old contents may be NaN), beta = 1 accumulates.
   */
  gemm(
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    strideA: number,
    strideB: number,
    strideC: number,
    alpha: number,
    beta: number,
  ): void;

  /**
   * bf16 GEMM: the contract of `gemm` (batched, transA/transB, strides, alpha, beta; beta = 0
   * overwrites C), except that every element of A and B is first rounded to bf16 (round to
   * nearest even; NaN stays NaN). Products of bf16 values are exact in f32; they are summed in f32,
   * and C stays f32, so the result differs from an exact product of the rounded inputs by f32
   * summation error only (about K * 2^-24 * sum_p |a_ip b_pj|), in an order that differs between
   * backends. The native amx and avx512bf16 paths read inputs below 2^-126 in magnitude as zero.
   * The inputs stay f32 arrays: the native kernel rounds while it packs its panels.
   */
  gemmBf16: Kernels['gemm'];

  /**
   * A Linear layer on bf16 weights kept in memory as bf16 (inference): y = bf16(x) @ W^T.
   * x: [N, In] f32, rounded to bf16 as gemmBf16 rounds its inputs; w: [Out, In] bf16 bit patterns
   * (torch.nn.Linear's layout); y: [N, Out] f32, overwritten. Products are exact in f32 and sum in
   * f32, so the result matches gemmBf16(x, f32(w), transB) up to summation order (and, for N > 32 on
   * the amx and avx512bf16 paths, reads inputs below 2^-126 as zero like it). Decode (N = 1) is a
   * GEMV bound by reading w once; larger N reuse each block of w across rows.
   */
  linearBf16(x: Float32Array, w: Uint16Array, y: Float32Array, N: number, In: number, Out: number): void;

  /**
   * A Linear layer on ggml-quantized weights kept in memory as their blocks (inference), computed
   * as llama.cpp's CPU backend does: y[N, Out] = x[N, In] @ W^T. w: [Out, In] as `type` blocks
   * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: 32 values a block; Q4_K, Q5_K, Q6_K: 256), row after row, so In
   * must be a whole number of blocks. Each row of x is first quantized to 8 bits per block exactly
   * like `quantizeActivations` (Q8_0 for Q8_0/Q4_0/Q5_0 weights, Q8_1 for Q4_1/Q5_1, Q8_K for the
   * K-quants); each block's dot is an exact integer sum, scaled by the f16/f32 block scales (plus
   * Q4_1/Q5_1's minimum times the activations' s) and summed in f32 (the js twin sums in
   * float64): the result differs from the twin by f32 rounding of the per-block terms and of their
   * sum only, about (In / blockSize + 2) * 2^-24 * sum over blocks |term|. Decode (N = 1) is a GEMV
   * bound by reading w once. Arrays shorter than the shapes need, or In not whole blocks: RangeError.
   */
  linearQuant(
    x: Float32Array,
    w: Uint8Array,
    type: LinearQuantType,
    y: Float32Array,
    N: number,
    In: number,
    Out: number,
  ): void;

  /**
   * ggml's reference quantizers (what llama-quantize writes without an importance matrix):
   * x[0, n) f32 -> the n / blockSize blocks of `type` in out, byte-exact with the codecs of
   * `js/quant/` (themselves byte-exact with `ggml_quantize_chunk`), NaN inputs included. Blocks
   * are independent, so the native kernel quantizes them in parallel. n not whole blocks, or
   * arrays too short: RangeError; an unknown type: TypeError.
   */
  quantizeBlocks(x: Float32Array, type: LinearQuantType, out: Uint8Array, n: number): void;

  /**
   * Fused causal scaled-dot-product attention (flash style: online softmax, no [Tq, Tk] matrix).
   * q: [B, Tq, Hq, D]; k, v: batch b starts at b * kvBatchStride and holds rows [Tk, Hkv, D];
   * out: [B, Tq, Hq, D]; lse: [B, Hq, Tq] receives logsumexp of the scaled scores (for backward).
   * Query head h reads KV head floor(h / (Hq / Hkv)) (GQA; Hkv = Hq is MHA, Hkv = 1 is MQA).
   * Query i sits at absolute position p = qOffset + i; with causal it sees keys j <= p.
   * window > 0 (sliding-window attention) also hides the keys j <= p - window: with causal, query p
   * sees keys p - window < j <= p, itself and the window - 1 before it, as Hugging Face's mask
   * (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window; Mistral, Qwen2, Gemma 2).
   * window 0 is no limit. softcap > 0 bends each score s = scale q.k into softcap tanh(s / softcap)
   * before the mask and softmax (Gemma 2's attn_logit_softcapping); lse is then of the capped
   * scores. 0 is no cap. A row that sees no key outputs zeros, with lse -inf.
   *
   * bf16 (mixed precision, as torch.autocast does it): q, k and v are rounded to bf16 (round to
   * nearest even) as the operands of QK^T and PV, and the probabilities P are rounded to bf16
   * before PV; scores, the softmax statistics (max, sum, lse) and the normaliser sum the unrounded
   * f32 values. Against exact math on the rounded q, k, v, each output then errs by at most about
   * 2^-8 * sum_j p_j |v_j| (the rounding of P; where it rounds P from differs between backends, the
   * native kernel rounding exp(s - running max) of its key tile) plus f32 error. bf16 false is f32.
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    B: number,
    Tq: number,
    Tk: number,
    Hq: number,
    Hkv: number,
    D: number,
    kvBatchStride: number,
    qOffset: number,
    scale: number,
    causal: boolean,
    window: number,
    softcap: number,
    bf16: boolean,
  ): void;

  /**
   * attentionForward with k and v read from a low-precision KV cache (inference; no backward):
   * `kvType` f16 (k, v: Uint16Array of binary16 bits) or q8_0 (k, v: Uint8Array of ggml Q8_0
   * blocks). Value e of a cache (counting values as attentionForward indexes its Float32Array:
   * b * kvBatchStride + (j * Hkv + h) * D + d) lies where src/kernels/kv_types.ts says; any e is
   * readable (a head's row may straddle two q8_0 blocks). Each key and value row is widened to f32
   * as it is read (f16 exactly, q8_0 as the exact f32 product q * d): the result is
   * attentionForward on the widened cache, with the same arguments, bounds and bf16 contract (the
   * widened values are what bf16 mode rounds). No f32 copy of the cache is made.
   */
  attentionForwardKV(
    q: Float32Array,
    k: Uint16Array | Uint8Array,
    v: Uint16Array | Uint8Array,
    kvType: LowKVType,
    out: Float32Array,
    lse: Float32Array,
    B: number,
    Tq: number,
    Tk: number,
    Hq: number,
    Hkv: number,
    D: number,
    kvBatchStride: number,
    qOffset: number,
    scale: number,
    causal: boolean,
    window: number,
    softcap: number,
    bf16: boolean,
  ): void;

  /**
   * Backward of attentionForward (recomputes probabilities from lse); adds into dq, dk, dv, with
   * the forward's window and softcap. With p = exp(s - lse), delta = rowsum(dout * out),
   * dP = dout v^T and dS = P (dP - delta): dv += P^T dout, dq += scale dS k, dk += scale dS^T q.
   * With softcap, s is the capped score and dS is multiplied by its derivative 1 - (s / softcap)^2
   * (tanh' = 1 - tanh^2) before dq and dk. bf16: q, k, v, dout are rounded to bf16 as product
   * operands (delta uses the f32 dout), and P and dS are rounded before the products that take
   * them (dv, dq, dk), after dS has used the unrounded P.
   */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    dout: Float32Array,
    lse: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    B: number,
    Tq: number,
    Tk: number,
    Hq: number,
    Hkv: number,
    D: number,
    kvBatchStride: number,
    qOffset: number,
    scale: number,
    causal: boolean,
    window: number,
    softcap: number,
    bf16: boolean,
  ): void;

  /** LayerNorm over the last axis. x, y: [N, C]; w, b: [C] (b may be null); mean, rstd: [N]. */
  layerNormForward(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
    eps: number,
  ): void;
  /** Adds into dx [N, C], dw [C], db [C] (db may be null). */
  layerNormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    db: Float32Array | null,
    N: number,
    C: number,
  ): void;

  /** RMSNorm: y = x / sqrt(mean(x^2) + eps) * w. x, y: [N, C]; w: [C]; rstd: [N]. */
  rmsNormForward(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
    eps: number,
  ): void;
  /** Adds into dx [N, C] and dw [C]. */
  rmsNormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    N: number,
    C: number,
  ): void;

  /** Softmax over the last axis: x, y: [N, C]. */
  softmaxForward(x: Float32Array, y: Float32Array, N: number, C: number): void;
  /** dx += y * (dy - sum(dy * y)). */
  softmaxBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, N: number, C: number): void;
  /** Log-softmax over the last axis: x, y: [N, C]. */
  logSoftmaxForward(x: Float32Array, y: Float32Array, N: number, C: number): void;
  /** dx += dy - exp(y) * sum(dy). */
  logSoftmaxBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, N: number, C: number): void;

  /**
   * Fused cross-entropy. logits: [N, V]; targets: [N]; losses[i] = lse_i - logits[i, t_i], or 0
   * where t_i === ignoreIndex; lse: [N]. Returns the number of rows whose target is not ignored.
   */
  crossEntropyForward(
    logits: Float32Array,
    targets: Int32Array,
    losses: Float32Array,
    lse: Float32Array,
    N: number,
    V: number,
    ignoreIndex: number,
  ): number;
  /** dlogits[i] += dlosses[i] * (softmax(logits[i]) - onehot(t_i)); ignored rows add nothing. */
  crossEntropyBackward(
    logits: Float32Array,
    targets: Int32Array,
    lse: Float32Array,
    dlosses: Float32Array,
    dlogits: Float32Array,
    N: number,
    V: number,
    ignoreIndex: number,
  ): void;

  /** GELU: tanh approximation when approxTanh, else exact 0.5 x (1 + erf(x / sqrt 2)). */
  geluForward(x: Float32Array, y: Float32Array, n: number, approxTanh: boolean): void;
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number, approxTanh: boolean): void;
  /** SiLU: y = x * sigmoid(x). */
  siluForward(x: Float32Array, y: Float32Array, n: number): void;
  siluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void;
  /** SwiGLU product: y = silu(gate) * up. */
  swigluForward(gate: Float32Array, up: Float32Array, y: Float32Array, n: number): void;
  swigluBackward(
    gate: Float32Array,
    up: Float32Array,
    dy: Float32Array,
    dgate: Float32Array,
    dup: Float32Array,
    n: number,
  ): void;

  /**
   * Rotary embedding. x, y: [B, T, H, D] (y may be x); the first rotDim dims of each head rotate.
   * cos, sin: [maxPos, rotDim / 2]; token t uses row posOffset + t.
   * interleaved: pairs (2i, 2i+1) (GPT-J, llama.cpp); else halves (i, i + rotDim/2) (HF, NeoX).
   * inverse rotates by -angle (the backward pass: dx = rope^-1(dy)); it writes y (no accumulation).
   */
  rope(
    x: Float32Array,
    y: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    B: number,
    T: number,
    H: number,
    D: number,
    rotDim: number,
    posOffset: number,
    interleaved: boolean,
    inverse: boolean,
  ): void;

  /** out[i] = weight[ids[i]]: weight [V, C], ids [N], out [N, C]. */
  embeddingForward(weight: Float32Array, ids: Int32Array, out: Float32Array, N: number, C: number): void;
  /** dweight[ids[i]] += dout[i] (scatter-add). */
  embeddingBackward(dout: Float32Array, ids: Int32Array, dweight: Float32Array, N: number, C: number): void;

  /** Same-size elementwise: y = a op b (y may alias a or b). */
  add(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void;
  mul(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void;
  /** y += alpha * x. */
  axpy(alpha: number, x: Float32Array, y: Float32Array, n: number): void;
  /** y = alpha * x. */
  scale(x: Float32Array, alpha: number, y: Float32Array, n: number): void;
  /** y[N, C] = x[N, C] + bias[C] (y may be x). */
  addBias(x: Float32Array, bias: Float32Array, y: Float32Array, N: number, C: number): void;
  /** y[C] += sum over rows of x[N, C] (bias gradients). */
  sumRows(x: Float32Array, y: Float32Array, N: number, C: number): void;
  /** Sum of squares of x[0, n), accumulated in float64 (global gradient norm). */
  sumSquares(x: Float32Array, n: number): number;

  /**
   * One AdamW step (decoupled weight decay, Loshchilov & Hutter):
   *   g = grad * gradScale; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2
   *   p -= lr * (m / bc1 / (sqrt(v / bc2) + eps) + weightDecay * p)
   * bc1 = 1 - b1^t and bc2 = 1 - b2^t are passed in so the kernel needs no step counter.
   */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    bc1: number,
    bc2: number,
    gradScale: number,
  ): void;
}

/** Names of every kernel function, in one place (used to fill a partial native addon from js). */
export const KERNEL_NAMES = [
  'gemm',
  'gemmBf16',
  'linearBf16',
  'linearQuant',
  'quantizeBlocks',
  'attentionForward',
  'attentionForwardKV',
  'attentionBackward',
  'layerNormForward',
  'layerNormBackward',
  'rmsNormForward',
  'rmsNormBackward',
  'softmaxForward',
  'softmaxBackward',
  'logSoftmaxForward',
  'logSoftmaxBackward',
  'crossEntropyForward',
  'crossEntropyBackward',
  'geluForward',
  'geluBackward',
  'siluForward',
  'siluBackward',
  'swigluForward',
  'swigluBackward',
  'rope',
  'embeddingForward',
  'embeddingBackward',
  'add',
  'mul',
  'axpy',
  'scale',
  'addBias',
  'sumRows',
  'sumSquares',
  'adamw',
] as const satisfies readonly (keyof Kernels)[];
