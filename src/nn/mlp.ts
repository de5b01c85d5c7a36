/**
 * The feed-forward block. GELU MLP (GPT-2, BERT): w2(gelu(w1 x)). SwiGLU (Llama):
 * w2(silu(w1 x) * w3 x), with w1 the gate and w3 the up projection. GeGLU (Gemma): the same with
 * tanh-GELU in place of SiLU.
 */
import { gelu, mul, type Rng, swiglu, type Tensor } from '../tensor/index.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';

/** 'gelu' is exact erf GELU; 'gelu_tanh' the tanh approximation (GPT-2's gelu_new); the gated ones. */
export type FfnType = 'gelu' | 'gelu_tanh' | 'swiglu' | 'geglu';

export class MLP extends Module {
  readonly w1: Linear;
  readonly w2: Linear;
  readonly w3: Linear | null;

  constructor(
    dModel: number,
    ffnDim: number,
    readonly type: FfnType,
    bias: boolean,
    rng: Rng,
    std: number,
    projStd: number,
  ) {
    super();
    this.w1 = this.child('w1', new Linear(dModel, ffnDim, bias, rng, std));
    this.w2 = this.child('w2', new Linear(ffnDim, dModel, bias, rng, projStd));
    const gated = type === 'swiglu' || type === 'geglu';
    this.w3 = gated ? this.child('w3', new Linear(dModel, ffnDim, bias, rng, std)) : null;
  }

  /** x: [..., dModel] -> [..., dModel] */
  forward(x: Tensor): Tensor {
    if (this.type === 'geglu' && this.w3)
      return this.w2.forward(mul(gelu(this.w1.forward(x), 'tanh'), this.w3.forward(x)));
    if (this.w3) return this.w2.forward(swiglu(this.w1.forward(x), this.w3.forward(x)));
    return this.w2.forward(gelu(this.w1.forward(x), this.type === 'gelu_tanh' ? 'tanh' : 'none'));
  }
}
