/**
 * GGUF v3 container: write and read (https://github.com/ggerganov/ggml/blob/master/docs/gguf.md).
 * The model-level mapping (llama / qwen2 / gpt2 keys and tensor names, the RoPE permutation)
 * lives in `gguf_export.ts`; this file knows only the byte layout:
 *
 *   u32 magic "GGUF" (0x46554747 LE) | u32 version 3 | u64 tensor count | u64 kv count
 *   kv pairs:     string key | u32 value type | value
 *   tensor infos: string name | u32 n_dims | u64 dims[n_dims] (innermost first) | u32 ggml type
 *                 | u64 offset (from the start of the data section, a multiple of the alignment)
 *   padding to `general.alignment` (default 32) | tensor data, each tensor aligned
 *
 * Strings are a u64 byte length and UTF-8 bytes (no terminator); arrays are a u32 item type, a
 * u64 count and the items. All little-endian. A row-major PyTorch tensor of shape [out, in] is
 * written unchanged with dims [in, out].
 *
 * Tensor data types: every ggml type id of `kernels/quant_types.ts` is known, sized and checked.
 * F32, F16, BF16, I32 and I64 tensors are read and written as typed arrays (`NamedTensor`); any
 * type, the quantized block types included, is read and written as raw blocks
 * (`QuantizedTensor`, see `quantized.ts`). A tensor's row (its innermost dim) must be a whole
 * number of blocks of its type.
 *
 * The reader validates the whole header before any tensor data is read: unknown value or tensor
 * type ids, counts and lengths that cannot fit in the file, misaligned offsets, partial blocks
 * and data ranges past the end of the file are errors naming the file, the tensor and the field.
 *
 * Mapped reads (`{ map }`, what the model loader uses): the file is mapped (kernels/map_file.ts; on
 * the js backend it is read whole instead) and `read` / `readQuantized` give the tensors `map`
 * accepts (by ggml type name) as views into it, no copy. Every tensor's offset is a multiple of
 * `general.alignment` (checked), so a typed array can start there unless the alignment is smaller
 * than the element size (then that tensor is copied). A view keeps the mapping alive after
 * `close()`; writes into a view change a private copy of the page, never the file.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { endianness } from 'node:os';
import { type FileBytes, mapFile } from '../kernels/map_file.ts';
import { type GgmlTypeInfo, ggmlType, ggmlTypeById } from '../kernels/quant_types.ts';
import { bytesOf, readExactSync, writeAllSync, writeFileAtomic } from './files.ts';
import { ByteReader, ByteWriter, type GgufValue, readValue } from './gguf_values.ts';
import { checkQuantized, type QuantizedTensor, quantizedBytes } from './quantized.ts';
import {
  allocData,
  checkTensor,
  DTYPE_BYTES,
  type DType,
  type NamedTensor,
  numel,
  shapeStr,
  type TensorData,
  viewData,
} from './tensors.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export {
  GGUF_TYPE,
  type GgufBigintType,
  type GgufItemType,
  GgufKv,
  type GgufNumberType,
  type GgufValue,
  gv,
} from './gguf_values.ts';

/** The dtypes read and written as typed arrays; their ggml type names are the same strings. */
const DTYPES: readonly DType[] = ['F32', 'F16', 'BF16', 'I32', 'I64'];
const dtypeOf = (type: string): DType | undefined => DTYPES.find((d) => d === type);

/**
 * A tensor to write: typed-array data of a `dtype`, or the raw blocks of any ggml type (`type`,
 * e.g. 'Q4_K'). `data` may be a function so big tensors are produced one at a time.
 */
export type GgufTensorSpec =
  | {
      name: string;
      /** Row-major shape, outermost first (as in PyTorch); written reversed as GGUF dims. */
      shape: number[];
      dtype: DType;
      data: TensorData | (() => TensorData);
    }
  | {
      name: string;
      shape: number[];
      /** ggml type name (`kernels/quant_types.ts`). */
      type: string;
      /** The blocks, rows one after the other (`QuantizedTensor.data`). */
      data: Uint8Array | (() => Uint8Array);
    };

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Writes a GGUF v3 file atomically. `kv` is written in its iteration order. The alignment is
 * `general.alignment` when `kv` has it (it must then be a u32 power of two), else 32.
 */
