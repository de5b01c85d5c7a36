/**
 * The BPE model of `tokenizer.json` over arbitrary symbols: GPT-2 style byte-level vocabularies
 * (where the pre-tokenizer already turned bytes into characters), SentencePiece-style vocabularies
 * with "▁" and byte fallback (Llama 2, Mistral, Gemma), and classic ones with a
 * `continuing_subword_prefix` ("##") or `end_of_word_suffix` ("</w>").
 *
 * A word starts as one symbol per character (with the prefix on every character but the first, the
 * suffix on the last). A character missing from the vocabulary becomes its UTF-8 bytes as `<0xNN>`
 * tokens (byte_fallback), or `unk_token` (consecutive unknowns fused when fuse_unk), or an error.
 * Then merges apply by rank: the lowest-ranked adjacent pair first, the leftmost of equal pairs
 * first, exactly as HF's priority queue does ("a a a" with merge "a a" -> "aa a"). The merge loop is
 * the byte-level tokenizer's (bpe_merger.ts), here over the ids of the symbols.
 *
 *   merges ["a b", "ab c"] or [["a","b"],["ab","c"]], word "abc":
 *   [a][b][c] -> [ab][c] (rank 0) -> [abc] (rank 1)
 *
 * `ignore_merges` (Llama 3): a word that is itself in the vocabulary is one token. `dropout` is
 * ignored: inference is deterministic.
 *
 * Limit: HF appends a pending unknown token only when the next known character arrives, so with
 * byte_fallback AND a missing `<0xNN>` token its output can be out of order; we keep text order.
 */

import { BpeMerger, type MergeRule } from '../bpe_merger.ts';
import {
  asArray,
  asString,
  fail,
  type JsonObject,
  type JsonValue,
  optBool,
  optString,
} from '../json_fields.ts';
import { charWidth } from '../normalized_string.ts';
import { type Model, type ModelToken, readVocab, vocabToJSON } from './model.ts';

export interface BPEOptions {
  unkToken?: string | null;
  continuingSubwordPrefix?: string | null;
  endOfWordSuffix?: string | null;
  fuseUnk?: boolean;
  byteFallback?: boolean;
  ignoreMerges?: boolean;
  dropout?: number | null;
}

const BYTE_TOKENS = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);
const utf8 = new TextEncoder();

export class BPEModel implements Model {
  readonly vocab: Map<string, number>;
  readonly byId: string[];
  /** The merge rules (a pair listed twice keeps its later rank, as in HF). */
  private readonly merger: BpeMerger;
  private readonly cache = new Map<string, readonly ModelToken[]>();
  readonly unkToken: string | null;
  readonly prefix: string | null;
  readonly suffix: string | null;
  readonly fuseUnk: boolean;
  readonly byteFallback: boolean;
  readonly ignoreMerges: boolean;
  readonly dropout: number | null;

  constructor(
    vocab: Map<string, number>,
    readonly merges: readonly (readonly [string, string])[],
    opts: BPEOptions = {},
    path = 'model',
  ) {
    this.vocab = vocab;
    this.byId = [];
    for (const [t, id] of vocab) this.byId[id] = t;
    this.unkToken = opts.unkToken ?? null;
    this.prefix = opts.continuingSubwordPrefix ?? null;
    this.suffix = opts.endOfWordSuffix ?? null;
    this.fuseUnk = opts.fuseUnk ?? false;
    this.byteFallback = opts.byteFallback ?? false;
    this.ignoreMerges = opts.ignoreMerges ?? false;
    this.dropout = opts.dropout ?? null;
    const prefixLen = this.prefix?.length ?? 0;
    const rules: MergeRule[] = [];
    for (let i = 0; i < merges.length; i++) {
      const [a, b] = merges[i];
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const merged = a + b.slice(prefixLen);
      const inew = vocab.get(merged);
      if (ia === undefined) fail(`${path}.merges[${i}]`, `uses "${a}", which is not in model.vocab`);
      if (ib === undefined) fail(`${path}.merges[${i}]`, `uses "${b}", which is not in model.vocab`);
      if (inew === undefined) fail(`${path}.merges[${i}]`, `makes "${merged}", which is not in model.vocab`);
      rules.push([ia, ib, inew]);
    }
    this.merger = BpeMerger.fromRules(rules);
  }

