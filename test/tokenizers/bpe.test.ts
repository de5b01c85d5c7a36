// Byte-level BPE behaviour: round trips on random unicode (lone surrogates as tiktoken treats them),
// decode of invalid UTF-8, special tokens, the streaming decoder, offsets, and merge rules
// (GPT-2 vocab + merges) against tiktoken ranks and HF tokenizers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BpeTokenizer } from '../../src/tokenizers/bpe.ts';
import { BYTE_TO_CHAR, bytesToUnicode, unicodeToBytes } from '../../src/tokenizers/byte_level.ts';
import { ENCODINGS, type EncodingName, getEncoding, recoverMerges } from '../../src/tokenizers/tiktoken.ts';
import { toTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { mixedText, rng } from './corpus.ts';

const require = createRequire(import.meta.url);
interface Tiktoken {
  encode_ordinary(text: string): Uint32Array;
  decode(ids: Uint32Array): Uint8Array;
  free(): void;
}
const { get_encoding } = require('tiktoken') as { get_encoding(name: string): Tiktoken };
const NAMES: EncodingName[] = ['gpt2', 'cl100k_base', 'o200k_base'];

/** What the reference sees of a JS string: lone surrogates become U+FFFD on the way to UTF-8. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/**
 * Blocks whose characters were all assigned by Unicode 6 (or are private use or in the never-assigned
 * planes 4-13), so that engines with different Unicode tables agree on their categories: tiktoken's
 * Rust tables are Unicode 16, Node 20's ICU is Unicode 15-17 depending on the build.
 */
const STABLE_BLOCKS: [number, number][] = [
  [0x00a0, 0x024f],
  [0x0370, 0x03ff],
  [0x0400, 0x04ff],
  [0x05d0, 0x05ea],
  [0x0621, 0x064a],
  [0x0900, 0x097f],
  [0x0e00, 0x0e5b],
  [0x2000, 0x206f],
  [0x2100, 0x22ff],
  [0x2500, 0x27bf],
  [0x3040, 0x30ff],
  [0x4e00, 0x9fa5],
  [0xac00, 0xd7a3],
  [0xe000, 0xf8ff],
  [0xff00, 0xffef],
  [0x1d400, 0x1d7ff],
  [0x1f300, 0x1f64f],
  [0x20000, 0x2a6d6],
  [0x40000, 0xdffff],
  [0xf0000, 0x10ffff],
];

/** Random text: ASCII, whitespace, BMP and astral characters, lone surrogates, emoji sequences. */
function randomString(r: () => number, stable = false): string {
  const n = Math.floor(r() * 40);
  let s = '';
  for (let k = 0; k < n; k++) {
    const x = r();
    if (x < 0.3) s += String.fromCharCode(32 + Math.floor(r() * 95));
    else if (x < 0.4) s += ' \t\n\r\u00a0\u3000\u0085\u2028'[Math.floor(r() * 8)];
    else if (stable && x < 0.8) {
      const [lo, hi] = STABLE_BLOCKS[Math.floor(r() * STABLE_BLOCKS.length)];
      s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
    } else if (x < 0.6) {
      let c = Math.floor(r() * 0x10000);
      if (c >= 0xd800 && c < 0xe000) c = 0xe000 + (c & 0xff);
      s += String.fromCharCode(c);
    } else if (x < 0.8) s += String.fromCodePoint(0x10000 + Math.floor(r() * 0x100000));
    else if (x < 0.88)
      s += String.fromCharCode(0xd800 + Math.floor(r() * 0x800)); // lone surrogate (mostly)
    else
      s += ['👨\u200d👩\u200d👧', '👍🏽', '🇫🇷', '1\ufe0f\u20e3', 'é', 'e\u0301', '한국어', '中文', "'s"][
        Math.floor(r() * 9)
      ];
  }
  return s;
}

test('round trip: decode(encode(s)) is s (lone surrogates as U+FFFD) for 10,000 random strings', () => {
  const r = rng(12345);
  const encs = NAMES.map((n) => getEncoding(n));
  for (let t = 0; t < 10_000; t++) {
    const s = randomString(r);
    const enc = encs[t % encs.length];
    const ids = enc.encode(s);
    assert.equal(enc.decode(ids), wellFormed(s), JSON.stringify(s));
  }
});

test('random unicode (stable blocks), lone surrogates included, gets the same ids as tiktoken', () => {
  const r = rng(777);
  for (const name of NAMES) {
    const ref = get_encoding(name);
    try {
      const enc = getEncoding(name);
      for (let t = 0; t < 1500; t++) {
        const s = randomString(r, true);
        assert.deepEqual(enc.encode(s), Array.from(ref.encode_ordinary(s)), `${name}: ${JSON.stringify(s)}`);
      }
    } finally {
      ref.free();
    }
  }
});

test('decode of invalid UTF-8 gives U+FFFD exactly as TextDecoder, and decodeBytes the exact bytes', () => {
  const enc = getEncoding('cl100k_base');
  const byteId = (b: number) => enc.tokenToId(BYTE_TO_CHAR[b])!;
  const fixed = [
    [0xff],
    [0xe4, 0xbd],
    [0xc0, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0x61, 0xf0, 0x9f, 0x98, 0x62],
    [0x80, 0x80, 0xe4, 0xbd, 0xa0, 0xe4],
  ];
  const r = rng(99);
  const random = Array.from({ length: 3000 }, () =>
    Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 256)),
  );
  const ref = get_encoding('cl100k_base');
  try {
    for (const bytes of [...fixed, ...random]) {
      const ids = bytes.map(byteId);
      const want = new TextDecoder().decode(Uint8Array.from(bytes));
      assert.equal(enc.decode(ids), want, String(bytes));
      assert.deepEqual(enc.decodeBytes(ids), Uint8Array.from(bytes));
      assert.deepEqual(enc.decodeBytes(ids), ref.decode(Uint32Array.from(ids)));
    }
  } finally {
    ref.free();
  }
  // Ids cut through a character: the bytes stay exact, the text has U+FFFD.
  const ids = enc.encode('😀');
  assert.ok(ids.length > 1);
  assert.equal(enc.decode(ids.slice(0, 1)), '\ufffd');
  assert.throws(() => enc.decode([enc.vocabSize + 5]), /id \d+ is not in the vocabulary/);
});

