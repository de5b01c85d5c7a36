/**
 * Hand-written equivalents of the three split regexes of patterns.ts (GPT2, CL100K, O200K).
 *
 * Each `scan*(text, i, end)` returns where the piece starting at text[i] ends: the same piece the
 * regex (with JavaScript's and the reference's leftmost-first backtracking) would match there. They
 * read char codes and a per-code-point category table, allocate nothing, and make BPE encoding
 * several times faster than `RegExp.exec` (which must create a string and a match array per piece).
 * test/tokenizers/splitters.test.ts checks them against the regexes on fuzzed text.
 *
 * Categories come from the same `\p{..}` classes the regexes use, evaluated by V8 once per block of
 * code points, so the two can never disagree on what a letter is.
 */

import {
  CL100K_PAT_STR,
  CL100K_PATTERN,
  GPT2_PAT_STR,
  GPT2_PATTERN,
  O200K_PAT_STR,
  O200K_PATTERN,
} from './patterns.ts';

const L = 1; // \p{L}
const N = 2; // \p{N}
const WS = 4; // \p{White_Space}
const M = 8; // \p{M}
const LOWERISH = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]  (o200k)
const UPPERISH = 32; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]  (o200k)
const CRLF = 64; // \r or \n
const WIDE = 128; // a surrogate pair: two UTF-16 units

const CLASSES: [RegExp, number][] = [
  [/\p{L}+/gu, L],
  [/\p{N}+/gu, N],
  [/\p{White_Space}+/gu, WS],
  [/\p{M}+/gu, M],
  [/[\p{Ll}\p{Lm}\p{Lo}\p{M}]+/gu, LOWERISH],
  [/[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+/gu, UPPERISH],
];

/** Categories of U+0000..U+FFFF (surrogates: 0, "other", like U+FFFD). */
const BMP = new Uint8Array(0x10000);
/** Categories of U+10000..U+10FFFF, filled lazily per block of 4096 code points. */
const ASTRAL = new Uint8Array(0x100000);
const astralDone = new Uint8Array(0x100000 >> 12);

function fill(table: Uint8Array, offset: number, first: number, count: number): void {
  let s = '';
  const chars: string[] = [];
  for (let k = 0; k < count; k++) {
    const cp = first + k;
    chars.push(cp >= 0xd800 && cp < 0xe000 ? '\0' : String.fromCodePoint(cp));
  }
  s = chars.join('');
  const wide = first >= 0x10000 ? 2 : 1;
  for (const [re, bit] of CLASSES) {
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const a = m.index / wide;
      const b = a + m[0].length / wide;
      for (let k = a; k < b; k++) table[offset + k] |= bit;
    }
  }
}

fill(BMP, 0, 0, 0x10000);
BMP[0] = 0;
BMP[13] |= CRLF;
BMP[10] |= CRLF;

function astral(cp: number): number {
  const k = cp - 0x10000;
  const block = k >> 12;
  if (astralDone[block] === 0) {
    fill(ASTRAL, block << 12, 0x10000 + (block << 12), 4096);
    astralDone[block] = 1;
  }
  return ASTRAL[k] | WIDE;
}

