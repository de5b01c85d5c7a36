/**
 * Elementwise arithmetic with NumPy broadcasting: add, sub, mul, div, plus scale and addScalar.
 * Same-shape operands and a trailing bias (b.shape a suffix of a.shape) go straight to kernels;
 * other broadcasts use index maps. Gradients of broadcast operands are summed back to their shape.
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { type Shape, Tensor } from '../tensor.ts';

export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** For each element of `out`, the flat index of the broadcast source element in `src`. */
function indexMap(src: Shape, out: Shape): Int32Array {
  const n = out.length;
  const srcStr = new Array<number>(n).fill(0);
  let acc = 1;
  for (let i = src.length - 1; i >= 0; i--) {
    const oi = n - src.length + i;
    srcStr[oi] = src[i] === 1 ? 0 : acc;
    acc *= src[i];
  }
  let total = 1;
  for (const d of out) total *= d;
  const map = new Int32Array(total);
  const idx = new Array<number>(n).fill(0);
  let s = 0;
  for (let o = 0; o < total; o++) {
    map[o] = s;
    for (let i = n - 1; i >= 0; i--) {
      idx[i]++;
      s += srcStr[i];
      if (idx[i] < out[i]) break;
      s -= srcStr[i] * idx[i];
      idx[i] = 0;
    }
  }
  return map;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** True when b's shape equals the last dims of a's (a bias over rows). */
function isTrailing(a: Shape, b: Shape): boolean {
  return b.length <= a.length && b.every((d, i) => d === a[a.length - b.length + i]);
}

type Kind = 'add' | 'sub' | 'mul' | 'div';

function binary(kind: Kind, a: Tensor, b: Tensor): Tensor {
  const k = kernels();
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.empty(shape);
  const n = out.size;
  const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const bias =
    !same && sameShape(a.shape, shape) && isTrailing(shape, b.shape) && (kind === 'add' || kind === 'sub');
  let ia: Int32Array | null = null;
  let ib: Int32Array | null = null;
  const A = a.data;
  const B = b.data;
  const Y = out.data;
  if (same && kind === 'add') k.add(A, B, Y, n);
  else if (same && kind === 'mul') k.mul(A, B, Y, n);
  else if (bias && kind === 'add') k.addBias(A, B, Y, n / b.size, b.size);
  else {
    ia = same ? null : indexMap(a.shape, shape);
    ib = same ? null : indexMap(b.shape, shape);
    for (let i = 0; i < n; i++) {
      const x = A[ia ? ia[i] : i];
      const y = B[ib ? ib[i] : i];
      Y[i] = kind === 'add' ? x + y : kind === 'sub' ? x - y : kind === 'mul' ? x * y : x / y;
    }
  }
  return record(out, kind, [a, b], (g) => {
    const G = g.data;
    if (a.requiresGrad) {
      const da = gradOf(a);
      if (sameShape(a.shape, shape) && (kind === 'add' || kind === 'sub')) k.axpy(1, G, da, n);
      else {
        const map = ia ?? (sameShape(a.shape, shape) ? null : indexMap(a.shape, shape));
        for (let i = 0; i < n; i++) {
          const j = map ? map[i] : i;
          const bv = B[ib ? ib[i] : sameShape(b.shape, shape) ? i : 0];
          da[j] += kind === 'mul' ? G[i] * bv : kind === 'div' ? G[i] / bv : G[i];
        }
      }
    }
    if (b.requiresGrad) {
      const db = gradOf(b);
      if (sameShape(b.shape, shape) && kind === 'add') k.axpy(1, G, db, n);
      else if (sameShape(b.shape, shape) && kind === 'sub') k.axpy(-1, G, db, n);
      else if (
        isTrailing(shape, b.shape) &&
        (kind === 'add' || kind === 'sub') &&
        !sameShape(b.shape, shape)
      ) {
        if (kind === 'add') k.sumRows(G, db, n / b.size, b.size);
        else {
          const tmp = new Float32Array(b.size);
          k.sumRows(G, tmp, n / b.size, b.size);
          k.axpy(-1, tmp, db, b.size);
        }
      } else {
        const map = ib ?? (sameShape(b.shape, shape) ? null : indexMap(b.shape, shape));
        const amap = ia ?? (sameShape(a.shape, shape) ? null : indexMap(a.shape, shape));
        for (let i = 0; i < n; i++) {
          const j = map ? map[i] : i;
          const av = A[amap ? amap[i] : i];
          const bv = B[j];
          db[j] +=
            kind === 'add'
              ? G[i]
              : kind === 'sub'
                ? -G[i]
                : kind === 'mul'
                  ? G[i] * av
                  : (-G[i] * av) / (bv * bv);
        }
      }
    }
  });
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

/** x * s for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  const k = kernels();
  const out = Tensor.empty(x.shape);
  k.scale(x.data, s, out.data, x.size);
  return record(out, 'scale', [x], (g) => {
    if (x.requiresGrad) k.axpy(s, g.data, gradOf(x), x.size);
  });
}

/** x + c for a number c. */
export function addScalar(x: Tensor, c: number): Tensor {
  const out = Tensor.empty(x.shape);
  const X = x.data;
  const Y = out.data;
  for (let i = 0; i < X.length; i++) Y[i] = X[i] + c;
  return record(out, 'addScalar', [x], (g) => {
    if (x.requiresGrad) kernels().axpy(1, g.data, gradOf(x), x.size);
  });
}