test('special tokens are never parsed from text unless allowed', () => {
  const enc = getEncoding('cl100k_base');
  const text = 'hi <|endoftext|> there <|fim_prefix|>';
  const plain = enc.encode(text);
  assert.ok(!plain.includes(100257) && !plain.includes(100258));
  assert.equal(enc.decode(plain), text);
  assert.deepEqual(enc.encode(text, { allowedSpecial: 'none' }), plain);
  const all = enc.encode(text, { allowedSpecial: 'all' });
  assert.ok(all.includes(100257) && all.includes(100258));
  const some = enc.encode(text, { allowedSpecial: new Set(['<|endoftext|>']) });
  assert.ok(some.includes(100257) && !some.includes(100258));
  assert.equal(enc.decode(all), text);
  assert.equal(enc.decode(all, { skipSpecialTokens: true }), 'hi  there ');
  assert.throws(() => enc.encode(text, { allowedSpecial: new Set(['<|nope|>']) }), /<\|nope\|>/);
  assert.equal(enc.tokenToId('<|endoftext|>'), 100257);
  assert.equal(enc.idToToken(100257), '<|endoftext|>');
  assert.equal(enc.specialTokens.get('<|endofprompt|>'), 100276);
  assert.equal(enc.vocabSize, 100277);
});

test('token strings are GPT-2 byte-level text', () => {
  const enc = getEncoding('gpt2');
  assert.equal(enc.idToToken(enc.encode(' hello')[0]), 'Ġhello');
  assert.equal(enc.tokenToId('Ġhello'), enc.encode(' hello')[0]);
  assert.equal(bytesToUnicode([0x20, 0x68, 0x69]), 'Ġhi');
  assert.deepEqual(unicodeToBytes('ĠhiĊ'), Uint8Array.of(0x20, 0x68, 0x69, 0x0a));
  assert.equal(unicodeToBytes('€'), undefined);
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
});

