/**
 * Pre-tokenizers of the Hugging Face `tokenizer.json` pipeline: each normalized piece is cut into
 * "words" that the model tokenizes independently. Pieces keep their original spans, so offsets
 * survive. One class per `type`:
 *
 *   ByteLevel        GPT-2 regex split (use_regex), optional prefix space, bytes -> characters
 *   Split            String or Regex pattern, a split behavior, optional invert
 *   Metaspace        " " -> "▁", prepend "▁" (always / first / never), split before each "▁"
 *   Whitespace       keeps `\w+` and `[^\w\s]+` runs
 *   WhitespaceSplit  splits on whitespace
 *   BertPreTokenizer whitespace, then each punctuation character on its own
 *   Punctuation      punctuation characters with a behavior
 *   Digits           digits, each alone or in runs
 *   CharDelimiterSplit, Sequence
 *
 * Regex patterns are Oniguruma syntax in the file; patterns.ts translates them to JavaScript.
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
  optString,
  type PatternJson,
  sequenceOf,
  typeOf,
} from './json_fields.ts';
import {
  findAll,
  findChars,
  findLiteral,
  type NormalizedString,
  SPLIT_BEHAVIORS,
  type SplitBehavior,
} from './normalized_string.ts';
import { byteLevelChars, compilePattern } from './normalizers.ts';
import { GPT2_PATTERN, splitRegExp } from './patterns.ts';

export interface PreTokenizer {
  /** One piece in, its words out (empty words are dropped). */
  split(piece: NormalizedString): NormalizedString[];
  toJSON(): JsonObject;
}

const PRE_TOKENIZER_TYPES = [
  'ByteLevel',
  'Split',
  'Metaspace',
  'Whitespace',
  'WhitespaceSplit',
  'BertPreTokenizer',
  'Punctuation',
  'Digits',
  'CharDelimiterSplit',
  'Sequence',
] as const;

/** The GPT-2 bytes of a word as byte-level characters; each character's bytes keep its span. */
function toByteLevel(s: NormalizedString): NormalizedString {
  const t = s.text;
  let ascii = true;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 0x80 || BYTE_TO_CHAR[c] !== t[i]) {
      ascii = false;
      break;
    }
  }
  return ascii ? s : s.mapChars(byteLevelChars);
}

export class ByteLevelPreTokenizer implements PreTokenizer {
  private readonly re = splitRegExp(GPT2_PATTERN);
  constructor(
    readonly addPrefixSpace = true,
    readonly trimOffsets = true,
    readonly useRegex = true,
  ) {}
  split(piece: NormalizedString): NormalizedString[] {
    if (this.addPrefixSpace && !piece.text.startsWith(' ')) piece = piece.prepend(' ');
    const words = this.useRegex ? piece.split(findAll(this.re, piece.text), 'Isolated') : [piece];
    return words.map(toByteLevel);
  }
  toJSON(): JsonObject {
    return {
      type: 'ByteLevel',
      add_prefix_space: this.addPrefixSpace,
      trim_offsets: this.trimOffsets,
      use_regex: this.useRegex,
    };
  }
}

function asBehavior(v: unknown, path: string): SplitBehavior {
  if (typeof v !== 'string' || !(SPLIT_BEHAVIORS as readonly string[]).includes(v)) {
    fail(path, `must be one of ${SPLIT_BEHAVIORS.join(', ')}`);
  }
  return v as SplitBehavior;
}

export class Split implements PreTokenizer {
  private readonly re: RegExp;
  constructor(
    readonly pattern: PatternJson,
    readonly behavior: SplitBehavior,
    readonly invert = false,
    path = 'pre_tokenizer',
  ) {
    this.re = compilePattern(pattern, `${path}.pattern`);
  }
  split(piece: NormalizedString): NormalizedString[] {
    const matches =
      'String' in this.pattern ? findLiteral(piece.text, this.pattern.String) : findAll(this.re, piece.text);
    return piece.split(matches, this.behavior, this.invert);
  }
  toJSON(): JsonObject {
    return { type: 'Split', pattern: this.pattern, behavior: this.behavior, invert: this.invert };
  }
}

export type PrependScheme = 'always' | 'first' | 'never';

/**
 * SentencePiece's whitespace handling. `first` prepends only to the piece that starts the input
 * (not after an added token). Old files have `add_prefix_space` instead of `prepend_scheme`.
 */
export class Metaspace implements PreTokenizer {
  constructor(
    readonly replacement = '▁',
    readonly prependScheme: PrependScheme = 'always',
    readonly splitWords = true,
  ) {}
  split(piece: NormalizedString): NormalizedString[] {
    let s = piece.text.includes(' ') ? piece.replace(/ /g, this.replacement) : piece;
    if (
      !s.text.startsWith(this.replacement) &&
      (this.prependScheme === 'always' || (this.prependScheme === 'first' && s.starts[0] === 0))
    ) {
      s = s.prepend(this.replacement);
    }
    return this.splitWords ? s.split(findLiteral(s.text, this.replacement), 'MergedWithNext') : [s];
  }
  toJSON(): JsonObject {
    return {
      type: 'Metaspace',
      replacement: this.replacement,
      prepend_scheme: this.prependScheme,
      split: this.splitWords,
    };
  }
}

/** Rust regex `\w+|[^\w\s]+` (Unicode \w and \s). */
const WHITESPACE_RE =
  /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu;

export class Whitespace implements PreTokenizer {
  split(piece: NormalizedString): NormalizedString[] {
    return piece.split(findAll(WHITESPACE_RE, piece.text), 'Removed', true);
  }
  toJSON(): JsonObject {
    return { type: 'Whitespace' };
  }
}

