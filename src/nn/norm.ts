/** Normalisation layers over the last axis: LayerNorm (weight and bias) and RMSNorm (weight only). */
import { layerNorm, rmsNorm, Tensor } from '../tensor/index.ts';
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

export class RMSNorm extends Module implements Norm {
  readonly weight: Tensor;

  constructor(
    dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', Tensor.ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export function makeNorm(kind: NormType, dim: number, eps: number): LayerNorm | RMSNorm {
  return kind === 'layernorm' ? new LayerNorm(dim, eps) : new RMSNorm(dim, eps);
}
