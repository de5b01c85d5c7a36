/**
 * GGUF: a small valid file (random metadata of every value type, F32/F16/I32/Q8_0/Q4_K tensors)
 * written by writeGguf, then damaged by byte edits (flips, u32/u64 fields set huge, cuts) that hit
 * the counts, string lengths, array lengths, dims, types and offsets. Fed to openGguf, then every
 * tensor is read (plain dtypes with read, the rest with readQuantized), unmapped and mapped.
 * Clean: an Error whose message names the file.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { type GgufTensorSpec, openGguf, writeGguf } from '../../src/io/gguf.ts';
import { type GgufValue, gv } from '../../src/io/gguf_values.ts';
import { type FuzzTarget, namedError } from '../target.ts';
import { applyEdits, type ByteEdit, removeScratch, scratchFile } from './files.ts';

const value: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(gv.u32),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(gv.i32),
  fc.float({ noNaN: false }).map(gv.f32),
  fc.boolean().map(gv.bool),
  fc.string({ maxLength: 12 }).map(gv.str),
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 6 }).map(gv.strs),
  fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 6 }).map(gv.i32s),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v): GgufValue => ({ type: 'u64', value: v })),
  fc.constant(gv.u32(64)),
);

interface TensorPick {
  kind: 'F32' | 'F16' | 'I32' | 'Q8_0' | 'Q4_K';
  rows: number;
  cols: number;
}

interface GgufInput {
  kv: [string, GgufValue][];
  tensors: TensorPick[];
  edits: ByteEdit[];
  mapped: boolean;
}

function spec(t: TensorPick, i: number): GgufTensorSpec {
  const name = `t${i}`;
  if (t.kind === 'Q8_0')
    return { name, shape: [t.rows, 32], type: 'Q8_0', data: new Uint8Array(t.rows * 34) };
  if (t.kind === 'Q4_K')
    return { name, shape: [t.rows, 256], type: 'Q4_K', data: new Uint8Array(t.rows * 144) };
  const n = t.rows * t.cols;
  if (t.kind === 'F32')
    return { name, shape: [t.rows, t.cols], dtype: 'F32', data: new Float32Array(n).fill(1.5) };
  if (t.kind === 'F16')
    return { name, shape: [t.rows, t.cols], dtype: 'F16', data: new Uint16Array(n).fill(0x3c00) };
  return { name, shape: [t.rows, t.cols], dtype: 'I32', data: new Int32Array(n).fill(7) };
}

/** Valid files per input shape, so each input costs one write of the damaged bytes only. */
const cache = new Map<string, Uint8Array>();

function build(input: GgufInput): Uint8Array {
  const key =
    JSON.stringify(input.kv, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) +
    JSON.stringify(input.tensors);
  let bytes = cache.get(key);
  if (bytes === undefined) {
    const path = scratchFile('base.gguf', '');
    const kv = new Map(input.kv.filter(([k]) => k !== 'general.alignment'));
    writeGguf(path, kv, input.tensors.map(spec));
    bytes = new Uint8Array(readFileSync(path));
    if (cache.size > 256) cache.clear();
    cache.set(key, bytes);
  }
  return applyEdits(bytes, input.edits);
}

export const ggufTarget: FuzzTarget<GgufInput> = {
  name: 'gguf',
  what: 'model.gguf bytes -> openGguf + read/readQuantized of every tensor (plain and mapped)',
  hangMs: 2000,
  arbitrary: fc.record({
    kv: fc.array(
      fc.tuple(
        fc.constantFrom('general.architecture', 'llama.context_length', 'tokenizer.ggml.tokens', 'a', 'b.c'),
        value,
      ),
      {
        maxLength: 4,
      },
    ),
    tensors: fc.array(
      fc.record({
        kind: fc.constantFrom('F32', 'F16', 'I32', 'Q8_0', 'Q4_K'),
        rows: fc.integer({ min: 1, max: 3 }),
        cols: fc.integer({ min: 1, max: 5 }),
      }),
      { maxLength: 3 },
    ),
    edits: fc.array(
      fc.record({
        at: fc.nat({ max: 600 }),
        kind: fc.constantFrom('flip', 'u32max', 'u64big', 'zero', 'cut', 'byte'),
        value: fc.nat({ max: 0xffffff }),
      }),
      { minLength: 0, maxLength: 3 },
    ),
    mapped: fc.boolean(),
  }),
  run(input) {
    const path = scratchFile('model.gguf', build(input));
    const f = openGguf(path, { map: input.mapped });
    try {
      for (const t of f.tensors.values()) {
        const plain = ['F32', 'F16', 'BF16', 'I32', 'I64'].includes(t.type);
        const r = plain ? f.read(t.name) : f.readQuantized(t.name);
        if (plain && r.data.length !== t.shape.reduce((a, b) => a * b, 1))
          throw new TypeError(`${t.name}: data length does not match the shape`);
      }
    } finally {
      f.close();
    }
  },
  clean: (e) => namedError(e, 'model.gguf'),
  teardown: () => {
    cache.clear();
    removeScratch();
  },
};