  static fromJSON(o: JsonObject, path: string): BPEModel {
    const { vocab } = readVocab(o, path);
    const list = o.merges === undefined || o.merges === null ? [] : asArray(o.merges, `${path}.merges`);
    const merges = list.map((m, i) => parseMerge(m, `${path}.merges[${i}]`));
    const dropout = o.dropout;
    return new BPEModel(
      vocab,
      merges,
      {
        unkToken: optString(o, 'unk_token', path, null),
        continuingSubwordPrefix: optString(o, 'continuing_subword_prefix', path, null),
        endOfWordSuffix: optString(o, 'end_of_word_suffix', path, null),
        fuseUnk: optBool(o, 'fuse_unk', path, false),
        byteFallback: optBool(o, 'byte_fallback', path, false),
        ignoreMerges: optBool(o, 'ignore_merges', path, false),
        dropout: typeof dropout === 'number' ? dropout : null,
      },
      path,
    );
  }

  get size(): number {
    return this.byId.length;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.byId[id];
  }

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const out = this.tokenizeUncached(word);
    if (word.length <= 256) {
      if (this.cache.size >= 100_000) this.cache.clear();
      this.cache.set(word, out);
    }
    return out;
  }

  private tokenizeUncached(word: string): ModelToken[] {
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) return [{ id, value: word, start: 0, end: word.length }];
    }
    // Initial symbols: ids and spans (code units of `word`).
    const ids: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    let unkStart = -1;
    let unkEnd = -1;
    const flushUnk = () => {
      if (unkStart < 0) return;
      ids.push(this.vocab.get(this.unkToken!)!);
      starts.push(unkStart);
      ends.push(unkEnd);
      unkStart = unkEnd = -1;
    };
    for (let i = 0; i < word.length; ) {
      const w = charWidth(word, i);
      let s = w === 1 ? word[i] : word.slice(i, i + w);
      if (i > 0 && this.prefix !== null) s = this.prefix + s;
      if (i + w === word.length && this.suffix !== null) s += this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        flushUnk();
        ids.push(id);
        starts.push(i);
        ends.push(i + w);
      } else if (this.byteFallback && this.hasBytes(s)) {
        flushUnk();
        for (const b of utf8.encode(s)) {
          ids.push(this.vocab.get(BYTE_TOKENS[b])!);
          starts.push(i);
          ends.push(i + w);
        }
      } else if (this.unkToken !== null) {
        if (!this.vocab.has(this.unkToken)) {
          throw new Error(`BPE: unk_token "${this.unkToken}" is not in the vocabulary`);
        }
        if (unkStart >= 0 && this.fuseUnk) unkEnd = i + w;
        else {
          flushUnk();
          unkStart = i;
          unkEnd = i + w;
        }
      } else {
        throw new Error(
          `BPE: character ${JSON.stringify(s)} is not in the vocabulary and the model has no unk_token or byte_fallback`,
        );
      }
      i += w;
    }
    flushUnk();
    // Merge; token k is made of symbols firsts[k] .. firsts[k + 1] - 1, and spans their characters.
    const n = ids.length;
    const merged = Int32Array.from(ids);
    const firsts = new Int32Array(n);
    const m = this.merger.mergeIds(merged, n, firsts);
    const out: ModelToken[] = [];
    for (let k = 0; k < m; k++) {
      const last = (k + 1 < m ? firsts[k + 1] : n) - 1;
      out.push({ id: merged[k], value: this.byId[merged[k]], start: starts[firsts[k]], end: ends[last] });
    }
    return out;
  }

  private hasBytes(s: string): boolean {
    for (const b of utf8.encode(s)) if (!this.vocab.has(BYTE_TOKENS[b])) return false;
    return true;
  }

  toJSON(): JsonObject {
    return {
      type: 'BPE',
      dropout: this.dropout,
      unk_token: this.unkToken,
      continuing_subword_prefix: this.prefix,
      end_of_word_suffix: this.suffix,
      fuse_unk: this.fuseUnk,
      byte_fallback: this.byteFallback,
      ignore_merges: this.ignoreMerges,
      vocab: vocabToJSON(this.byId),
      merges: this.merges.map(([a, b]) => [a, b]),
    };
  }
}

/** `"a b"` (older files) or `["a", "b"]` (newer). */
function parseMerge(m: JsonValue, path: string): [string, string] {
  if (typeof m === 'string') {
    const parts = m.split(' ');
    if (parts.length !== 2)
      fail(path, `must be "a b" (two tokens separated by one space), got ${JSON.stringify(m)}`);
    return [parts[0], parts[1]];
  }
  const pair = asArray(m, path);
  if (pair.length !== 2) fail(path, 'must be a pair ["a", "b"]');
  return [asString(pair[0], `${path}[0]`), asString(pair[1], `${path}[1]`)];
}
