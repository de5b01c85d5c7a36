/**
 * safetensors read and write (https://github.com/huggingface/safetensors, format of the Rust
 * reference implementation):
 *
 *   [u64 LE: N] [N bytes: JSON header, UTF-8, may end in spaces] [data]
 *   header = { "__metadata__"?: { string: string },
 *              "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
 *
 * `data_offsets` are relative to the start of the data. As in the reference, the tensors must
 * cover the data exactly (no overlap, no hole, no trailing bytes) and the header is at most
 * 100 MB.
 *
 * Big files: nothing here holds the whole file. `openSafetensors` reads the 8-byte length and
 * the header, then each tensor is read on demand with positioned reads straight into its own
 * typed array; `writeSafetensors` streams each tensor to the file descriptor. A 2 GB+ file
 * therefore never becomes one string, nor one ArrayBuffer unless mapped (below). Writes are atomic
 * (temp file + rename).
 *
 * Mapped reads (`{ map }`, what the model loaders use): the file is mapped (kernels/map_file.ts; on
 * the js backend it is read whole instead) and `read` gives the tensors `map` accepts as typed-array
 * views into it, no copy; a tensor whose offset is not a multiple of its element size cannot be a
 * typed array there and is copied, as is every tensor `map` refuses. The reference writer (and ours)
 * pads the header to 8 bytes and sorts tensors by element size, so real files are aligned. A view
 * keeps the mapping alive after `close()`; writes into a view change a private copy of the page, never
 * the file.
 *
 * Dtypes read and written: F32, F16, BF16, I32, I64. The other safetensors dtypes (F64, I8, U8,
 * BOOL, F8_*, ...) are recognised in headers, so files holding them open and validate, but
 * reading such a tensor throws. Byte order: little-endian hosts only (checked).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { endianness } from 'node:os';
import { type FileBytes, mapFile } from '../kernels/map_file.ts';
import { bytesOf, isJsonObject, readExactSync, writeAllSync, writeFileAtomic } from './files.ts';
import {
  allocData,
  asTensorMap,
  checkTensor,
  DTYPE_BYTES,
  type DType,
  type NamedTensor,
  numel,
  shapeStr,
  type TensorMap,
  viewData,
} from './tensors.ts';

/** Largest header accepted, as in the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Every dtype a safetensors header may name, with its element size in bytes. */
const ALL_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const SUPPORTED = new Set<string>(Object.keys(DTYPE_BYTES));

/** One tensor's header entry; offsets are absolute byte positions in the file. */
export interface SafetensorsEntry {
  name: string;
  /** The dtype as written in the header (may be one this module cannot read, e.g. 'F64'). */
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}

export interface SafetensorsOpenOptions {
  /**
   * Map the file and let `read` give tensors as views into the mapping (see the file comment): true
   * for every tensor, or a test of the dtype (e.g. only those a loader keeps as they are).
   */
  map?: boolean | ((dtype: string) => boolean);
}

export interface SafetensorsFile {
  readonly path: string;
  /**
   * How `read` reaches the bytes: 'mmap' (a memory mapping), 'read' (the js backend's whole-file
   * copy), or null (positioned reads, one fresh array per tensor: opened without `map`).
   */
  readonly mapped: 'mmap' | 'read' | null;
  /** `__metadata__` (string to string), or null when the header has none. */
  readonly metadata: Record<string, string> | null;
  /** Header entries in header order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** One tensor: a view into the mapping (see `map`), else a fresh typed array. */
  read(name: string): NamedTensor;
  /** Reads every tensor (or those named) in header order. */
  readAll(names?: Iterable<string>): TensorMap;
  close(): void;
}

