/**
 * Byte-level BPE training. (`toTokenizerJson` in tokenizer_json.ts writes the result for HF.)
 *
 * 1. count (`feed`): each text is split into pieces with the chosen pattern (GPT-2's by default),
 *    and identical pieces are counted once with their frequency ("word-frequency dedup"). Special
 *    tokens are cut out of the text first and never learned from.
 * 2. ids (`train`: `GrowingVocab`): special tokens first (0..k-1), then the alphabet: all 256 bytes
 *    (default; any text can then be encoded) or only the bytes seen, in the order of their
 *    byte-level characters (as HF sorts its alphabet), then one id per merge.
 * 3. merge (`train`: `MergeLoop`): repeatedly merge the most frequent adjacent pair of symbols,
 *    inside every word, left to right without overlap ("a a a" -> "aa a").
 *
 * Tie-breaking (deterministic, and Hugging Face's rule): the highest count wins; among equal counts,
 * the pair with the smallest (left id, right id). Training stops at `vocabSize` tokens (special
 * tokens included), or when the best count falls below `minFrequency`. A merge whose result already
 * exists (two different splits of the same bytes) reuses that token's id, as HF does.
 *
 * With `alphabet: 'seen'` and the texts split into lines, the merges are exactly those of HF
 * tokenizers' BpeTrainer with a ByteLevel pre-tokenizer (test/tokenizers/bpe_trainer.test.ts).
 *
 * The merge loop is incremental: pair counts are updated only around each merged occurrence, the
 * occurrences of every pair are kept in linked lists of positions, and a max-heap with lazy
 * deletion (an entry whose count is stale is re-pushed with the current count when popped) finds
 * the best pair. Cost per merge is proportional to the occurrences it touches, not the corpus size.
 */

import { BpeTokenizer } from './bpe.ts';
import { BYTE_TO_CHAR } from './byte_level.ts';
import { SPLIT_PATTERNS, type SplitPatternName } from './patterns.ts';
import { type Scanner, scanCl100k, scanGpt2, scanO200k } from './splitters.ts';

const SCANNERS: Record<SplitPatternName, Scanner> = {
  gpt2: scanGpt2,
  cl100k_base: scanCl100k,
  o200k_base: scanO200k,
};

export interface BpeTrainerOptions {
  /** Final vocabulary size, special tokens included. */
  vocabSize: number;
  /** Stop when the best pair occurs fewer times than this (default 2: a pair seen once teaches nothing). */
  minFrequency?: number;
  /** Special tokens, given ids 0..k-1 in this order. */
  specialTokens?: readonly string[];
  /** Split pattern (default 'gpt2'). */
  pattern?: SplitPatternName;
  /** Initial alphabet: all 256 bytes (default) or only the bytes that occur (HF's default). */
  alphabet?: 'bytes' | 'seen';
  /** Called now and then with the stage and its progress. */
  onProgress?: (stage: 'count' | 'merge', done: number, total: number) => void;
}

export interface TrainedBpe {
  /** Token bytes by id; special tokens' ids are holes (their text is in specialTokens). */
  vocab: (Uint8Array | undefined)[];
  /** The merges, in order, as pairs of ids (the merged token is the one with their bytes joined). */
  merges: [number, number][];
  specialTokens: Record<string, number>;
  pattern: SplitPatternName;
}

