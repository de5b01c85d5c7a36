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
 * first, exactly as HF's priority queue does ("a a a" with merge "a a" -> "aa a").
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

/** Pair keys a * PAIR + b: ids below 2^21. */
const PAIR = 2 ** 21;
/** Heap keys rank * POS + pos. */
const POS = 2 ** 26;

const BYTE_TOKENS = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);
const utf8 = new TextEncoder();

export class BPEModel implements Model {
  readonly vocab: Map<string, number>;
  readonly byId: string[];
  /** (a, b) -> merge index (= rank); later duplicates win, as in HF. */
  private readonly pairRank = new Map<number, number>();
  private readonly mergeNewId: Int32Array;
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
    for (const [t, id] of vocab) {
      if (id >= PAIR) fail(`${path}.vocab`, `has an id ${id} too large (at most ${PAIR - 1})`);
      this.byId[id] = t;
    }
    this.unkToken = opts.unkToken ?? null;
    this.prefix = opts.continuingSubwordPrefix ?? null;
    this.suffix = opts.endOfWordSuffix ?? null;
    this.fuseUnk = opts.fuseUnk ?? false;
    this.byteFallback = opts.byteFallback ?? false;
    this.ignoreMerges = opts.ignoreMerges ?? false;
    this.dropout = opts.dropout ?? null;
    const prefixLen = this.prefix?.length ?? 0;
    this.mergeNewId = new Int32Array(merges.length);
    for (let i = 0; i < merges.length; i++) {
      const [a, b] = merges[i];
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const merged = a + b.slice(prefixLen);
      const inew = vocab.get(merged);
      if (ia === undefined) fail(`${path}.merges[${i}]`, `uses "${a}", which is not in model.vocab`);
      if (ib === undefined) fail(`${path}.merges[${i}]`, `uses "${b}", which is not in model.vocab`);
      if (inew === undefined) fail(`${path}.merges[${i}]`, `makes "${merged}", which is not in model.vocab`);
      this.pairRank.set(ia * PAIR + ib, i);
      this.mergeNewId[i] = inew;
    }
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
    const n = this.mergeAll(ids, starts, ends);
    const out: ModelToken[] = [];
    for (let k = 0; k < n; k++)
      out.push({ id: ids[k], value: this.byId[ids[k]], start: starts[k], end: ends[k] });
    return out;
  }

  private hasBytes(s: string): boolean {
    for (const b of utf8.encode(s)) if (!this.vocab.has(BYTE_TOKENS[b])) return false;
    return true;
  }

  /** Applies the merges in place; returns the number of symbols left (compacted to the front). */
  private mergeAll(ids: number[], starts: number[], ends: number[]): number {
    const n = ids.length;
    if (n < 2) return n;
    if (n >= POS) throw new Error(`BPE: a word of ${n} symbols is too long`);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      if (i + 1 < n) {
        const r = this.pairRank.get(ids[i] * PAIR + ids[i + 1]);
        if (r !== undefined) heap.push(r * POS + i);
      }
    }
    while (heap.size > 0) {
      const top = heap.pop();
      const rank = Math.floor(top / POS);
      const pos = top - rank * POS;
      if (!alive[pos]) continue;
      const nx = next[pos];
      if (nx < 0) continue;
      if (this.pairRank.get(ids[pos] * PAIR + ids[nx]) !== rank) continue; // stale entry
      ids[pos] = this.mergeNewId[rank];
      ends[pos] = ends[nx];
      alive[nx] = 0;
      const nn = next[nx];
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      const pv = prev[pos];
      if (pv >= 0) {
        const r = this.pairRank.get(ids[pv] * PAIR + ids[pos]);
        if (r !== undefined) heap.push(r * POS + pv);
      }
      if (nn >= 0) {
        const r = this.pairRank.get(ids[pos] * PAIR + ids[nn]);
        if (r !== undefined) heap.push(r * POS + pos);
      }
    }
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!alive[i]) continue;
      ids[k] = ids[i];
      starts[k] = starts[i];
      ends[k] = ends[i];
      k++;
    }
    return k;
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

/** A binary min-heap of numbers. */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= x) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r] < a[l] ? r : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
