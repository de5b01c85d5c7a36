/**
 * The merge loop of BPE training (bpe_trainer.ts step 3): repeatedly merge the most frequent
 * adjacent pair of symbols inside every word, left to right without overlap ("a a a" -> "aa a").
 *
 * It is incremental: pair counts are updated only around each merged occurrence, the occurrences
 * of every pair are kept in linked lists of positions, and a max-heap with lazy deletion (an entry
 * whose count is stale is re-pushed with the current count when popped) finds the best pair. Cost
 * per merge is proportional to the occurrences it touches, not the corpus size.
 */
import { BYTE_TO_CHAR } from './byte_level.ts';

/** Grows a typed array to at least n elements (doubling). */
export function grow<T extends Int32Array | Float64Array | Uint16Array>(a: T, n: number): T {
  if (n <= a.length) return a;
  let cap = a.length * 2;
  while (cap < n) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

/**
 * Pairs of ids -> dense pair index, with per-pair count, occurrence list head, and the left/right ids.
 */
export class PairTable {
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
export class PairHeap {
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

/**
 * The vocabulary as training grows it: special tokens' ids are holes, then the alphabet, then one
 * token per merge. A merge whose bytes are already a token (two splits of the same bytes, "a" + "bc"
 * and "ab" + "c") reuses that token's id, as HF does.
 */
export class GrowingVocab {
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
export interface Symbols {
  sym: Int32Array;
  next: Int32Array;
  prev: Int32Array;
  wordOf: Int32Array;
}

export function linkSymbols(bytes: Uint8Array, wordEnd: Int32Array, byteId: Int32Array): Symbols {
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
export class MergeLoop {
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
  run(
    target: number,
    minFrequency: number,
    onProgress?: (stage: 'merge', done: number, total: number) => void,
  ): [number, number][] {
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
