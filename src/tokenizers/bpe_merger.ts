/**
 * The BPE merge loop, shared by every BPE tokenizer in xfmr: the byte-level tokenizer (bpe.ts:
 * tiktoken encodings, trained models) runs it over the UTF-8 bytes of a piece, and tokenizer.json's
 * BPE model (models/bpe.ts) over the ids of a word's symbols. Each step merges the adjacent pair of
 * lowest rank, the leftmost on ties:
 *
 *   " lower": [Ġ l o w e r] -> [Ġ lo w e r] -> [Ġ low e r] -> [Ġ low er] -> [Ġlow er] -> [Ġlower]
 *   "aaa" with the one rule (a, a): [a a a] -> [aa a], never [a aa]
 *
 * Two kinds of rank feed the loop:
 * - merge rules (`BpeMerger.fromRules`: GPT-2's merges.txt, tokenizer.json, the trainer): only the
 *   listed pairs (left, right) merge, into the listed id, and the rank is the rule's position in the
 *   list. A pair listed twice keeps its last rank, as in HF tokenizers and GPT-2's encoder.py (both
 *   build a dict from the list). The table is open addressing on typed arrays, keyed by the pair.
 * - tiktoken ranks (`BpeMerger.fromRanks`): any adjacent pair whose joined bytes are a token merges
 *   into that token, and the rank is the token's id, looked up in the byte vocabulary
 *   (token_bytes.ts). Only bytes can merge this way (`mergeBytes`).
 *
 * Words of up to LONG_WORD symbols use tiktoken's O(n^2) scan over typed arrays, fastest for short
 * words; longer ones a binary heap over a linked list, O(n log n), so that a megabyte of spaces stays
 * linear-ish. Both pick the same pair at every step.
 *
 * Limit: ranks must be below 2^21 (heap keys are rank * 2^32 + position, exact in a float64); that
 * is ten times the largest vocabulary in use.
 */

import { pow2AtLeast, type TokenBytes } from './token_bytes.ts';

/** A merge rule: the ids of the left and right symbols, and the id of the symbol they make. */
export type MergeRule = readonly [left: number, right: number, merged: number];

const NONE = 0x7fffffff;
/** Words of up to this many symbols use the O(n^2) scan; longer ones the heap. */
const LONG_WORD = 256;
const MAX_RANK = 2 ** 21;
const TWO32 = 2 ** 32;

function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d) >>> 0;
}

/**
 * Merge rules from pairs of ids over a byte vocabulary (GPT-2's merges.txt, the trainer's merges):
 * the merged id is the token whose bytes are the two tokens' bytes joined.
 *
 *   tokens ["a", "b", "ab"], pairs [[0, 1]] -> rules [[0, 1, 2]]
 */
export function rulesFromPairs(
  tokens: TokenBytes,
  pairs: ReadonlyArray<readonly [number, number]>,
): MergeRule[] {
  const rules: MergeRule[] = [];
  let joined = new Uint8Array(64);
  for (let rank = 0; rank < pairs.length; rank++) {
    const [a, b] = pairs[rank];
    const la = tokens.length(a);
    const lb = tokens.length(b);
    if (la <= 0 || lb <= 0)
      throw new Error(`BPE merge ${rank} (${a}, ${b}) refers to an id not in the vocabulary`);
    if (la + lb > joined.length) joined = new Uint8Array(2 * (la + lb));
    joined.set(tokens.bytes(a), 0);
    joined.set(tokens.bytes(b), la);
    const merged = tokens.lookup(joined, 0, la + lb);
    if (merged < 0)
      throw new Error(`BPE merge ${rank} (${a}, ${b}): the merged token is not in the vocabulary`);
    rules.push([a, b, merged]);
  }
  return rules;
}

