/**
 * Decoders of `tokenizer.json`: token strings -> text. Each takes the list of token strings and
 * returns a new list (HF's `decode_chain`); the tokenizer joins the final list with "".
 *
 *   ByteLevel    "Ġhello" -> " hello": characters back to bytes, bytes to UTF-8 (invalid sequences
 *                become U+FFFD, one per maximal invalid subpart, like Rust's from_utf8_lossy)
 *   ByteFallback consecutive "<0xE4>" "<0xBD>" "<0xA0>" -> "你"; an invalid run -> one U+FFFD per byte
 *   Metaspace    "▁" -> " ", dropping those of the first token (unless prepend_scheme is never)
 *   WordPiece    "##ing" glued to the previous token, others spaced; optional cleanup (" ." -> ".")
 *   BPEDecoder   suffix ("</w>") -> " " (nothing after the last token)
 *   Replace, Strip, Fuse (join all into one), CTC (dedupe, drop pad), Sequence
 */

import { CHAR_CODE_TO_BYTE } from './byte_level.ts';
import {
  asInt,
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
import { compilePattern } from './normalizers.ts';
import { type PrependScheme, prependSchemeOf, replacementOf } from './pre_tokenizers.ts';

export interface Decoder {
  decodeChain(tokens: string[]): string[];
  toJSON(): JsonObject;
}

const TYPES = [
  'ByteLevel',
  'ByteFallback',
  'Metaspace',
  'WordPiece',
  'BPEDecoder',
  'Replace',
  'Strip',
  'Fuse',
  'CTC',
  'Sequence',
] as const;

const utf8d = new TextDecoder('utf-8');
const utf8 = new TextEncoder();

export class ByteLevelDecoder implements Decoder {
  constructor(readonly config: JsonObject = {}) {}
  decodeChain(tokens: string[]): string[] {
    const bytes: number[] = [];
    for (const t of tokens) {
      const start = bytes.length;
      let ok = true;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c] : -1;
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push(b);
      }
      if (!ok) {
        // Not byte-level text (e.g. an added token written plainly): its own UTF-8 bytes.
        bytes.length = start;
        for (const b of utf8.encode(t)) bytes.push(b);
      }
    }
    return [utf8d.decode(Uint8Array.from(bytes))];
  }
  toJSON(): JsonObject {
    return { type: 'ByteLevel', ...this.config };
  }
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

export class ByteFallbackDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      try {
        out.push(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(pending)));
      } catch {
        for (let k = 0; k < pending.length; k++) out.push('\uFFFD');
      }
      pending = [];
    };
    for (const t of tokens) {
      const m = t.length === 6 ? BYTE_TOKEN.exec(t) : null;
      if (m) pending.push(Number.parseInt(m[1], 16));
      else {
        flush();
        out.push(t);
      }
    }
    flush();
    return out;
  }
  toJSON(): JsonObject {
    return { type: 'ByteFallback' };
  }
}

export class MetaspaceDecoder implements Decoder {
  constructor(
    readonly replacement = '▁',
    readonly prependScheme: PrependScheme = 'always',
    readonly split = true,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      const dropFirst = i === 0 && this.prependScheme !== 'never';
      return t.split(this.replacement).join(dropFirst ? '' : ' ');
    });
  }
  toJSON(): JsonObject {
    return {
      type: 'Metaspace',
      replacement: this.replacement,
      prepend_scheme: this.prependScheme,
      split: this.split,
    };
  }
}

/** BERT's detokenization cleanup (HF `cleanup`). */
export function wordpieceCleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

export class WordPieceDecoder implements Decoder {
  constructor(
    readonly prefix = '##',
    readonly cleanup = true,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      if (i !== 0) t = t.startsWith(this.prefix) ? t.slice(this.prefix.length) : ` ${t}`;
      return this.cleanup ? wordpieceCleanup(t) : t;
    });
  }
  toJSON(): JsonObject {
    return { type: 'WordPiece', prefix: this.prefix, cleanup: this.cleanup };
  }
}

export class BPEDecoder implements Decoder {
  constructor(readonly suffix = '</w>') {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => t.replaceAll(this.suffix, i === tokens.length - 1 ? '' : ' '));
  }
  toJSON(): JsonObject {
    return { type: 'BPEDecoder', suffix: this.suffix };
  }
}

