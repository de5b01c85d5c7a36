/**
 * The affine map of a Linear layer, y = x @ W.T + b, with W stored [out, in] as torch.nn.Linear
 * does. One GEMM forward and, in backward, one each for dx and dW, plus a row sum for db.
 *   x: [..., in], weight: [out, in], bias: [out] or null -> y: [..., out]
 *
 * A bf16 weight (an inference model loaded in bf16, dtype.ts) goes to the linearBf16 kernel: x is
 * rounded to bf16 as well, products are exact and sum in f32 (Kernels.linearBf16). It never needs
 * dW (low-precision tensors cannot require grad); dx, for a gradient that flows through frozen
 * bf16 weights, uses the exactly widened W.
 */

import { bf16ArrayToF32 } from '../../kernels/float16.ts';
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { ggmlTypeOf, isQuantDType } from '../dtype.ts';
import { Tensor } from '../tensor.ts';
import { gemm } from './gemm.ts';

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (weight.ndim !== 2) throw new Error(`linear: weight must be [out, in], got [${weight.shape}]`);
  const [Out, In] = weight.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== In)
    throw new Error(`linear: x [${x.shape}] does not end in the weight's ${In} inputs`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Out))
    throw new Error(`linear: bias [${bias.shape}] does not match ${Out} outputs`);
  const N = x.size / In; // every leading dim is a row
  const k = kernels();
  const y = Tensor.empty([...x.shape.slice(0, -1), Out]);
  if (weight.dtype === 'bf16')
    k.linearBf16(x.data, weight.bf16Data, y.data, N, In, Out); // [N, Out]
  else if (isQuantDType(weight.dtype))
    k.linearQuant(x.data, weight.quantData, ggmlTypeOf(weight.dtype), y.data, N, In, Out); // [N, Out]
  else gemm({ a: x.data, b: weight.data, c: y.data, M: N, N: Out, K: In, transB: true }); // [N, Out]
  if (bias) k.addBias(y.data, bias.data, y.data, N, Out);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, 'linear', inputs, (g) => {
    const dy = g.data; // [N, Out]
    // dx: [N, In] = dy @ W
    if (x.requiresGrad) {
      const wide = isQuantDType(weight.dtype) ? weight.cast('f32') : null;
      const w = wide ? wide.data : weight.dtype === 'bf16' ? bf16ArrayToF32(weight.bf16Data) : weight.data;
      gemm({ a: dy, b: w, c: gradOf(x), M: N, N: In, K: Out, accumulate: true });
      wide?.dispose();
    }
    // dW: [Out, In] = dy^T @ x
    if (weight.requiresGrad)
      gemm({ a: dy, b: x.data, c: gradOf(weight), M: Out, N: In, K: N, transA: true, accumulate: true });
    if (bias?.requiresGrad) k.sumRows(dy, gradOf(bias), N, Out);
  });
}
