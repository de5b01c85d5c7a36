/**
 * Added tokens (`added_tokens` of tokenizer.json): strings matched in the text BEFORE the rest of
 * the pipeline, each becoming one id, as HF's AddedVocabulary does:
 *
 *   1. tokens with `normalized: false` (all special tokens in real files) are found in the raw text;
 *   2. each remaining piece is normalized, then tokens with `normalized: true` are found in it (their
 *      content normalized the same way);
 *   3. what is left goes on to pre-tokenization and the model.
 *
 * Matching is leftmost-longest ("<|im_start|>" beats "<|im"). `lstrip`/`rstrip` extend a match over
 * the whitespace before/after it; `single_word` accepts a match only when no word character touches
 * it. Special tokens (`special: true`) are only recognised when the caller allows them
 * (`allowedSpecial`); a disallowed one stays plain text and is tokenized like any text.
 */

import {
  asArray,
  asId,
  asObject,
  asString,
  fail,
  type JsonObject,
  type JsonValue,
  optBool,
} from './json_fields.ts';
import type { Model } from './models/model.ts';
import { isWhitespaceUnit, NormalizedString } from './normalized_string.ts';
import type { Normalizer } from './normalizers.ts';

const sameOptions = (a: AddedToken, b: AddedToken): boolean =>
  a.singleWord === b.singleWord &&
  a.lstrip === b.lstrip &&
  a.rstrip === b.rstrip &&
  a.normalized === b.normalized &&
  a.special === b.special;

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenJson {
  [field: string]: number | string | boolean;
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A special token as tokenizer.json's `added_tokens` writes it (what HF's trainers write). */
export function specialTokenJson(content: string, id: number): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/**
 * A piece of the input after added-token extraction: an added token, or text to tokenize. A token's
 * `text` is what matched, stripped whitespace included (HF reports that as the token string).
 */
export type Segment =
  | { kind: 'token'; id: number; token: AddedToken; text: string; start: number; end: number }
  | { kind: 'text'; text: NormalizedString };

/** Which special tokens may match: a predicate on the token. */
export type SpecialFilter = (t: AddedToken) => boolean;

/** Leftmost-longest matching over a trie of UTF-16 code units. */
class Matcher {
  private readonly edges = new Map<number, number>();
  private readonly terminal: (AddedToken | null)[] = [null];
  private readonly firstUnits = new Set<number>();

  add(pattern: string, token: AddedToken): void {
    if (pattern.length === 0) return;
    this.firstUnits.add(pattern.charCodeAt(0));
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const key = node * 65536 + pattern.charCodeAt(i);
      let child = this.edges.get(key);
      if (child === undefined) {
        child = this.terminal.length;
        this.terminal.push(null);
        this.edges.set(key, child);
      }
      node = child;
    }
    // The first token with a given (normalized) content wins.
    if (this.terminal[node] === null) this.terminal[node] = token;
  }

  get empty(): boolean {
    return this.firstUnits.size === 0;
  }

  /** The longest pattern at s[i], as [token, end], or null. */
  longestAt(s: string, i: number): [AddedToken, number] | null {
    if (!this.firstUnits.has(s.charCodeAt(i))) return null;
    let node = 0;
    let best: [AddedToken, number] | null = null;
    for (let j = i; j < s.length; j++) {
      const child = this.edges.get(node * 65536 + s.charCodeAt(j));
      if (child === undefined) break;
      node = child;
      const t = this.terminal[node];
      if (t !== null) best = [t, j + 1];
    }
    return best;
  }
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
function isWordBefore(s: string, i: number): boolean {
  if (i === 0) return false;
  const pair =
    i >= 2 && (s.charCodeAt(i - 1) & 0xfc00) === 0xdc00 && (s.charCodeAt(i - 2) & 0xfc00) === 0xd800;
  return WORD_CHAR.test(s.slice(pair ? i - 2 : i - 1, i));
}
const isWordAfter = (s: string, i: number) =>
  i < s.length && WORD_CHAR.test(String.fromCodePoint(s.codePointAt(i)!));

export class AddedVocabulary {
  readonly tokens: AddedToken[];
  readonly byContent = new Map<string, AddedToken>();
  readonly byId = new Map<number, AddedToken>();
  /**
   * id -> token string, as HF's `id_to_token` and decode see it: the NORMALIZED content for
   * `normalized: true` tokens ("Hello" with a lowercasing normalizer decodes as "hello").
   */
  readonly idToText = new Map<number, string>();
  private readonly raw = new Matcher();
  private readonly normalized = new Matcher();

  constructor(tokens: AddedToken[], normalizer: Normalizer | null) {
    this.tokens = tokens;
    for (const t of tokens) {
      this.byContent.set(t.content, t);
      this.byId.set(t.id, t);
      if (t.normalized) {
        const n = normalizer
          ? normalizer.normalize(NormalizedString.fromOriginal(t.content)).text
          : t.content;
        this.normalized.add(n, t);
        this.idToText.set(t.id, n);
      } else {
        this.raw.add(t.content, t);
        this.idToText.set(t.id, t.content);
      }
    }
  }

