/** Linear layer y = x @ W.T + b, with W stored [out, in] like torch.nn.Linear. */
import { linear, type Rng, Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

export class Linear extends Module {
  readonly weight: Tensor; // [out, in]
  readonly bias: Tensor | null; // [out]
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, bias: boolean, rng: Rng, std = 0.02) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.param('weight', Tensor.randn([outFeatures, inFeatures], rng, std));
    this.bias = bias ? this.param('bias', Tensor.zeros([outFeatures])) : null;
  }

  /** x: [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
