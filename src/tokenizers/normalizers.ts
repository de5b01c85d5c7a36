/**
 * Normalizers of the Hugging Face `tokenizer.json` pipeline: text -> text before pre-tokenization,
 * keeping each character's original span (see normalized_string.ts). One class per `type`, each
 * with `toJSON` writing back what it read.
 *
 *   NFC / NFD / NFKC / NFKD   Unicode normalization forms
 *   Lowercase                  per-character full lowercase mapping ("İ" -> "i̇"), no context
 *                              (so "Σ" is always "σ", as in Rust's char::to_lowercase)
 *   StripAccents               removes combining marks (use after NFD)
 *   Strip                      removes leading / trailing whitespace
 *   Replace                    String or Regex pattern -> content
 *   Prepend                    prefix (not added to an empty string)
 *   BertNormalizer             clean text, space around CJK, strip accents, lowercase
 *   Nmt                        SentencePiece's nmt control-character cleanup
 *   Precompiled                SentencePiece charsmap (precompiled.ts)
 *   ByteLevel                  the GPT-2 byte -> character mapping, as a normalizer
 *   Sequence                   in order
 */

import { BYTE_TO_CHAR } from './byte_level.ts';
import {
  asPattern,
  asString,
  fail,
  isObject,
  type JsonObject,
  type JsonValue,
  optBool,
  type PatternJson,
  sequenceOf,
  typeOf,
} from './json_fields.ts';
import { literalRegExp, type NormalizedString } from './normalized_string.ts';
import { compileSplitPattern } from './patterns.ts';
import { Precompiled } from './precompiled.ts';

export interface Normalizer {
  normalize(s: NormalizedString): NormalizedString;
  toJSON(): JsonObject;
}

const NORMALIZER_TYPES = [
  'BertNormalizer',
  'Strip',
  'StripAccents',
  'NFC',
  'NFD',
  'NFKC',
  'NFKD',
  'Sequence',
  'Lowercase',
  'Nmt',
  'Precompiled',
  'Replace',
  'Prepend',
  'ByteLevel',
] as const;

export class UnicodeNormalizer implements Normalizer {
  constructor(readonly form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD') {}
  normalize(s: NormalizedString): NormalizedString {
    return s.normalize(this.form);
  }
  toJSON(): JsonObject {
    return { type: this.form };
  }
}

/** Rust's `char::to_lowercase` for one character. */
export function lowercaseChar(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c < 0x80) return c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : ch;
  return ch.toLowerCase();
}

export class Lowercase implements Normalizer {
  normalize(s: NormalizedString): NormalizedString {
    return /[^a-z0-9\s.,]/.test(s.text) ? s.mapChars(lowercaseChar) : s;
  }
  toJSON(): JsonObject {
    return { type: 'Lowercase' };
  }
}

const MARK = /^\p{M}$/u;
export const isCombiningMark = (ch: string): boolean => ch.charCodeAt(0) >= 0x300 && MARK.test(ch);
const NONSPACING = /^\p{Mn}$/u;
const isNonspacingMark = (ch: string): boolean => ch.charCodeAt(0) >= 0x300 && NONSPACING.test(ch);

export class StripAccents implements Normalizer {
  normalize(s: NormalizedString): NormalizedString {
    return s.filter((ch) => !isCombiningMark(ch));
  }
  toJSON(): JsonObject {
    return { type: 'StripAccents' };
  }
}

export class Strip implements Normalizer {
  constructor(
    readonly left: boolean,
    readonly right: boolean,
  ) {}
  normalize(s: NormalizedString): NormalizedString {
    return s.strip(this.left, this.right);
  }
  toJSON(): JsonObject {
    return { type: 'Strip', strip_left: this.left, strip_right: this.right };
  }
}

/** A String or Regex pattern of tokenizer.json compiled to a global JavaScript regex. */
export function compilePattern(p: PatternJson, path: string): RegExp {
  if ('String' in p) return literalRegExp(p.String);
  try {
    return compileSplitPattern(p.Regex);
  } catch (e) {
    fail(`${path}.Regex`, `cannot be compiled: ${(e as Error).message}`);
  }
}

export class Replace implements Normalizer {
  private readonly re: RegExp;
  constructor(
    readonly pattern: PatternJson,
    readonly content: string,
    path = 'normalizer',
  ) {
    this.re = compilePattern(pattern, `${path}.pattern`);
  }
  normalize(s: NormalizedString): NormalizedString {
    if ('String' in this.pattern && !s.text.includes(this.pattern.String)) return s;
    return s.replace(this.re, this.content);
  }
  toJSON(): JsonObject {
    return { type: 'Replace', pattern: this.pattern, content: this.content };
  }
}

export class Prepend implements Normalizer {
  constructor(readonly prepend: string) {}
  normalize(s: NormalizedString): NormalizedString {
    return s.prepend(this.prepend);
  }
  toJSON(): JsonObject {
    return { type: 'Prepend', prepend: this.prepend };
  }
}

const CONTROL = /^[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}]$/u;
const WHITESPACE = /^\p{White_Space}$/u;

/** BERT's "other" characters (HF `is_control`): categories C*, except tab, newline, carriage return. */
function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL.test(ch);
}

/** The CJK Unified Ideograph blocks BERT puts spaces around. */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * BERT's text cleanup, as HF's BertNormalizer: drop NUL, U+FFFD and control characters, map
 * whitespace to " ", put spaces around CJK ideographs, strip accents (default: when lowercasing),
 * lowercase. Limit: "control" uses Node's Unicode tables for unassigned code points (Cn); HF's
 * table is older, so characters assigned in recent Unicode versions (new emoji) can be kept here
 * and dropped by HF.
 */
