/**
 * The arithmetic of ggml's reference quantizers, reproduced in JS so that the codecs of this
 * folder write the same bytes as `ggml_quantize_chunk`.
 *
 * ggml's quantizers are C in float32. ggml-base is built without -march flags in every llama.cpp
 * build, so on x86-64 each `+ - * / sqrtf` is one SSE float32 operation (no FMA contraction, no
 * reassociation without -ffast-math). Doing the same operation in float64 and rounding with
 * `Math.fround` gives the identical float32: a double has more than 2 * 24 + 2 bits of
 * significand, so double rounding is innocuous for + - * / and sqrt (Figueroa, 1995). Every
 * intermediate of a C expression is therefore wrapped in `f32(...)`, in C's evaluation order:
 * `w*l*x` is `f32(f32(w * l) * x)`.
 *
 * Builds where the compiler contracts a*b+c into an FMA (aarch64 GCC by default) can round
 * differently in the scale searches and so pick another scale on rare inputs; the bytes here
 * follow the x86-64 build, which is what node-llama-cpp ships and the fixtures came from.
 */
import { f16ToF32, f32ToF16 } from '../../float16.ts';

/** Rounds to float32 (one C float operation's result). */
export const f32 = Math.fround;

const nf = new Float32Array(1);
const ni = new Int32Array(nf.buffer);

/**
 * ggml's `nearest_int`: adds 1.5 * 2^23 in float32 and reads the integer from the low mantissa
 * bits, i.e. round half to even, e.g. 2.5 -> 2, 3.5 -> 4, -0.5 -> 0. Exact for |v| <= 2^22 - 1;
 * like ggml it returns garbage beyond (the callers stay far inside).
 */
export function nearestInt(v: number): number {
  nf[0] = v + 12582912;
  return (ni[0]! & 0x007fffff) - 0x00400000;
}

/** C's `roundf`: half away from zero (2.5 -> 3, -2.5 -> -3). */
export function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** The f16 at byte `o` (little-endian), as a float32 value. */
export function readF16(b: Uint8Array, o: number): number {
  return f16ToF32(b[o]! | (b[o + 1]! << 8));
}

/** Writes `x` (a float32 value) as f16 at byte `o`, rounded to nearest even (GGML_FP32_TO_FP16). */
export function writeF16(b: Uint8Array, o: number, x: number): void {
  const h = f32ToF16(x);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}

/** `x` rounded through f16 and back (the scale a block actually stores). */
export function viaF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}

/** Reads a little-endian f32 at byte `o`. */
export function readF32(b: Uint8Array, o: number): number {
  ni[0] = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
  return nf[0]!;
}

/** Writes a float32 value little-endian at byte `o`. */
export function writeF32(b: Uint8Array, o: number, x: number): void {
  nf[0] = x;
  const u = ni[0]!;
  b[o] = u & 0xff;
  b[o + 1] = (u >>> 8) & 0xff;
  b[o + 2] = (u >>> 16) & 0xff;
  b[o + 3] = (u >>> 24) & 0xff;
}

/** The int8 at byte `o`. */
export function readI8(b: Uint8Array, o: number): number {
  return (b[o]! << 24) >> 24;
}

/** The little-endian int16 at byte `o`. */
export function readI16(b: Uint8Array, o: number): number {
  return ((b[o]! | (b[o + 1]! << 8)) << 16) >> 16;
}

/**
 * The value of largest magnitude among x[o, o + len), with its sign: the first one on a tie, 0
 * when all are 0 (the `amax` / `max` scan of ggml's Q4_0 / Q5_0 quantizers).
 */
export function signedAbsMax(x: Float32Array, o: number, len: number): number {
  let amax = 0;
  let max = 0;
  for (let j = o; j < o + len; j++) {
    const v = x[j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** The least of x[o, o + len) (ggml's scan from FLT_MAX down, for finite values). */
export function minOf(x: Float32Array, o: number, len: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (let j = o; j < o + len; j++) if (x[j]! < min) min = x[j]!;
  return min;
}

/** The greatest of x[o, o + len) (ggml's scan from -FLT_MAX up, for finite values). */
export function maxOf(x: Float32Array, o: number, len: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = o; j < o + len; j++) if (x[j]! > max) max = x[j]!;
  return max;
}

/**
 * The 32 levels 0..31 of a Q5_0 / Q5_1 block into L: low nibbles in the 16 bytes at `ql` (value j
 * in byte j's low nibble, value j + 16 in its high one), fifth bits in the little-endian u32 at `qh`.
 */
export function fiveBitLevels(b: Uint8Array, ql: number, qh: number, L: Int32Array): Int32Array {
  const h = readU32(b, qh);
  for (let j = 0; j < 16; j++) {
    const byte = b[ql + j]!;
    L[j] = (byte & 0x0f) | (((h >>> j) & 1) << 4);
    L[j + 16] = (byte >> 4) | (((h >>> (j + 16)) & 1) << 4);
  }
  return L;
}

/** The little-endian u32 at byte `o`. */
export function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Writes `v` (32 bits) little-endian at byte `o`. */
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** A block layout: `blockSize` values in `typeSize` bytes. */
export interface BlockFormat {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

/** The number of blocks of `n` values; throws unless n is a whole number of blocks. */
export function blockCount(f: BlockFormat, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${f.name}: invalid element count ${n}`);
  if (n % f.blockSize !== 0) {
    throw new Error(`${f.name}: ${n} elements is not a multiple of the block size ${f.blockSize}`);
  }
  return n / f.blockSize;
}

/** Checks that `bytes` (named `what`) holds the blocks of `n` values; returns the block count. */
export function blocksIn(f: BlockFormat, bytes: Uint8Array, n: number, what: string): number {
  const nb = blockCount(f, n);
  if (bytes.length < nb * f.typeSize) {
    throw new Error(`${f.name}: ${what} has ${bytes.length} bytes, ${n} elements need ${nb * f.typeSize}`);
  }
  return nb;
}

/** `out`, checked to hold the blocks of `n` values, or a new zeroed buffer. */
export function bytesOut(f: BlockFormat, n: number, out?: Uint8Array): Uint8Array {
  if (out === undefined) return new Uint8Array(blockCount(f, n) * f.typeSize);
  blocksIn(f, out, n, 'output');
  return out;
}

/** Checks that the float array `x` (named `what`) holds `n` values. */
export function floatsIn(f: BlockFormat, x: Float32Array, n: number, what: string): void {
  if (x.length < n) throw new Error(`${f.name}: ${what} has ${x.length} values, expected ${n}`);
}

/** `out`, checked to hold `n` values, or a new array. */
export function floatsOut(f: BlockFormat, n: number, out?: Float32Array): Float32Array {
  if (out === undefined) return new Float32Array(n);
  floatsIn(f, out, n, 'output');
  return out;
}
