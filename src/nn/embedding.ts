/** Token (or position, or token-type) embedding table: weight [num, dim]. */
import { embedding, type Rng, type Shape, Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(num: number, dim: number, rng: Rng, std = 0.02) {
    super();
    this.weight = this.param('weight', Tensor.randn([num, dim], rng, std));
  }

  /** ids (shape S) -> [...S, dim] */
  forward(ids: Int32Array, shape: Shape = [ids.length]): Tensor {
    return embedding(this.weight, ids, shape);
  }
}