  /**
   * Reads `added_tokens`. Ids are assigned as HF assigns them when it loads a file (the `id` fields
   * are checked by HF only with a warning): a token in the model's vocabulary gets that id, any other
   * the next id after the model's vocabulary and the added tokens before it, in file order. Real
   * files agree with this; a hand-edited file with other ids gets HF's ids, not its own.
   */
  static fromJSON(
    v: JsonValue | undefined,
    normalizer: Normalizer | null,
    model: Pick<Model, 'tokenToId' | 'size'>,
    path = 'added_tokens',
  ): AddedVocabulary {
    if (v === undefined || v === null) return new AddedVocabulary([], normalizer);
    const list = asArray(v, path);
    const tokens = list.map((e, i): AddedToken => {
      const p = `${path}[${i}]`;
      const o = asObject(e, p);
      const content = asString(o.content, `${p}.content`);
      if (content.length === 0) fail(`${p}.content`, 'must not be empty');
      const special = optBool(o, 'special', p, false);
      return {
        id: asId(o.id, `${p}.id`),
        content,
        singleWord: optBool(o, 'single_word', p, false),
        lstrip: optBool(o, 'lstrip', p, false),
        rstrip: optBool(o, 'rstrip', p, false),
        normalized: optBool(o, 'normalized', p, !special),
        special,
      };
    });
    const kept: AddedToken[] = [];
    const byContent = new Map<string, AddedToken>();
    let maxId = -1;
    for (const t of tokens) {
      const prev = byContent.get(t.content);
      if (prev !== undefined && sameOptions(prev, t)) continue; // HF ignores exact duplicates
      let id = prev?.id ?? model.tokenToId(t.content);
      if (id === undefined) id = maxId >= model.size || model.size === 0 ? maxId + 1 : model.size;
      const entry = { ...t, id };
      if (prev !== undefined) kept[kept.indexOf(prev)] = entry;
      else kept.push(entry);
      byContent.set(t.content, entry);
      maxId = Math.max(maxId, id);
    }
    return new AddedVocabulary(kept, normalizer);
  }

  toJSON(): JsonObject[] {
    return this.tokens.map((t) => ({
      id: t.id,
      content: t.content,
      single_word: t.singleWord,
      lstrip: t.lstrip,
      rstrip: t.rstrip,
      normalized: t.normalized,
      special: t.special,
    }));
  }

  /** Splits `text` into added tokens and normalized text pieces (see the header). */
  extract(text: string, normalizer: Normalizer | null, allowSpecial: SpecialFilter): Segment[] {
    const out: Segment[] = [];
    const original = NormalizedString.fromOriginal(text);
    for (const seg of this.split(original, this.raw, allowSpecial)) {
      if (seg.kind === 'token') {
        out.push(seg);
        continue;
      }
      const norm = normalizer ? normalizer.normalize(seg.text) : seg.text;
      for (const s of this.split(norm, this.normalized, allowSpecial)) out.push(s);
    }
    return out;
  }

  /** HF's `find_matches` + `split_with_indices`: empty text pieces are dropped. */
  private split(s: NormalizedString, m: Matcher, allow: SpecialFilter): Segment[] {
    const t = s.text;
    if (m.empty || t.length === 0) return t.length === 0 ? [] : [{ kind: 'text', text: s }];
    const out: Segment[] = [];
    let startOffset = 0;
    for (let i = 0; i < t.length; ) {
      const hit = m.longestAt(t, i);
      if (hit === null) {
        i++;
        continue;
      }
      const [tok, matchEnd] = hit;
      let start = i;
      let stop = matchEnd;
      if (tok.special && !allow(tok)) {
        i = matchEnd; // skipped, stays text (HF's encode_special_tokens)
        continue;
      }
      if (tok.singleWord && (isWordBefore(t, start) || isWordAfter(t, stop))) {
        i = matchEnd;
        continue;
      }
      if (tok.lstrip) {
        let k = start;
        while (k > 0 && isWhitespaceUnit(t.charCodeAt(k - 1))) k--;
        start = Math.max(k, startOffset);
      }
      if (tok.rstrip) while (stop < t.length && isWhitespaceUnit(t.charCodeAt(stop))) stop++;
      if (startOffset < start) out.push({ kind: 'text', text: s.slice(startOffset, start) });
      const [os, oe] = s.originalSpan(start, stop);
      out.push({ kind: 'token', id: tok.id, token: tok, text: t.slice(start, stop), start: os, end: oe });
      startOffset = stop;
      i = stop;
    }
    if (startOffset < t.length)
      out.push({ kind: 'text', text: startOffset === 0 ? s : s.slice(startOffset, t.length) });
    return out;
  }
}
