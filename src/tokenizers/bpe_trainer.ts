/**
 * Byte-level BPE training. (`toTokenizerJson` in tokenizer_json.ts writes the result for HF.)
 *
 * 1. count: each text is split into pieces with the chosen pattern (GPT-2's by default), and
 *    identical pieces are counted once with their frequency ("word-frequency dedup"). Special
 *    tokens are cut out of the text first and never learned from.
 * 2. ids: special tokens first (0..k-1), then the alphabet: all 256 bytes (default; any text can
 *    then be encoded) or only the bytes seen, in the order of their byte-level characters (as HF
 *    sorts its alphabet), then one id per merge.
 * 3. merge: repeatedly merge the most frequent adjacent pair of symbols, inside every word, left to
 *    right without overlap ("a a a" -> "aa a").
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

  train(): TrainedBpe {
    const opts = this.options;
    const minFrequency = opts.minFrequency ?? 2;
    const specials = opts.specialTokens ?? [];
    const W = this.words;
    const nWords = W.n;

    // Words -> symbol sequences over all positions, linked per word.
    let total = 0;
    for (let w = 0; w < nWords; w++) total += W.keyLen[w] * 3;
    const bytes = new Uint8Array(total);
    const wordEnd = new Int32Array(nWords);
    let nPos = 0;
    for (let w = 0; w < nWords; w++) {
      nPos = W.utf8(w, bytes, nPos);
      wordEnd[w] = nPos;
    }
    const seen = new Uint8Array(256);
    if (opts.alphabet === 'seen') for (let p = 0; p < nPos; p++) seen[bytes[p]] = 1;
    else seen.fill(1);
    const alphabet = [...Array(256).keys()]
      .filter((b) => seen[b])
      .sort((x, y) => BYTE_TO_CHAR[x].charCodeAt(0) - BYTE_TO_CHAR[y].charCodeAt(0));
    const vocab: (Uint8Array | undefined)[] = specials.map(() => undefined);
    const byteId = new Int32Array(256).fill(-1);
    for (const b of alphabet) {
      byteId[b] = vocab.length;
      vocab.push(Uint8Array.of(b));
    }
    if (opts.vocabSize < vocab.length)
      throw new Error(
        `vocabSize ${opts.vocabSize} is smaller than the special tokens plus the alphabet (${vocab.length})`,
      );
    const tokenIds = new Map<string, number>(); // byte-level string -> id, to reuse ids of repeated tokens
    const tokenStr: string[] = vocab.map((t) => (t ? BYTE_TO_CHAR[t[0]] : ''));
    for (let id = specials.length; id < vocab.length; id++) tokenIds.set(tokenStr[id], id);

    const sym = new Int32Array(nPos);
    const next = new Int32Array(nPos);
    const prev = new Int32Array(nPos);
    const wordOf = new Int32Array(nPos);
    let start = 0;
    for (let w = 0; w < nWords; w++) {
      const end = wordEnd[w];
      for (let p = start; p < end; p++) {
        sym[p] = byteId[bytes[p]];
        wordOf[p] = w;
        prev[p] = p === start ? -1 : p - 1;
        next[p] = p === end - 1 ? -1 : p + 1;
      }
      start = end;
    }
    const freq = W.counts;

    // Pair counts and occurrence lists (nodes: occPos[k] = left position, occNext[k] = next node).
    const pairs = new PairTable();
    let occPos = new Int32Array(Math.max(1024, nPos * 2));
    let occNext = new Int32Array(occPos.length);
    let nOcc = 0;
    const addOcc = (pair: number, pos: number) => {
      if (nOcc === occPos.length) {
        occPos = grow(occPos, nOcc + 1);
        occNext = grow(occNext, nOcc + 1);
      }
      occPos[nOcc] = pos;
      occNext[nOcc] = pairs.head[pair];
      pairs.head[pair] = nOcc++;
    };
    for (let p = 0; p < nPos; p++) {
      const q = next[p];
      if (q < 0) continue;
      const pair = pairs.get(sym[p], sym[q]);
      pairs.count[pair] += freq[wordOf[p]];
      addOcc(pair, p);
    }
    const heap = new PairHeap(pairs);
    for (let pair = 0; pair < pairs.n; pair++) if (pairs.count[pair] > 0) heap.push(pairs.count[pair], pair);

    const merges: [number, number][] = [];
    let vocabLen = vocab.length;
    const target = opts.vocabSize;
    const todo = target - vocabLen;
    let positions = new Int32Array(1024);
    let touched = new Int32Array(1024);
    let lastReport = Date.now();
    let step = 0;
    while (vocabLen < target && heap.size > 0) {
      heap.pop();
      const pair = heap.topPair;
      const current = pairs.count[pair];
      if (heap.topCount !== current) {
        if (current > 0) heap.push(current, pair);
        continue;
      }
      if (current < 1 || current < minFrequency) break;
      const a = pairs.a[pair];
      const b = pairs.b[pair];
      const str = tokenStr[a] + tokenStr[b];
      let x = tokenIds.get(str);
      if (x === undefined) {
        x = vocab.length;
        const ta = vocab[a]!;
        const tb = vocab[b]!;
        const t = new Uint8Array(ta.length + tb.length);
        t.set(ta, 0);
        t.set(tb, ta.length);
        vocab.push(t);
        tokenStr.push(str);
        tokenIds.set(str, x);
        vocabLen++;
      }
      merges.push([a, b]);
      step++;

      // Collect this pair's occurrences, leftmost first (positions are ordered by word, then offset).
      let n = 0;
      for (let k = pairs.head[pair]; k >= 0; k = occNext[k]) {
        if (n === positions.length) positions = grow(positions, n + 1);
        positions[n++] = occPos[k];
      }
      pairs.head[pair] = -1;
      const ps = positions.subarray(0, n);
      ps.sort();
      let nTouched = 0;
      const touch = (pr: number) => {
        if (pairs.stamp[pr] === step) return;
        pairs.stamp[pr] = step;
        if (nTouched === touched.length) touched = grow(touched, nTouched + 1);
        touched[nTouched++] = pr;
      };
      for (let k = 0; k < n; k++) {
        const p = ps[k];
        if (sym[p] !== a) continue; // stale: merged away, or a repeated entry
        const q = next[p];
        if (q < 0 || sym[q] !== b) continue;
        const f = freq[wordOf[p]];
        const o = prev[p];
        const r = next[q];
        if (o >= 0) {
          pairs.count[pairs.get(sym[o], a)] -= f;
          const np = pairs.get(sym[o], x);
          pairs.count[np] += f;
          addOcc(np, o);
          touch(np);
        }
        if (r >= 0) {
          pairs.count[pairs.get(b, sym[r])] -= f;
          const np = pairs.get(x, sym[r]);
          pairs.count[np] += f;
          addOcc(np, p);
          touch(np);
        }
        sym[p] = x;
        sym[q] = -1;
        next[p] = r;
        if (r >= 0) prev[r] = p;
      }
      pairs.count[pair] = 0;
      for (let k = 0; k < nTouched; k++) {
        const pr = touched[k];
        if (pairs.count[pr] > 0) heap.push(pairs.count[pr], pr);
      }
      if (opts.onProgress && Date.now() - lastReport > 250) {
        lastReport = Date.now();
        opts.onProgress('merge', merges.length, todo);
      }
    }
    opts.onProgress?.('merge', merges.length, todo);
    const specialTokens: Record<string, number> = {};
    specials.forEach((s, i) => {
      specialTokens[s] = i;
    });
    return { vocab, merges, specialTokens, pattern: opts.pattern ?? 'gpt2' };
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
