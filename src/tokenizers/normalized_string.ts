/**
 * A string being normalized and pre-tokenized, with the span of the ORIGINAL text that each of its
 * characters came from, as in Hugging Face tokenizers' `NormalizedString`. This is what makes
 * offsets work: after "Héllo" is lowercased, NFD-decomposed and byte-level mapped, each character
 * still knows it came from, say, original [1, 2).
 *
 * Representation: `text`, and per UTF-16 code unit of `text` the original span [starts[i], ends[i])
 * in UTF-16 code units of the input. The two units of an astral character always share one span,
 * and every operation assigns spans per character, following HF's rules:
 *
 *   - a character that replaces one character takes that character's span (lowercase, NFC of one
 *     character, the byte-level mapping of "é" to "Ã©": both output characters get é's span);
 *   - characters inserted by Replace take the span of the LAST character of the match (HF aligns
 *     inserted characters with the previous one), so Replace(" ", "▁") maps ▁ to the space;
 *   - Prepend("▁") gives ▁ the span of the first character, and does nothing to an empty string;
 *   - removed characters vanish (filter, Strip, StripAccents).
 *
 * A token's offsets are then [starts[first unit], ends[last unit]).
 */

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
export const SPLIT_BEHAVIORS: readonly SplitBehavior[] = [
  'Removed',
  'Isolated',
  'MergedWithPrevious',
  'MergedWithNext',
  'Contiguous',
];

/** A match of a split pattern: [start, end) in code units of the normalized text. */
export type Span = [number, number];

export class NormalizedString {
  constructor(
    public readonly text: string,
    public readonly starts: Int32Array,
    public readonly ends: Int32Array,
  ) {}

