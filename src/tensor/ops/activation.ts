/**
 * Activations: GELU (tanh approximation or exact erf), SiLU, the SwiGLU product silu(gate) * up,
 * and soft-capping.
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

export type GeluApprox = 'tanh' | 'none';

export function gelu(x: Tensor, approximate: GeluApprox = 'tanh'): Tensor {
  const k = kernels();
  const tanh = approximate === 'tanh';
  const out = Tensor.empty(x.shape);
  k.geluForward(x.data, out.data, x.size, tanh);
  return record(out, 'gelu', [x], (g) => {
    if (x.requiresGrad) k.geluBackward(x.data, g.data, gradOf(x), x.size, tanh);
  });
}

export function silu(x: Tensor): Tensor {
  const k = kernels();
  const out = Tensor.empty(x.shape);
  k.siluForward(x.data, out.data, x.size);
  return record(out, 'silu', [x], (g) => {
    if (x.requiresGrad) k.siluBackward(x.data, g.data, gradOf(x), x.size);
  });
}

/** silu(gate) * up, fused (Shazeer 2020, as Llama's MLP uses it). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.size !== up.size) throw new Error(`swiglu: gate [${gate.shape}] and up [${up.shape}] differ`);
  const k = kernels();
  const out = Tensor.empty(gate.shape);
  k.swigluForward(gate.data, up.data, out.data, gate.size);
  return record(out, 'swiglu', [gate, up], (g) => {
    const dg = gate.requiresGrad ? gradOf(gate) : new Float32Array(gate.size);
    const du = up.requiresGrad ? gradOf(up) : new Float32Array(up.size);
    k.swigluBackward(gate.data, up.data, g.data, dg, du, gate.size);
  });
}

/**
 * Soft-capping, cap * tanh(x / cap): near identity for |x| << cap, never beyond +-cap (Gemma 2's
 * logits). A plain loop, not a kernel: it runs once per forward, on the logits.
 */
export function softcap(x: Tensor, cap: number): Tensor {
  if (!(cap > 0)) throw new Error(`softcap: cap must be > 0, got ${cap}`);
  const out = Tensor.empty(x.shape);
  const xs = x.data;
  const ys = out.data;
  for (let i = 0; i < xs.length; i++) ys[i] = cap * Math.tanh(xs[i] / cap);
  return record(out, 'softcap', [x], (g) => {
    if (!x.requiresGrad) return;
    const dx = gradOf(x);
    const gs = g.data;
    for (let i = 0; i < ys.length; i++) {
      const t = ys[i] / cap; // d/dx cap tanh(x / cap) = 1 - tanh^2
      dx[i] += gs[i] * (1 - t * t);
    }
  });
}
