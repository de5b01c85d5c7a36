/**
 * Tensor: a shape over a contiguous buffer of one dtype (dtype.ts), plus what autograd needs
 * (requiresGrad, grad, and the node of the op that produced it). Views (reshape) share storage;
 * other ops copy.
 *
 * f32 tensors (everything ops compute) read and write `.data`, a Float32Array. A bf16 tensor holds
 * an inference weight matrix as bit patterns (`.bf16Data`); `.data` on it throws, naming the
 * tensor and its dtype, so code that assumes f32 fails loudly instead of reading garbage, and it
 * can never require a gradient (weights are trained in f32).
 *
 * Ownership: every f32 tensor owns one reference to its Storage. `dispose()` gives it back to the
 * pool; `tidy(fn)` (autograd.ts) disposes everything created inside fn that fn does not return.
 * Low-precision buffers are weights that live as long as their model: not pooled, left to the GC.
 */
import { bf16ArrayToF32, f32ArrayToBf16 } from '../kernels/float16.ts';
import { type DType, dtypeBytes, type LowDType } from './dtype.ts';
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

/** What a disposed or low-precision tensor's f32 view is. */
const EMPTY = new Float32Array(0);

/** The buffer of a low-precision tensor: its raw elements (bf16: one bit pattern each). */
export interface Packed {
  dtype: LowDType;
  bits: Uint16Array;
}

export class Tensor {
  readonly shape: number[];
  readonly size: number;
  readonly dtype: DType;
  grad: Tensor | null = null;
  node: Node | null = null;
  name = '';
  private grads = false;
  private storage: Storage | null;
  private offset: number;
  private view: Float32Array;
  private packed: Uint16Array | null;
  private disposed = false;

  /** storage: f32 elements from the pool (Storage) or the raw elements of a low-precision dtype. */
  constructor(shape: Shape, storage: Storage | Packed, offset = 0) {
    this.shape = [...shape];
    this.size = sizeOf(shape);
    const length = storage instanceof Storage ? storage.data.length : storage.bits.length;
    if (offset + this.size > length) {
      throw new Error(`tensor of shape [${shape.join(', ')}] does not fit its storage`);
    }
    this.offset = offset;
    if (storage instanceof Storage) {
      this.dtype = 'f32';
      this.storage = storage;
      this.view = storage.data.subarray(offset, offset + this.size);
      this.packed = null;
    } else {
      this.dtype = storage.dtype;
      this.storage = null;
      this.view = EMPTY;
      this.packed = storage.bits.subarray(offset, offset + this.size);
    }
    scopes.at(-1)?.add(this);
  }

  /** Whether backward() computes a gradient for this tensor. Only f32 tensors can. */
  get requiresGrad(): boolean {
    return this.grads;
  }

  set requiresGrad(on: boolean) {
    if (on && this.dtype !== 'f32')
      throw new Error(
        `tensor ${this.describe()} is ${this.dtype}: low-precision tensors hold inference weights and ` +
          'cannot require grad (train from f32 weights: load the model with --dtype f32)',
      );
    this.grads = on;
  }

  /** The elements of an f32 tensor, row-major (a view: writes go to the tensor). */
  get data(): Float32Array {
    this.checkLive();
    if (this.dtype !== 'f32')
      throw new Error(
        `tensor ${this.describe()} is ${this.dtype}: .data holds f32 elements only ` +
          `(read .${this.dtype}Data, or .cast('f32') for a widened copy)`,
      );
    return this.view;
  }

  /** The bit patterns of a bf16 tensor, row-major (a view: writes go to the tensor). */
  get bf16Data(): Uint16Array {
    this.checkLive();
    if (this.dtype !== 'bf16' || this.packed === null)
      throw new Error(`tensor ${this.describe()} is ${this.dtype}, not bf16: read .data`);
    return this.packed;
  }

  /** Bytes its elements take in memory (4 per f32 element, 2 per bf16 element). */
  get nbytes(): number {
    return dtypeBytes(this.dtype, this.size);
  }

  private checkLive(): void {
    if (this.disposed) throw new Error(`tensor ${this.describe()} was used after dispose()`);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Frees the buffer and drops the autograd links. Idempotent. An f32 buffer goes back to the pool
   * unless `pool` is false (a model's weights replaced for good: pooling them would keep their
   * memory held after the model stops using it).
   */
  dispose(options: { pool?: boolean } = {}): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage?.release(options.pool ?? true);
    this.view = EMPTY;
    this.packed = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** A tensor sharing this one's storage with another shape of the same size (no copy). */
  viewAs(shape: Shape): Tensor {
    const s = resolveShape(shape, this.size, this.shape);
    if (this.storage) return new Tensor(s, this.storage.retain(), this.offset);
    return new Tensor(s, { dtype: this.dtype as LowDType, bits: this.bf16Data });
  }

  /**
   * A copy in `dtype` (same shape and name): f32 -> bf16 rounds to nearest even, bf16 -> f32 is
   * exact, the same dtype copies.
   */
  cast(dtype: DType): Tensor {
    const t =
      dtype === 'f32'
        ? Tensor.wrap(this.dtype === 'f32' ? this.data.slice() : bf16ArrayToF32(this.bf16Data), this.shape)
        : Tensor.fromBf16(
            this.dtype === 'bf16' ? this.bf16Data.slice() : f32ArrayToBf16(this.data),
            this.shape,
          );
    t.name = this.name;
    return t;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a tensor with one element, got shape [${this.shape}]`);
    return this.dtype === 'f32' ? this.data[0] : this.toArray()[0];
  }

  /** The values as numbers (bf16 widened exactly). */
  toArray(): number[] {
    return Array.from(this.dtype === 'f32' ? this.data : bf16ArrayToF32(this.bf16Data));
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

  /** A bf16 tensor over `bits` (bfloat16 bit patterns, row-major), taking ownership without copying. */
  static fromBf16(bits: Uint16Array, shape: Shape = [bits.length]): Tensor {
    if (sizeOf(shape) !== bits.length) {
      throw new Error(`Tensor.fromBf16: ${bits.length} values do not fill shape [${shape.join(', ')}]`);
    }
    return new Tensor(shape, { dtype: 'bf16', bits });
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
    t.name = name;
    t.requiresGrad = true;
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
