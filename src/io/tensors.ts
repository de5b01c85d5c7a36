/**
 * Named tensors as plain data: the currency of `src/io/`. Checkpoint readers produce them and
 * writers consume them, so this layer needs nothing from the tensor engine but its bf16 conversions.
 *
 * Storage by dtype (row-major, shape outermost first, as in PyTorch):
 *   F32  -> Float32Array
 *   F16  -> Uint16Array of IEEE half bit patterns
 *   BF16 -> Uint16Array of bfloat16 bit patterns
 *   I32  -> Int32Array
 *   I64  -> BigInt64Array
 */
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from './float16.ts';

export type FloatDType = 'F32' | 'F16' | 'BF16';
export type DType = FloatDType | 'I32' | 'I64';
export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array;

export interface NamedTensor {
  name: string;
  shape: number[];
  dtype: DType;
  data: TensorData;
}

/** Tensors keyed by name (insertion order is kept by writers). */
export type TensorMap = Map<string, NamedTensor>;

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The typed array class a dtype is stored in, as a name (for messages). */
function storageName(dtype: DType): string {
  switch (dtype) {
    case 'F32':
      return 'Float32Array';
    case 'F16':
    case 'BF16':
      return 'Uint16Array';
    case 'I32':
      return 'Int32Array';
    case 'I64':
      return 'BigInt64Array';
  }
}

/** Allocates zeroed storage for `n` elements of `dtype`. */
export function allocData(dtype: DType, n: number): TensorData {
  switch (dtype) {
    case 'F32':
      return new Float32Array(n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(n);
    case 'I32':
      return new Int32Array(n);
    case 'I64':
      return new BigInt64Array(n);
  }
}

/**
 * The storage of `n` elements of `dtype` as a view of `buffer` from `byteOffset` (no copy), or null
 * when a typed array cannot start there (the offset is not a multiple of the element size).
 */
export function viewData(
  dtype: DType,
  buffer: ArrayBuffer,
  byteOffset: number,
  n: number,
): TensorData | null {
  if (byteOffset % DTYPE_BYTES[dtype] !== 0) return null;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, n);
  }
}

/** Throws unless `t.data` is the right typed array for `t.dtype` with numel(shape) elements. */
export function checkTensor(t: NamedTensor, where: string): void {
  const ok =
    (t.dtype === 'F32' && t.data instanceof Float32Array) ||
    ((t.dtype === 'F16' || t.dtype === 'BF16') && t.data instanceof Uint16Array) ||
    (t.dtype === 'I32' && t.data instanceof Int32Array) ||
    (t.dtype === 'I64' && t.data instanceof BigInt64Array);
  if (!ok) {
    throw new Error(
      `${where}: tensor ${t.name}: dtype ${t.dtype} needs a ${storageName(t.dtype)}, got ${t.data.constructor.name}`,
    );
  }
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${where}: tensor ${t.name}: invalid shape ${shapeStr(t.shape)}`);
  }
  if (t.data.length !== numel(t.shape)) {
    throw new Error(
      `${where}: tensor ${t.name}: shape ${shapeStr(t.shape)} needs ${numel(t.shape)} elements, data has ${t.data.length}`,
    );
  }
}

/** A float32 tensor. */
export function f32Tensor(
  name: string,
  shape: number[],
  data: Float32Array = new Float32Array(numel(shape)),
): NamedTensor {
  const t: NamedTensor = { name, shape, dtype: 'F32', data };
  checkTensor(t, 'f32Tensor');
  return t;
}

/** The values of a float tensor as float32 (the same array when it is already F32). */
export function toFloat32(t: NamedTensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'F16':
      return f16ArrayToF32(t.data as Uint16Array);
    case 'BF16':
      return bf16ArrayToF32(t.data as Uint16Array);
    default:
      throw new Error(`tensor ${t.name}: ${t.dtype} is not a float dtype`);
  }
}

/** Converts a float tensor to another float dtype (returns `t` itself when nothing changes). */
export function castTensor(t: NamedTensor, dtype: FloatDType): NamedTensor {
  if (t.dtype === dtype) return t;
  const x = toFloat32(t);
  const data = dtype === 'F32' ? x : dtype === 'F16' ? f32ArrayToF16(x) : f32ArrayToBf16(x);
  return { name: t.name, shape: [...t.shape], dtype, data };
}

/** Same storage under another name (no copy). */
export function renamed(t: NamedTensor, name: string): NamedTensor {
  return { name, shape: t.shape, dtype: t.dtype, data: t.data };
}

/** Transposes a 2-D tensor of any dtype: [R, C] -> [C, R] (a copy). */
export function transpose2d(t: NamedTensor, name: string = t.name): NamedTensor {
  if (t.shape.length !== 2)
    throw new Error(`tensor ${t.name}: transpose2d needs 2 dims, got ${shapeStr(t.shape)}`);
  const [R, C] = t.shape as [number, number];
  const src = t.data;
  const out = allocData(t.dtype, R * C);
  // element-wise copy works for every storage type (bigint arrays included) through this cast
  const s = src as unknown as { [i: number]: number };
  const o = out as unknown as { [i: number]: number };
  for (let r = 0; r < R; r++) {
    const row = r * C;
    for (let c = 0; c < C; c++) o[c * R + r] = s[row + c]!;
  }
  return { name, shape: [C, R], dtype: t.dtype, data: out };
}

/**
 * Rows [start, start + count) of a tensor along its first dimension (a copy): splits a fused
 * [3D, D] QKV matrix or a [3D] bias.
 */
export function sliceRows(t: NamedTensor, start: number, count: number, name: string): NamedTensor {
  const rowSize = numel(t.shape.slice(1));
  const data = t.data.slice(start * rowSize, (start + count) * rowSize);
  return { name, shape: [count, ...t.shape.slice(1)], dtype: t.dtype, data };
}

/** Concatenates tensors of one dtype along the first dimension. */
export function concatRows(parts: readonly NamedTensor[], name: string): NamedTensor {
  const first = parts[0]!;
  const rest = first.shape.slice(1);
  let rows = 0;
  for (const p of parts) {
    if (p.dtype !== first.dtype || !sameShape(p.shape.slice(1), rest)) {
      throw new Error(
        `cannot concatenate ${p.name} (${p.dtype} ${shapeStr(p.shape)}) with ${first.name} (${first.dtype} ${shapeStr(first.shape)})`,
      );
    }
    rows += p.shape[0]!;
  }
  const out = allocData(first.dtype, rows * numel(rest));
  let at = 0;
  for (const p of parts) {
    (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p.data as ArrayLike<unknown>, at);
    at += p.data.length;
  }
  return { name, shape: [rows, ...rest], dtype: first.dtype, data: out };
}

/** Normalises the accepted tensor collections to a Map keyed by tensor name. */
export function asTensorMap(tensors: ReadonlyMap<string, NamedTensor> | Iterable<NamedTensor>): TensorMap {
  if (tensors instanceof Map) {
    for (const [k, t] of tensors as ReadonlyMap<string, NamedTensor>) {
      if (k !== t.name) throw new Error(`tensor map key ${k} differs from the tensor's name ${t.name}`);
    }
    return tensors as TensorMap;
  }
  const m: TensorMap = new Map();
  for (const t of tensors as Iterable<NamedTensor>) {
    if (m.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    m.set(t.name, t);
  }
  return m;
}
