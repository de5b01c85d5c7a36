/** `xfmr plot`: a valid PNG with both curves drawn, and errors that name the file. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { BLUE, ORANGE } from '../../src/train/plot.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'xfmr.js');

/** Decodes our own PNGs (8-bit RGB, filter 0) back to pixels. */
function decode(png: Buffer): { w: number; h: number; px: Buffer } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    if (png.toString('ascii', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) raw.copy(px, y * w * 3, y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1));
  return { w, h, px };
}

function count(px: Buffer, c: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < px.length; i += 3) if (px[i] === c[0] && px[i + 1] === c[1] && px[i + 2] === c[2]) n++;
  return n;
}

test('plot draws train and validation curves into a PNG', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-plot-'));
  try {
    const lines = [];
    for (let s = 1; s <= 50; s++) lines.push(JSON.stringify({ step: s, loss: 4 / Math.sqrt(s) }));
    for (let s = 10; s <= 50; s += 10) lines.push(JSON.stringify({ step: s, val_loss: 4.2 / Math.sqrt(s) }));
    writeFileSync(join(dir, 'm.jsonl'), `${lines.join('\n')}\n`);
    const r = spawnSync(
      process.execPath,
      [BIN, 'plot', join(dir, 'm.jsonl'), '--out', join(dir, 'loss.png')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const { w, h, px } = decode(readFileSync(join(dir, 'loss.png')));
    assert.equal(w, 800);
    assert.equal(h, 480);
    assert.ok(count(px, BLUE) > 500, 'the train curve is drawn');
    assert.ok(count(px, ORANGE) > 200, 'the validation curve is drawn');
    const missing = spawnSync(process.execPath, [BIN, 'plot', join(dir, 'nope.jsonl')], { encoding: 'utf8' });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /nope\.jsonl/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