export class BpeMerger {
  /** The byte vocabulary whose ids are the ranks (tiktoken), or null for merge rules. */
  private readonly ranks: TokenBytes | null;
  // Merge rules: (a, b) -> (rank, merged id), open addressing keyed by the pair; pairA = -1 is empty.
  private readonly pairA: Int32Array;
  private readonly pairB: Int32Array;
  private readonly pairRank: Int32Array;
  private readonly pairResult: Int32Array;
  private readonly pairMask: number;
  // Scratch arrays of the short-word scans.
  private readonly idsA = new Int32Array(LONG_WORD + 2);
  private readonly rankA = new Int32Array(LONG_WORD + 2);
  private readonly resA = new Int32Array(LONG_WORD + 2);

  private constructor(ranks: TokenBytes | null, rules: ReadonlyArray<MergeRule>) {
    this.ranks = ranks;
    const cap = pow2AtLeast(rules.length * 2);
    this.pairA = new Int32Array(cap).fill(-1);
    this.pairB = new Int32Array(cap);
    this.pairRank = new Int32Array(cap);
    this.pairResult = new Int32Array(cap);
    this.pairMask = cap - 1;
    for (let rank = 0; rank < rules.length; rank++) {
      const [a, b, merged] = rules[rank];
      if (!(a >= 0 && b >= 0 && merged >= 0))
        throw new Error(`BPE merge rule ${rank} (${a}, ${b}) -> ${merged}: ids must be non-negative`);
      let s = hashPair(a, b) & this.pairMask;
      while (this.pairA[s] !== -1 && !(this.pairA[s] === a && this.pairB[s] === b))
        s = (s + 1) & this.pairMask;
      this.pairA[s] = a; // a pair listed again takes its later rank
      this.pairB[s] = b;
      this.pairRank[s] = rank;
      this.pairResult[s] = merged;
    }
  }

  /** Merge rules, highest priority (rank 0) first. */
  static fromRules(rules: ReadonlyArray<MergeRule>): BpeMerger {
    if (rules.length > MAX_RANK) throw new Error(`BPE: ${rules.length} merge rules, at most ${MAX_RANK}`);
    return new BpeMerger(null, rules);
  }

  /** tiktoken ranks: the rank of a pair is the id of the token of its joined bytes. */
  static fromRanks(tokens: TokenBytes): BpeMerger {
    if (tokens.size > MAX_RANK) throw new Error(`BPE: ${tokens.size} ranks, at most ${MAX_RANK}`);
    return new BpeMerger(tokens, []);
  }

  /** Whether ranks are tiktoken's (true) or merge rules (false). */
  get tiktokenRanks(): boolean {
    return this.ranks !== null;
  }

  /**
   * BPE over the bytes buf[0..n): appends the ids to out. Byte b starts as the symbol byteIds[b];
   * a byte with id -1 (missing from the vocabulary) is dropped, as HF does.
   */
  mergeBytes(buf: Uint8Array, n: number, byteIds: Int32Array, out: number[]): void {
    if (this.ranks !== null && n <= LONG_WORD) {
      this.scanRanks(buf, n, byteIds, out);
      return;
    }
    const ids = n > LONG_WORD ? new Int32Array(n) : this.idsA;
    let m = 0;
    if (this.ranks !== null) {
      for (let i = 0; i < n; i++) ids[i] = byteIds[buf[i]];
      m = this.heapMerge(ids, n, buf, null);
    } else {
      for (let i = 0; i < n; i++) {
        const id = byteIds[buf[i]];
        if (id >= 0) ids[m++] = id;
      }
      m = this.mergeIds(ids, m);
    }
    for (let k = 0; k < m; k++) out.push(ids[k]);
  }

  /**
   * Merge rules over the symbols ids[0..n): merges in place and returns how many symbols are left,
   * in ids[0..m). With `firsts`, firsts[k] is set to the index (in the input) of the first symbol
   * that symbol k was made of, so that the caller can map its spans.
   *
   *   rules [(a, b) -> ab], ids [a b c] -> [ab c], returns 2, firsts [0, 2]
   */
  mergeIds(ids: Int32Array, n: number, firsts: Int32Array | null = null): number {
    if (this.ranks !== null)
      throw new Error('BpeMerger.mergeIds needs merge rules; tiktoken ranks merge bytes (mergeBytes)');
    if (n < 2) {
      if (n === 1 && firsts !== null) firsts[0] = 0;
      return n;
    }
    return n > LONG_WORD ? this.heapMerge(ids, n, null, firsts) : this.scanRules(ids, n, firsts);
  }

