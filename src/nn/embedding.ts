/** Token (or position, or token-type) embedding table: weight [num, dim]. */
import { embedding, type Rng, type Shape, Tensor } from '../tensor/index.ts';
import { Module } from './module.ts';

export class Embedding extends Module {
  constructor(num: number, dim: number, rng: Rng, std = 0.02) {
    super();
    this.matrix('weight', Tensor.randn([num, dim], rng, std));
  }

  /** [num, dim]; f32, or bf16 in a model loaded for inference in bf16 (Module.castMatrices). */
  get weight(): Tensor {
    return this.getParam('weight');
  }

  /** ids (shape S) -> [...S, dim] */
  forward(ids: Int32Array, shape: Shape = [ids.length]): Tensor {
    return embedding(this.weight, ids, shape);
  }
}
