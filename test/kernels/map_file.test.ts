/**
 * mapFile: the native mapping (native/mmap.cc) and the js fallback give the file's exact bytes; a
 * write into a mapping changes a private copy, never the file; the mapping outlives everything but
 * its last view and is unmapped after that view is collected; errors name the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { kernels, useBackend } from '../../src/kernels/index.ts';
import { mapFile, readFileBytes } from '../../src/kernels/map_file.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { collect, mappingsOf } from './mappings.ts';

const dir = mkdtempSync(join(tmpdir(), 'xfmr-map-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 3 pages and a bit of bytes that differ from their neighbours (a wrong offset shows). */
function sample(name: string, n = 3 * 4096 + 123): { path: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 131 + (i >> 8)) & 255;
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

const hasNativeMap = loadNative().mapFile !== null;

describe('mapFile', () => {
  test('js fallback: the exact bytes, a private copy', () => {
    const { path, bytes } = sample('js.bin');
    const before = kernels().name;
    useBackend('js');
    try {
      const f = mapFile(path);
      assert.equal(f.mapped, false);
      assert.deepEqual(new Uint8Array(f.buffer), bytes);
      new Uint8Array(f.buffer)[5] ^= 0xff;
      assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
    } finally {
      useBackend(before);
    }
    assert.deepEqual(new Uint8Array(readFileBytes(path)), bytes);
    const missing = join(dir, 'missing-js.bin');
    assert.throws(
      () => readFileBytes(missing),
      (e: Error) => e.message.includes(missing),
    );
  });

  test('native: a mapping of the exact bytes; writes never reach the file', { skip: !hasNativeMap }, () => {
    const { path, bytes } = sample('native.bin');
    useBackend('native');
    const f = mapFile(path);
    assert.equal(f.mapped, true);
    assert.equal(f.buffer.byteLength, bytes.length);
    assert.deepEqual(new Uint8Array(f.buffer), bytes);
    // Copy-on-write: the process sees its write, the file (and a fresh mapping) do not.
    const view = new Float32Array(f.buffer, 4096, 4);
    view[1] = 1234.5;
    assert.equal(view[1], 1234.5);
    assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
    assert.deepEqual(new Uint8Array(mapFile(path).buffer), bytes);
  });

  test('native: empty files, and errors that name the file', { skip: !hasNativeMap }, () => {
    useBackend('native');
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    assert.equal(mapFile(empty).buffer.byteLength, 0);
    const missing = join(dir, 'missing.bin');
    assert.throws(
      () => mapFile(missing),
      (e: Error) => e.message.includes(missing) && /cannot open/.test(e.message),
    );
    assert.throws(
      () => mapFile(dir),
      (e: Error) => e.message.includes(dir) && /not a regular file/.test(e.message),
    );
  });

  test('native: the mapping lives while a view does, and is unmapped after', {
    skip: !hasNativeMap,
  }, async () => {
    const { path, bytes } = sample('lifetime.bin');
    useBackend('native');
    let view: Uint8Array | null = (() => new Uint8Array(mapFile(path).buffer, 4096, 100))();
    await collect();
    // The buffer itself is unreachable but its view keeps it (and the mapping) alive.
    assert.deepEqual(view, bytes.subarray(4096, 4196));
    if (mappingsOf(path) >= 0) assert.equal(mappingsOf(path), 1);
    view = null;
    await collect();
    assert.equal(view, null);
    // -1: no /proc here, nothing more to check.
    assert.ok(mappingsOf(path) <= 0, `${path} is still mapped after its last view was collected`);
  });
});
