/**
 * The BPE model proper: token bytes <-> ids and the merge loop over the bytes of one piece.
 * `BpeTokenizer` (bpe.ts) adds splitting, the piece cache, special tokens and decoding.
 *
 * Two kinds of rank table feed the same loop:
 * - tiktoken ranks (`merges` omitted): any adjacent pair whose concatenated bytes are a token may
 *   merge, and the rank is that token's id; a piece that is itself a token is returned whole.
 * - merge rules (`merges` given: GPT-2's merges.txt, tokenizer.json): only listed pairs merge, and
 *   the rank is the rule's position in the list.
 * Each step merges the adjacent pair of lowest rank, the leftmost on ties:
 *
 *   " lower": [Ġ l o w e r] -> [Ġ lo w e r] -> [Ġ low e r] -> [Ġ low er] -> [Ġlow er] -> [Ġlower]
 *
 * Tables are open-addressing hashes on typed arrays (bytes -> id; (id, id) -> rule). Pieces of up to
 * LONG_PIECE bytes use tiktoken's O(n^2) scan over parts in typed arrays, fastest for short pieces;
 * longer ones a binary heap over a linked list, O(n log n), so a megabyte of spaces stays linear-ish.
 */

const NONE = 0x7fffffff;
/** Pieces up to this many bytes use the O(n^2) scan; longer ones the heap. */
const LONG_PIECE = 256;

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d) >>> 0;
}

function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

export class BpeModel {
  /** Token bytes: pool[starts[id] .. starts[id + 1]]; unused ids have an empty span. */
  readonly pool: Uint8Array;
  readonly starts: Int32Array;
  /** Number of ids in the table (the largest + 1). */
  readonly nTokens: number;
  /** Whether ranks are tiktoken's (true) or merge rules (false). */
  readonly tiktokenRanks: boolean;
  /** Whether a piece that is itself a token is returned without merging. */
  readonly ignoreMerges: boolean;
  /** The id of each single byte (-1 if the vocabulary lacks it: the byte is then dropped, as HF does). */
  readonly byteIds = new Int32Array(256).fill(-1);
  /** Open addressing: slots hold id + 1 (0 = empty), keyed by the token's bytes. */
  private readonly slots: Int32Array;
  private readonly slotMask: number;
  // Merge rules: (a, b) -> (rank, merged id), open addressing keyed by the pair; pairA = -1 is empty.
  private pairA = new Int32Array(0);
  private pairB = new Int32Array(0);
  private pairRank = new Int32Array(0);
  private pairResult = new Int32Array(0);
  private pairMask = 0;
  // Scratch arrays of the short-piece merge loop.
  private readonly posA = new Int32Array(LONG_PIECE + 2);
  private readonly rankA = new Int32Array(LONG_PIECE + 2);
  private readonly resA = new Int32Array(LONG_PIECE + 2);

  /**
   * @param vocab token bytes by id (rank); `undefined` marks an unused id
   * @param merges merge rules as pairs of ids, highest priority first; omit for tiktoken ranks
   * @param ignoreMerges default: true for tiktoken ranks, false with merge rules
   */
  constructor(
    vocab: ReadonlyArray<Uint8Array | undefined>,
    merges?: ReadonlyArray<readonly [number, number]>,
    ignoreMerges?: boolean,
  ) {
    this.nTokens = vocab.length;
    let total = 0;
    for (const t of vocab) total += t ? t.length : 0;
    this.pool = new Uint8Array(total);
    this.starts = new Int32Array(vocab.length + 1);
    const cap = pow2AtLeast(vocab.length * 2);
    this.slots = new Int32Array(cap);
    this.slotMask = cap - 1;
    let at = 0;
    for (let id = 0; id < vocab.length; id++) {
      this.starts[id] = at;
      const t = vocab[id];
      if (!t || t.length === 0) continue;
      this.pool.set(t, at);
      at += t.length;
      this.insertToken(id, at - t.length, at);
      if (t.length === 1 && this.byteIds[t[0]] < 0) this.byteIds[t[0]] = id;
    }
    this.starts[vocab.length] = at;
    this.tiktokenRanks = merges === undefined;
    this.ignoreMerges = ignoreMerges ?? this.tiktokenRanks;
    if (merges) this.buildPairs(merges);
  }

