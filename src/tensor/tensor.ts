/**
 * Tensor: a shape over a contiguous buffer of one dtype (dtype.ts), plus what autograd needs
 * (requiresGrad, grad, and the node of the op that produced it). Views (reshape) share storage;
 * other ops copy.
 *
 * f32 tensors (everything ops compute) read and write `.data`, a Float32Array. A bf16 tensor holds
 * an inference weight matrix as bit patterns (`.bf16Data`), a quantized one (q8_0, q4_k, ...) as
 * ggml's raw blocks (`.quantData`, a Uint8Array); `.data` on either throws, naming the tensor and
 * its dtype, so code that assumes f32 fails loudly instead of reading garbage, and neither can
 * ever require a gradient (weights are trained in f32). A quantized tensor's shape counts
 * elements; its last dim must be a whole number of blocks.
 *
 * Ownership: every f32 tensor owns one reference to its Storage. `dispose()` gives it back to the
 * pool; `tidy(fn)` (autograd.ts) disposes everything created inside fn that fn does not return.
 * Low-precision buffers are weights that live as long as their model: not pooled, left to the GC.
 */
import { bf16ArrayToF32, f32ArrayToBf16 } from '../kernels/float16.ts';
import { QUANT_CODECS } from '../kernels/js/quant/index.ts';
import { DTYPE_LAYOUT, type DType, dtypeBytes, ggmlTypeOf, isQuantDType, type QuantDType } from './dtype.ts';
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

/**
 * The buffer of a low-precision tensor: bf16 bit patterns (one per element), or the raw ggml blocks
 * of a quantized dtype (the tensor's rows one after the other).
 */
