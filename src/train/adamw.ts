/**
 * AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, plus global-norm gradient
 * clipping. The update itself is one fused kernel call per parameter.
 */
import { kernels } from '../kernels/index.ts';
import type { Tensor } from '../tensor/index.ts';

export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Parameters that get no weight decay (default: 1-D tensors, i.e. norms and biases, and embeddings by name). */
  noDecay?: (p: Tensor) => boolean;
}

export const defaultNoDecay = (p: Tensor): boolean => p.ndim < 2 || /embeddings|wte|wpe/.test(p.name);

export class AdamW {
  readonly params: Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  private readonly decay: boolean[];

  constructor(params: Tensor[], options: AdamWOptions = {}) {
    // bf16 weights (a model loaded for inference) never get a gradient: training would skip them.
    const low = params.find((p) => p.dtype !== 'f32');
    if (low)
      throw new Error(
        `AdamW: parameter ${low.describe()} is ${low.dtype}; train from f32 weights (load with --dtype f32)`,
      );
    this.params = params;
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const noDecay = options.noDecay ?? defaultNoDecay;
    this.m = params.map((p) => new Float32Array(p.size));
    this.v = params.map((p) => new Float32Array(p.size));
    this.decay = params.map((p) => !noDecay(p));
  }

  /** The global L2 norm of all gradients (missing gradients count as zero). */
  gradNorm(): number {
    const k = kernels();
    let ss = 0;
    for (const p of this.params) if (p.grad) ss += k.sumSquares(p.grad.data, p.size);
    return Math.sqrt(ss);
  }

  /**
   * One update. With maxGradNorm, gradients are scaled by min(1, maxGradNorm / norm) first (the
   * scale is folded into the kernel, so gradients are not rewritten). Returns the pre-clip norm
   * (pass `gradNorm` when it is already known).
   */
  update(options: { lr?: number; maxGradNorm?: number; gradNorm?: number } = {}): number {
    const k = kernels();
    const lr = options.lr ?? this.lr;
    const norm = options.gradNorm ?? this.gradNorm();
    const clip = options.maxGradNorm;
    const gradScale = clip !== undefined && clip > 0 && norm > clip ? clip / norm : 1;
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      const wd = this.decay[i] ? this.weightDecay : 0;
      k.adamw(
        p.data,
        p.grad.data,
        this.m[i],
        this.v[i],
        p.size,
        lr,
        this.beta1,
        this.beta2,
        this.eps,
        wd,
        bc1,
        bc2,
        gradScale,
      );
    });
    return norm;
  }

  /** Zeroes every gradient (keeping the buffers, so memory stays flat across steps). */
  zeroGrad(): void {
    for (const p of this.params) p.grad?.data.fill(0);
  }
}