export class ReplaceDecoder implements Decoder {
  private readonly re: RegExp;
  constructor(
    readonly pattern: PatternJson,
    readonly content: string,
    path = 'decoder',
  ) {
    this.re = compilePattern(pattern, `${path}.pattern`);
  }
  decodeChain(tokens: string[]): string[] {
    if ('String' in this.pattern) {
      const p = this.pattern.String;
      return tokens.map((t) => (p.length > 0 ? t.replaceAll(p, this.content) : t));
    }
    return tokens.map((t) => t.replace(this.re, () => this.content));
  }
  toJSON(): JsonObject {
    return { type: 'Replace', pattern: this.pattern, content: this.content };
  }
}

/** Removes up to `start` leading and `stop` trailing copies of `content` (one character) per token. */
export class StripDecoder implements Decoder {
  constructor(
    readonly content: string,
    readonly start: number,
    readonly stop: number,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => {
      const chars = Array.from(t);
      let a = 0;
      while (a < this.start && a < chars.length && chars[a] === this.content) a++;
      let z = chars.length;
      for (let k = 0; k < this.stop && z > a && chars[z - 1] === this.content; k++) z--;
      return chars.slice(a, z).join('');
    });
  }
  toJSON(): JsonObject {
    return { type: 'Strip', content: this.content, start: this.start, stop: this.stop };
  }
}

export class FuseDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    return [tokens.join('')];
  }
  toJSON(): JsonObject {
    return { type: 'Fuse' };
  }
}

/** CTC (speech models): collapse repeats, drop the pad token, word delimiter -> " ". */
export class CTCDecoder implements Decoder {
  constructor(
    readonly padToken = '<pad>',
    readonly wordDelimiterToken = '|',
    readonly cleanup = true,
  ) {}
  decodeChain(tokens: string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      if (i > 0 && tokens[i] === tokens[i - 1]) continue;
      let t = tokens[i].replaceAll(this.padToken, '');
      if (this.cleanup) t = wordpieceCleanup(t).replaceAll(this.wordDelimiterToken, ' ');
      if (t.length > 0) out.push(t);
    }
    return out;
  }
  toJSON(): JsonObject {
    return {
      type: 'CTC',
      pad_token: this.padToken,
      word_delimiter_token: this.wordDelimiterToken,
      cleanup: this.cleanup,
    };
  }
}

export class DecoderSequence implements Decoder {
  constructor(readonly decoders: Decoder[]) {}
  decodeChain(tokens: string[]): string[] {
    for (const d of this.decoders) tokens = d.decodeChain(tokens);
    return tokens;
  }
  toJSON(): JsonObject {
    return { type: 'Sequence', decoders: this.decoders.map((d) => d.toJSON()) };
  }
}

export function decoderFromJSON(v: JsonValue | undefined, path = 'decoder'): Decoder | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) fail(path, 'must be an object or null');
  const type = typeOf(v, path, 'decoder', TYPES);
  switch (type) {
    case 'ByteLevel': {
      const { type: _t, ...rest } = v;
      return new ByteLevelDecoder(rest);
    }
    case 'ByteFallback':
      return new ByteFallbackDecoder();
    case 'Metaspace':
      return new MetaspaceDecoder(
        replacementOf(v, path),
        prependSchemeOf(v, path),
        optBool(v, 'split', path, true),
      );
    case 'WordPiece':
      return new WordPieceDecoder(optString(v, 'prefix', path, '##'), optBool(v, 'cleanup', path, true));
    case 'BPEDecoder':
      return new BPEDecoder(optString(v, 'suffix', path, '</w>'));
    case 'Replace':
      return new ReplaceDecoder(
        asPattern(v.pattern, `${path}.pattern`),
        asString(v.content, `${path}.content`),
        path,
      );
    case 'Strip': {
      const content = asString(v.content, `${path}.content`);
      if (Array.from(content).length !== 1) fail(`${path}.content`, 'must be a single character');
      return new StripDecoder(
        content,
        asInt(v.start ?? 0, `${path}.start`),
        asInt(v.stop ?? 0, `${path}.stop`),
      );
    }
    case 'Fuse':
      return new FuseDecoder();
    case 'CTC':
      return new CTCDecoder(
        optString(v, 'pad_token', path, '<pad>'),
        optString(v, 'word_delimiter_token', path, '|'),
        optBool(v, 'cleanup', path, true),
      );
    case 'Sequence': {
      return new DecoderSequence(sequenceOf(v, 'decoders', path, decoderFromJSON));
    }
  }
  fail(`${path}.type`, `names an unknown decoder "${type}"`);
}
