/** Shape ops: reshape (a view), permute/transpose, concat, split and slice (copies). */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { type Shape, Tensor } from '../tensor.ts';

/** Same data, another shape (one -1 is inferred). No copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const out = x.viewAs(shape);
  return record(out, 'reshape', [x], (g) => {
    if (x.requiresGrad) kernels().axpy(1, g.data, gradOf(x), x.size);
  });
}

function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Copies `src` (shape `shape`) to `dst` with axes reordered by `perm`: dst axis i = src axis perm[i].
 * add=true accumulates. The innermost axis is copied as a run when it stays innermost.
 */
function permuteInto(
  src: Float32Array,
  dst: Float32Array,
  shape: Shape,
  perm: readonly number[],
  add: boolean,
): void {
  const n = shape.length;
  const sst = strides(shape);
  const outShape = perm.map((p) => shape[p]);
  const srcStride = perm.map((p) => sst[p]);
  const total = dst.length;
  const idx = new Array<number>(n).fill(0);
  const inner = outShape[n - 1] ?? 1;
  const innerStride = srcStride[n - 1] ?? 1;
  for (let o = 0; o < total; o += inner) {
    let s = 0;
    for (let i = 0; i < n - 1; i++) s += idx[i] * srcStride[i];
    if (add) for (let j = 0; j < inner; j++) dst[o + j] += src[s + j * innerStride];
    else for (let j = 0; j < inner; j++) dst[o + j] = src[s + j * innerStride];
    for (let i = n - 2; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
}

/** Reorders axes: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const n = x.ndim;
  if (perm.length !== n || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm}] is not a permutation of ${n} axes`);
  }
  const out = Tensor.empty(perm.map((p) => x.shape[p]));
  permuteInto(x.data, out.data, x.shape, perm, false);
  const inverse = new Array<number>(n);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return record(out, 'permute', [x], (g) => {
    if (x.requiresGrad) permuteInto(g.data, gradOf(x), out.shape, inverse, true);
  });
}

/** Swaps two axes (negative axes count from the end). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const n = x.ndim;
  const perm = [...Array(n).keys()];
  const i = a < 0 ? n + a : a;
  const j = b < 0 ? n + b : b;
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

function normAxis(axis: number, ndim: number, op: string): number {
  const a = axis < 0 ? ndim + axis : axis;
  if (a < 0 || a >= ndim) throw new Error(`${op}: axis ${axis} out of range for ${ndim} dims`);
  return a;
}

/** outer = product of dims before axis, inner = product after it. */
function around(shape: Shape, axis: number): [number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, inner];
}

/** Joins tensors along an axis; all other dims must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const ax = normAxis(axis, xs[0].ndim, 'concat');
  for (const x of xs) {
    if (x.ndim !== xs[0].ndim || x.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`concat: shapes [${xs[0].shape}] and [${x.shape}] differ outside axis ${axis}`);
    }
  }
  const total = xs.reduce((a, x) => a + x.shape[ax], 0);
  const shape = [...xs[0].shape];
  shape[ax] = total;
  const out = Tensor.empty(shape);
  const [outer, inner] = around(shape, ax);
  const rowOut = total * inner;
  let at = 0;
  for (const x of xs) {
    const rowIn = x.shape[ax] * inner;
    for (let o = 0; o < outer; o++)
      out.data.set(x.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + at);
    at += rowIn;
  }
  return record(out, 'concat', xs, (g) => {
    let pos = 0;
    for (const x of xs) {
      const rowIn = x.shape[ax] * inner;
      if (x.requiresGrad) {
        const dx = gradOf(x);
        for (let o = 0; o < outer; o++) {
          const s = o * rowOut + pos;
          for (let j = 0; j < rowIn; j++) dx[o * rowIn + j] += g.data[s + j];
        }
      }
      pos += rowIn;
    }
  });
}

/** The part of x with start <= index < end along axis (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis(axis, x.ndim, 'slice');
  const len = x.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= len)) {
    throw new Error(`slice: [${start}, ${end}) out of range for axis ${axis} of size ${len}`);
  }
  const shape = [...x.shape];
  shape[ax] = end - start;
  const out = Tensor.empty(shape);
  const [outer, inner] = around(x.shape, ax);
  const rowIn = len * inner;
  const rowOut = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    out.data.set(x.data.subarray(o * rowIn + start * inner, o * rowIn + end * inner), o * rowOut);
  }
  return record(out, 'slice', [x], (g) => {
    if (!x.requiresGrad) return;
    const dx = gradOf(x);
    for (let o = 0; o < outer; o++) {
      const d = o * rowIn + start * inner;
      for (let j = 0; j < rowOut; j++) dx[d + j] += g.data[o * rowOut + j];
    }
  });
}

/** Splits x along axis into pieces of the given sizes (or n equal pieces when a number). */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const ax = normAxis(axis, x.ndim, 'split');
  const len = x.shape[ax];
  let parts: number[];
  if (typeof sizes === 'number') {
    if (len % sizes !== 0)
      throw new Error(`split: axis ${axis} of size ${len} is not divisible into ${sizes}`);
    parts = new Array<number>(sizes).fill(len / sizes);
  } else parts = [...sizes];
  if (parts.reduce((a, b) => a + b, 0) !== len)
    throw new Error(`split: sizes [${parts}] do not add up to ${len}`);
  const out: Tensor[] = [];
  let at = 0;
  for (const p of parts) {
    out.push(slice(x, ax, at, at + p));
    at += p;
  }
  return out;
}
