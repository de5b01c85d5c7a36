/** Normalisation layers over the last axis: LayerNorm (weight and bias) and RMSNorm (weight only). */
import { addScalar, layerNorm, rmsNorm, Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

export type NormType = 'layernorm' | 'rmsnorm';

export interface Norm {
  forward(x: Tensor): Tensor;
}

export class LayerNorm extends Module implements Norm {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', Tensor.ones([dim]));
    this.bias = this.param('bias', Tensor.zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/**
 * y = x / sqrt(mean(x^2) + eps) * w. With unitOffset the stored weight is an offset from 1 and the
 * scale is (1 + w), as Gemma stores it (it initialises at 0 and decays towards the identity).
 */
export class RMSNorm extends Module implements Norm {
  readonly weight: Tensor;

  constructor(
    dim: number,
    readonly eps = 1e-6,
    readonly unitOffset = false,
  ) {
    super();
    this.weight = this.param('weight', unitOffset ? Tensor.zeros([dim]) : Tensor.ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.unitOffset ? addScalar(this.weight, 1) : this.weight, this.eps);
  }
}

export function makeNorm(kind: NormType, dim: number, eps: number, unitOffset = false): LayerNorm | RMSNorm {
  return kind === 'layernorm' ? new LayerNorm(dim, eps) : new RMSNorm(dim, eps, unitOffset);
}
