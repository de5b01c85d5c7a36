/**
 * safetensors: round trips for every dtype, parity with a file written from PyTorch tensors
 * (test/io/fixtures, made by scripts/fixtures/make_safetensors_fixture.py), header validation
 * with errors that name the file and the tensor, lazy positioned reads past 2 GiB, atomic writes.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from '../../src/io/float16.ts';
import { openSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import type { NamedTensor } from '../../src/io/tensors.ts';
import { kernels, useBackend } from '../../src/kernels/index.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { sameTensors, tempDir } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const dir = tempDir();

/** Builds a safetensors file by hand from a header (object or raw text) and data bytes. */
function craft(name: string, header: unknown, data: Uint8Array | number = 0): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(8 + h.length + body.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
  bytes.set(h, 8);
  bytes.set(body, 8 + h.length);
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const hexBits32 = (a: Float32Array) =>
  [...new Uint32Array(a.buffer, a.byteOffset, a.length)].map((x) => x.toString(16).padStart(8, '0'));
const hexBits16 = (a: Uint16Array) => [...a].map((x) => x.toString(16).padStart(4, '0'));

describe('safetensors round trip', () => {
  test('every dtype, scalars, empty tensors and metadata', () => {
    const f32 = new Float32Array([1.5, -0, Number.POSITIVE_INFINITY, 3e-42]);
    new Uint32Array(f32.buffer)[1] = 0x7fc00123; // a NaN payload must survive unchanged
    const tensors: NamedTensor[] = [
      { name: 'a.f32', shape: [2, 2], dtype: 'F32', data: f32 },
      { name: 'b.f16', shape: [3], dtype: 'F16', data: new Uint16Array([0x3c00, 0x7e00, 0x0001]) },
      { name: 'c.bf16', shape: [1, 3], dtype: 'BF16', data: new Uint16Array([0x3f80, 0xff80, 0x0001]) },
      { name: 'd.i32', shape: [3], dtype: 'I32', data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
      { name: 'e.i64', shape: [2], dtype: 'I64', data: new BigInt64Array([-(2n ** 63n), 2n ** 62n]) },
      { name: 'scalar', shape: [], dtype: 'F32', data: new Float32Array([7]) },
      { name: 'empty', shape: [0, 4], dtype: 'F16', data: new Uint16Array(0) },
      { name: 'odd', shape: [1], dtype: 'F16', data: new Uint16Array([0x1234]) },
    ];
    const p = join(dir, 'all.safetensors');
    writeSafetensors(p, tensors, { format: 'pt', note: 'ünïcode' });
    const { tensors: back, metadata } = readSafetensors(p);
    assert.deepEqual(metadata, { format: 'pt', note: 'ünïcode' });
    assert.ok(sameTensors(back, new Map(tensors.map((t) => [t.name, t]))));
    assert.equal(new Uint32Array((back.get('a.f32')!.data as Float32Array).buffer)[1], 0x7fc00123);
  });

  test('layout: 8-byte aligned header, larger elements first, offsets tile the data', () => {
    const p = join(dir, 'layout.safetensors');
    writeSafetensors(p, [
      { name: 'z', shape: [3], dtype: 'F16', data: new Uint16Array(3) },
      { name: 'y', shape: [1], dtype: 'I64', data: new BigInt64Array(1) },
      { name: 'x', shape: [2], dtype: 'F32', data: new Float32Array(2) },
    ]);
    const bytes = readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    assert.deepEqual(Object.keys(header), ['y', 'x', 'z']);
    assert.deepEqual(header.y, { dtype: 'I64', shape: [1], data_offsets: [0, 8] });
    assert.deepEqual(header.x, { dtype: 'F32', shape: [2], data_offsets: [8, 16] });
    assert.deepEqual(header.z, { dtype: 'F16', shape: [3], data_offsets: [16, 22] });
    assert.equal(bytes.length, 8 + n + 22);
  });

  test('a Map is accepted and lazy reads return one tensor', () => {
    const p = join(dir, 'lazy.safetensors');
    const t: NamedTensor = { name: 'w', shape: [2], dtype: 'F32', data: new Float32Array([1, 2]) };
    writeSafetensors(p, new Map([['w', t]]));
    const f = openSafetensors(p);
    assert.deepEqual([...f.entries.keys()], ['w']);
    assert.deepEqual([...(f.read('w').data as Float32Array)], [1, 2]);
    assert.throws(() => f.read('nope'), /lazy\.safetensors: no tensor named nope/);
    f.close();
  });
});

describe('safetensors golden file from PyTorch', () => {
  const golden = JSON.parse(readFileSync(join(FIXTURES, 'torch_golden.json'), 'utf8'));
  const { tensors, metadata } = readSafetensors(join(FIXTURES, 'torch_golden.safetensors'));

  test('every tensor has the dtype, shape and values torch wrote', () => {
    assert.deepEqual(metadata, { format: 'pt', source: 'torch' });
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(golden.tensors).sort());
    for (const [name, want] of Object.entries(golden.tensors) as [string, Record<string, unknown>][]) {
      const t = tensors.get(name)!;
      assert.equal(t.dtype, want.dtype, name);
      assert.deepEqual(t.shape, want.shape, name);
      if (want.values_f32_bits !== null) {
        const f =
          t.dtype === 'F32'
            ? (t.data as Float32Array)
            : t.dtype === 'F16'
              ? f16ArrayToF32(t.data as Uint16Array)
              : bf16ArrayToF32(t.data as Uint16Array);
        assert.deepEqual(hexBits32(f), want.values_f32_bits, name);
      } else {
        assert.deepEqual([...t.data].map(String), want.values, name);
      }
    }
  });

  test('our f32 -> f16 / bf16 rounding equals torch bit for bit', () => {
    const src = tensors.get('awkward.f32')!.data as Float32Array;
    assert.deepEqual(hexBits32(src), golden.awkward.f32_bits);
    assert.deepEqual(hexBits16(f32ArrayToF16(src)), golden.awkward.f16_bits);
    assert.deepEqual(hexBits16(tensors.get('awkward.f16')!.data as Uint16Array), golden.awkward.f16_bits);
    // torch 1.13's vectorised CPU path writes NaN as 0xffff, its scalar path as 0x7fc0 (ours):
    // any NaN is right, so NaN positions are compared as "is NaN"
    const ours = hexBits16(f32ArrayToBf16(src));
    const isNaN16 = (h: string) => (parseInt(h, 16) & 0x7f80) === 0x7f80 && (parseInt(h, 16) & 0x7f) !== 0;
    golden.awkward.bf16_bits.forEach((want: string, i: number) => {
      if (isNaN16(want)) assert.ok(isNaN16(ours[i]!), `bf16 NaN at ${i}`);
      else assert.equal(ours[i], want, `bf16 of ${golden.awkward.f32_bits[i]}`);
    });
  });

  test('our f16 / bf16 -> f32 widening equals torch', () => {
    assert.deepEqual(
      hexBits32(f16ArrayToF32(tensors.get('awkward.f16')!.data as Uint16Array)),
      golden.awkward.f16_to_f32_bits,
    );
    assert.deepEqual(
      hexBits32(bf16ArrayToF32(tensors.get('awkward.bf16')!.data as Uint16Array)),
      golden.awkward.bf16_to_f32_bits,
    );
  });
});

describe('safetensors validation', () => {
  const good = {
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F16', shape: [2], data_offsets: [8, 12] },
  };

  test('the crafted reference file is valid', () => {
    const p = craft('good.safetensors', good, 12);
    assert.equal(readSafetensors(p).tensors.size, 2);
  });

  test('truncated data names the file and the tensor cut off', () => {
    const p = craft('trunc.safetensors', good, 10);
    assert.throws(
      () => openSafetensors(p),
      (e: Error) => e.message.includes(p) && /tensor b\b.*truncated/.test(e.message),
    );
  });

  test('truncated header, tiny file, header too large, bad JSON, not an object', () => {
    const p1 = craft('hdr.safetensors', good, 12);
    truncateSync(p1, 20);
    assert.throws(
      () => openSafetensors(p1),
      (e: Error) => e.message.startsWith(p1) && /truncated/.test(e.message),
    );
    const p2 = join(dir, 'tiny.safetensors');
    writeFileSync(p2, new Uint8Array(5));
    assert.throws(
      () => openSafetensors(p2),
      (e: Error) => e.message.startsWith(p2) && /truncated/.test(e.message),
    );
    const p3 = join(dir, 'huge.safetensors');
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
    writeFileSync(p3, b);
    assert.throws(
      () => openSafetensors(p3),
      (e: Error) => e.message.startsWith(p3) && /exceeds/.test(e.message),
    );
    const p4 = craft('badjson.safetensors', '{"a": {"dtype": "F32",', 0);
    assert.throws(
      () => openSafetensors(p4),
      (e: Error) => e.message.startsWith(p4) && /not valid JSON/.test(e.message),
    );
    const p5 = craft('array.safetensors', '[1, 2]', 0);
    assert.throws(() => openSafetensors(p5), /array\.safetensors: safetensors header is not a JSON object/);
  });

  test('shape/size mismatch, bad dtype, bad shape, bad offsets name the tensor', () => {
    const cases: [string, unknown, RegExp][] = [
      [
        'size',
        { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } },
        /tensor w: shape \[3\] of F32 needs 12 bytes/,
      ],
      ['dtype', { w: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, /tensor w: unknown dtype "F33"/],
      ['shape', { w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, /tensor w: shape must be/],
      ['offsets', { w: { dtype: 'F32', shape: [2], data_offsets: [8] } }, /tensor w: data_offsets must be/],
      [
        'reversed',
        { w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } },
        /tensor w: data_offsets \[8, 0\] end before/,
      ],
      ['meta', { __metadata__: { n: 1 } }, /__metadata__\.n must be a string/],
    ];
    for (const [name, header, re] of cases) {
      const p = craft(`${name}.safetensors`, header, 8);
      assert.throws(
        () => openSafetensors(p),
        (e: Error) => e.message.startsWith(p) && re.test(e.message),
        name,
      );
    }
  });

  test('overlapping offsets, holes and trailing bytes are refused', () => {
    const overlap = craft(
      'overlap.safetensors',
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      },
      8,
    );
    assert.throws(
      () => openSafetensors(overlap),
      /overlap\.safetensors: tensor b: data_offsets \[4, 8\] overlap tensor a/,
    );
    const hole = craft('hole.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8);
    assert.throws(() => openSafetensors(hole), /hole\.safetensors: tensor a: .*hole/);
    const trailing = craft(
      'trailing.safetensors',
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      8,
    );
    assert.throws(() => openSafetensors(trailing), /trailing\.safetensors: 4 bytes after the last tensor/);
  });

  test('a dtype we cannot decode opens, but reading it names the tensor', () => {
    const p = craft('f64.safetensors', { d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 8);
    const f = openSafetensors(p);
    assert.throws(
      () => f.read('d'),
      (e: Error) => e.message.includes(p) && /tensor d: dtype F64 is not supported/.test(e.message),
    );
    f.close();
  });

  test('the writer refuses a tensor whose data does not match its shape or dtype', () => {
    const p = join(dir, 'bad-write.safetensors');
    assert.throws(
      () => writeSafetensors(p, [{ name: 'w', shape: [3], dtype: 'F32', data: new Float32Array(2) }]),
      /bad-write\.safetensors: tensor w: shape \[3\] needs 3 elements, data has 2/,
    );
    assert.throws(
      () => writeSafetensors(p, [{ name: 'w', shape: [2], dtype: 'F16', data: new Float32Array(2) }]),
      /tensor w: dtype F16 needs a Uint16Array, got Float32Array/,
    );
  });
});

describe('safetensors big files and atomic writes', () => {
  test('a tensor past 2 GiB is read with positioned reads, without reading the rest', () => {
    // sparse file: a 2 GiB + 8 byte U8 tensor (never read) followed by a small F32 tensor
    const big = 2 ** 31 + 8;
    const header = {
      pad: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
      tail: { dtype: 'F32', shape: [4], data_offsets: [big, big + 16] },
    };
    const p = craft('sparse.safetensors', header, 0);
    const start = readFileSync(p).length; // 8 + header length
    truncateSync(p, start + big + 16);
    const fd = openSync(p, 'r+');
    writeSync(fd, new Uint8Array(new Float32Array([1, -2, 3.5, 1e30]).buffer), 0, 16, start + big);
    closeSync(fd);
    const f = openSafetensors(p);
    assert.deepEqual([...(f.read('tail').data as Float32Array)], [1, -2, 3.5, Math.fround(1e30)]);
    f.close();
    const { tensors } = readSafetensors(p, ['tail']);
    assert.equal(tensors.size, 1);
  });

  test('a refused write leaves the previous file intact and no temporary file', () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const p = join(sub, 'model.safetensors');
    const ok: NamedTensor = { name: 'w', shape: [1], dtype: 'F32', data: new Float32Array([42]) };
    writeSafetensors(p, [ok]);
    const before = readFileSync(p);
    const bad: NamedTensor = { name: 'v', shape: [3], dtype: 'F32', data: new Float32Array(2) };
    assert.throws(() => writeSafetensors(p, [ok, bad]), /tensor v/);
    assert.deepEqual(readFileSync(p), before);
    assert.deepEqual(readdirSync(sub), ['model.safetensors']);
    // mid-write failures are covered by writeFileAtomic's own test (checkpoint.test.ts)
  });
});

describe('mapped reads (the map option)', () => {
  const tensors: NamedTensor[] = [
    {
      name: 'f32',
      shape: [3, 5],
      dtype: 'F32',
      data: Float32Array.from({ length: 15 }, (_, i) => i / 7 - 1),
    },
    { name: 'bf16', shape: [7], dtype: 'BF16', data: Uint16Array.from({ length: 7 }, (_, i) => 0x3f80 + i) },
    { name: 'f16', shape: [2], dtype: 'F16', data: new Uint16Array([0x3c00, 0xc000]) },
    { name: 'i64', shape: [2], dtype: 'I64', data: new BigInt64Array([-5n, 2n ** 40n]) },
  ];
  const p = join(dir, 'mapped.safetensors');
  writeSafetensors(p, tensors);
  const size = readFileSync(p).length;
  /** A view of the file's bytes spans the whole file; a fresh array only the tensor. */
  const isView = (t: NamedTensor) => t.data.buffer.byteLength === size;

  for (const backend of ['native', 'js'] as const) {
    test(`${backend}: views equal the copies; the dtype test and alignment decide`, () => {
      const before = kernels().name;
      if (backend === 'native' && !loadNative().mapFile) return; // addon without mapFile: js covers it
      useBackend(backend);
      try {
        const copies = readSafetensors(p).tensors;
        const f = openSafetensors(p, { map: (d) => d !== 'F16' });
        assert.equal(f.mapped, backend === 'native' ? 'mmap' : 'read');
        const views = f.readAll();
        f.close();
        // still readable after close: the views hold the mapping
        assert.ok(sameTensors(views, copies));
        assert.deepEqual(
          [...views.values()].map((t) => [t.name, isView(t)]),
          [
            ['i64', true],
            ['f32', true],
            ['bf16', true],
            ['f16', false],
          ],
        );
        assert.equal(openSafetensors(p).mapped, null);
        assert.equal(openSafetensors(p, { map: () => false }).mapped, null);
      } finally {
        useBackend(before);
      }
    });
  }

  test('an unaligned tensor is copied, with the right values', () => {
    // A header of odd length puts the data at an odd byte: no F32 typed array can start there.
    const f32 = new Float32Array([1.25, -3, 7e-3]);
    let header = JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } });
    while ((8 + header.length) % 4 !== 1) header += ' ';
    const u = craft('unaligned.safetensors', header, new Uint8Array(f32.buffer));
    const f = openSafetensors(u, { map: true });
    const t = f.read('w');
    f.close();
    assert.deepEqual([...(t.data as Float32Array)], [...f32]);
    assert.equal(t.data.byteOffset, 0);
    assert.equal(t.data.buffer.byteLength, 12);
  });
});