/** Category bits of the code point at text[i] (i < end), with WIDE if it takes two units. */
function cat(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  if ((c & 0xf800) !== 0xd800) return BMP[c];
  if (c < 0xdc00 && i + 1 < end) {
    const d = text.charCodeAt(i + 1);
    if ((d & 0xfc00) === 0xdc00) return astral(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
  }
  return 0; // lone surrogate: "other"
}

/** End of the run of code points from i that all have one of `bits`. */
function run(text: string, i: number, end: number, bits: number): number {
  while (i < end) {
    const k = cat(text, i, end);
    if ((k & bits) === 0) break;
    i += k & WIDE ? 2 : 1;
  }
  return i;
}

/** A code point that is neither whitespace, letter nor number: `[^\s\p{L}\p{N}]`. */
function isOther(k: number): boolean {
  return (k & (L | N | WS)) === 0;
}

/**
 * `\s*[\r\n]+|\s+(?!\S)|\s+` at a whitespace character: up to and including the last line break of
 * the whitespace run (only with `breaks`: GPT-2 lacks that alternative); else the run less its last
 * character when a non-space follows (that character joins the next piece); else the whole run.
 */
function whitespace(text: string, i: number, end: number, breaks: boolean): number {
  let lastBreak = -1;
  let j = i;
  let last = i;
  while (j < end) {
    const k = cat(text, j, end);
    if ((k & WS) === 0) break;
    if (k & CRLF) lastBreak = j;
    last = j;
    j += k & WIDE ? 2 : 1;
  }
  if (breaks && lastBreak >= 0) return lastBreak + 1;
  if (j === end || last === i) return j;
  return last;
}

/** GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` */
export function scanGpt2(text: string, i: number, end: number): number {
  const c0 = text.charCodeAt(i);
  if (c0 === 0x27 && i + 1 < end) {
    const c1 = text.charCodeAt(i + 1);
    if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) return i + 2; // s t m d
    if (i + 2 < end) {
      const c2 = text.charCodeAt(i + 2);
      if ((c1 === 0x72 || c1 === 0x76) && c2 === 0x65) return i + 3; // re ve
      if (c1 === 0x6c && c2 === 0x6c) return i + 3; // ll
    }
  }
  let j = i;
  if (c0 === 0x20 && i + 1 < end) j = i + 1;
  let k = cat(text, j, end);
  if (j > i && (k & WS) !== 0) {
    j = i; // " " then whitespace: the space belongs to the whitespace run
    k = cat(text, i, end);
  }
  if (k & L) return run(text, j, end, L);
  if (k & N) return run(text, j, end, N);
  if (isOther(k)) {
    let e = j;
    while (e < end) {
      const q = cat(text, e, end);
      if (!isOther(q)) break;
      e += q & WIDE ? 2 : 1;
    }
    return e;
  }
  return whitespace(text, i, end, false);
}

/** `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at i: its end, or -1. */
function contraction(text: string, i: number, end: number): number {
  if (i + 1 >= end || text.charCodeAt(i) !== 0x27) return -1;
  const c1 = text.charCodeAt(i + 1) | 0x20;
  if (c1 === 0x73 || text.charCodeAt(i + 1) === 0x17f) return i + 2; // s S ſ
  if (c1 === 0x74 || c1 === 0x6d || c1 === 0x64) return i + 2; // t m d
  if (i + 2 < end) {
    const c2 = text.charCodeAt(i + 2) | 0x20;
    if ((c1 === 0x72 || c1 === 0x76) && c2 === 0x65) return i + 3; // re ve
    if (c1 === 0x6c && c2 === 0x6c) return i + 3; // ll
  }
  return -1;
}

/** cl100k: `(?i:'s|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` */
export function scanCl100k(text: string, i: number, end: number): number {
  const e0 = contraction(text, i, end);
  if (e0 >= 0) return e0;
  const k0 = cat(text, i, end);
  const w0 = k0 & WIDE ? 2 : 1;
  if (k0 & L) return run(text, i, end, L);
  if ((k0 & (N | CRLF)) === 0 && i + w0 < end && cat(text, i + w0, end) & L) return run(text, i + w0, end, L);
  if (k0 & N) {
    let e = i;
    for (let n = 0; n < 3 && e < end; n++) {
      const q = cat(text, e, end);
      if ((q & N) === 0) break;
      e += q & WIDE ? 2 : 1;
    }
    return e;
  }
  let j = i;
  if (text.charCodeAt(i) === 0x20 && i + 1 < end && isOther(cat(text, i + 1, end))) j = i + 1;
  if (j > i || isOther(k0)) {
    let e = j;
    while (e < end) {
      const q = cat(text, e, end);
      if (!isOther(q)) break;
      e += q & WIDE ? 2 : 1;
    }
    while (e < end && (text.charCodeAt(e) === 10 || text.charCodeAt(e) === 13)) e++;
    return e;
  }
  return whitespace(text, i, end, true);
}

