/**
 * LoRA (Hu et al. 2021): a frozen Linear plus a trained low-rank update,
 *   y = base(x) + (alpha / r) * dropout(x) @ A.T @ B.T
 *   A: [r, in], Kaiming-uniform as PEFT draws it (bound 1 / sqrt(in)); B: [out, r], zeros,
 * so a fresh adapter leaves the model unchanged and only B moves on the first step. Names and
 * shapes are PEFT's (`lora_A.weight`, `lora_B.weight`), so its files are a rename away.
 *
 * The adapter is not a parameter of the Linear it rides on: the model's own tree (saving, loading,
 * castMatrices) is untouched, and the trained parameters are the adapters' only (LoraAdapters in
 * models/lora.ts collects them). The base weight may be f32, bf16 or quantized: the linear op
 * computes dx through any of them and never dW when the base does not require grad.
 *
 * One adapter may span several Linears that read the same input and whose outputs a checkpoint
 * stacks (GPT-2's c_attn = q, k, v): each Linear gets LoraRows, the adapter's full A and its rows
 * of B, x A^T B[rows]^T, which is exactly that Linear's part of the fused update for any B.
 */
import { add, dropout, linear, type Rng, scale, slice, Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

/** Adapter dropout: active while `training()` holds, drawing from `rng` (the model's dropout RNG). */
export interface LoraDropout {
  p: number;
  rng: Rng;
  training: () => boolean;
}

/** What a Linear adds to its output: a whole adapter, or its rows of one spanning several Linears. */
export interface LoraUpdate {
  /** base: [..., out], the frozen layer's output for x: [..., in] -> base + the update. */
  apply(base: Tensor, x: Tensor): Tensor;
}

export class LoraAdapter extends Module implements LoraUpdate {
  readonly r: number;
  readonly alpha: number;

  constructor(
    inFeatures: number,
    outFeatures: number,
    r: number,
    alpha: number,
    readonly drop: LoraDropout,
    rng: Rng,
  ) {
    super();
    if (!Number.isInteger(r) || r < 1) throw new Error(`LoRA: r must be a positive integer, got ${r}`);
    if (!(alpha > 0)) throw new Error(`LoRA: alpha must be > 0, got ${alpha}`);
    if (!(drop.p >= 0 && drop.p < 1)) throw new Error(`LoRA: dropout must be in [0, 1), got ${drop.p}`);
    this.r = r;
    this.alpha = alpha;
    // PEFT: kaiming_uniform_(A, a=sqrt(5)): gain sqrt(2 / 6), bound gain * sqrt(3 / in) = 1 / sqrt(in).
    const bound = 1 / Math.sqrt(inFeatures);
    this.param('lora_A.weight', Tensor.rand([r, inFeatures], rng, -bound, bound));
    this.param('lora_B.weight', Tensor.zeros([outFeatures, r]));
  }

  /** [r, in] */
  get a(): Tensor {
    return this.getParam('lora_A.weight');
  }

  /** [out, r] */
  get b(): Tensor {
    return this.getParam('lora_B.weight');
  }

  /** alpha / r: the factor on B A. */
  get scaling(): number {
    return this.alpha / this.r;
  }

  /**
   * x: [..., in] -> the update [..., out] (without the base); with `rows`, only outputs
   * [start, end) of it, through those rows of B.
   */
  delta(x: Tensor, rows?: readonly [number, number]): Tensor {
    const d = dropout(x, this.drop.p, this.drop.rng, this.drop.training());
    const b = rows ? slice(this.b, 0, rows[0], rows[1]) : this.b; // [out or end - start, r]
    // Scaled at rank r, [..., r], not at [..., out]: one activation of the layer's width less per step.
    return linear(scale(linear(d, this.a), this.scaling), b); // [..., r] -> [..., out]
  }

  /** base: [..., out], the frozen layer's output for x: [..., in] -> base + delta(x). */
  apply(base: Tensor, x: Tensor): Tensor {
    return add(base, this.delta(x));
  }
}

/**
 * Outputs [start, end) of an adapter spanning several Linears: the update of the Linear that
 * computes those outputs. Each such Linear draws its own dropout mask (PEFT draws one for the
 * fused layer); without dropout, and in inference, the sum is exactly the fused adapter's.
 */
export class LoraRows implements LoraUpdate {
  constructor(
    readonly adapter: LoraAdapter,
    readonly rows: readonly [number, number],
  ) {}

  apply(base: Tensor, x: Tensor): Tensor {
    return add(base, this.adapter.delta(x, this.rows));
  }
}
