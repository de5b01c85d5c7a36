/**
 * GGUF metadata values: their type ids and TypeScript forms, typed access to them (`GgufKv`),
 * and the little-endian byte reader and writer of the header (`ByteWriter`, `ByteReader`) that
 * `gguf.ts` builds the container on. Strings are a u64 byte length and UTF-8 bytes; arrays a u32
 * item type, a u64 count and the items.
 */
import { readExactSync } from './files.ts';

/** GGUF metadata value type ids. */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigintType = 'u64' | 'i64';
export type GgufItemType = GgufNumberType | GgufBigintType | 'bool' | 'string';

/** A metadata value with its GGUF type. Nested arrays are not supported. */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigintType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufNumberType; value: number[] }
  | { type: 'array'; itemType: GgufBigintType; value: bigint[] }
  | { type: 'array'; itemType: 'bool'; value: boolean[] }
  | { type: 'array'; itemType: 'string'; value: string[] };

/** Constructors for the value types exporters use. */
export const gv = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strs: (value: string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  i32s: (value: number[]): GgufValue => ({ type: 'array', itemType: 'i32', value }),
  f32s: (value: number[]): GgufValue => ({ type: 'array', itemType: 'f32', value }),
};

/** A growable little-endian byte buffer for the header. */
export class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private readonly enc = new TextEncoder();

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  str(s: string): void {
    const b = this.enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  /** One item of a numeric/bool/string type (the type id is written by the caller). */
  item(type: GgufItemType, v: number | bigint | boolean | string, where: string): void {
    const check = (ok: boolean): void => {
      if (!ok) throw new Error(`${where}: ${JSON.stringify(String(v))} is not a valid ${type}`);
    };
    const int = (lo: number, hi: number): void =>
      check(typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi);
    switch (type) {
      case 'u8':
        int(0, 0xff);
        this.u8(v as number);
        return;
      case 'i8':
        int(-0x80, 0x7f);
        this.reserve(1);
        this.view.setInt8(this.length, v as number);
        this.length += 1;
        return;
      case 'u16':
      case 'i16':
        if (type === 'u16') int(0, 0xffff);
        else int(-0x8000, 0x7fff);
        this.reserve(2);
        if (type === 'u16') this.view.setUint16(this.length, v as number, true);
        else this.view.setInt16(this.length, v as number, true);
        this.length += 2;
        return;
      case 'u32':
        int(0, 0xffffffff);
        this.u32(v as number);
        return;
      case 'i32':
        int(-0x80000000, 0x7fffffff);
        this.reserve(4);
        this.view.setInt32(this.length, v as number, true);
        this.length += 4;
        return;
      case 'f32':
      case 'f64':
        check(typeof v === 'number');
        this.reserve(type === 'f32' ? 4 : 8);
        if (type === 'f32') this.view.setFloat32(this.length, v as number, true);
        else this.view.setFloat64(this.length, v as number, true);
        this.length += type === 'f32' ? 4 : 8;
        return;
      case 'u64':
      case 'i64':
        check(typeof v === 'bigint');
        this.reserve(8);
        if (type === 'u64') this.view.setBigUint64(this.length, v as bigint, true);
        else this.view.setBigInt64(this.length, v as bigint, true);
        this.length += 8;
        return;
      case 'bool':
        check(typeof v === 'boolean');
        this.u8(v ? 1 : 0);
        return;
      case 'string':
        check(typeof v === 'string');
        this.str(v as string);
        return;
    }
  }
  value(key: string, v: GgufValue): void {
    this.u32(GGUF_TYPE[v.type]);
    if (v.type !== 'array') {
      this.item(v.type, v.value, `kv ${key}`);
      return;
    }
    if (!(v.itemType in GGUF_TYPE) || (v.itemType as string) === 'array') {
      throw new Error(`kv ${key}: unsupported array item type ${v.itemType}`);
    }
    this.u32(GGUF_TYPE[v.itemType]);
    this.u64(v.value.length);
    for (let i = 0; i < v.value.length; i++) this.item(v.itemType, v.value[i]!, `kv ${key}[${i}]`);
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Sequential reader over a file descriptor with a refillable window (headers only). */
export class ByteReader {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  // ignoreBOM: a string that starts with U+FEFF (a real token in Llama 2 and Mistral vocabularies) keeps it
  private readonly dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly file: string,
  ) {}

  /** Makes `n` bytes from `pos` available; `what` names the field for a truncation error. */
  private need(n: number, what: string): number {
    if (this.pos + n > this.size) {
      throw new Error(
        `${this.file}: truncated file while reading ${what} (at byte ${this.pos}, needs ${n} more)`,
      );
    }
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    this.buf = new Uint8Array(len);
    this.view = new DataView(this.buf.buffer);
    this.bufStart = this.pos;
    readExactSync(
      this.fd,
      this.buf,
      this.pos,
      () => new Error(`${this.file}: truncated while reading ${what}`),
    );
    return 0;
  }

  u8(what: string): number {
    const r = this.need(1, what);
    this.pos += 1;
    return this.view.getUint8(r);
  }
  u32(what: string): number {
    const r = this.need(4, what);
    this.pos += 4;
    return this.view.getUint32(r, true);
  }
  /** A u64 that must fit a JS safe integer. */
  u64n(what: string): number {
    const r = this.need(8, what);
    this.pos += 8;
    const v = this.view.getBigUint64(r, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error(`${this.file}: ${what} ${v} is too large (corrupted file?)`);
    return Number(v);
  }
  str(what: string): string {
    const n = this.u64n(`${what} length`);
    if (n > this.size - this.pos) {
      throw new Error(
        `${this.file}: ${what}: string of ${n} bytes runs past the end of the file (corrupted file?)`,
      );
    }
    const r = this.need(n, what);
    this.pos += n;
    try {
      return this.dec.decode(this.buf.subarray(r, r + n));
    } catch {
      throw new Error(`${this.file}: ${what} is not valid UTF-8`);
    }
  }
  item(type: number, what: string): number | bigint | boolean | string {
    let r: number;
    const take = (n: number): number => {
      r = this.need(n, what);
      this.pos += n;
      return r;
    };
    switch (type) {
      case 0:
        return this.view.getUint8(take(1));
      case 1:
        return this.view.getInt8(take(1));
      case 2:
        return this.view.getUint16(take(2), true);
      case 3:
        return this.view.getInt16(take(2), true);
      case 4:
        return this.view.getUint32(take(4), true);
      case 5:
        return this.view.getInt32(take(4), true);
      case 6:
        return this.view.getFloat32(take(4), true);
      case 7: {
        const b = this.view.getUint8(take(1));
        if (b > 1) throw new Error(`${this.file}: ${what}: bool byte ${b} (corrupted file?)`);
        return b === 1;
      }
      case 8:
        return this.str(what);
      case 10:
        return this.view.getBigUint64(take(8), true);
      case 11:
        return this.view.getBigInt64(take(8), true);
      case 12:
        return this.view.getFloat64(take(8), true);
      default:
        throw new Error(`${this.file}: ${what}: unknown value type ${type} (corrupted file?)`);
    }
  }
}

const TYPE_NAME = Object.fromEntries(Object.entries(GGUF_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  GgufItemType | 'array'
>;

export function readValue(r: ByteReader, key: string, file: string, size: number): GgufValue {
  const type = r.u32(`type of kv ${key}`);
  const name = TYPE_NAME[type];
  if (name === undefined) throw new Error(`${file}: kv ${key}: unknown value type ${type} (corrupted file?)`);
  if (name !== 'array') return { type: name, value: r.item(type, `kv ${key}`) } as GgufValue;
  const itemType = r.u32(`item type of kv ${key}`);
  const itemName = TYPE_NAME[itemType];
  if (itemName === undefined || itemName === 'array') {
    throw new Error(`${file}: kv ${key}: unsupported array item type ${itemType}`);
  }
  const n = r.u64n(`length of kv ${key}`);
  if (n > size - r.pos)
    throw new Error(`${file}: kv ${key}: array of ${n} items runs past the end of the file`);
  const value: (number | bigint | boolean | string)[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = r.item(itemType, `kv ${key}[${i}]`);
  return { type: 'array', itemType: itemName, value } as GgufValue;
}

/** Typed access to metadata values, with errors naming the file and key. */
export class GgufKv {
  constructor(
    readonly kv: ReadonlyMap<string, GgufValue>,
    readonly file: string,
  ) {}

  private get(key: string): GgufValue {
    const v = this.kv.get(key);
    if (v === undefined) throw new Error(`${this.file}: missing key ${key}`);
    return v;
  }
  has(key: string): boolean {
    return this.kv.has(key);
  }
  num(key: string): number {
    const v = this.get(key);
    if (v.type === 'array' || typeof v.value !== 'number')
      throw new Error(`${this.file}: key ${key} is not a number`);
    return v.value;
  }
  str(key: string): string {
    const v = this.get(key);
    if (v.type !== 'string') throw new Error(`${this.file}: key ${key} is not a string`);
    return v.value;
  }
  bool(key: string): boolean {
    const v = this.get(key);
    if (v.type !== 'bool') throw new Error(`${this.file}: key ${key} is not a bool`);
    return v.value;
  }
  strs(key: string): string[] {
    const v = this.get(key);
    if (v.type !== 'array' || v.itemType !== 'string')
      throw new Error(`${this.file}: key ${key} is not a string array`);
    return v.value;
  }
  nums(key: string): number[] {
    const v = this.get(key);
    if (v.type !== 'array' || !v.value.every((x) => typeof x === 'number')) {
      throw new Error(`${this.file}: key ${key} is not a number array`);
    }
    return v.value as number[];
  }
}