/** Grows a typed array to at least n elements (doubling). */
function grow<T extends Int32Array | Float64Array | Uint16Array>(a: T, n: number): T {
  if (n <= a.length) return a;
  let cap = a.length * 2;
  while (cap < n) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

/**
 * Counts pieces by their text without creating strings: open addressing over [hash, key start,
 * key length, word index] records, key characters in a Uint16Array pool.
 */
class WordCounter {
  table = new Int32Array(4 * 4096);
  mask = 4095;
  keys = new Uint16Array(1 << 16);
  keyStart = new Int32Array(1024);
  keyLen = new Int32Array(1024);
  counts = new Float64Array(1024);
  keyUsed = 0;
  n = 0;

  add(text: string, start: number, end: number): void {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    h ^= h >>> 15;
    const len = end - start;
    const table = this.table;
    let s = h & this.mask;
    for (;;) {
      const r = s << 2;
      const klen = table[r + 2];
      if (klen === 0) break;
      if (table[r] === h && klen === len) {
        const ks = table[r + 1];
        let k = 0;
        while (k < len && this.keys[ks + k] === text.charCodeAt(start + k)) k++;
        if (k === len) {
          this.counts[table[r + 3]]++;
          return;
        }
      }
      s = (s + 1) & this.mask;
    }
    // New word.
    this.keys = grow(this.keys, this.keyUsed + len);
    for (let k = 0; k < len; k++) this.keys[this.keyUsed + k] = text.charCodeAt(start + k);
    const w = this.n++;
    this.keyStart = grow(this.keyStart, this.n);
    this.keyLen = grow(this.keyLen, this.n);
    this.counts = grow(this.counts, this.n);
    this.keyStart[w] = this.keyUsed;
    this.keyLen[w] = len;
    this.counts[w] = 1;
    this.keyUsed += len;
    const r = s << 2;
    table[r] = h;
    table[r + 1] = this.keyStart[w];
    table[r + 2] = len;
    table[r + 3] = w;
    if (this.n * 2 > this.mask) this.rehash();
  }

  private rehash(): void {
    const slots = (this.mask + 1) * 2;
    const old = this.table;
    this.table = new Int32Array(slots * 4);
    this.mask = slots - 1;
    for (let r = 0; r < old.length; r += 4) {
      if (old[r + 2] === 0) continue;
      let s = old[r] & this.mask;
      while (this.table[(s << 2) + 2] !== 0) s = (s + 1) & this.mask;
      this.table.set(old.subarray(r, r + 4), s << 2);
    }
  }

  /** UTF-8 bytes of word w into out at `at` (lone surrogates as U+FFFD, like the encoder); returns the end. */
  utf8(w: number, out: Uint8Array, at: number): number {
    const keys = this.keys;
    const end = this.keyStart[w] + this.keyLen[w];
    for (let i = this.keyStart[w]; i < end; i++) {
      let c = keys[i];
      if (c < 0x80) out[at++] = c;
      else if (c < 0x800) {
        out[at++] = 0xc0 | (c >> 6);
        out[at++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c < 0xe000) {
        const d = i + 1 < end ? keys[i + 1] : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          out[at++] = 0xf0 | (c >> 18);
          out[at++] = 0x80 | ((c >> 12) & 63);
          out[at++] = 0x80 | ((c >> 6) & 63);
          out[at++] = 0x80 | (c & 63);
        } else {
          out[at++] = 0xef;
          out[at++] = 0xbf;
          out[at++] = 0xbd;
        }
      } else {
        out[at++] = 0xe0 | (c >> 12);
        out[at++] = 0x80 | ((c >> 6) & 63);
        out[at++] = 0x80 | (c & 63);
      }
    }
    return at;
  }
}

/**
 * Pairs of ids -> dense pair index, with per-pair count, occurrence list head, and the left/right ids.
 */
class PairTable {
  slots = new Int32Array(1 << 16);
  mask = (1 << 16) - 1;
  a = new Int32Array(1 << 14);
  b = new Int32Array(1 << 14);
  count = new Float64Array(1 << 14);
  head = new Int32Array(1 << 14); // first occurrence node, -1 for none
  stamp = new Int32Array(1 << 14); // last merge step that increased the count
  n = 0;

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    return Math.imul(h, 0x2c1b3c6d) ^ (h >>> 13);
  }

  /** The index of pair (a, b), created with count 0 if new. */
  get(a: number, b: number): number {
    const mask = this.mask;
    let s = PairTable.hash(a, b) & mask;
    for (;;) {
      const v = this.slots[s];
      if (v === 0) break;
      const p = v - 1;
      if (this.a[p] === a && this.b[p] === b) return p;
      s = (s + 1) & mask;
    }
    const p = this.n++;
    if (this.n > this.a.length) {
      this.a = grow(this.a, this.n);
      this.b = grow(this.b, this.n);
      this.count = grow(this.count, this.n);
      this.head = grow(this.head, this.n);
      this.stamp = grow(this.stamp, this.n);
    }
    this.a[p] = a;
    this.b[p] = b;
    this.count[p] = 0;
    this.head[p] = -1;
    this.stamp[p] = -1;
    this.slots[s] = p + 1;
    if (this.n * 2 > mask) this.rehash();
    return p;
  }

  private rehash(): void {
    const size = (this.mask + 1) * 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let p = 0; p < this.n; p++) {
      let s = PairTable.hash(this.a[p], this.b[p]) & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = p + 1;
    }
  }
}

