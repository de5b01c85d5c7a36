/**
 * The gradient-check helper every op test uses: compares the analytic backward against central
 * finite differences. The probe loss is L = sum(f(x) * R) with a fixed random R, accumulated in
 * float64 so that the only float32 rounding is in the op itself.
 */
import assert from 'node:assert/strict';
import { backward, noGrad, Rng, Tensor } from '../../src/tensor/index.ts';

export interface GradcheckOptions {
  eps?: number;
  /** Allowed error relative to the largest analytic gradient of that input. */
  rtol?: number;
  atol?: number;
  seed?: number;
}

function probe(out: Tensor, R: Float32Array): number {
  let s = 0;
  for (let i = 0; i < out.size; i++) s += out.data[i] * R[i];
  return s;
}

/** Checks d sum(f(inputs) * R) / d input for every input with requiresGrad. */
export function gradcheck(
  name: string,
  inputs: Tensor[],
  f: (...xs: Tensor[]) => Tensor,
  options: GradcheckOptions = {},
): void {
  const eps = options.eps ?? 1e-2;
  const rtol = options.rtol ?? 1e-3;
  const atol = options.atol ?? 1e-4;
  const rng = new Rng(options.seed ?? 7);
  for (const x of inputs) x.grad = null;
  const out = f(...inputs);
  const R = new Float32Array(out.size);
  for (let i = 0; i < R.length; i++) R[i] = rng.normal();
  backward(out, Tensor.from(R, out.shape));
  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    const analytic = x.grad?.data ?? new Float32Array(x.size);
    let maxA = 0;
    for (const a of analytic) maxA = Math.max(maxA, Math.abs(a));
    const numeric = new Float64Array(x.size);
    noGrad(() => {
      for (let i = 0; i < x.size; i++) {
        const old = x.data[i];
        x.data[i] = old + eps;
        const lp = probe(f(...inputs), R);
        x.data[i] = old - eps;
        const lm = probe(f(...inputs), R);
        x.data[i] = old;
        numeric[i] = (lp - lm) / (2 * eps);
      }
    });
    for (let i = 0; i < x.size; i++) {
      const err = Math.abs(numeric[i] - analytic[i]);
      const tol = atol + rtol * Math.max(maxA, 1);
      assert.ok(
        err <= tol,
        `${name}: d/d input ${xi} [${x.shape}] at ${i}: analytic ${analytic[i]}, numeric ${numeric[i]} (err ${err.toExponential(2)} > ${tol.toExponential(2)})`,
      );
    }
  });
}

/** A leaf input of the given shape with normal values. */
export function input(shape: number[], rng: Rng, std = 1): Tensor {
  const t = Tensor.randn(shape, rng, std);
  t.requiresGrad = true;
  return t;
}
