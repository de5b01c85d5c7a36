// The byte vocabulary (token_bytes.ts): spans of any buffer looked up without copying, unused ids,
// single-byte ids, and which id wins when two tokens have the same bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBytes } from '../../src/tokenizers/token_bytes.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

test('the worked example: a span of a buffer is looked up without copying', () => {
  const tokens = new TokenBytes([utf8('a'), utf8('b'), utf8('ab')]);
  assert.equal(tokens.lookup(utf8('xab'), 1, 3), 2);
  assert.equal(tokens.lookup(utf8('ba'), 0, 2), -1);
  assert.equal(tokens.lookup(utf8('ba'), 1, 2), 0);
});

test('ids to bytes: lengths, views, unused ids and ids outside the table', () => {
  const tokens = new TokenBytes([utf8('h'), undefined, utf8('hé'), new Uint8Array(0)]);
  assert.equal(tokens.size, 4);
  assert.deepEqual(
    [0, 1, 2, 3, 4, -1].map((id) => tokens.length(id)),
    [1, 0, 3, 0, -1, -1],
  );
  assert.deepEqual(tokens.bytes(2), utf8('hé'));
  assert.equal(tokens.bytes(1).length, 0);
  assert.equal(tokens.bytes(99).length, 0);
  assert.equal(tokens.lookup(utf8('x'), 0, 0), -1); // an unused id is not the empty token
});

test('byteIds: the id of each single byte, -1 when missing; the same bytes twice: the smaller id', () => {
  const tokens = new TokenBytes([utf8('ab'), utf8('a'), utf8('ab'), utf8('a')]);
  assert.equal(tokens.byteIds['a'.charCodeAt(0)], 1);
  assert.equal(tokens.byteIds['b'.charCodeAt(0)], -1);
  assert.equal(tokens.lookup(utf8('ab'), 0, 2), 0);
  assert.equal(tokens.lookup(utf8('a'), 0, 1), 1);
  const all = new TokenBytes(Array.from({ length: 256 }, (_, b) => Uint8Array.of(255 - b)));
  for (let b = 0; b < 256; b++) assert.equal(all.byteIds[b], 255 - b);
});