/**
 * o200k's `[^\r\n\p{L}\p{N}]?U*W+` at s (U, W the upper- and lower-ish classes): U* takes the
 * whole U run, then gives back characters until W+ can match; so W+ starts at the first non-U
 * character if it is W, else at the last W character inside the run. Returns the end or -1.
 */
function upperThenLower(text: string, s: number, end: number): number {
  let u = s;
  let lastW = -1;
  let k = 0;
  while (u < end) {
    k = cat(text, u, end);
    if ((k & UPPERISH) === 0) break;
    if (k & LOWERISH) lastW = u;
    u += k & WIDE ? 2 : 1;
  }
  if (u < end && k & LOWERISH) return run(text, u, end, LOWERISH);
  if (lastW < 0) return -1;
  return lastW + (cat(text, lastW, end) & WIDE ? 2 : 1);
}

/** o200k's `U+W*` at s: the U run, then the W run after it. Returns the end or -1. */
function upperRun(text: string, s: number, end: number): number {
  if (s >= end || (cat(text, s, end) & UPPERISH) === 0) return -1;
  return run(text, run(text, s, end, UPPERISH), end, LOWERISH);
}

/**
 * o200k: `P?U*W+C?|P?U+W*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` with
 * P = `[^\r\n\p{L}\p{N}]`, U = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, W = `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`,
 * C = the contractions. The engine tries, in order: the first alternative with P then without,
 * the second with P then without (without P can only differ when text[i] is a mark, in both U and W).
 */
export function scanO200k(text: string, i: number, end: number): number {
  const k0 = cat(text, i, end);
  const w0 = k0 & WIDE ? 2 : 1;
  if (k0 & (UPPERISH | LOWERISH | L) || (k0 & (N | CRLF)) === 0) {
    const prefix = (k0 & (L | N | CRLF)) === 0;
    const letterish = (k0 & (UPPERISH | LOWERISH)) !== 0;
    let e = -1;
    if (prefix) e = upperThenLower(text, i + w0, end);
    if (e < 0 && letterish) e = upperThenLower(text, i, end);
    if (e < 0 && prefix) e = upperRun(text, i + w0, end);
    if (e < 0 && letterish) e = upperRun(text, i, end);
    if (e >= 0) {
      const c = contraction(text, e, end);
      return c >= 0 ? c : e;
    }
  }
  if (k0 & N) {
    let e = i;
    for (let n = 0; n < 3 && e < end; n++) {
      const q = cat(text, e, end);
      if ((q & N) === 0) break;
      e += q & WIDE ? 2 : 1;
    }
    return e;
  }
  let j = i;
  if (text.charCodeAt(i) === 0x20 && i + 1 < end && isOther(cat(text, i + 1, end))) j = i + 1;
  if (j > i || isOther(k0)) {
    let e = j;
    while (e < end) {
      const q = cat(text, e, end);
      if (!isOther(q)) break;
      e += q & WIDE ? 2 : 1;
    }
    while (e < end) {
      const c = text.charCodeAt(e);
      if (c !== 10 && c !== 13 && c !== 0x2f) break;
      e++;
    }
    return e;
  }
  return whitespace(text, i, end, true);
}

/** A scanner: the end of the piece that starts at text[i], i < end. */
export type Scanner = (text: string, i: number, end: number) => number;

/**
 * The scanner equivalent to a split pattern, if there is one: the JavaScript forms of patterns.ts
 * and the reference forms (as in tiktoken files and tokenizer.json, e.g. Llama 3 uses cl100k's).
 */
export function scannerFor(source: string): Scanner | undefined {
  switch (source) {
    case GPT2_PATTERN:
    case GPT2_PAT_STR:
      return scanGpt2;
    case CL100K_PATTERN:
    case CL100K_PAT_STR:
      return scanCl100k;
    case O200K_PATTERN:
    case O200K_PAT_STR:
      return scanO200k;
    default:
      return undefined;
  }
}
