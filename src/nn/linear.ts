/** Linear layer y = x @ W.T + b, with W stored [out, in] like torch.nn.Linear (f32 or bf16). */
import { linear, type Rng, Tensor } from '../tensor/index.ts';
import type { LoraUpdate } from './lora.ts';
import { Module } from './module.ts';

export class Linear extends Module {
  readonly bias: Tensor | null; // [out]
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** A LoRA update added to the output (models/lora.ts attaches it); not one of this module's parameters. */
  lora: LoraUpdate | null = null;

  constructor(inFeatures: number, outFeatures: number, bias: boolean, rng: Rng, std = 0.02) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.matrix('weight', Tensor.randn([outFeatures, inFeatures], rng, std));
    this.bias = bias ? this.param('bias', Tensor.zeros([outFeatures])) : null;
  }

  /** [out, in]; f32, or bf16 in a model loaded for inference in bf16 (Module.castMatrices). */
  get weight(): Tensor {
    return this.getParam('weight');
  }

  /** x: [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    const y = linear(x, this.weight, this.bias);
    return this.lora ? this.lora.apply(y, x) : y;
  }
}
