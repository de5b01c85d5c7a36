/** Inverted dropout with a seeded RNG: zero each element with probability p, scale the rest by 1/(1-p). */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import type { Rng } from '../random.ts';
import { Tensor } from '../tensor.ts';

export function dropout(x: Tensor, p: number, rng: Rng, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const k = kernels();
  const mask = new Float32Array(x.size);
  const keep = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.random() < p ? 0 : keep;
  const out = Tensor.empty(x.shape);
  k.mul(x.data, mask, out.data, x.size);
  return record(out, 'dropout', [x], (g) => {
    if (!x.requiresGrad) return;
    const tmp = new Float32Array(x.size);
    k.mul(g.data, mask, tmp, x.size);
    k.axpy(1, tmp, gradOf(x), x.size);
  });
}
