/** Incremental detokenisation never emits half a UTF-8 character. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteStreamer, DecodeStreamer } from '../../src/generate/streamer.ts';
import { isBroken } from './fake_lm.ts';

const TEXT = 'héllo 😀 wörld 🎉 日本';
const BYTES = new TextEncoder().encode(TEXT);

test('byte tokens: every piece is whole characters, and the pieces make the text', () => {
  const table = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));
  const s = new ByteStreamer(table);
  const pieces = [...BYTES].map((b) => s.push(b));
  pieces.push(s.flush());
  for (const p of pieces) assert.ok(!isBroken(p), JSON.stringify(p));
  assert.equal(pieces.join(''), TEXT);
  // The 4 bytes of 😀 give 3 empty pieces, then the emoji at once.
  const at = TEXT.indexOf('😀');
  const start = new TextEncoder().encode(TEXT.slice(0, at)).length;
  assert.deepEqual(pieces.slice(start, start + 4), ['', '', '', '😀']);
});

test('multi-byte tokens that split characters 1+3 and 3+1 (a function of the id)', () => {
  const emoji = new TextEncoder().encode('😀🎉'); // 8 bytes
  const tokens = [emoji.slice(0, 1), emoji.slice(1, 4 + 3), emoji.slice(7, 8)];
  const s = new ByteStreamer((id) => tokens[id]);
  assert.deepEqual([s.push(0), s.push(1), s.push(2), s.flush()], ['', '😀', '🎉', '']);
});

test('an incomplete character at the end is flushed as U+FFFD', () => {
  const s = new ByteStreamer(Array.from({ length: 256 }, (_, i) => Uint8Array.of(i)));
  assert.equal(s.push(0x61), 'a');
  assert.equal(s.push(0xf0), '');
  assert.equal(s.flush(), '\uFFFD');
});

test('a decode function: trailing U+FFFD is held until the character completes', () => {
  const dec = new TextDecoder();
  const s = new DecodeStreamer((ids) => dec.decode(Uint8Array.from(ids)));
  const pieces = [...BYTES].map((b) => s.push(b));
  pieces.push(s.flush());
  for (const p of pieces) assert.ok(!isBroken(p), JSON.stringify(p));
  assert.equal(pieces.join(''), TEXT);
});