test('streaming decoder never emits a broken character and matches decode', () => {
  const text = '👨\u200d👩\u200d👧\u200d👦 family 👍🏽 ok 中文字符 한국어 🇯🇵 e\u0301 𝄞 end';
  for (const name of NAMES) {
    const enc = getEncoding(name);
    const ids = enc.encode(text);
    const stream = enc.streamDecoder();
    let out = '';
    for (const id of ids) {
      const piece = stream.push(id);
      assert.ok(!piece.includes('\ufffd'), `${name}: broken character emitted after id ${id}`);
      assert.equal(piece, wellFormed(piece), `${name}: half a surrogate pair emitted`);
      out += piece;
    }
    out += stream.flush();
    assert.equal(out, text);
  }
  // A dangling partial character is U+FFFD at the end, like decode.
  const enc = getEncoding('cl100k_base');
  const ids = enc.encode('a😀');
  const stream = enc.streamDecoder();
  const partial = stream.push(ids.slice(0, -1));
  assert.equal(partial + stream.flush(), enc.decode(ids.slice(0, -1)));
});

test('offsets: each token spans the characters holding its bytes', () => {
  const enc = getEncoding('o200k_base');
  const text = "Hello, world! It's 2024.  Emoji 👍🏽 and 中文 <|endoftext|>";
  const { ids, tokens, offsets } = enc.encodeWithOffsets(text, { allowedSpecial: 'all' });
  assert.deepEqual(ids, enc.encode(text, { allowedSpecial: 'all' }));
  assert.equal(tokens.length, ids.length);
  let prevEnd = 0;
  for (const [k, [a, b]] of offsets.entries()) {
    assert.ok(a <= b && a >= 0 && b <= text.length);
    assert.ok(a >= prevEnd || a < prevEnd, 'monotone');
    const piece = enc.decode([ids[k]]);
    if (!piece.includes('\ufffd')) assert.equal(text.slice(a, b), piece);
    else assert.ok(text.slice(a, b).length > 0);
    prevEnd = b;
  }
  assert.equal(offsets[0][0], 0);
  assert.equal(offsets.at(-1)![1], text.length);
  assert.equal(tokens.at(-1), '<|endoftext|>');
});

test('merge rules (vocab + merges) give the same ids as tiktoken ranks, here and in HF tokenizers', async () => {
  const hf = require('tokenizers') as {
    Tokenizer: {
      fromFile(p: string): { encode(s: string, p: null, o: object): Promise<{ getIds(): number[] }> };
    };
  };
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-bpe-'));
  const text = mixedText(150_000, 31);
  const enc = getEncoding('gpt2');
  const vocab = enc.vocabBytes();
  const merges = recoverMerges(vocab);
  assert.equal(merges.length, 50000); // GPT-2's merges.txt has 50,000 rules
  const viaMerges = new BpeTokenizer({ vocab, merges, pattern: ENCODINGS.gpt2.pattern });
  const want = enc.encode(text);
  assert.deepEqual(viaMerges.encode(text), want);
  const path = join(dir, 'gpt2.json');
  writeFileSync(
    path,
    JSON.stringify(
      toTokenizerJson({ vocab, merges, specialTokens: ENCODINGS.gpt2.specialTokens, pattern: 'gpt2' }),
    ),
  );
  const got = await hf.Tokenizer.fromFile(path).encode(text, null, { addSpecialTokens: false });
  assert.deepEqual(got.getIds(), want);
});

test('a pattern without a hand-written scanner runs through the RegExp', () => {
  const enc = getEncoding('cl100k_base');
  const words = new BpeTokenizer({ vocab: enc.vocabBytes(), pattern: '\\S+|\\s+' });
  const text = 'two  words\nand more';
  assert.deepEqual(words.split(text), ['two', '  ', 'words', '\n', 'and', ' ', 'more']);
  assert.equal(words.decode(words.encode(text)), text);
  assert.throws(() => new BpeTokenizer({ vocab: [], pattern: /x/g }), /g and u flags/);
});