  /** The slot of merge rule (a, b), or -1. */
  private pairSlot(a: number, b: number): number {
    const pairA = this.pairA;
    let s = hashPair(a, b) & this.pairMask;
    for (;;) {
      const x = pairA[s];
      if (x === -1) return -1;
      if (x === a && this.pairB[s] === b) return s;
      s = (s + 1) & this.pairMask;
    }
  }

  /**
   * tiktoken's scan for short pieces. Parts are byte spans pos[k]..pos[k+1]; rank[k] is the id of
   * the token spanning parts k and k+1 (NONE if there is none). Each step merges the leftmost lowest.
   */
  private scanRanks(buf: Uint8Array, n: number, byteIds: Int32Array, out: number[]): void {
    const tokens = this.ranks!;
    const pos = this.idsA;
    const rank = this.rankA;
    for (let k = 0; k <= n; k++) pos[k] = k;
    for (let k = 0; k < n - 1; k++) {
      const r = tokens.lookup(buf, k, k + 2);
      rank[k] = r < 0 ? NONE : r;
    }
    let m = n; // number of parts
    for (;;) {
      let min = NONE;
      let at = -1;
      for (let k = 0; k < m - 1; k++) {
        if (rank[k] < min) {
          min = rank[k];
          at = k;
        }
      }
      if (at < 0) break;
      // Merge parts at and at+1: drop boundary at+1.
      for (let k = at + 1; k < m; k++) pos[k] = pos[k + 1];
      for (let k = at + 1; k < m - 2; k++) rank[k] = rank[k + 1];
      m--;
      if (at < m - 1) {
        const r = tokens.lookup(buf, pos[at], pos[at + 2]);
        rank[at] = r < 0 ? NONE : r;
      }
      if (at > 0) {
        const r = tokens.lookup(buf, pos[at - 1], pos[at + 1]);
        rank[at - 1] = r < 0 ? NONE : r;
      }
    }
    for (let k = 0; k < m; k++) {
      if (pos[k + 1] - pos[k] === 1) {
        const id = byteIds[buf[pos[k]]];
        if (id >= 0) out.push(id);
      } else {
        out.push(tokens.lookup(buf, pos[k], pos[k + 1]));
      }
    }
  }

  /** The same scan with merge rules: ids[k] are the parts, rank/res[k] the rule for (k, k+1). */
  private scanRules(ids: Int32Array, n: number, firsts: Int32Array | null): number {
    const rank = this.rankA;
    const res = this.resA;
    if (firsts !== null) for (let k = 0; k < n; k++) firsts[k] = k;
    for (let k = 0; k < n - 1; k++) {
      const s = this.pairSlot(ids[k], ids[k + 1]);
      rank[k] = s < 0 ? NONE : this.pairRank[s];
      res[k] = s < 0 ? -1 : this.pairResult[s];
    }
    let m = n;
    for (;;) {
      let min = NONE;
      let at = -1;
      for (let k = 0; k < m - 1; k++) {
        if (rank[k] < min) {
          min = rank[k];
          at = k;
        }
      }
      if (at < 0) break;
      ids[at] = res[at];
      for (let k = at + 1; k < m - 1; k++) ids[k] = ids[k + 1];
      if (firsts !== null) for (let k = at + 1; k < m - 1; k++) firsts[k] = firsts[k + 1];
      for (let k = at + 1; k < m - 2; k++) {
        rank[k] = rank[k + 1];
        res[k] = res[k + 1];
      }
      m--;
      if (at < m - 1) {
        const s = this.pairSlot(ids[at], ids[at + 1]);
        rank[at] = s < 0 ? NONE : this.pairRank[s];
        res[at] = s < 0 ? -1 : this.pairResult[s];
      }
      if (at > 0) {
        const s = this.pairSlot(ids[at - 1], ids[at]);
        rank[at - 1] = s < 0 ? NONE : this.pairRank[s];
        res[at - 1] = s < 0 ? -1 : this.pairResult[s];
      }
    }
    return m;
  }