const WS_CHAR = /^\p{White_Space}$/u;
const isWs = (ch: string): boolean => ch === ' ' || WS_CHAR.test(ch);

export class WhitespaceSplit implements PreTokenizer {
  split(piece: NormalizedString): NormalizedString[] {
    return piece.split(findChars(piece.text, isWs), 'Removed');
  }
  toJSON(): JsonObject {
    return { type: 'WhitespaceSplit' };
  }
}

const PUNCT = /^(?:[!-/:-@[-`{-~]|\p{P})$/u;
/** BERT's punctuation: ASCII punctuation and symbols, and Unicode P*. */
export const isPunctuation = (ch: string): boolean => PUNCT.test(ch);

export class BertPreTokenizer implements PreTokenizer {
  split(piece: NormalizedString): NormalizedString[] {
    const out: NormalizedString[] = [];
    for (const w of piece.split(findChars(piece.text, isWs), 'Removed')) {
      out.push(...w.split(findChars(w.text, isPunctuation), 'Isolated'));
    }
    return out;
  }
  toJSON(): JsonObject {
    return { type: 'BertPreTokenizer' };
  }
}

export class Punctuation implements PreTokenizer {
  constructor(readonly behavior: SplitBehavior = 'Isolated') {}
  split(piece: NormalizedString): NormalizedString[] {
    return piece.split(findChars(piece.text, isPunctuation), this.behavior);
  }
  toJSON(): JsonObject {
    return { type: 'Punctuation', behavior: this.behavior };
  }
}

const NUMERIC = /^\p{N}$/u;

export class Digits implements PreTokenizer {
  constructor(readonly individualDigits = false) {}
  split(piece: NormalizedString): NormalizedString[] {
    const matches = findChars(piece.text, (ch) => NUMERIC.test(ch));
    return piece.split(matches, this.individualDigits ? 'Isolated' : 'Contiguous');
  }
  toJSON(): JsonObject {
    return { type: 'Digits', individual_digits: this.individualDigits };
  }
}

export class CharDelimiterSplit implements PreTokenizer {
  constructor(readonly delimiter: string) {}
  split(piece: NormalizedString): NormalizedString[] {
    return piece.split(findLiteral(piece.text, this.delimiter), 'Removed');
  }
  toJSON(): JsonObject {
    return { type: 'CharDelimiterSplit', delimiter: this.delimiter };
  }
}

export class PreTokenizerSequence implements PreTokenizer {
  constructor(readonly preTokenizers: PreTokenizer[]) {}
  split(piece: NormalizedString): NormalizedString[] {
    let words = [piece];
    for (const p of this.preTokenizers) words = words.flatMap((w) => p.split(w));
    return words;
  }
  toJSON(): JsonObject {
    return { type: 'Sequence', pretokenizers: this.preTokenizers.map((p) => p.toJSON()) };
  }
}

/** `prepend_scheme`, or the older `add_prefix_space` (true: always, false: never). */
export function prependSchemeOf(v: JsonObject, path: string): PrependScheme {
  const s = v.prepend_scheme;
  if (s !== undefined && s !== null) {
    if (s !== 'always' && s !== 'first' && s !== 'never') {
      fail(`${path}.prepend_scheme`, 'must be "always", "first" or "never"');
    }
    return s;
  }
  return optBool(v, 'add_prefix_space', path, true) ? 'always' : 'never';
}

/** Metaspace's replacement: one character (old files call it `str_rep` too). */
export function replacementOf(v: JsonObject, path: string): string {
  const r = optString(v, 'replacement', path, '▁');
  if (Array.from(r).length !== 1) fail(`${path}.replacement`, 'must be a single character');
  return r;
}

export function metaspaceFromJSON(v: JsonObject, path: string): Metaspace {
  return new Metaspace(replacementOf(v, path), prependSchemeOf(v, path), optBool(v, 'split', path, true));
}

/** The pre-tokenizer described by `v` (null: none). */
export function preTokenizerFromJSON(v: JsonValue | undefined, path = 'pre_tokenizer'): PreTokenizer | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) fail(path, 'must be an object or null');
  const type = typeOf(v, path, 'pre_tokenizer', PRE_TOKENIZER_TYPES);
  switch (type) {
    case 'ByteLevel':
      return new ByteLevelPreTokenizer(
        optBool(v, 'add_prefix_space', path, true),
        optBool(v, 'trim_offsets', path, true),
        optBool(v, 'use_regex', path, true),
      );
    case 'Split':
      return new Split(
        asPattern(v.pattern, `${path}.pattern`),
        asBehavior(v.behavior, `${path}.behavior`),
        optBool(v, 'invert', path, false),
        path,
      );
    case 'Metaspace':
      return metaspaceFromJSON(v, path);
    case 'Whitespace':
      return new Whitespace();
    case 'WhitespaceSplit':
      return new WhitespaceSplit();
    case 'BertPreTokenizer':
      return new BertPreTokenizer();
    case 'Punctuation':
      return new Punctuation(
        v.behavior === undefined ? 'Isolated' : asBehavior(v.behavior, `${path}.behavior`),
      );
    case 'Digits':
      return new Digits(optBool(v, 'individual_digits', path, false));
    case 'CharDelimiterSplit': {
      const d = asString(v.delimiter, `${path}.delimiter`);
      if (Array.from(d).length !== 1) fail(`${path}.delimiter`, 'must be a single character');
      return new CharDelimiterSplit(d);
    }
    case 'Sequence': {
      return new PreTokenizerSequence(sequenceOf(v, 'pretokenizers', path, preTokenizerFromJSON));
    }
  }
  fail(`${path}.type`, `names an unknown pre_tokenizer "${type}"`);
}
