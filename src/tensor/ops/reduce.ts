/** Reductions: sum and mean over all elements or over the last axis. */
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

/** Sum of all elements (shape []), accumulated in float64. */
export function sum(x: Tensor): Tensor {
  const X = x.data;
  let s = 0;
  for (let i = 0; i < X.length; i++) s += X[i];
  const out = Tensor.scalar(s);
  return record(out, 'sum', [x], (g) => {
    if (!x.requiresGrad) return;
    const dx = gradOf(x);
    const gv = g.data[0];
    for (let i = 0; i < dx.length; i++) dx[i] += gv;
  });
}

/** Mean of all elements (shape []). */
export function mean(x: Tensor): Tensor {
  const X = x.data;
  let s = 0;
  for (let i = 0; i < X.length; i++) s += X[i];
  const n = x.size;
  const out = Tensor.scalar(s / n);
  return record(out, 'mean', [x], (g) => {
    if (!x.requiresGrad) return;
    const dx = gradOf(x);
    const gv = g.data[0] / n;
    for (let i = 0; i < dx.length; i++) dx[i] += gv;
  });
}

function lastAxis(x: Tensor, op: string, divide: boolean): Tensor {
  if (x.ndim === 0) throw new Error(`${op}: needs at least one axis`);
  const C = x.shape[x.ndim - 1];
  const N = x.size / C;
  const out = Tensor.empty(x.shape.slice(0, -1));
  const X = x.data;
  const Y = out.data;
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += X[i * C + c];
    Y[i] = divide ? s / C : s;
  }
  return record(out, op, [x], (g) => {
    if (!x.requiresGrad) return;
    const dx = gradOf(x);
    for (let i = 0; i < N; i++) {
      const gv = divide ? g.data[i] / C : g.data[i];
      for (let c = 0; c < C; c++) dx[i * C + c] += gv;
    }
  });
}

/** Sum over the last axis: [..., C] -> [...]. */
export const sumLast = (x: Tensor): Tensor => lastAxis(x, 'sumLast', false);
/** Mean over the last axis: [..., C] -> [...]. */
export const meanLast = (x: Tensor): Tensor => lastAxis(x, 'meanLast', true);
