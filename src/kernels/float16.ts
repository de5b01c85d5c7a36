/**
 * float32 <-> float16 (IEEE binary16) and bfloat16 conversions, bit-exact with PyTorch's CPU
 * `tensor.to(torch.float16 / torch.bfloat16)` and back.
 *
 * Half-precision values travel as raw bit patterns in a Uint16Array (JS has no float16 type).
 * Rounding is round-to-nearest-even in both directions of narrowing:
 *   f16:  1.0009765625 (1 + 2^-10) is exact; 1 + 2^-11 is a tie between 0x3c00 and 0x3c01 and
 *         goes to the even one, 0x3c00; 65520 rounds up to +inf; 2^-25 ties to 0, a hair more
 *         rounds to the smallest subnormal 0x0001 (2^-24).
 *   bf16: the top 16 bits of the float32, rounded on the low 16 (0x3f808000 -> tie -> 0x3f80).
 * NaN narrows to a canonical quiet NaN, as PyTorch does: f16 keeps the sign (0x7e00 / 0xfe00),
 * bf16 gives 0x7fc0 (c10's scalar rule; torch's vectorised CPU kernels write 0xffff instead,
 * which is also a NaN). Widening is exact and keeps NaN payloads.
 *
 * The scalar functions take a JS number that must already be a float32 value (`Math.fround`);
 * a double would be rounded twice. The array functions read float32 bits directly.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern (as an unsigned 32-bit integer) -> float16 bit pattern. */
export function f32BitsToF16Bits(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const e = (w >>> 23) & 0xff;
  let m = w & 0x7fffff;
  if (e === 0xff) return sign | (m !== 0 ? 0x7e00 : 0x7c00); // NaN (canonical quiet) or inf
  const he = e - 112; // rebias 127 -> 15
  if (he >= 31) return sign | 0x7c00; // overflow
  if (he >= 1) {
    // normal: keep 10 mantissa bits, round on the 13 dropped ones (a carry may bump the
    // exponent, up to 0x7c00 = inf, which is the right answer)
    let h = (he << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return sign | h;
  }
  // subnormal result: value = k * 2^-24 with k = M / 2^(14 - he), M the 24-bit significand
  if (he < -10) return sign; // below half the smallest subnormal: rounds to zero
  m |= 0x800000;
  const shift = 14 - he; // 14..24
  let k = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (k & 1) === 1)) k++; // k = 0x400 is the smallest normal
  return sign | k;
}

/** float16 bit pattern -> float32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return (sign | 0x7f800000 | (m << 13)) >>> 0; // inf / NaN (payload kept)
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // subnormal: normalise m * 2^-24
  let shift = 0;
  let mm = m;
  while ((mm & 0x400) === 0) {
    mm <<= 1;
    shift++;
  }
  return (sign | ((113 - shift) << 23) | ((mm & 0x3ff) << 13)) >>> 0;
}

/** float32 bit pattern -> bfloat16 bit pattern (round to nearest even; NaN -> 0x7fc0). */
export function f32BitsToBf16Bits(w: number): number {
  if ((w & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  // w + 0x7fff + lsb never exceeds 2^32 for a non-NaN w (the largest is 0xff807fff)
  return ((w >>> 0) + 0x7fff + ((w >>> 16) & 1)) >>> 16;
}

/** float32 value -> float16 bits. `x` must be a float32 value (see the file comment). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  return f32BitsToF16Bits(u32[0]!);
}

/** float16 bits -> float32 value (as a JS number). */
export function f16ToF32(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0]!;
}

/** float32 value -> bfloat16 bits. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  return f32BitsToBf16Bits(u32[0]!);
}

/** bfloat16 bits -> float32 value. */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

function u32View(src: Float32Array): Uint32Array {
  return new Uint32Array(src.buffer, src.byteOffset, src.length);
}

/** Float32Array -> float16 bits. */
export function f32ArrayToF16(
  src: Float32Array,
  out: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  const w = u32View(src);
  for (let i = 0; i < w.length; i++) out[i] = f32BitsToF16Bits(w[i]!);
  return out;
}

let f16Table: Uint32Array | null = null;

/** float16 bits -> Float32Array (through a 256 KiB lookup table built on first use). */
export function f16ArrayToF32(
  src: Uint16Array,
  out: Float32Array = new Float32Array(src.length),
): Float32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  const table = f16Table;
  const w = u32View(out);
  for (let i = 0; i < src.length; i++) w[i] = table[src[i]!]!;
  return out;
}

/** Float32Array -> bfloat16 bits. */
export function f32ArrayToBf16(
  src: Float32Array,
  out: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  if (out.length < src.length)
    throw new Error(`f32ArrayToBf16: ${out.length} outputs for ${src.length} inputs`);
  const w = u32View(src);
  for (let i = 0; i < w.length; i++) out[i] = f32BitsToBf16Bits(w[i]!);
  return out;
}

/** bfloat16 bits -> Float32Array (exact). */
export function bf16ArrayToF32(
  src: Uint16Array,
  out: Float32Array = new Float32Array(src.length),
): Float32Array {
  if (out.length < src.length)
    throw new Error(`bf16ArrayToF32: ${out.length} outputs for ${src.length} inputs`);
  const w = u32View(out);
  for (let i = 0; i < src.length; i++) w[i] = src[i]! << 16;
  return out;
}
