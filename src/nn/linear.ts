/** Linear layer y = x @ W.T + b, with W stored [out, in] like torch.nn.Linear. */
import { kernels } from '../kernels/index.ts';
import { add, matmul, type Rng, Tensor } from '../tensor/index.ts';
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
    const y = matmul(x, this.weight, { transB: true });
    return this.bias ? add(y, this.bias) : y;
  }

  /** Inference on raw rows, no tape: x [N, in] -> out [N, out]. */
  apply(x: Float32Array, N: number, out: Float32Array): void {
    const k = kernels();
    k.gemm(x, this.weight.data, out, 1, N, this.outFeatures, this.inFeatures, false, true, 0, 0, 0, 1, 0);
    if (this.bias) k.addBias(out, this.bias.data, out, N, this.outFeatures);
  }
}
