// The hand-written scanners against the regexes they replace (fuzzed on an alphabet of the
// characters where the patterns' alternatives compete), and the reference -> JavaScript pattern
// translation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CL100K_PAT_STR,
  CL100K_PATTERN,
  compileSplitPattern,
  GPT2_PAT_STR,
  GPT2_PATTERN,
  O200K_PAT_STR,
  O200K_PATTERN,
  translatePattern,
} from '../../src/tokenizers/patterns.ts';
import { type Scanner, scanCl100k, scanGpt2, scannerFor, scanO200k } from '../../src/tokenizers/splitters.ts';
import { mixedText, rng } from './corpus.ts';

const CASES: [string, Scanner, string, string][] = [
  ['gpt2', scanGpt2, GPT2_PATTERN, GPT2_PAT_STR],
  ['cl100k_base', scanCl100k, CL100K_PATTERN, CL100K_PAT_STR],
  ['o200k_base', scanO200k, O200K_PATTERN, O200K_PAT_STR],
];

// Letters of each case class (Lu Ll Lt Lm Lo), marks, numbers (Nd No Nl), whitespace of every kind,
// the contraction letters in both cases and the long s, apostrophes, '/', emoji, lone surrogates.
const ALPHABET = [
  'a',
  'b',
  's',
  't',
  'e',
  'r',
  'l',
  'v',
  'm',
  'd',
  'S',
  'T',
  'E',
  'L',
  'R',
  'M',
  'D',
  'ſ',
  'A',
  'Z',
  "'",
  "'",
  ' ',
  ' ',
  ' ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\u000b',
  '\u00a0',
  '\u0085',
  '\u3000',
  '\u2028',
  '\ufeff',
  '\u200b',
  '1',
  '2',
  '٣',
  '²',
  'Ⅻ',
  '!',
  '.',
  '/',
  '-',
  '"',
  '\u0301',
  '\u0902',
  '\u064b',
  'é',
  'É',
  'ǅ',
  'ʰ',
  '中',
  'あ',
  'ー',
  '한',
  'ب',
  'क',
  '😀',
  '👍🏽',
  '\u200d',
  '\ud800',
  '\udc00',
  '𝐀',
  '𝐚',
  '𝟏',
  'x',
  'ß',
  'İ',
];

function viaRegex(re: RegExp, s: string): string[] {
  re.lastIndex = 0;
  const out: string[] = [];
  for (let m = re.exec(s); m; m = re.exec(s)) out.push(m[0]);
  return out;
}

function viaScanner(scan: Scanner, s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    const e = scan(s, i, s.length);
    if (e <= i) assert.fail(`no progress at ${i} in ${JSON.stringify(s.slice(i, i + 20))}`);
    out.push(s.slice(i, e));
    i = e;
  }
  return out;
}

for (const [name, scan, pattern] of CASES) {
  test(`${name}: the scanner splits exactly like the regex (60,000 fuzzed strings and mixed text)`, () => {
    const re = new RegExp(pattern, 'gu');
    const r = rng(name.length * 7919);
    for (let t = 0; t < 60_000; t++) {
      const n = 1 + Math.floor(r() * 14);
      let s = '';
      for (let k = 0; k < n; k++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
      const want = viaRegex(re, s);
      const got = viaScanner(scan, s);
      if (JSON.stringify(want) !== JSON.stringify(got))
        assert.fail(
          `${name} ${JSON.stringify(s)}\n  regex:   ${JSON.stringify(want)}\n  scanner: ${JSON.stringify(got)}`,
        );
    }
    const text = mixedText(400_000, 5);
    assert.deepEqual(viaScanner(scan, text), viaRegex(re, text));
    // Within a bounded span (special tokens cut the text) the scanner never reads past the end.
    assert.equal(scan('abc def', 0, 3), 3);
    assert.equal(scan('  \n\n', 0, 1), 1);
  });
}

test('the regexes match the pieces the reference patterns define', () => {
  const gpt2 = new RegExp(GPT2_PATTERN, 'gu');
  assert.deepEqual("I'm here  now\n\nOK 123456 !!".match(gpt2), [
    'I',
    "'m",
    ' here',
    ' ',
    ' now',
    '\n',
    '\n',
    'OK',
    ' 123456',
    ' !!',
  ]);
  const cl = new RegExp(CL100K_PATTERN, 'gu');
  assert.deepEqual("I'M here  now\n\n  OK 123456 !!\n".match(cl), [
    'I',
    "'M",
    ' here',
    ' ',
    ' now',
    '\n\n',
    ' ',
    ' OK',
    ' ',
    '123',
    '456',
    ' !!\n',
  ]);
  const o2 = new RegExp(O200K_PATTERN, 'gu');
  assert.deepEqual("HTTPServer don't JSONData//\n".match(o2), ['HTTPServer', " don't", ' JSONData', '//\n']);
  // \s is White_Space: NEL is whitespace, the BOM is not.
  assert.deepEqual('a\u0085b'.match(gpt2), ['a', '\u0085', 'b']);
  assert.deepEqual('a\ufeffb'.match(gpt2), ['a', '\ufeff', 'b']);
});

test('translatePattern: reference syntax to JavaScript', () => {
  // The registry patterns translate to the hand-written forms (up to how \s is bracketed).
  for (const [name, , js, ref] of CASES) {
    const text = mixedText(100_000, 11);
    assert.deepEqual(viaRegex(compileSplitPattern(ref), text), viaRegex(new RegExp(js, 'gu'), text), name);
  }
  // Scoped case-insensitivity, with Unicode folding of s.
  const ci = compileSplitPattern("(?i:'s|'ll)");
  assert.deepEqual("'S 'ſ 'Ll 'x".match(ci), ["'S", "'ſ", "'Ll"]);
  assert.deepEqual('xSx'.match(compileSplitPattern('(?i:[s])')), ['S']);
  // Possessive quantifiers and atomic groups never give back.
  assert.equal('aaab'.match(compileSplitPattern('a++b'))?.[0], 'aaab');
  assert.equal('aaa'.match(compileSplitPattern('a++a')), null);
  assert.equal('xy'.match(compileSplitPattern('(?>x|xy)y'))?.[0], 'xy');
  assert.equal('xyy'.match(compileSplitPattern('(?>xy|x)y'))?.[0], 'xyy');
  assert.equal(' xy'.match(compileSplitPattern('(?>xy|x)y')), null);
  // \d is Unicode digits, \A and \z anchors.
  assert.deepEqual('a١2'.match(compileSplitPattern('\\d')), ['١', '2']);
  assert.equal(translatePattern('\\Aa\\z'), '^a$');
  assert.throws(() => translatePattern('(?i)abc'), /global inline flags/);
  assert.throws(() => translatePattern('\\p{Greek}+'), /no JavaScript equivalent/); // Oniguruma's script shorthand
});

test('scannerFor recognises both forms of each pattern and nothing else', () => {
  for (const [, scan, js, ref] of CASES) {
    assert.equal(scannerFor(js), scan);
    assert.equal(scannerFor(ref), scan);
  }
  assert.equal(scannerFor('\\S+|\\s+'), undefined);
});