export function writeGguf(
  path: string,
  kv: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensorSpec[],
): void {
  if (endianness() !== 'LE') throw new Error('gguf: only little-endian hosts are supported');
  const al = kv.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (al !== undefined) {
    if (al.type !== 'u32' || al.value <= 0 || (al.value & (al.value - 1)) !== 0) {
      throw new Error(`${path}: general.alignment must be a u32 power of two`);
    }
    alignment = al.value;
  }
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kv.size);
  for (const [k, v] of kv) {
    w.str(k);
    w.value(k, v);
  }
  const names = new Set<string>();
  const sizes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`${path}: duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4) {
      throw new Error(`${path}: tensor ${t.name}: GGUF tensors have 1 to 4 dims, got ${shapeStr(t.shape)}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${path}: tensor ${t.name}: invalid shape ${shapeStr(t.shape)}`);
    }
    let type: GgmlTypeInfo;
    let bytes: number;
    if ('dtype' in t) {
      type = ggmlType(t.dtype);
      bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    } else {
      try {
        type = ggmlType(t.type);
        bytes = quantizedBytes(t.type, t.shape, t.name);
      } catch (e) {
        throw new Error(`${path}: tensor ${t.name}: ${(e as Error).message}`);
      }
    }
    w.str(t.name);
    w.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) w.u64(t.shape[i]!);
    w.u32(type.id);
    w.u64(offset);
    sizes.push(bytes);
    offset = alignUp(offset + bytes, alignment);
  }
  const header = w.result();
  const pad = new Uint8Array(alignment);
  writeFileAtomic(path, (fd) => {
    writeAllSync(fd, header);
    writeAllSync(fd, pad.subarray(0, alignUp(header.length, alignment) - header.length));
    tensors.forEach((t, i) => {
      let bytes: Uint8Array;
      if ('dtype' in t) {
        const data = typeof t.data === 'function' ? t.data() : t.data;
        checkTensor({ name: t.name, shape: t.shape, dtype: t.dtype, data }, path);
        bytes = bytesOf(data);
      } else {
        const data = typeof t.data === 'function' ? t.data() : t.data;
        checkQuantized({ name: t.name, shape: t.shape, type: t.type, data }, path);
        bytes = data;
      }
      writeAllSync(fd, bytes);
      writeAllSync(fd, pad.subarray(0, alignUp(sizes[i]!, alignment) - sizes[i]!));
    });
  });
}

/** A tensor as listed in a GGUF file. */
export interface GgufTensorInfo {
  name: string;
  /** GGUF dims, innermost first. */
  dims: number[];
  /** Row-major shape (dims reversed). */
  shape: number[];
  /** ggml type id. */
  ggmlType: number;
  /** ggml type name ('F32', 'Q4_K', ...). */
  type: string;
  /** Absolute byte position of the data in the file. */
  start: number;
  /** Bytes of data. */
  bytes: number;
}

export interface GgufOpenOptions {
  /**
   * Map the file and let `read` / `readQuantized` give tensors as views into the mapping (see the
   * file comment): true for every tensor, or a test of the ggml type name ('F32', 'Q8_0', ...).
   */
  map?: boolean | ((type: string) => boolean);
}

export interface GgufFile {
  readonly path: string;
  /**
   * How tensors reach memory: 'mmap' (views into a memory mapping), 'read' (views into the js
   * backend's whole-file copy), or null (a fresh array per tensor: opened without `map`).
   */
  readonly mapped: 'mmap' | 'read' | null;
  readonly version: number;
  readonly alignment: number;
  readonly kv: ReadonlyMap<string, GgufValue>;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  /** Reads one F32/F16/BF16/I32/I64 tensor with its row-major shape. */
  read(name: string): NamedTensor;
  /** Reads the raw data of a tensor of any type (blocks for the quantized types). */
  readQuantized(name: string): QuantizedTensor;
  close(): void;
}

/**
 * Bytes of the data of a tensor with GGUF dims `dims` (innermost first) of `type`, checked before
 * anything is allocated: the row must be whole blocks, and the size must fit in the file (checked
 * as the product grows, so absurd dims cannot overflow it).
 */
function dataBytes(path: string, name: string, type: GgmlTypeInfo, dims: number[], fileSize: number): number {
  const row = dims[0]!;
  if (row % type.blockSize !== 0) {
    throw new Error(
      `${path}: tensor ${name}: row length ${row} is not a multiple of ${type.name}'s block size ${type.blockSize}`,
    );
  }
  if (dims.includes(0)) return 0;
  let bytes = (row / type.blockSize) * type.typeSize;
  for (let d = 1; d < dims.length; d++) {
    bytes *= dims[d]!;
    if (bytes > fileSize) break;
  }
  if (bytes > fileSize) {
    throw new Error(
      `${path}: tensor ${name}: dims [${dims.join(', ')}] of ${type.name} need more bytes than the file has (${fileSize}; corrupted file?)`,
    );
  }
  return bytes;
}

