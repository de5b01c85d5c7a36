// Exact ids against `tiktoken` (npm, the WASM build of OpenAI's Rust tokenizer) for gpt2,
// cl100k_base and o200k_base on 5+ MB of generated mixed text, compared in chunks; and the shipped
// rank files against the tables the installed packages carry.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  ENCODINGS,
  type EncodingName,
  getEncoding,
  parseTiktokenRanks,
} from '../../src/tokenizers/tiktoken.ts';
import { mixedText } from './corpus.ts';

const require = createRequire(import.meta.url);
interface Tiktoken {
  encode_ordinary(text: string): Uint32Array;
  encode(text: string, allowed?: string[] | 'all', disallowed?: string[] | 'all'): Uint32Array;
  free(): void;
}
const { get_encoding } = require('tiktoken') as { get_encoding(name: string): Tiktoken };

const NAMES: EncodingName[] = ['gpt2', 'cl100k_base', 'o200k_base'];
const CHUNK = 64 * 1024;

/** About 5.3 MB of UTF-8 (4.8 M UTF-16 units of mixed scripts). */
const TEXT = mixedText(4_800_000, 20240601);

/** Chunk boundaries that never cut a surrogate pair. */
function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + CHUNK);
    if (end < text.length && (text.charCodeAt(end) & 0xfc00) === 0xdc00) end++;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

test('the mixed test text is at least 5 MB and has every kind of content', () => {
  const bytes = Buffer.byteLength(TEXT);
  assert.ok(bytes >= 5_000_000, `only ${bytes} bytes`);
  for (const re of [/\p{Script=Han}/u, /\p{Script=Arabic}/u, /\p{Script=Devanagari}/u, /\p{Script=Hangul}/u])
    assert.match(TEXT, re);
  for (const s of ['\u200d', '\u{1f3fd}', '\t\t', '    ', '\r\n', '\u0085', '\ufeff', '\u00a0', "'S", 'ſ'])
    assert.ok(TEXT.includes(s), `missing ${JSON.stringify(s)}`);
  assert.match(TEXT, /\d{20}/);
});

for (const name of NAMES) {
  test(`${name}: exact ids against tiktoken on ${(Buffer.byteLength(TEXT) / 1e6).toFixed(1)} MB of mixed text`, () => {
    const ours = getEncoding(name);
    const ref = get_encoding(name);
    try {
      const parts = chunks(TEXT);
      let total = 0;
      for (const [k, part] of parts.entries()) {
        const want = ref.encode_ordinary(part);
        const got = ours.encode(part);
        const at = firstDifference(got, want);
        if (at >= 0) {
          const ctx = (ids: ArrayLike<number>) => Array.from(ids).slice(Math.max(0, at - 4), at + 6);
          const text = ours.decode(Array.from(want).slice(Math.max(0, at - 8), at + 8));
          assert.fail(
            `${name}: chunk ${k} (chars ${k * CHUNK}..) differs at token ${at}\n` +
              `  text around: ${JSON.stringify(text)}\n  tiktoken: ${ctx(want)}\n  xfmr:     ${ctx(got)}`,
          );
        }
        total += got.length;
      }
      assert.ok(total > 1_000_000);
    } finally {
      ref.free();
    }
  });
}

test('special tokens: ids match tiktoken when allowed, plain text otherwise', () => {
  for (const name of NAMES) {
    const ours = getEncoding(name);
    const ref = get_encoding(name);
    try {
      const specials = Object.keys(ENCODINGS[name].specialTokens);
      const text = `a${specials.join(' x ')}b <|endoftext|><|endoftext|> <|endoftext|\n`;
      assert.deepEqual(ours.encode(text, { allowedSpecial: 'all' }), Array.from(ref.encode(text, 'all')));
      assert.deepEqual(ours.encode(text), Array.from(ref.encode_ordinary(text)));
      assert.deepEqual(
        ours.encode(text, { allowedSpecial: new Set(['<|endoftext|>']) }),
        Array.from(ref.encode(text, ['<|endoftext|>'], [])),
      );
    } finally {
      ref.free();
    }
  }
});

test('long pieces (the heap merge path) match tiktoken', () => {
  const ref = get_encoding('cl100k_base');
  try {
    const ours = getEncoding('cl100k_base');
    const long = [
      'a'.repeat(3000),
      'ab'.repeat(1500),
      ' '.repeat(5000),
      'x\n'.repeat(10),
      'Donaudampfschifffahrtsgesellschaftskapitän'.repeat(40),
      '\u4e00\u4e8c\u4e09\u56db'.repeat(300),
    ];
    for (const s of long)
      assert.deepEqual(ours.encode(s), Array.from(ref.encode_ordinary(s)), s.slice(0, 20));
  } finally {
    ref.free();
  }
});

test('shipped rank files equal the installed packages (tiktoken, gpt-tokenizer)', () => {
  for (const name of NAMES) {
    const shipped = parseTiktokenRanks(
      readFileSync(new URL(`../../src/tokenizers/data/${ENCODINGS[name].file}`, import.meta.url)),
    );
    // tiktoken stores "! <first rank> <base64> <base64> ..." groups.
    const json = JSON.parse(readFileSync(require.resolve(`tiktoken/encoders/${name}.json`), 'utf8')) as {
      bpe_ranks: string;
      special_tokens: Record<string, number>;
    };
    const lines: string[] = [];
    for (const group of json.bpe_ranks.split('\n').filter(Boolean)) {
      const [, first, ...toks] = group.split(' ');
      for (const [k, t] of toks.entries()) lines.push(`${t} ${Number(first) + k}`);
    }
    const fromPackage = parseTiktokenRanks(lines.join('\n'));
    assert.equal(shipped.length, fromPackage.length, name);
    for (let r = 0; r < shipped.length; r++) {
      const a = shipped[r];
      const b = fromPackage[r];
      if (!a || !b || !Buffer.from(a).equals(b)) assert.fail(`${name} rank ${r}: ${a} != ${b}`);
    }
    assert.deepEqual(json.special_tokens, ENCODINGS[name].specialTokens);
    // gpt-tokenizer ships the plain .tiktoken files (r50k_base is gpt2's table).
    const gt = name === 'gpt2' ? 'r50k_base' : name;
    const plain = readFileSync(require.resolve(`gpt-tokenizer/data/${gt}.tiktoken`));
    assert.ok(
      gunzipSync(
        readFileSync(new URL(`../../src/tokenizers/data/${ENCODINGS[name].file}`, import.meta.url)),
      ).equals(plain),
    );
  }
});

test('parseTiktokenRanks names the bad line', () => {
  assert.throws(() => parseTiktokenRanks('IQ== 0\nIg==\n'), /line 2/);
  assert.throws(() => parseTiktokenRanks('IQ== 0\n!!! 1\n'), /line 2: bad base64/);
  assert.deepEqual(parseTiktokenRanks('IQ== 0\nIHRoZQ== 1\n'), [
    Uint8Array.of(0x21),
    new TextEncoder().encode(' the'),
  ]);
});
