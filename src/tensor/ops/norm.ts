/** LayerNorm (with or without bias) and RMSNorm over the last axis, fused forward and backward. */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

function rowsOf(x: Tensor, w: Tensor, op: string): [number, number] {
  const C = x.shape[x.ndim - 1];
  if (w.ndim !== 1 || w.shape[0] !== C)
    throw new Error(`${op}: weight [${w.shape}] does not match last dim ${C} of [${x.shape}]`);
  return [x.size / C, C];
}

/** y = (x - mean) / sqrt(var + eps) * w + b over the last axis. x: [..., C]; w, b: [C]. */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor | null, eps = 1e-5): Tensor {
  const [N, C] = rowsOf(x, w, 'layerNorm');
  if (b && (b.ndim !== 1 || b.shape[0] !== C))
    throw new Error(`layerNorm: bias [${b.shape}] does not match ${C}`);
  const k = kernels();
  const out = Tensor.empty(x.shape);
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  k.layerNormForward(x.data, w.data, b ? b.data : null, out.data, mean, rstd, N, C, eps);
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'layerNorm', inputs, (g) => {
    // The kernel computes all three gradients in one pass; scratch buffers stand in for inputs
    // that need none.
    const dx = x.requiresGrad ? gradOf(x) : new Float32Array(x.size);
    const dw = w.requiresGrad ? gradOf(w) : new Float32Array(C);
    const db = b ? (b.requiresGrad ? gradOf(b) : new Float32Array(C)) : null;
    k.layerNormBackward(g.data, x.data, w.data, mean, rstd, dx, dw, db, N, C);
  });
}

/** y = x / sqrt(mean(x^2) + eps) * w over the last axis. */
export function rmsNorm(x: Tensor, w: Tensor, eps = 1e-6): Tensor {
  const [N, C] = rowsOf(x, w, 'rmsNorm');
  const k = kernels();
  const out = Tensor.empty(x.shape);
  const rstd = new Float32Array(N);
  k.rmsNormForward(x.data, w.data, out.data, rstd, N, C, eps);
  return record(out, 'rmsNorm', [x, w], (g) => {
    const dx = x.requiresGrad ? gradOf(x) : new Float32Array(x.size);
    const dw = w.requiresGrad ? gradOf(w) : new Float32Array(C);
    k.rmsNormBackward(g.data, x.data, w.data, rstd, dx, dw, N, C);
  });
}
