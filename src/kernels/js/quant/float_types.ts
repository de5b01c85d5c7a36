/**
 * F16 and BF16 as block formats of one value in 2 little-endian bytes, so that the half types
 * go through the same codec table as the quantized ones.
 *
 * Quantizing rounds to nearest even, as ggml's `ggml_fp32_to_fp16_row` and
 * `ggml_fp32_to_bf16_row_ref` (what `ggml_quantize_chunk` calls) do. One difference: a NaN
 * becomes the canonical quiet NaN (0x7e00 / 0xfe00 for f16 like ggml; 0x7fc0 for bf16, where ggml
 * keeps the f32 sign and payload and sets the quiet bit).
 *
 * The dot products take activations in the same type, as llama.cpp's CPU backend converts them
 * (its `vec_dot_type` for F16 is F16, for BF16 BF16), and sum the exact products in float64.
 */
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from '../../float16.ts';
import { type BlockFormat, blocksIn, bytesOut, floatsIn, floatsOut } from './block_math.ts';

export const F16: BlockFormat = { name: 'F16', blockSize: 1, typeSize: 2 };
export const BF16: BlockFormat = { name: 'BF16', blockSize: 1, typeSize: 2 };

/** The first n u16 of `b` (a view when `b` is 2-byte aligned, else a copy). */
function u16s(b: Uint8Array, n: number): Uint16Array {
  if (b.byteOffset % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset, n);
  return new Uint16Array(b.slice(0, 2 * n).buffer);
}

function encode(
  f: BlockFormat,
  convert: (x: Float32Array, out: Uint16Array) => Uint16Array,
  x: Float32Array,
  n: number,
  out?: Uint8Array,
): Uint8Array {
  floatsIn(f, x, n, 'input');
  const y = bytesOut(f, n, out);
  const h = convert(x.subarray(0, n), new Uint16Array(n));
  y.set(new Uint8Array(h.buffer, 0, 2 * n));
  return y;
}

function decode(
  f: BlockFormat,
  convert: (h: Uint16Array, out: Float32Array) => Float32Array,
  src: Uint8Array,
  n: number,
  out?: Float32Array,
): Float32Array {
  blocksIn(f, src, n, 'input');
  const y = floatsOut(f, n, out);
  convert(u16s(src, n), y.subarray(0, n));
  return y;
}

/** Float32 values -> f16 bytes. */
export function quantizeF16(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  return encode(F16, f32ArrayToF16, x, n, out);
}

/** f16 bytes -> float32 values (exact). */
export function dequantizeF16(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return decode(F16, f16ArrayToF32, src, n, out);
}

/** Float32 values -> bf16 bytes. */
export function quantizeBF16(x: Float32Array, n: number, out?: Uint8Array): Uint8Array {
  return encode(BF16, f32ArrayToBf16, x, n, out);
}

/** bf16 bytes -> float32 values (exact). */
export function dequantizeBF16(src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  return decode(BF16, bf16ArrayToF32, src, n, out);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The dot of f16 weights with f16 activations over n values (`ggml_vec_dot_f16`), in float64. */
export function vecDotF16(w: Uint8Array, a: Uint8Array, n: number): number {
  return dot(dequantizeF16(w, n), dequantizeF16(a, n));
}

/** The dot of bf16 weights with bf16 activations over n values (`ggml_vec_dot_bf16`), in float64. */
export function vecDotBF16(w: Uint8Array, a: Uint8Array, n: number): number {
  return dot(dequantizeBF16(w, n), dequantizeBF16(a, n));
}