/** Max-heap of (count, pair) entries; ties go to the smaller (left id, right id). */
class PairHeap {
  counts = new Float64Array(1 << 14);
  pairs = new Int32Array(1 << 14);
  size = 0;
  constructor(private readonly table: PairTable) {}

  /** Whether entry i ranks above entry j. */
  private above(ci: number, pi: number, cj: number, pj: number): boolean {
    if (ci !== cj) return ci > cj;
    const t = this.table;
    if (t.a[pi] !== t.a[pj]) return t.a[pi] < t.a[pj];
    return t.b[pi] < t.b[pj];
  }

  push(count: number, pair: number): void {
    if (this.size === this.counts.length) {
      this.counts = grow(this.counts, this.size + 1);
      this.pairs = grow(this.pairs, this.size + 1);
    }
    let c = this.size++;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.above(count, pair, this.counts[p], this.pairs[p])) break;
      this.counts[c] = this.counts[p];
      this.pairs[c] = this.pairs[p];
      c = p;
    }
    this.counts[c] = count;
    this.pairs[c] = pair;
  }

  /** Removes the top; its count and pair are in topCount / topPair. */
  topCount = 0;
  topPair = 0;
  pop(): void {
    this.topCount = this.counts[0];
    this.topPair = this.pairs[0];
    const n = --this.size;
    const xc = this.counts[n];
    const xp = this.pairs[n];
    let c = 0;
    for (;;) {
      let l = 2 * c + 1;
      if (l >= n) break;
      if (l + 1 < n && this.above(this.counts[l + 1], this.pairs[l + 1], this.counts[l], this.pairs[l])) l++;
      if (!this.above(this.counts[l], this.pairs[l], xc, xp)) break;
      this.counts[c] = this.counts[l];
      this.pairs[c] = this.pairs[l];
      c = l;
    }
    this.counts[c] = xc;
    this.pairs[c] = xp;
  }
}

export class BpeTrainer {
  private readonly words = new WordCounter();
  private readonly scan: Scanner;
  private readonly specialRegex: RegExp | undefined;
  private readonly options: BpeTrainerOptions;

  constructor(options: BpeTrainerOptions) {
    if (!Number.isInteger(options.vocabSize) || options.vocabSize < 1)
      throw new Error(`vocabSize must be a positive integer, got ${options.vocabSize}`);
    const pattern = options.pattern ?? 'gpt2';
    if (!Object.hasOwn(SCANNERS, pattern)) throw new Error(`pattern: unknown split pattern "${pattern}"`);
    this.options = options;
    this.scan = SCANNERS[pattern];
    const specials = options.specialTokens ?? [];
    this.specialRegex =
      specials.length > 0
        ? new RegExp(
            [...specials]
              .sort((x, y) => y.length - x.length)
              .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('|'),
            'gu',
          )
        : undefined;
  }

  /** Counts the pieces of one text (a line, a document). */
  feed(text: string): void {
    if (this.specialRegex) {
      let from = 0;
      this.specialRegex.lastIndex = 0;
      for (let m = this.specialRegex.exec(text); m !== null; m = this.specialRegex.exec(text)) {
        this.feedSpan(text, from, m.index);
        from = m.index + m[0].length;
      }
      this.feedSpan(text, from, text.length);
    } else {
      this.feedSpan(text, 0, text.length);
    }
  }

  private feedSpan(text: string, start: number, end: number): void {
    const scan = this.scan;
    for (let i = start; i < end; ) {
      const e = scan(text, i, end);
      this.words.add(text, i, e);
      i = e;
    }
  }

  /** Number of distinct pieces counted so far. */
  get distinctWords(): number {
    return this.words.n;
  }