function checkHost(): void {
  if (endianness() !== 'LE') throw new Error('safetensors: only little-endian hosts are supported');
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates a parsed header against the file size; returns the entries in header order.
 * Exported for tests; `file` only names the file in messages.
 */
export function parseSafetensorsHeader(
  header: unknown,
  dataStart: number,
  fileSize: number,
  file: string,
): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> | null } {
  if (!isJsonObject(header)) throw new Error(`${file}: safetensors header is not a JSON object`);
  let metadata: Record<string, string> | null = null;
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isJsonObject(v)) throw new Error(`${file}: __metadata__ must be an object of strings`);
      metadata = {};
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new Error(`${file}: __metadata__.${k} must be a string`);
        metadata[k] = s;
      }
      continue;
    }
    const at = `${file}: tensor ${name}`;
    if (!isJsonObject(v)) throw new Error(`${at}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = v;
    if (typeof dtype !== 'string' || !(dtype in ALL_DTYPE_BYTES)) {
      throw new Error(`${at}: unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      throw new Error(`${at}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDim)) {
      throw new Error(`${at}: data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new Error(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
    const dims = shape as number[];
    const want = numel(dims) * ALL_DTYPE_BYTES[dtype]!;
    if (end - begin !== want) {
      throw new Error(
        `${at}: shape ${shapeStr(dims)} of ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    entries.set(name, { name, dtype, shape: dims, start: dataStart + begin, end: dataStart + end });
  }
  // The tensors must tile the data: sorted by offset, each starts where the previous ended.
  const sorted = [...entries.values()].sort((a, b) => a.start - b.start || a.end - b.end);
  let pos = dataStart;
  let prev: SafetensorsEntry | null = null;
  for (const e of sorted) {
    if (e.end > fileSize) {
      throw new Error(
        `${file}: tensor ${e.name}: data_offsets end at byte ${e.end - dataStart} of the data but the file holds only ${Math.max(0, fileSize - dataStart)} data bytes (truncated file?)`,
      );
    }
    if (e.start < pos) {
      throw new Error(
        `${file}: tensor ${e.name}: data_offsets [${e.start - dataStart}, ${e.end - dataStart}] overlap tensor ${prev!.name}`,
      );
    }
    if (e.start > pos) {
      throw new Error(
        `${file}: tensor ${e.name}: data_offsets begin at ${e.start - dataStart} leaving a hole after byte ${pos - dataStart}`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== fileSize) {
    throw new Error(`${file}: ${fileSize - pos} bytes after the last tensor's data (corrupted file?)`);
  }
  return { entries, metadata };
}

/**
 * Opens a safetensors file and validates its header; tensors are read on demand. Call
 * `close()` when done (the descriptor stays open until then).
 */
export function openSafetensors(path: string, options: SafetensorsOpenOptions = {}): SafetensorsFile {
  checkHost();
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new Error(`${path}: truncated: ${size} bytes, a safetensors file starts with 8`);
    const lenBytes = new Uint8Array(8);
    readExactSync(fd, lenBytes, 0, () => new Error(`${path}: truncated header length`));
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(
        `${path}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupted file?)`,
      );
    }
    const headerLen = Number(n);
    if (8 + headerLen > size) {
      throw new Error(
        `${path}: truncated: header claims ${headerLen} bytes but the file has ${size - 8} after the length`,
      );
    }
    const headerBytes = new Uint8Array(headerLen);
    readExactSync(fd, headerBytes, 8, () => new Error(`${path}: truncated header`));
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new Error(`${path}: safetensors header is not valid UTF-8`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`${path}: safetensors header is not valid JSON: ${(e as Error).message}`);
    }
    const { entries, metadata } = parseSafetensorsHeader(json, 8 + headerLen, size, path);
    const map = options.map ?? false;
    const viewable = typeof map === 'function' ? map : () => map;
    // Mapped only when some tensor may be a view (a file of refused dtypes is read as before).
    const bytes = [...entries.values()].some((e) => viewable(e.dtype)) ? mapFile(path) : null;
    if (bytes !== null && bytes.buffer.byteLength !== size)
      throw new Error(`${path}: the file changed size while being opened`);
    return new OpenFile(path, fd, entries, metadata, bytes, viewable);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class OpenFile implements SafetensorsFile {
  private fd: number | null;

  readonly mapped: 'mmap' | 'read' | null;

  constructor(
    readonly path: string,
    fd: number,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
    readonly metadata: Record<string, string> | null,
    private readonly bytes: FileBytes | null,
    private readonly viewable: (dtype: string) => boolean,
  ) {
    this.fd = fd;
    this.mapped = bytes === null ? null : bytes.mapped ? 'mmap' : 'read';
  }

  read(name: string): NamedTensor {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    const e = this.entries.get(name);
    if (e === undefined) throw new Error(`${this.path}: no tensor named ${name}`);
    if (!SUPPORTED.has(e.dtype)) {
      throw new Error(
        `${this.path}: tensor ${name}: dtype ${e.dtype} is not supported (F32, F16, BF16, I32, I64 are)`,
      );
    }
    const dtype = e.dtype as DType;
    const n = numel(e.shape);
    if (this.bytes !== null) {
      const view = this.viewable(dtype) ? viewData(dtype, this.bytes.buffer, e.start, n) : null;
      const data = view ?? allocData(dtype, n);
      if (view === null) bytesOf(data).set(new Uint8Array(this.bytes.buffer, e.start, e.end - e.start));
      return { name, shape: [...e.shape], dtype, data };
    }
    const data = allocData(dtype, n);
    readExactSync(
      this.fd,
      bytesOf(data),
      e.start,
      (got) =>
        new Error(`${this.path}: tensor ${name}: truncated file (read ${got} of ${e.end - e.start} bytes)`),
    );
    return { name, shape: [...e.shape], dtype, data };
  }

  readAll(names?: Iterable<string>): TensorMap {
    const out: TensorMap = new Map();
    for (const name of names ?? this.entries.keys()) out.set(name, this.read(name));
    return out;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Reads a whole safetensors file (or the tensors named), one typed array each: fresh arrays, or
 * views into the mapped file under `options.map` (see openSafetensors).
 */
export function readSafetensors(
  path: string,
  names?: Iterable<string>,
  options: SafetensorsOpenOptions = {},
): { tensors: TensorMap; metadata: Record<string, string> | null } {
  const f = openSafetensors(path, options);
  try {
    return { tensors: f.readAll(names), metadata: f.metadata };
  } finally {
    f.close();
  }
}

/**
 * Writes tensors as a safetensors file, atomically. Tensors are laid out as the reference
 * writer does (larger element size first, then by name) so every tensor is naturally aligned;
 * the header is padded with spaces to a multiple of 8 bytes.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, NamedTensor> | Iterable<NamedTensor>,
  metadata?: Record<string, string>,
): void {
  checkHost();
  const list = [...asTensorMap(tensors).values()];
  for (const t of list) {
    checkTensor(t, path);
    if (t.name === '__metadata__') throw new Error(`${path}: a tensor cannot be named __metadata__`);
  }
  list.sort(
    (a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`${path}: metadata ${k} must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const t of list) {
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const raw = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (raw % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  if (headerBytes.length > MAX_HEADER_BYTES) {
    throw new Error(
      `${path}: header of ${headerBytes.length} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  writeFileAtomic(path, (fd) => {
    writeAllSync(fd, len);
    writeAllSync(fd, headerBytes);
    for (const t of list) writeAllSync(fd, bytesOf(t.data));
  });
}
