/**
 * Tensor: a shape over a contiguous float32 buffer, plus what autograd needs (requiresGrad, grad,
 * and the node of the op that produced it). Views (reshape) share storage; other ops copy.
 *
 * Ownership: every tensor owns one reference to its Storage. `dispose()` gives it back to the
 * pool; `tidy(fn)` (autograd.ts) disposes everything created inside fn that fn does not return.
 */
import { Rng } from './random.ts';
import { Storage } from './storage.ts';

export type Shape = readonly number[];

/** One recorded op on the autograd tape: how to send the output's gradient to the inputs. */
export interface Node {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Adds the contributions of `grad` (the output's gradient) into the inputs' `.grad`. */
  backward(grad: Tensor): void;
}

/** Tensors created while a scope is open are registered in it (see tidy in autograd.ts). */
export const scopes: Set<Tensor>[] = [];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export class Tensor {
  readonly shape: number[];
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: Node | null = null;
  name = '';
  private storage: Storage;
  private offset: number;
  private view: Float32Array;
  private disposed = false;

  constructor(shape: Shape, storage: Storage, offset = 0) {
    this.shape = [...shape];
    this.size = sizeOf(shape);
    if (offset + this.size > storage.data.length) {
      throw new Error(`tensor of shape [${shape.join(', ')}] does not fit its storage`);
    }
    this.storage = storage;
    this.offset = offset;
    this.view = storage.data.subarray(offset, offset + this.size);
    scopes.at(-1)?.add(this);
  }

  /** The elements, row-major (a view: writes go to the tensor). */
  get data(): Float32Array {
    if (this.disposed) throw new Error(`tensor ${this.describe()} was used after dispose()`);
    return this.view;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees the buffer (back to the pool) and drops the autograd links. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.view = new Float32Array(0);
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** A tensor sharing this one's storage with another shape of the same size (no copy). */
  viewAs(shape: Shape): Tensor {
    const s = resolveShape(shape, this.size, this.shape);
    return new Tensor(s, this.storage.retain(), this.offset);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a tensor with one element, got shape [${this.shape}]`);
    return this.data[0];
  }

  toArray(): number[] {
    return Array.from(this.data);
  }

  describe(): string {
    return `${this.name || 'tensor'}[${this.shape.join(', ')}]`;
  }

  // ---- constructors ----

  static zeros(shape: Shape): Tensor {
    return new Tensor(shape, Storage.alloc(sizeOf(shape), true));
  }

  /** Uninitialised (pooled memory may hold old values): for outputs a kernel fully overwrites. */
  static empty(shape: Shape): Tensor {
    return new Tensor(shape, Storage.alloc(sizeOf(shape), false));
  }

  static full(shape: Shape, value: number): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(value);
    return t;
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  static scalar(value: number): Tensor {
    return Tensor.full([], value);
  }

  /** Copies `values` into a new tensor of `shape` (default: 1-D). */
  static from(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
    if (sizeOf(shape) !== values.length) {
      throw new Error(`Tensor.from: ${values.length} values do not fill shape [${shape.join(', ')}]`);
    }
    const t = Tensor.empty(shape);
    t.data.set(values);
    return t;
  }

  /** Takes ownership of `data` without copying. */
  static wrap(data: Float32Array, shape: Shape = [data.length]): Tensor {
    if (sizeOf(shape) !== data.length) {
      throw new Error(`Tensor.wrap: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
    return new Tensor(shape, Storage.wrap(data));
  }

  /** Normal(0, std) values from a seeded RNG. */
  static randn(shape: Shape, rng: Rng, std = 1): Tensor {
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    return t;
  }

  /** Uniform values in [lo, hi). */
  static rand(shape: Shape, rng: Rng, lo = 0, hi = 1): Tensor {
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.random();
    return t;
  }

  /** A trainable leaf: requiresGrad, and never disposed by tidy(). */
  static param(t: Tensor, name = ''): Tensor {
    for (const s of scopes) s.delete(t);
    t.requiresGrad = true;
    t.name = name;
    return t;
  }
}

/** Resolves one -1 in a shape and checks the size. */
export function resolveShape(shape: Shape, size: number, from: Shape): number[] {
  const s = [...shape];
  const free = s.indexOf(-1);
  if (free >= 0) {
    const rest = s.reduce((a, d, i) => (i === free ? a : a * d), 1);
    if (rest === 0 || size % rest !== 0) throw new Error(`cannot reshape [${from}] to [${shape}]`);
    s[free] = size / rest;
  }
  if (sizeOf(s) !== size)
    throw new Error(`cannot reshape [${from.join(', ')}] (size ${size}) to [${shape.join(', ')}]`);
  return s;
}

export { Rng };