  /** Learns the merges from the pieces fed so far. */
  train(): TrainedBpe {
    const opts = this.options;
    const specials = opts.specialTokens ?? [];
    const { bytes, wordEnd } = this.pieceBytes();
    const vocab = new GrowingVocab(specials.length, alphabetOf(bytes, opts.alphabet === 'seen'));
    if (opts.vocabSize < vocab.size)
      throw new Error(
        `vocabSize ${opts.vocabSize} is smaller than the special tokens plus the alphabet (${vocab.size})`,
      );
    const symbols = linkSymbols(bytes, wordEnd, vocab.byteId);
    const loop = new MergeLoop(symbols, this.words.counts, vocab);
    const merges = loop.run(opts.vocabSize, opts.minFrequency ?? 2, opts.onProgress);
    return {
      vocab: vocab.tokens,
      merges,
      specialTokens: Object.fromEntries(specials.map((s, id) => [s, id])),
      pattern: opts.pattern ?? 'gpt2',
    };
  }

  /** The UTF-8 bytes of every distinct piece, end to end; piece w ends at wordEnd[w]. */
  private pieceBytes(): { bytes: Uint8Array; wordEnd: Int32Array } {
    const words = this.words;
    let total = 0;
    for (let w = 0; w < words.n; w++) total += words.keyLen[w] * 3;
    const bytes = new Uint8Array(total);
    const wordEnd = new Int32Array(words.n);
    let n = 0;
    for (let w = 0; w < words.n; w++) {
      n = words.utf8(w, bytes, n);
      wordEnd[w] = n;
    }
    return { bytes: bytes.subarray(0, n), wordEnd };
  }
}

/** The initial alphabet: every byte, or those that occur; in the order of their byte-level characters. */
function alphabetOf(bytes: Uint8Array, seenOnly: boolean): number[] {
  const seen = new Uint8Array(256);
  if (seenOnly) for (let p = 0; p < bytes.length; p++) seen[bytes[p]] = 1;
  else seen.fill(1);
  return [...Array(256).keys()]
    .filter((b) => seen[b])
    .sort((x, y) => BYTE_TO_CHAR[x].charCodeAt(0) - BYTE_TO_CHAR[y].charCodeAt(0));
}

/**
 * The vocabulary as training grows it: special tokens' ids are holes, then the alphabet, then one
 * token per merge. A merge whose bytes are already a token (two splits of the same bytes, "a" + "bc"
 * and "ab" + "c") reuses that token's id, as HF does.
 */
class GrowingVocab {
  readonly tokens: (Uint8Array | undefined)[] = [];
  /** The id of each byte of the alphabet (-1 if not in it). */
  readonly byteId = new Int32Array(256).fill(-1);
  /** Byte-level text of each id ('' for special tokens), and the id of each text. */
  private readonly text: string[] = [];
  private readonly ids = new Map<string, number>();

  constructor(nSpecial: number, alphabet: readonly number[]) {
    for (let id = 0; id < nSpecial; id++) {
      this.tokens.push(undefined);
      this.text.push('');
    }
    for (const b of alphabet) {
      this.byteId[b] = this.tokens.length;
      this.ids.set(BYTE_TO_CHAR[b], this.tokens.length);
      this.tokens.push(Uint8Array.of(b));
      this.text.push(BYTE_TO_CHAR[b]);
    }
  }

  get size(): number {
    return this.tokens.length;
  }

  /** The id of the token with the bytes of a then b, added if new. */
  merged(a: number, b: number): number {
    const str = this.text[a] + this.text[b];
    let x = this.ids.get(str);
    if (x === undefined) {
      x = this.tokens.length;
      const ta = this.tokens[a]!;
      const tb = this.tokens[b]!;
      const t = new Uint8Array(ta.length + tb.length);
      t.set(ta, 0);
      t.set(tb, ta.length);
      this.tokens.push(t);
      this.text.push(str);
      this.ids.set(str, x);
    }
    return x;
  }
}

/**
 * The corpus as symbols, one per byte of every distinct piece, end to end. Position p holds symbol
 * sym[p] (-1 once merged into its left neighbour) of piece wordOf[p]; next and prev link the live
 * symbols of a piece (-1 at its ends).
 *
 *   pieces ["ab", "b"] -> sym [a b b], wordOf [0 0 1], next [1 -1 -1], prev [-1 0 -1]
 */
