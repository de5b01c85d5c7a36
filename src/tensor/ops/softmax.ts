/** Softmax and log-softmax over the last axis. */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

export function softmax(x: Tensor): Tensor {
  const C = x.shape[x.ndim - 1];
  const N = x.size / C;
  const k = kernels();
  const out = Tensor.empty(x.shape);
  k.softmaxForward(x.data, out.data, N, C);
  return record(out, 'softmax', [x], (g) => {
    if (x.requiresGrad) k.softmaxBackward(g.data, out.data, gradOf(x), N, C);
  });
}

export function logSoftmax(x: Tensor): Tensor {
  const C = x.shape[x.ndim - 1];
  const N = x.size / C;
  const k = kernels();
  const out = Tensor.empty(x.shape);
  k.logSoftmaxForward(x.data, out.data, N, C);
  return record(out, 'logSoftmax', [x], (g) => {
    if (x.requiresGrad) k.logSoftmaxBackward(g.data, out.data, gradOf(x), N, C);
  });
}
