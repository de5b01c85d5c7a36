/**
 * Quantized tensors as plain data, the block-type counterpart of `NamedTensor`: the raw blocks of
 * a GGUF tensor of any ggml type (`Q4_K`, `Q8_0`, `F16`, ...), row-major, each row of
 * `shape[last]` values stored as shape[last] / blockSize blocks. They are read and written as
 * bytes; `quantizeTensor` / `dequantizeTensor` convert from and to float32 with the codecs of
 * `kernels/js/quant/` (ggml's reference quantizers, bit-exact dequantization). The block types
 * quantize through `Kernels.quantizeBlocks`, byte-exact with those codecs and parallel in the
 * native addon (the 0.5B models' matrices would take minutes on the js codecs).
 */
import { kernels } from '../kernels/index.ts';
import { QUANT_CODECS } from '../kernels/js/quant/index.ts';
import {
  ggmlType,
  isQuantType,
  LINEAR_QUANT_TYPES,
  type LinearQuantType,
  type QuantType,
  rowBytes,
} from '../kernels/quant_types.ts';
import { type NamedTensor, numel, shapeStr, toFloat32 } from './tensors.ts';

export interface QuantizedTensor {
  name: string;
  /** Row-major shape, outermost first; the last dim is the row length. */
  shape: number[];
  /** ggml type name, e.g. 'Q4_K' (see `kernels/quant_types.ts`). */
  type: string;
  /** The blocks, rows one after the other. */
  data: Uint8Array;
}

/**
 * Bytes of a tensor of ggml type `type` and row-major `shape`; throws, naming the tensor, when the
 * row length (the last dim) is not a whole number of blocks.
 */
export function quantizedBytes(type: string, shape: readonly number[], name: string): number {
  const row = shape.length > 0 ? shape[shape.length - 1]! : 1;
  const rows = numel(shape.slice(0, -1));
  return rowBytes(ggmlType(type), row, `tensor ${name} ${shapeStr(shape)}`) * rows;
}

/** Checks that `q.data` holds exactly the blocks of `q.shape`. */
export function checkQuantized(q: QuantizedTensor, where: string): void {
  const want = quantizedBytes(q.type, q.shape, q.name);
  if (q.data.length !== want) {
    throw new Error(
      `${where}: tensor ${q.name}: ${q.type} ${shapeStr(q.shape)} needs ${want} bytes, data has ${q.data.length}`,
    );
  }
}

/** Quantizes a float tensor to `type` (ggml's reference quantizer). Its row length must fit the blocks. */
export function quantizeTensor(t: NamedTensor, type: QuantType): QuantizedTensor {
  const bytes = quantizedBytes(type, t.shape, t.name);
  const x = toFloat32(t);
  const data = new Uint8Array(bytes);
  if ((LINEAR_QUANT_TYPES as readonly string[]).includes(type))
    kernels().quantizeBlocks(x, type as LinearQuantType, data, x.length);
  else QUANT_CODECS[type].quantize(x, x.length, data);
  return { name: t.name, shape: [...t.shape], type, data };
}

/**
 * Dequantizes a tensor of one of the codec types (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K) to F32; `where` (a file) starts the error messages.
 */
export function dequantizeTensor(q: QuantizedTensor, where = 'dequantize'): NamedTensor {
  const codec = isQuantType(q.type) ? QUANT_CODECS[q.type] : undefined;
  if (codec === undefined) {
    throw new Error(
      `${where}: tensor ${q.name}: ggml type ${q.type} cannot be decoded (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K can)`,
    );
  }
  checkQuantized(q, where);
  const n = numel(q.shape);
  return { name: q.name, shape: [...q.shape], dtype: 'F32', data: codec.dequantize(q.data, n) };
}