interface Symbols {
  sym: Int32Array;
  next: Int32Array;
  prev: Int32Array;
  wordOf: Int32Array;
}

function linkSymbols(bytes: Uint8Array, wordEnd: Int32Array, byteId: Int32Array): Symbols {
  const n = bytes.length;
  const s: Symbols = {
    sym: new Int32Array(n),
    next: new Int32Array(n),
    prev: new Int32Array(n),
    wordOf: new Int32Array(n),
  };
  let start = 0;
  for (let w = 0; w < wordEnd.length; w++) {
    const end = wordEnd[w];
    for (let p = start; p < end; p++) {
      s.sym[p] = byteId[bytes[p]];
      s.wordOf[p] = w;
      s.prev[p] = p === start ? -1 : p - 1;
      s.next[p] = p === end - 1 ? -1 : p + 1;
    }
    start = end;
  }
  return s;
}

/**
 * The merge loop over the symbols. It keeps every adjacent pair's count (weighted by the frequency
 * of its piece), a list of the positions where each pair occurs (only ever added to: a position
 * whose pair has changed is skipped when it comes up), and a max-heap of pairs by count.
 */
class MergeLoop {
  private readonly pairs = new PairTable();
  private readonly heap: PairHeap;
  // Occurrence lists: node k holds a left position occPos[k] and the next node occNext[k] (-1 ends).
  private occPos: Int32Array;
  private occNext: Int32Array;
  private nOcc = 0;
  // Per merge: the positions of the pair, and the pairs whose counts rose (stamped with the step).
  private positions = new Int32Array(1024);
  private touched = new Int32Array(1024);
  private nTouched = 0;
  private step = 0;

  constructor(
    private readonly symbols: Symbols,
    /** Frequency of each piece. */
    private readonly freq: Float64Array,
    private readonly vocab: GrowingVocab,
  ) {
    this.occPos = new Int32Array(Math.max(1024, symbols.sym.length * 2));
    this.occNext = new Int32Array(this.occPos.length);
    this.countPairs();
    this.heap = new PairHeap(this.pairs);
    for (let pair = 0; pair < this.pairs.n; pair++)
      if (this.pairs.count[pair] > 0) this.heap.push(this.pairs.count[pair], pair);
  }

  /**
   * Merges until the vocabulary has `target` tokens, or the best pair occurs fewer than
   * `minFrequency` times; returns the merges in order.
   */
  run(target: number, minFrequency: number, onProgress: BpeTrainerOptions['onProgress']): [number, number][] {
    const merges: [number, number][] = [];
    const todo = target - this.vocab.size;
    let lastReport = Date.now();
    while (this.vocab.size < target) {
      const pair = this.popBest(minFrequency);
      if (pair < 0) break;
      const a = this.pairs.a[pair];
      const b = this.pairs.b[pair];
      const x = this.vocab.merged(a, b);
      merges.push([a, b]);
      this.mergePair(pair, a, b, x);
      if (onProgress && Date.now() - lastReport > 250) {
        lastReport = Date.now();
        onProgress('merge', merges.length, todo);
      }
    }
    onProgress?.('merge', merges.length, todo);
    return merges;
  }

  /** Counts every adjacent pair of the corpus and lists where it occurs. */
  private countPairs(): void {
    const { sym, next, wordOf } = this.symbols;
    for (let p = 0; p < sym.length; p++) {
      const q = next[p];
      if (q < 0) continue;
      const pair = this.pairs.get(sym[p], sym[q]);
      this.pairs.count[pair] += this.freq[wordOf[p]];
      this.addOccurrence(pair, p);
    }
  }

  /**
   * The pair with the highest count, or -1 when none is left at `minFrequency` (at least 1). Lazy
   * deletion: an entry whose count is stale is pushed again with the current count.
   */
  private popBest(minFrequency: number): number {
    const { heap, pairs } = this;
    while (heap.size > 0) {
      heap.pop();
      const pair = heap.topPair;
      const current = pairs.count[pair];
      if (heap.topCount !== current) {
        if (current > 0) heap.push(current, pair);
        continue;
      }
      return current < 1 || current < minFrequency ? -1 : pair;
    }
    return -1;
  }

