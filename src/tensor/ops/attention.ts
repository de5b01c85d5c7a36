/**
 * Fused scaled-dot-product attention: softmax(q @ k.T / sqrt(dk) + causal mask) @ v, computed
 * flash-style by the kernel (no [T, T] matrix), with grouped-query K/V sharing.
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

export interface AttentionOptions {
  causal?: boolean;
  /** Default 1 / sqrt(head dim). */
  scale?: number;
  /** Absolute position of the first query (for a KV cache holding earlier keys). Default Tk - Tq. */
  qOffset?: number;
}

/**
 * q: [B, Tq, Hq, D], k and v: [B, Tk, Hkv, D] with Hq a multiple of Hkv -> out [B, Tq, Hq, D].
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new Error(`attention: q, k, v must be [B, T, H, D], got [${q.shape}], [${k.shape}], [${v.shape}]`);
  }
  const [B, Tq, Hq, D] = q.shape;
  const [Bk, Tk, Hkv, Dk] = k.shape;
  if (Bk !== B || Dk !== D || v.shape.some((d, i) => d !== k.shape[i])) {
    throw new Error(`attention: shapes q [${q.shape}], k [${k.shape}], v [${v.shape}] do not agree`);
  }
  if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} KV heads`);
  const causal = options.causal ?? true;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const qOffset = options.qOffset ?? Tk - Tq;
  const kern = kernels();
  const out = Tensor.empty(q.shape);
  const lse = new Float32Array(B * Hq * Tq);
  const kvStride = Tk * Hkv * D;
  kern.attentionForward(
    q.data,
    k.data,
    v.data,
    out.data,
    lse,
    B,
    Tq,
    Tk,
    Hq,
    Hkv,
    D,
    kvStride,
    qOffset,
    scale,
    causal,
  );
  return record(out, 'attention', [q, k, v], (g) => {
    const dq = q.requiresGrad ? gradOf(q) : new Float32Array(q.size);
    const dk = k.requiresGrad ? gradOf(k) : new Float32Array(k.size);
    const dv = v.requiresGrad ? gradOf(v) : new Float32Array(v.size);
    kern.attentionBackward(
      q.data,
      k.data,
      v.data,
      out.data,
      g.data,
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
      kvStride,
      qOffset,
      scale,
      causal,
    );
  });
}