export class BertNormalizer implements Normalizer {
  constructor(
    readonly cleanText = true,
    readonly handleChineseChars = true,
    readonly stripAccents: boolean | null = null,
    readonly lowercase = true,
  ) {}
  normalize(s: NormalizedString): NormalizedString {
    if (this.cleanText) {
      s = s.mapChars((ch) => {
        const c = ch.charCodeAt(0);
        if (c >= 0x20 && c < 0x7f) return ch;
        if (c === 0 || c === 0xfffd || isControl(ch)) return '';
        if (ch === '\t' || ch === '\n' || ch === '\r' || WHITESPACE.test(ch)) return ' ';
        return ch;
      });
    }
    if (this.handleChineseChars) {
      s = s.mapChars((ch) => (isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch));
    }
    if (this.stripAccents ?? this.lowercase) {
      s = s.normalize('NFD').filter((ch) => !isNonspacingMark(ch)); // Mn only, as HF's BERT
    }
    if (this.lowercase) s = s.mapChars(lowercaseChar);
    return s;
  }
  toJSON(): JsonObject {
    return {
      type: 'BertNormalizer',
      clean_text: this.cleanText,
      handle_chinese_chars: this.handleChineseChars,
      strip_accents: this.stripAccents,
      lowercase: this.lowercase,
    };
  }
}

/** SentencePiece's `nmt` rule: drop some control characters, map others (and U+2581) to " ". */
export class Nmt implements Normalizer {
  normalize(s: NormalizedString): NormalizedString {
    return s.mapChars((ch) => {
      const c = ch.codePointAt(0)!;
      if (
        (c >= 1 && c <= 8) ||
        c === 0x0b ||
        (c >= 0x0e && c <= 0x1f) ||
        c === 0x7f ||
        c === 0x8f ||
        c === 0x9f
      ) {
        return '';
      }
      if (
        c === 9 ||
        c === 10 ||
        c === 12 ||
        c === 13 ||
        c === 0x1680 ||
        (c >= 0x200b && c <= 0x200f) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x2581 ||
        c === 0xfeff ||
        c === 0xfffd
      ) {
        return ' ';
      }
      return ch;
    });
  }
  toJSON(): JsonObject {
    return { type: 'Nmt' };
  }
}

/** Each character replaced by the byte-level characters of its UTF-8 bytes. */
export class ByteLevelNormalizer implements Normalizer {
  normalize(s: NormalizedString): NormalizedString {
    return s.mapChars(byteLevelChars);
  }
  toJSON(): JsonObject {
    return { type: 'ByteLevel' };
  }
}

const utf8 = new TextEncoder();
/** "é" -> "Ã©": the byte-level characters of one character's UTF-8 bytes. */
export function byteLevelChars(ch: string): string {
  const c = ch.charCodeAt(0);
  if (ch.length === 1 && c < 0x80) return BYTE_TO_CHAR[c];
  let out = '';
  for (const b of utf8.encode(ch)) out += BYTE_TO_CHAR[b];
  return out;
}

export class NormalizerSequence implements Normalizer {
  constructor(readonly normalizers: Normalizer[]) {}
  normalize(s: NormalizedString): NormalizedString {
    for (const n of this.normalizers) s = n.normalize(s);
    return s;
  }
  toJSON(): JsonObject {
    return { type: 'Sequence', normalizers: this.normalizers.map((n) => n.toJSON()) };
  }
}

class PrecompiledNormalizer implements Normalizer {
  constructor(readonly inner: Precompiled) {}
  normalize(s: NormalizedString): NormalizedString {
    return this.inner.normalize(s);
  }
  toJSON(): JsonObject {
    return this.inner.toJSON();
  }
}

function optBoolOrNull(o: JsonObject, key: string, path: string): boolean | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  return optBool(o, key, path, false);
}

/** The normalizer described by `v` (null: none). */
export function normalizerFromJSON(v: JsonValue | undefined, path = 'normalizer'): Normalizer | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) fail(path, 'must be an object or null');
  const type = typeOf(v, path, 'normalizer', NORMALIZER_TYPES);
  switch (type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return new UnicodeNormalizer(type);
    case 'Lowercase':
      return new Lowercase();
    case 'StripAccents':
      return new StripAccents();
    case 'Strip':
      return new Strip(optBool(v, 'strip_left', path, true), optBool(v, 'strip_right', path, true));
    case 'Replace':
      return new Replace(
        asPattern(v.pattern, `${path}.pattern`),
        asString(v.content, `${path}.content`),
        path,
      );
    case 'Prepend':
      return new Prepend(asString(v.prepend, `${path}.prepend`));
    case 'BertNormalizer':
      return new BertNormalizer(
        optBool(v, 'clean_text', path, true),
        optBool(v, 'handle_chinese_chars', path, true),
        optBoolOrNull(v, 'strip_accents', path),
        optBool(v, 'lowercase', path, true),
      );
    case 'Nmt':
      return new Nmt();
    case 'Precompiled':
      return new PrecompiledNormalizer(Precompiled.fromJSON(v, path));
    case 'ByteLevel':
      return new ByteLevelNormalizer();
    case 'Sequence': {
      return new NormalizerSequence(sequenceOf(v, 'normalizers', path, normalizerFromJSON));
    }
  }
  fail(`${path}.type`, `names an unknown normalizer "${type}"`);
}