  /** The input text itself, each character aligned to its own span (shifted by `offset`). */
  static fromOriginal(text: string, offset = 0): NormalizedString {
    const n = text.length;
    const starts = new Int32Array(n);
    const ends = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        starts[i] = starts[i + 1] = offset + i;
        ends[i] = ends[i + 1] = offset + i + 2;
        i++;
      } else {
        starts[i] = offset + i;
        ends[i] = offset + i + 1;
      }
    }
    return new NormalizedString(text, starts, ends);
  }

  get length(): number {
    return this.text.length;
  }

  /** The original span of code units [a, b) of the normalized text. */
  originalSpan(a: number, b: number): [number, number] {
    if (a >= b) return a < this.text.length ? [this.starts[a], this.starts[a]] : [0, 0];
    return [this.starts[a], this.ends[b - 1]];
  }

  slice(a: number, b: number): NormalizedString {
    return new NormalizedString(this.text.slice(a, b), this.starts.slice(a, b), this.ends.slice(a, b));
  }

  /** Each character replaced by `f(ch)` (any length); output characters take its span. */
  mapChars(f: (ch: string) => string): NormalizedString {
    const b = new Builder(this.text.length);
    const t = this.text;
    for (let i = 0; i < t.length; ) {
      const w = charWidth(t, i);
      b.push(f(w === 1 ? t[i] : t.slice(i, i + 2)), this.starts[i], this.ends[i]);
      i += w;
    }
    return b.build();
  }

  /** Keeps the characters for which `keep(ch)` holds. */
  filter(keep: (ch: string) => boolean): NormalizedString {
    return this.mapChars((ch) => (keep(ch) ? ch : ''));
  }

  /** Replaces every match of `re` (a global regex) by `content`, aligned to the match's last character. */
  replace(re: RegExp, content: string): NormalizedString {
    const matches = findAll(re, this.text);
    if (matches.length === 0) return this;
    const b = new Builder(this.text.length);
    let prev = 0;
    for (const [s, e] of matches) {
      b.copy(this, prev, s);
      if (e > s) b.push(content, this.starts[e - 1], this.ends[e - 1]);
      prev = e;
    }
    b.copy(this, prev, this.text.length);
    return b.build();
  }

  /** `s` before the text, aligned to the first character; an empty string stays empty (as HF). */
  prepend(s: string): NormalizedString {
    if (this.text.length === 0 || s.length === 0) return this;
    const b = new Builder(this.text.length + s.length);
    b.push(s, this.starts[0], this.ends[0]);
    b.copy(this, 0, this.text.length);
    return b.build();
  }

  /** `s` after the text, aligned to the last character. */
  append(s: string): NormalizedString {
    const n = this.text.length;
    if (n === 0 || s.length === 0) return this;
    const b = new Builder(n + s.length);
    b.copy(this, 0, n);
    b.push(s, this.starts[n - 1], this.ends[n - 1]);
    return b.build();
  }

  /** Removes leading and/or trailing whitespace (Unicode White_Space). */
  strip(left: boolean, right: boolean): NormalizedString {
    let a = 0;
    let z = this.text.length;
    if (left) while (a < z && isWhitespaceUnit(this.text.charCodeAt(a))) a++;
    if (right) while (z > a && isWhitespaceUnit(this.text.charCodeAt(z - 1))) z--;
    return a === 0 && z === this.text.length ? this : this.slice(a, z);
  }

  /**
   * Unicode normalization (NFC/NFD/NFKC/NFKD) with alignments. The text is cut into pieces that
   * normalize independently (a character and the combining marks after it); a piece whose output has
   * as many characters as its input maps them one to one, otherwise every output character takes the
   * whole piece's span (e.g. NFKC "ﬁ" -> "fi": both take the span of "ﬁ").
   */
  normalize(form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): NormalizedString {
    const t = this.text;
    if (isAscii(t) || t.normalize(form) === t) return this;
    const b = new Builder(t.length + 8);
    CLUSTER.lastIndex = 0;
    const pieces: Span[] = [];
    for (let m = CLUSTER.exec(t); m !== null; m = CLUSTER.exec(t))
      pieces.push([m.index, m.index + m[0].length]);
    // Merge pieces whose boundary is not stable under normalization (e.g. Hangul jamo sequences).
    for (let k = 0; k < pieces.length; ) {
      let [s, e] = pieces[k++];
      while (k < pieces.length) {
        const [s2, e2] = pieces[k];
        const joined = t.slice(s, e2).normalize(form);
        if (joined === t.slice(s, e).normalize(form) + t.slice(s2, e2).normalize(form)) break;
        e = e2;
        k++;
      }
      const src = t.slice(s, e);
      const out = src.normalize(form);
      if (out === src) {
        b.copy(this, s, e);
        continue;
      }
      const inChars = Array.from(src);
      const outChars = Array.from(out);
      const inPos: number[] = [];
      for (let p = s; p < e; p += charWidth(t, p)) inPos.push(p);
      const emit = (ch: string, k: number) => b.push(ch, this.starts[inPos[k]], this.ends[inPos[k]]);
      if (inChars.length === outChars.length) {
        for (let k = 0; k < outChars.length; k++) emit(outChars[k], k);
        continue;
      }
      const per = inChars.map((c) => c.normalize(form));
      if (per.join('') === out) {
        // Each character normalizes alone (decomposition, compatibility expansion).
        per.forEach((o, k) => {
          if (o.length > 0) emit(o, k);
        });
      } else if (outChars.length < inChars.length) {
        // Composition ("e" + U+0301 -> "é"): HF aligns a composed character to the first character
        // it consumed, and what follows to the tail of the input.
        const shift = inChars.length - outChars.length;
        for (let k = 0; k < outChars.length; k++) emit(outChars[k], k === 0 ? 0 : k + shift);
      } else {
        b.push(out, this.starts[s], this.ends[e - 1]);
      }
    }
    return b.build();
  }

  /**
   * Splits at the matches of a pattern, HF's `NormalizedString::split`. `matches` are the pattern's
   * matches in order; `behavior` says what happens to them; empty pieces are dropped.
   *   Removed: "a b" on " " -> "a","b". Isolated: "a","␣","b". MergedWithPrevious: "a␣","b".
   *   MergedWithNext: "a","␣b". Contiguous: adjacent matches become one piece.
   */
  split(matches: readonly Span[], behavior: SplitBehavior, invert = false): NormalizedString[] {
    const n = this.text.length;
    // The tiling of the text into (span, isMatch).
    const tiles: [number, number, boolean][] = [];
    let prev = 0;
    for (const [s, e] of matches) {
      if (s > prev) tiles.push([prev, s, invert]);
      tiles.push([s, e, !invert]);
      prev = e;
    }
    if (prev < n || n === 0) tiles.push([prev, n, invert]);
    const out: [number, number][] = [];
    switch (behavior) {
      case 'Removed':
        for (const [s, e, m] of tiles) if (!m) out.push([s, e]);
        break;
      case 'Isolated':
        for (const [s, e] of tiles) out.push([s, e]);
        break;
      case 'MergedWithPrevious': {
        let previousMatch = false;
        for (const [s, e, m] of tiles) {
          if (m && !previousMatch && out.length > 0) out[out.length - 1][1] = e;
          else out.push([s, e]);
          previousMatch = m;
        }
        break;
      }
      case 'MergedWithNext': {
        let previousMatch = false;
        for (let k = tiles.length - 1; k >= 0; k--) {
          const [s, e, m] = tiles[k];
          if (m && !previousMatch && out.length > 0) out[out.length - 1][0] = s;
          else out.push([s, e]);
          previousMatch = m;
        }
        out.reverse();
        break;
      }
      case 'Contiguous': {
        let previousMatch = false;
        for (const [s, e, m] of tiles) {
          if (m === previousMatch && out.length > 0) out[out.length - 1][1] = e;
          else out.push([s, e]);
          previousMatch = m;
        }
        break;
      }
    }
    const pieces: NormalizedString[] = [];
    for (const [s, e] of out) if (e > s) pieces.push(s === 0 && e === n ? this : this.slice(s, e));
    return pieces;
  }
}