  /** Replaces every occurrence of `pair` (a, b) by x, left to right; the heap gets the raised counts. */
  private mergePair(pair: number, a: number, b: number, x: number): void {
    this.step++;
    this.nTouched = 0;
    const positions = this.takeOccurrences(pair);
    for (let k = 0; k < positions.length; k++) this.mergeAt(positions[k], a, b, x);
    this.pairs.count[pair] = 0;
    for (let k = 0; k < this.nTouched; k++) {
      const pr = this.touched[k];
      if (this.pairs.count[pr] > 0) this.heap.push(this.pairs.count[pr], pr);
    }
  }

  /** The positions listed for `pair`, leftmost first (positions go by piece, then offset); empties its list. */
  private takeOccurrences(pair: number): Int32Array {
    let n = 0;
    for (let k = this.pairs.head[pair]; k >= 0; k = this.occNext[k]) {
      if (n === this.positions.length) this.positions = grow(this.positions, n + 1);
      this.positions[n++] = this.occPos[k];
    }
    this.pairs.head[pair] = -1;
    return this.positions.subarray(0, n).sort();
  }

  /**
   * Merges (a, b) at position p into x, if it is still there (an entry is stale once a neighbouring
   * merge took a or b, and listed twice when the pair came back). The pairs around it change:
   * (o, a) -> (o, x) and (b, r) -> (x, r).
   */
  private mergeAt(p: number, a: number, b: number, x: number): void {
    const { sym, next, prev, wordOf } = this.symbols;
    if (sym[p] !== a) return;
    const q = next[p];
    if (q < 0 || sym[q] !== b) return;
    const pairs = this.pairs;
    const f = this.freq[wordOf[p]];
    const o = prev[p];
    const r = next[q];
    if (o >= 0) {
      pairs.count[pairs.get(sym[o], a)] -= f;
      const np = pairs.get(sym[o], x);
      pairs.count[np] += f;
      this.addOccurrence(np, o);
      this.touch(np);
    }
    if (r >= 0) {
      pairs.count[pairs.get(b, sym[r])] -= f;
      const np = pairs.get(x, sym[r]);
      pairs.count[np] += f;
      this.addOccurrence(np, p);
      this.touch(np);
    }
    sym[p] = x;
    sym[q] = -1;
    next[p] = r;
    if (r >= 0) prev[r] = p;
  }

  private addOccurrence(pair: number, pos: number): void {
    if (this.nOcc === this.occPos.length) {
      this.occPos = grow(this.occPos, this.nOcc + 1);
      this.occNext = grow(this.occNext, this.nOcc + 1);
    }
    this.occPos[this.nOcc] = pos;
    this.occNext[this.nOcc] = this.pairs.head[pair];
    this.pairs.head[pair] = this.nOcc++;
  }

  /** Notes (once per merge) that the count of `pair` rose, so that it goes back on the heap. */
  private touch(pair: number): void {
    if (this.pairs.stamp[pair] === this.step) return;
    this.pairs.stamp[pair] = this.step;
    if (this.nTouched === this.touched.length) this.touched = grow(this.touched, this.nTouched + 1);
    this.touched[this.nTouched++] = pair;
  }
}

/**
 * Trains on texts. Each text is pre-tokenized on its own, so pass lines to match HF tokenizers'
 * `train(files)`, which reads files line by line (line endings kept).
 */
export function trainBpe(texts: Iterable<string>, options: BpeTrainerOptions): TrainedBpe {
  const trainer = new BpeTrainer(options);
  let n = 0;
  for (const t of texts) {
    trainer.feed(t);
    if (options.onProgress && ++n % 10000 === 0) options.onProgress('count', n, 0);
  }
  return trainer.train();
}

/** The trained model as an encoder. */
export function bpeTokenizer(model: TrainedBpe): BpeTokenizer {
  return new BpeTokenizer({
    vocab: model.vocab,
    merges: model.merges,
    pattern: SPLIT_PATTERNS[model.pattern].js,
    specialTokens: model.specialTokens,
  });
}
