/**
 * float32 <-> bfloat16 conversions, bit-exact with PyTorch's CPU `tensor.to(torch.bfloat16)` and
 * back. This is the one implementation: bf16 tensors (tensor.ts), and the checkpoint readers and
 * writers (src/io/float16.ts re-exports these) use it.
 *
 * bf16 is the top 16 bits of a float32, so values travel as bit patterns in a Uint16Array.
 * Narrowing rounds to nearest, ties to even, on the low 16 bits (0x3f808000 is a tie -> 0x3f80,
 * 0x3f818000 -> 0x3f82); overflow past the largest finite bf16 becomes inf, as the carry into the
 * exponent gives. NaN narrows to the canonical quiet NaN 0x7fc0 (c10's scalar rule; torch's
 * vectorised CPU kernels write 0xffff instead, also a NaN). Widening is exact and keeps NaN payloads.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern (as an unsigned 32-bit integer) -> bfloat16 bit pattern. */
export function f32BitsToBf16Bits(w: number): number {
  if ((w & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  // w + 0x7fff + lsb never exceeds 2^32 for a non-NaN w (the largest is 0xff807fff)
  return ((w >>> 0) + 0x7fff + ((w >>> 16) & 1)) >>> 16;
}

/** float32 value -> bfloat16 bits. `x` must already be a float32 value (`Math.fround`): a double would round twice. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  return f32BitsToBf16Bits(u32[0]!);
}

/** bfloat16 bits -> float32 value (exact). */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

function u32View(src: Float32Array): Uint32Array {
  return new Uint32Array(src.buffer, src.byteOffset, src.length);
}

/** Float32Array -> bfloat16 bits (round to nearest even). */
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
