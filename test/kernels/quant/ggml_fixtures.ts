/**
 * The ggml fixtures of test/kernels/fixtures/ggml_quant/, written by
 * scripts/fixtures/make_quant_fixtures.sh (ggml from node-llama-cpp's llama.cpp bundle, ggml-cpu
 * built for AVX2 + FMA + F16C), decoded from their JSON.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { QuantType } from '../../../src/kernels/quant_types.ts';

const DIR = new URL('../fixtures/ggml_quant/', import.meta.url);

const json = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(name, DIR), 'utf8')) as Record<string, unknown>;
const bytes = (b64: unknown): Uint8Array => new Uint8Array(Buffer.from(b64 as string, 'base64'));
const floats = (b64: unknown): Float32Array => {
  const b = bytes(b64);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};

export interface GgmlInputs {
  /** Values per row (256). */
  nPerRow: number;
  rows: number;
  /** The weight rows, [rows * nPerRow]: each 256-row stresses one case (see the C generator). */
  weights: Float32Array;
  /** Three activation vectors of the same length: N(0,1), with outliers, and a grid of rounding ties. */
  acts: Float32Array[];
}

export interface GgmlTypeFixture {
  typeId: number;
  blockSize: number;
  typeSize: number;
  /** ggml_quantize_chunk(weights) */
  quantized: Uint8Array;
  /** to_float(quantized) */
  dequantized: Float32Array;
  /** Random bytes (random finite f16 scales) for 1024 values, and their to_float. */
  randomBlocks: Uint8Array;
  randomDequantized: Float32Array;
  /** ggml's name of the activation type. */
  vecDotType: string;
  /** Per activation vector: its from_float bytes, the vec_dot of each 256-row with its segment, and of the whole. */
  acts: { quantized: Uint8Array; rowDots: number[]; fullDot: number }[];
}

export function ggmlInputs(): GgmlInputs {
  const j = json('inputs.json');
  return {
    nPerRow: j.n_per_row as number,
    rows: j.rows as number,
    weights: floats(j.weights),
    acts: (j.acts as string[]).map(floats),
  };
}

/** ggml's file name of each type. */
const FILE: Record<QuantType, string> = {
  F16: 'f16',
  BF16: 'bf16',
  Q8_0: 'q8_0',
  Q4_0: 'q4_0',
  Q4_K: 'q4_K',
  Q5_K: 'q5_K',
  Q6_K: 'q6_K',
  Q4_1: 'q4_1',
  Q5_0: 'q5_0',
  Q5_1: 'q5_1',
};

export function ggmlTypeFixture(type: QuantType): GgmlTypeFixture {
  const j = json(`${FILE[type]}.json`);
  return {
    typeId: j.type_id as number,
    blockSize: j.block_size as number,
    typeSize: j.type_size as number,
    quantized: bytes(j.quantized),
    dequantized: floats(j.dequantized),
    randomBlocks: bytes(j.random_blocks),
    randomDequantized: floats(j.random_dequantized),
    vecDotType: j.vec_dot_type as string,
    acts: (j.acts as { quantized: string; row_dots: number[]; full_dot: number }[]).map((a) => ({
      quantized: bytes(a.quantized),
      rowDots: a.row_dots,
      fullDot: a.full_dot,
    })),
  };
}

/** types.json: every ggml type id with its name, block size and bytes per block. */
export function ggmlTypeTable(): { id: number; name: string; block_size: number; type_size: number }[] {
  return JSON.parse(readFileSync(new URL('types.json', DIR), 'utf8'));
}

/** Index of the first differing byte or float bit pattern, or -1. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}