/** Builds a NormalizedString by appending text with spans. */
class Builder {
  private text = '';
  private starts: Int32Array;
  private ends: Int32Array;
  private n = 0;
  constructor(capacity: number) {
    this.starts = new Int32Array(Math.max(16, capacity));
    this.ends = new Int32Array(Math.max(16, capacity));
  }
  private reserve(k: number): void {
    if (this.n + k <= this.starts.length) return;
    const cap = Math.max(this.starts.length * 2, this.n + k);
    const s = new Int32Array(cap);
    s.set(this.starts.subarray(0, this.n));
    const e = new Int32Array(cap);
    e.set(this.ends.subarray(0, this.n));
    this.starts = s;
    this.ends = e;
  }
  push(s: string, start: number, end: number): void {
    this.reserve(s.length);
    this.starts.fill(start, this.n, this.n + s.length);
    this.ends.fill(end, this.n, this.n + s.length);
    this.text += s;
    this.n += s.length;
  }
  copy(src: NormalizedString, a: number, b: number): void {
    if (b <= a) return;
    this.reserve(b - a);
    this.starts.set(src.starts.subarray(a, b), this.n);
    this.ends.set(src.ends.subarray(a, b), this.n);
    this.text += src.text.slice(a, b);
    this.n += b - a;
  }
  build(): NormalizedString {
    return new NormalizedString(this.text, this.starts.slice(0, this.n), this.ends.slice(0, this.n));
  }
}

/** A character and the combining marks after it: the unit that Unicode normalization works on. */
const CLUSTER = /[^\p{M}][\p{M}]*|[\p{M}]+/gsu;

/** 2 if a surrogate pair starts at i, else 1. */
export function charWidth(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
}

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

const WS_RE = /^\p{White_Space}$/u;
/** Unicode White_Space (Rust's `char::is_whitespace`); all such characters are in the BMP. */
export function isWhitespaceUnit(c: number): boolean {
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
  if (c < 0x85) return false;
  return WS_RE.test(String.fromCharCode(c));
}

/** All matches of a global regex, as spans; an empty match advances one character (no infinite loop). */
export function findAll(re: RegExp, text: string): Span[] {
  const out: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const s = m.index;
    const e = s + m[0].length;
    if (e === s) {
      re.lastIndex = s + charWidth(text, s);
      if (s >= text.length) break;
      continue; // HF drops empty pieces anyway
    }
    out.push([s, e]);
  }
  return out;
}

/** Every character for which `pred` holds, as one match each (HF's `char -> bool` patterns). */
export function findChars(text: string, pred: (ch: string) => boolean): Span[] {
  const out: Span[] = [];
  for (let i = 0; i < text.length; ) {
    const w = charWidth(text, i);
    if (pred(w === 1 ? text[i] : text.slice(i, i + 2))) out.push([i, i + w]);
    i += w;
  }
  return out;
}

/** All occurrences of a literal string, left to right, not overlapping. */
export function findLiteral(text: string, needle: string): Span[] {
  const out: Span[] = [];
  if (needle.length === 0) return out;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) {
    out.push([i, i + needle.length]);
  }
  return out;
}

/** A global regex matching `s` literally. */
export function literalRegExp(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'gu');
}