  private insertToken(id: number, start: number, end: number): void {
    const pool = this.pool;
    let s = hashBytes(pool, start, end) & this.slotMask;
    while (this.slots[s] !== 0) {
      const other = this.slots[s] - 1;
      if (this.sameBytes(other, pool, start, end)) return; // duplicate bytes: the first id wins
      s = (s + 1) & this.slotMask;
    }
    this.slots[s] = id + 1;
  }

  private sameBytes(id: number, buf: Uint8Array, start: number, end: number): boolean {
    const a = this.starts[id];
    const len = end - start;
    if (this.starts[id + 1] - a !== len) return false;
    const pool = this.pool;
    for (let k = 0; k < len; k++) if (pool[a + k] !== buf[start + k]) return false;
    return true;
  }

  /** The id of the token with bytes buf[start..end), or -1. */
  lookupBytes(buf: Uint8Array, start: number, end: number): number {
    const slots = this.slots;
    const starts = this.starts;
    const pool = this.pool;
    const len = end - start;
    let s = hashBytes(buf, start, end) & this.slotMask;
    for (;;) {
      const v = slots[s];
      if (v === 0) return -1;
      const id = v - 1;
      const a = starts[id];
      if (starts[id + 1] - a === len) {
        let k = 0;
        while (k < len && pool[a + k] === buf[start + k]) k++;
        if (k === len) return id;
      }
      s = (s + 1) & this.slotMask;
    }
  }

  private buildPairs(merges: ReadonlyArray<readonly [number, number]>): void {
    const cap = pow2AtLeast(merges.length * 2);
    this.pairA = new Int32Array(cap).fill(-1);
    this.pairB = new Int32Array(cap);
    this.pairRank = new Int32Array(cap);
    this.pairResult = new Int32Array(cap);
    this.pairMask = cap - 1;
    let joined = new Uint8Array(64);
    for (let rank = 0; rank < merges.length; rank++) {
      const [a, b] = merges[rank];
      const la = this.tokenLength(a);
      const lb = this.tokenLength(b);
      if (la <= 0 || lb <= 0)
        throw new Error(`BPE merge ${rank} (${a}, ${b}) refers to an id not in the vocabulary`);
      if (la + lb > joined.length) joined = new Uint8Array(2 * (la + lb));
      joined.set(this.pool.subarray(this.starts[a], this.starts[a] + la), 0);
      joined.set(this.pool.subarray(this.starts[b], this.starts[b] + lb), la);
      const result = this.lookupBytes(joined, 0, la + lb);
      if (result < 0)
        throw new Error(`BPE merge ${rank} (${a}, ${b}): the merged token is not in the vocabulary`);
      let s = hashPair(a, b) & this.pairMask;
      while (this.pairA[s] !== -1 && !(this.pairA[s] === a && this.pairB[s] === b))
        s = (s + 1) & this.pairMask;
      if (this.pairA[s] !== -1) continue; // a repeated rule keeps its first (best) rank
      this.pairA[s] = a;
      this.pairB[s] = b;
      this.pairRank[s] = rank;
      this.pairResult[s] = result;
    }
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

  /** Byte length of token id (-1 for an id outside the table, 0 for an unused one). */
  tokenLength(id: number): number {
    return id >= 0 && id < this.nTokens ? this.starts[id + 1] - this.starts[id] : -1;
  }

  /** BPE over buf[0..n): appends the ids to out. */
  encodeBytesInto(buf: Uint8Array, n: number, out: number[]): void {
    if (n === 0) return;
    if (n === 1) {
      const id = this.byteIds[buf[0]];
      if (id >= 0) out.push(id);
      return;
    }
    if (this.ignoreMerges) {
      const id = this.lookupBytes(buf, 0, n);
      if (id >= 0) {
        out.push(id);
        return;
      }
    }
    if (n > LONG_PIECE) this.mergeLong(buf, n, out);
    else if (this.tiktokenRanks) this.mergeRanks(buf, n, out);
    else this.mergeRules(buf, n, out);
  }

  /**
   * tiktoken's merge for short pieces. Parts are byte spans pos[k]..pos[k+1]; rank[k] is the id of
   * the token spanning parts k and k+1 (NONE if there is none). Each step merges the leftmost lowest.
   */
  private mergeRanks(buf: Uint8Array, n: number, out: number[]): void {
    const pos = this.posA;
    const rank = this.rankA;
    for (let k = 0; k <= n; k++) pos[k] = k;
    for (let k = 0; k < n - 1; k++) {
      const r = this.lookupBytes(buf, k, k + 2);
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
        const r = this.lookupBytes(buf, pos[at], pos[at + 2]);
        rank[at] = r < 0 ? NONE : r;
      }
      if (at > 0) {
        const r = this.lookupBytes(buf, pos[at - 1], pos[at + 1]);
        rank[at - 1] = r < 0 ? NONE : r;
      }
    }
    for (let k = 0; k < m; k++) {
      if (pos[k + 1] - pos[k] === 1) {
        const id = this.byteIds[buf[pos[k]]];
        if (id >= 0) out.push(id);
      } else {
        out.push(this.lookupBytes(buf, pos[k], pos[k + 1]));
      }
    }
  }