export type Packed = { dtype: 'bf16'; bits: Uint16Array } | { dtype: QuantDType; bytes: Uint8Array };

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
  private blocks: Uint8Array | null;
  private disposed = false;

  /** storage: f32 elements from the pool (Storage) or the raw elements of a low-precision dtype. */
  constructor(shape: Shape, storage: Storage | Packed, offset = 0) {
    this.shape = [...shape];
    this.size = sizeOf(shape);
    this.offset = offset;
    this.packed = null;
    this.blocks = null;
    if (storage instanceof Storage) {
      if (offset + this.size > storage.data.length)
        throw new Error(`tensor of shape [${shape.join(', ')}] does not fit its storage`);
      this.dtype = 'f32';
      this.storage = storage;
      this.view = storage.data.subarray(offset, offset + this.size);
    } else if (storage.dtype === 'bf16') {
      if (offset + this.size > storage.bits.length)
        throw new Error(`tensor of shape [${shape.join(', ')}] does not fit its storage`);
      this.dtype = 'bf16';
      this.storage = null;
      this.view = EMPTY;
      this.packed = storage.bits.subarray(offset, offset + this.size);
    } else {
      // offset counts bytes here; rows must be whole blocks
      const { blockElems } = DTYPE_LAYOUT[storage.dtype];
      const row = this.shape.length > 0 ? this.shape[this.shape.length - 1] : 1;
      if (row % blockElems !== 0)
        throw new Error(
          `${storage.dtype} tensor of shape [${shape.join(', ')}]: rows of ${row} are not whole blocks of ${blockElems}`,
        );
      const bytes = dtypeBytes(storage.dtype, this.size);
      if (offset + bytes > storage.bytes.length)
        throw new Error(
          `${storage.dtype} tensor of shape [${shape.join(', ')}] needs ${bytes} bytes, its buffer has ${storage.bytes.length - offset}`,
        );
      this.dtype = storage.dtype;
      this.storage = null;
      this.view = EMPTY;
      this.blocks = storage.bytes.subarray(offset, offset + bytes);
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
          `(read .${this.dtype === 'bf16' ? 'bf16Data' : 'quantData'}, or .cast('f32') for a widened copy)`,
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

  /** The raw ggml blocks of a quantized tensor, rows one after the other (a view). */
  get quantData(): Uint8Array {
    this.checkLive();
    if (this.blocks === null)
      throw new Error(`tensor ${this.describe()} is ${this.dtype}, not a quantized dtype (q8_0, q4_k, ...)`);
    return this.blocks;
  }

  /** Bytes its elements take in memory (4 per f32 element, 2 per bf16 element, blocks for quantized). */
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
    this.blocks = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** A tensor sharing this one's storage with another shape of the same size (no copy). */
  viewAs(shape: Shape): Tensor {
    const s = resolveShape(shape, this.size, this.shape);
    if (this.storage) return new Tensor(s, this.storage.retain(), this.offset);
    if (this.dtype === 'bf16') return new Tensor(s, { dtype: 'bf16', bits: this.bf16Data });
    const d = this.dtype as QuantDType;
    const rowElems = DTYPE_LAYOUT[d].blockElems;
    if ((s.at(-1) ?? 1) % rowElems !== 0)
      throw new Error(`cannot view ${d} tensor ${this.describe()} as [${s}]: rows must stay whole blocks`);
    return new Tensor(s, { dtype: d, bytes: this.quantData });
  }

  /** The elements widened to f32 (into `out`, else a new array): bf16 exactly, quantized as ggml dequantizes. */
  private toF32(out?: Float32Array): Float32Array {
    if (this.dtype === 'f32') {
      if (!out) return this.data.slice();
      out.set(this.data);
      return out;
    }
    if (this.dtype === 'bf16') return bf16ArrayToF32(this.bf16Data, out);
    return QUANT_CODECS[ggmlTypeOf(this.dtype)].dequantize(this.quantData, this.size, out);
  }

  /**
   * A copy in `dtype` (same shape and name): f32 -> bf16 rounds to nearest even, bf16 -> f32 is
   * exact, quantized -> f32 dequantizes (ggml's to_float), anything -> a quantized dtype goes
   * through f32 and ggml's reference quantizer; the same dtype copies.
   */
  cast(dtype: DType): Tensor {
    let t: Tensor;
    if (dtype === this.dtype && this.dtype !== 'f32' && this.dtype !== 'bf16')
      t = Tensor.fromQuant(dtype as QuantDType, this.quantData.slice(), this.shape);
    else if (dtype === 'f32') {
      // Into a pooled buffer: linear's backward widens a frozen low-precision W every step, and a
      // fresh array each time would join the pool on dispose and grow it by every matrix per step.
      t = Tensor.empty(this.shape);
      this.toF32(t.data);
    } else if (dtype === 'bf16')
      t = Tensor.fromBf16(
        this.dtype === 'bf16' ? this.bf16Data.slice() : f32ArrayToBf16(this.toF32()),
        this.shape,
      );
    else {
      const x = this.toF32();
      t = Tensor.fromQuant(dtype, QUANT_CODECS[ggmlTypeOf(dtype)].quantize(x, x.length), this.shape);
    }
    t.name = this.name;
    return t;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a tensor with one element, got shape [${this.shape}]`);
    return this.dtype === 'f32' ? this.data[0] : this.toArray()[0];
  }

  /** The values as numbers (bf16 widened exactly, quantized dequantized). */
  toArray(): number[] {
    return Array.from(this.dtype === 'f32' ? this.data : this.toF32());
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

  /**
   * A quantized tensor over `bytes` (ggml blocks of `dtype`, rows of shape[last] elements one after
   * the other), taking ownership without copying. The byte count must be exactly the shape's.
   */
  static fromQuant(dtype: QuantDType, bytes: Uint8Array, shape: Shape): Tensor {
    if (!isQuantDType(dtype)) throw new Error(`Tensor.fromQuant: ${String(dtype)} is not a quantized dtype`);
    const want = dtypeBytes(dtype, sizeOf(shape));
    if (bytes.length !== want)
      throw new Error(
        `Tensor.fromQuant: ${bytes.length} bytes do not fill ${dtype} shape [${shape.join(', ')}] (${want} bytes)`,
      );
    return new Tensor(shape, { dtype, bytes });
  }

  /** Normal(0, std) values from a seeded RNG (uninitialised from `Rng.forLoading()`). */
  static randn(shape: Shape, rng: Rng, std = 1): Tensor {
    const t = Tensor.empty(shape);
    if (!rng.initialises) return t;
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    return t;
  }

  /** Uniform values in [lo, hi) (uninitialised from `Rng.forLoading()`). */
  static rand(shape: Shape, rng: Rng, lo = 0, hi = 1): Tensor {
    const t = Tensor.empty(shape);
    if (!rng.initialises) return t;
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