/** Opens a GGUF file (v2 or v3), parses and validates its header; tensors are read on demand. */
export function openGguf(path: string, options: GgufOpenOptions = {}): GgufFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const r = new ByteReader(fd, size, path);
    const magic = r.u32('magic');
    if (magic !== GGUF_MAGIC) throw new Error(`${path}: not a GGUF file (bad magic 0x${magic.toString(16)})`);
    const version = r.u32('version');
    if (version !== 2 && version !== 3)
      throw new Error(`${path}: GGUF version ${version} is not supported (2, 3)`);
    const nTensors = r.u64n('tensor count');
    const nKv = r.u64n('kv count');
    // every kv takes at least 12 bytes and every tensor info at least 24
    if (nKv * 12 + nTensors * 24 > size)
      throw new Error(`${path}: tensor and kv counts exceed the file size (truncated or corrupted file?)`);
    const kv = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = r.str(`key of kv #${i}`);
      kv.set(key, readValue(r, key, path, size));
    }
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    const al = kv.get('general.alignment');
    if (al !== undefined) {
      if (al.type !== 'u32' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
        throw new Error(`${path}: general.alignment must be a u32 power of two`);
      }
      alignment = al.value;
    }
    const infos: GgufTensorInfo[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = r.str(`name of tensor #${i}`);
      const nDims = r.u32(`tensor ${name} n_dims`);
      if (nDims < 1 || nDims > 4) throw new Error(`${path}: tensor ${name}: ${nDims} dims (corrupted file?)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(r.u64n(`tensor ${name} dims`));
      const ggmlTypeId = r.u32(`tensor ${name} type`);
      const type = ggmlTypeById(ggmlTypeId);
      if (type === undefined) {
        throw new Error(`${path}: tensor ${name}: unknown ggml type ${ggmlTypeId} (corrupted file?)`);
      }
      const offset = r.u64n(`tensor ${name} offset`);
      if (offset % alignment !== 0) {
        throw new Error(
          `${path}: tensor ${name}: offset ${offset} is not a multiple of the alignment ${alignment}`,
        );
      }
      const bytes = dataBytes(path, name, type, dims, size);
      infos.push({
        name,
        dims,
        shape: [...dims].reverse(),
        ggmlType: ggmlTypeId,
        type: type.name,
        start: offset,
        bytes,
      });
    }
    const dataStart = alignUp(r.pos, alignment);
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of infos) {
      if (tensors.has(t.name)) throw new Error(`${path}: duplicate tensor ${t.name}`);
      t.start += dataStart;
      const end = t.start + t.bytes;
      if (end > size) {
        throw new Error(
          `${path}: tensor ${t.name}: data ends at byte ${end} past the end of the file (${size} bytes; truncated?)`,
        );
      }
      tensors.set(t.name, t);
    }
    const map = options.map ?? false;
    const viewable = typeof map === 'function' ? map : () => map;
    const bytes = [...tensors.values()].some((t) => viewable(t.type)) ? mapFile(path) : null;
    if (bytes !== null && bytes.buffer.byteLength !== size)
      throw new Error(`${path}: the file changed size while being opened`);
    return new OpenGguf(path, fd, version, alignment, kv, tensors, bytes, viewable);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class OpenGguf implements GgufFile {
  private fd: number | null;
  readonly mapped: 'mmap' | 'read' | null;

  constructor(
    readonly path: string,
    fd: number,
    readonly version: number,
    readonly alignment: number,
    readonly kv: ReadonlyMap<string, GgufValue>,
    readonly tensors: ReadonlyMap<string, GgufTensorInfo>,
    private readonly bytes: FileBytes | null,
    private readonly viewable: (type: string) => boolean,
  ) {
    this.fd = fd;
    this.mapped = bytes === null ? null : bytes.mapped ? 'mmap' : 'read';
  }

  private info(name: string): { fd: number; t: GgufTensorInfo } {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`${this.path}: no tensor named ${name}`);
    return { fd: this.fd, t };
  }

  read(name: string): NamedTensor {
    const { fd, t } = this.info(name);
    const dtype = dtypeOf(t.type);
    if (dtype === undefined) {
      throw new Error(
        `${this.path}: tensor ${name}: ${t.type} is not a plain dtype (F32, F16, BF16, I32, I64); read its blocks with readQuantized`,
      );
    }
    const n = numel(t.shape);
    if (this.bytes !== null) {
      const view = this.viewable(t.type) ? viewData(dtype, this.bytes.buffer, t.start, n) : null;
      const data = view ?? allocData(dtype, n);
      if (view === null) bytesOf(data).set(new Uint8Array(this.bytes.buffer, t.start, t.bytes));
      return { name, shape: [...t.shape], dtype, data };
    }
    const data = allocData(dtype, n);
    readExactSync(
      fd,
      bytesOf(data),
      t.start,
      () => new Error(`${this.path}: tensor ${name}: truncated file`),
    );
    return { name, shape: [...t.shape], dtype, data };
  }

  readQuantized(name: string): QuantizedTensor {
    const { fd, t } = this.info(name);
    if (this.bytes !== null) {
      const view = new Uint8Array(this.bytes.buffer, t.start, t.bytes);
      const data = this.viewable(t.type) ? view : view.slice();
      return { name, shape: [...t.shape], type: t.type, data };
    }
    const data = new Uint8Array(t.bytes);
    readExactSync(fd, data, t.start, () => new Error(`${this.path}: tensor ${name}: truncated file`));
    return { name, shape: [...t.shape], type: t.type, data };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