  /** The same scan with merge rules: ids[k] are the parts, rank/res[k] the rule for (k, k+1). */
  private mergeRules(buf: Uint8Array, n: number, out: number[]): void {
    const ids = this.posA;
    const rank = this.rankA;
    const res = this.resA;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const id = this.byteIds[buf[k]];
      if (id >= 0) ids[m++] = id;
    }
    for (let k = 0; k < m - 1; k++) {
      const s = this.pairSlot(ids[k], ids[k + 1]);
      rank[k] = s < 0 ? NONE : this.pairRank[s];
      res[k] = s < 0 ? -1 : this.pairResult[s];
    }
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
    for (let k = 0; k < m; k++) out.push(ids[k]);
  }

  /**
   * Long pieces: a doubly linked list of parts (node = start byte of a part) and a binary heap of
   * candidate merges keyed rank * 2^32 + start, so the minimum is the lowest rank, leftmost. Stale
   * entries are skipped: an entry is live while its node is alive and still has that rank.
   */
  private mergeLong(buf: Uint8Array, n: number, out: number[]): void {
    const next = new Int32Array(n + 1); // next[i]: start of the part after the one at i (n = end)
    const prev = new Int32Array(n);
    const ids = new Int32Array(n); // id of the part starting at i
    const cur = new Int32Array(n).fill(NONE); // rank of merging the part at i with its successor
    const curRes = new Int32Array(n);
    const alive = new Uint8Array(n);
    let m = 0;
    let last = -1;
    let head = -1;
    for (let i = 0; i < n; i++) {
      const id = this.byteIds[buf[i]];
      if (id < 0) continue; // a byte missing from the vocabulary is dropped (merge rules only)
      ids[i] = id;
      alive[i] = 1;
      prev[i] = last;
      if (last >= 0) next[last] = i;
      else head = i;
      last = i;
      m++;
    }
    if (m === 0) return;
    next[last] = n;
    const heap: number[] = [];
    const rankOf = (i: number): number => {
      const j = next[i];
      if (j >= n) return NONE;
      if (this.tiktokenRanks) {
        const r = this.lookupBytes(buf, i, next[j]);
        curRes[i] = r;
        return r < 0 ? NONE : r;
      }
      const s = this.pairSlot(ids[i], ids[j]);
      curRes[i] = s < 0 ? -1 : this.pairResult[s];
      return s < 0 ? NONE : this.pairRank[s];
    };
    const push = (key: number) => {
      heap.push(key);
      let c = heap.length - 1;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (heap[p] <= key) break;
        heap[c] = heap[p];
        c = p;
      }
      heap[c] = key;
    };
    const pop = (): number => {
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
    };
    const TWO32 = 4294967296;
    for (let i = head; i < n; i = next[i]) {
      cur[i] = rankOf(i);
      if (cur[i] !== NONE) push(cur[i] * TWO32 + i);
    }
    while (heap.length > 0) {
      const key = pop();
      const r = Math.floor(key / TWO32);
      const i = key - r * TWO32;
      if (!alive[i] || cur[i] !== r) continue;
      const j = next[i];
      ids[i] = curRes[i];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] < n) prev[next[j]] = i;
      cur[i] = rankOf(i);
      if (cur[i] !== NONE) push(cur[i] * TWO32 + i);
      const p = i === head ? -1 : prev[i];
      if (p >= 0) {
        cur[p] = rankOf(p);
        if (cur[p] !== NONE) push(cur[p] * TWO32 + p);
      }
    }
    for (let i = head; i < n; i = next[i]) out.push(ids[i]);
  }
}
