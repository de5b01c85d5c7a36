/**
 * safetensors: an 8-byte header length, a JSON header and data, built from a random but mostly
 * well-formed header (dtypes, shapes and offsets that tile the data, some lying) and then damaged
 * (the length field, the data size, raw byte edits). Fed to openSafetensors and readAll, both
 * unmapped and mapped. Clean: an Error whose message names the file.
 */
import fc from 'fast-check';
import { openSafetensors } from '../../src/io/safetensors.ts';
import { type FuzzTarget, namedError } from '../target.ts';
import { applyEdits, type ByteEdit, removeScratch, scratchFile } from './files.ts';

const DTYPES = ['F32', 'F16', 'BF16', 'I32', 'I64', 'F64', 'U8', 'BOOL', 'F8_E4M3', 'f32', 'Q4', ''];
const SIZE: Record<string, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  F64: 8,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
};

const dim = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 31, 2 ** 53, 1e300, 2 ** 40) },
);

interface StInput {
  tensors: { name: string; dtype: string; shape: number[]; lie: number }[];
  metadata: Record<string, string | number> | null;
  headerLie: number;
  pad: number;
  extraData: number;
  edits: ByteEdit[];
  mapped: boolean;
}

const edit: fc.Arbitrary<ByteEdit> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('flip', 'u32max', 'u64big', 'zero', 'cut', 'byte'),
  value: fc.nat({ max: 0xffffff }),
});

function build(input: StInput): Uint8Array {
  const header: Record<string, unknown> = {};
  if (input.metadata) header.__metadata__ = input.metadata;
  let off = 0;
  for (const t of input.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = Number.isSafeInteger(n) ? n * (SIZE[t.dtype] ?? 4) : 0;
    const end = Math.max(0, off + bytes + t.lie);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, end] };
    off = end;
  }
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(input.pad));
  const data = Math.min(Math.max(0, off + input.extraData), 1 << 16);
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, json.length + input.headerLie)), true);
  out.set(json, 8);
  for (let i = 8 + json.length; i < out.length; i++) out[i] = (i * 31) & 255;
  return applyEdits(out, input.edits);
}

export const safetensorsTarget: FuzzTarget<StInput> = {
  name: 'safetensors',
  what: 'model.safetensors bytes -> openSafetensors + readAll (plain and mapped)',
  hangMs: 2000,
  arbitrary: fc.record({
    tensors: fc.array(
      fc.record({
        name: fc.oneof(
          fc.constantFrom('w', 'b', 'model.embed_tokens.weight', '__proto__', 'constructor'),
          fc.string(),
        ),
        dtype: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('F32', 'F16', 'BF16', 'I32', 'I64') },
          { weight: 1, arbitrary: fc.constantFrom(...DTYPES) },
        ),
        shape: fc.array(dim, { maxLength: 4 }),
        lie: fc.oneof(
          { weight: 6, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) },
        ),
      }),
      { maxLength: 5 },
    ),
    metadata: fc.option(
      fc.dictionary(
        fc.string({ maxLength: 8 }),
        fc.oneof(
          { weight: 5, arbitrary: fc.string({ maxLength: 8 }) },
          { weight: 1, arbitrary: fc.integer() },
        ),
      ),
    ),
    headerLie: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -64, max: 64 }) },
      { weight: 1, arbitrary: fc.constantFrom(2 ** 40, 2 ** 53, 1e8 + 1) },
    ),
    pad: fc.nat({ max: 9 }),
    extraData: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }) },
    ),
    edits: fc.oneof(
      { weight: 3, arbitrary: fc.constant<ByteEdit[]>([]) },
      { weight: 1, arbitrary: fc.array(edit, { maxLength: 3 }) },
    ),
    mapped: fc.boolean(),
  }),
  run(input) {
    const path = scratchFile('model.safetensors', build(input));
    const f = openSafetensors(path, { map: input.mapped });
    try {
      for (const [name, e] of f.entries) {
        if (!['F32', 'F16', 'BF16', 'I32', 'I64'].includes(e.dtype)) continue;
        const t = f.read(name);
        if (t.data.length !== t.shape.reduce((a, b) => a * b, 1))
          throw new TypeError(`${name}: data length does not match the shape`);
      }
    } finally {
      f.close();
    }
  },
  clean: (e) => namedError(e, 'model.safetensors'),
  teardown: removeScratch,
};
