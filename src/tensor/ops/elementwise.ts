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

/**
 * A binary op: its value and its partial derivatives. `linear` ops (constant derivatives) skip
 * the elementwise product in backward; `kernel` names a same-shape kernel for the forward pass.
 */
interface BinaryOp {
  f: (x: number, y: number) => number;
  dfdx: (x: number, y: number) => number;
  dfdy: (x: number, y: number) => number;
  linear?: readonly [number, number];
  kernel?: 'add' | 'mul';
}

const OPS: Record<'add' | 'sub' | 'mul' | 'div', BinaryOp> = {
  add: { f: (x, y) => x + y, dfdx: () => 1, dfdy: () => 1, linear: [1, 1], kernel: 'add' },
  sub: { f: (x, y) => x - y, dfdx: () => 1, dfdy: () => -1, linear: [1, -1] },
  mul: { f: (x, y) => x * y, dfdx: (_, y) => y, dfdy: (x) => x, kernel: 'mul' },
  div: { f: (x, y) => x / y, dfdx: (_, y) => 1 / y, dfdy: (x, y) => -x / (y * y) },
};

/**
 * dst (shape `to`) += alpha * src (shape `from`) summed over the axes that `to` broadcast along:
 * the gradient of a broadcast operand. Same shape is one axpy, a trailing bias one row sum.
 */
function sumToShape(src: Float32Array, from: Shape, to: Shape, dst: Float32Array, alpha: number): void {
  const k = kernels();
  const n = src.length;
  const size = dst.length;
  if (sameShape(from, to)) k.axpy(alpha, src, dst, n);
  else if (isTrailing(from, to)) {
    if (alpha === 1) k.sumRows(src, dst, n / size, size);
    else {
      const tmp = new Float32Array(size);
      k.sumRows(src, tmp, n / size, size);
      k.axpy(alpha, tmp, dst, size);
    }
  } else {
    const map = indexMap(to, from);
    for (let i = 0; i < n; i++) dst[map[i]] += alpha * src[i];
  }
}

function binary(name: keyof typeof OPS, a: Tensor, b: Tensor): Tensor {
  const op = OPS[name];
  const k = kernels();
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.empty(shape);
  const n = out.size;
  const A = a.data;
  const B = b.data;
  const aFull = sameShape(a.shape, shape);
  const bFull = sameShape(b.shape, shape);
  // Flat index into each operand for every output element (null: the identity), built on demand:
  // the kernel fast paths never need them.
  let maps: [Int32Array | null, Int32Array | null] | null = null;
  const indexMaps = () => {
    maps ??= [aFull ? null : indexMap(a.shape, shape), bFull ? null : indexMap(b.shape, shape)];
    return maps;
  };
  if (aFull && bFull && op.kernel) k[op.kernel](A, B, out.data, n);
  else if (name === 'add' && aFull && isTrailing(shape, b.shape))
    k.addBias(A, B, out.data, n / b.size, b.size);
  else {
    const [ia, ib] = indexMaps();
    for (let i = 0; i < n; i++) out.data[i] = op.f(A[ia ? ia[i] : i], B[ib ? ib[i] : i]);
  }

  return record(out, name, [a, b], (g) => {
    [a, b].forEach((t, which) => {
      if (!t.requiresGrad) return;
      if (op.linear) {
        sumToShape(g.data, shape, t.shape, gradOf(t), op.linear[which]);
        return;
      }
      // d loss / d t = g * df/dt, elementwise over the broadcast shape, then summed back.
      const df = which === 0 ? op.dfdx : op.dfdy;
      const [ia, ib] = indexMaps();
      const local = new Float32Array(n);
      for (let i = 0; i < n; i++) local[i] = g.data[i] * df(A[ia ? ia[i] : i], B[ib ? ib[i] : i]);
      sumToShape(local, shape, t.shape, gradOf(t), 1);
    });
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