  /**
   * Long words: a doubly linked list of parts (node = index of a part's first symbol) and a binary
   * heap of candidate merges keyed rank * 2^32 + node, so the minimum is the lowest rank, leftmost.
   * Stale entries are skipped: an entry is live while its node is alive and still has that rank.
   * ids[i] is symbol i (-1: dropped); with `bytes` (tiktoken ranks) symbol i is bytes[i]. The result
   * is compacted into ids[0..m) (and firsts); returns m.
   */
  private heapMerge(ids: Int32Array, n: number, bytes: Uint8Array | null, firsts: Int32Array | null): number {
    const next = new Int32Array(n + 1); // next[i]: first symbol of the part after the one at i (n = end)
    const prev = new Int32Array(n);
    const cur = new Int32Array(n).fill(NONE); // rank of merging the part at i with its successor
    const curRes = new Int32Array(n); // the id that merge makes
    const alive = new Uint8Array(n);
    let last = -1;
    let head = -1;
    for (let i = 0; i < n; i++) {
      if (ids[i] < 0) continue;
      alive[i] = 1;
      prev[i] = last;
      if (last >= 0) next[last] = i;
      else head = i;
      last = i;
    }
    if (head < 0) return 0;
    next[last] = n;
    const tokens = this.ranks;
    const rankOf = (i: number): number => {
      const j = next[i];
      if (j >= n) return NONE;
      if (tokens !== null) {
        const r = tokens.lookup(bytes!, i, next[j]);
        curRes[i] = r;
        return r < 0 ? NONE : r;
      }
      const s = this.pairSlot(ids[i], ids[j]);
      curRes[i] = s < 0 ? -1 : this.pairResult[s];
      return s < 0 ? NONE : this.pairRank[s];
    };
    const heap: number[] = [];
    for (let i = head; i < n; i = next[i]) {
      cur[i] = rankOf(i);
      if (cur[i] !== NONE) heapPush(heap, cur[i] * TWO32 + i);
    }
    while (heap.length > 0) {
      const key = heapPop(heap);
      const r = Math.floor(key / TWO32);
      const i = key - r * TWO32;
      if (!alive[i] || cur[i] !== r) continue;
      const j = next[i];
      ids[i] = curRes[i];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] < n) prev[next[j]] = i;
      cur[i] = rankOf(i);
      if (cur[i] !== NONE) heapPush(heap, cur[i] * TWO32 + i);
      const p = prev[i];
      if (p >= 0) {
        cur[p] = rankOf(p);
        if (cur[p] !== NONE) heapPush(heap, cur[p] * TWO32 + p);
      }
    }
    let m = 0;
    for (let i = head; i < n; i = next[i]) {
      ids[m] = ids[i];
      if (firsts !== null) firsts[m] = i;
      m++;
    }
    return m;
  }
}

/** Binary min-heap on a plain array: push. */
function heapPush(heap: number[], key: number): void {
  heap.push(key);
  let c = heap.length - 1;
  while (c > 0) {
    const p = (c - 1) >> 1;
    if (heap[p] <= key) break;
    heap[c] = heap[p];
    c = p;
  }
  heap[c] = key;
}

/** Binary min-heap on a plain array: removes and returns the minimum (the heap must not be empty). */
function heapPop(heap: number[]): number {
  const top = heap[0];
  const x = heap.pop()!;
  if (heap.length > 0) {
    let c = 0;
    for (;;) {
      let l = 2 * c + 1;
      if (l >= heap.length) break;
      if (l + 1 < heap.length && heap[l + 1] < heap[l]) l++;
      if (heap[l] >= x) break;
      heap[c] = heap[l];
      c = l;
    }
    heap[c] = x;
  }
  return top;
}
