/**
 * Byte-level BPE: the model behind GPT-2, tiktoken (cl100k_base, o200k_base), Llama 3 and Qwen.
 *
 * encode: split the text with a regex into pieces (patterns.ts), then turn each piece's UTF-8 bytes
 * into tokens by repeatedly merging the adjacent pair of lowest rank (leftmost first on ties):
 *
 *   " lower" -> bytes [Ġ l o w e r] -> [Ġ lo w e r] -> [Ġ low e r] -> [Ġ low er] -> [Ġlow er] -> ...
 *
 * Two kinds of rank table feed the same loop:
 * - tiktoken ranks (`merges` omitted): any adjacent pair whose concatenated bytes are a token may
 *   merge, and the rank is that token's id. A piece that is itself a token is returned whole.
 * - merge rules (`merges` given, GPT-2's merges.txt / tokenizer.json): only listed pairs merge, the
 *   rank is the rule's position in the list.
 *
 * Speed (this is the hot path of every data pipeline): a piece -> ids cache (most pieces of real
 * text repeat), UTF-8 encoding into a reused buffer with no intermediate strings, the merge loop on
 * typed arrays (tiktoken's O(n^2) scan for pieces of up to LONG_PIECE bytes, where it is fastest,
 * and a heap over a linked list, O(n log n), above), and open-addressing hash tables on typed arrays
 * for bytes -> id and (id, id) -> merge.
 *
 * decode: concatenate the tokens' bytes. `decodeBytes` returns them exactly; `decode` turns them
 * into text with the WHATWG UTF-8 decoder (each invalid sequence becomes U+FFFD, as TextDecoder and
 * the reference implementations' `errors="replace"` do). `StreamingDecoder` emits text as ids arrive
 * and holds back the bytes of an incomplete character, so no broken character is ever emitted.
 *
 * Lone surrogates in the input are encoded as U+FFFD (EF BF BD), which is what the reference does:
 * it receives the text as UTF-8, and JavaScript's TextEncoder replaces them on the way.
 */
import { BYTE_TO_CHAR, unicodeToBytes } from './byte_level.ts';
import { MISS, PieceCache } from './piece_cache.ts';
import { type Scanner, scannerFor } from './splitters.ts';
import type {
  AllowedSpecial,
  DecodeOptions,
  EncodeOptions,
  Encoding,
  Offset,
  Tokenizer,
} from './tokenizer.ts';

export interface BpeOptions {
  /** Token bytes by id (rank); `undefined` marks an unused id. */
  vocab: ReadonlyArray<Uint8Array | undefined>;
  /** Merge rules as pairs of ids, highest priority first. Omit for tiktoken ranks. */
  merges?: ReadonlyArray<readonly [number, number]>;
  /** Split pattern: a JavaScript RegExp source (compiled with flags `gu`) or a global unicode RegExp. */
  pattern: string | RegExp;
  /** Special tokens by content, e.g. {'<|endoftext|>': 50256}. Never parsed from text unless allowed. */
  specialTokens?: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
  /**
   * Return a piece that is itself a token without merging (tiktoken; tokenizer.json `ignore_merges`).
   * Default: true for tiktoken ranks, false with merge rules.
   */
  ignoreMerges?: boolean;
  /**
   * A hand-written splitter equivalent to `pattern` (splitters.ts). Default: chosen automatically
   * when the pattern is one of GPT-2's, cl100k's or o200k's; otherwise the RegExp runs.
   */
  scanner?: Scanner;
  /** Pieces kept in the piece -> ids cache before it is cleared (default 100,000; 0 disables it). */
  cacheSize?: number;
}

const NONE = 0x7fffffff;
/** Pieces up to this many bytes use the O(n^2) scan; longer ones the heap. Measured crossover. */
const LONG_PIECE = 256;
/** Pieces longer than this (in UTF-16 units) are not cached: they rarely repeat. */
const MAX_CACHED_PIECE = 256;

const utf8 = new TextDecoder('utf-8');
const encoder = new TextEncoder();

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

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Whether ranks are tiktoken's (true) or merge rules (false). */
  readonly tiktokenRanks: boolean;

  // Token bytes: pool[starts[id] .. starts[id + 1]]; unused ids have an empty span.
  private readonly pool: Uint8Array;
  private readonly starts: Int32Array;
  private readonly nTokens: number;
  /** Open addressing: slots hold id + 1 (0 = empty), keyed by the token's bytes. */
  private readonly slots: Int32Array;
  private readonly slotMask: number;
  /** The id of each single byte (-1 if the vocabulary lacks it: the byte is then dropped, as HF does). */
  private readonly byteIds = new Int32Array(256).fill(-1);
  // Merge rules: (a, b) -> (rank, merged id), open addressing keyed by the pair; pairA = -1 is empty.
  private pairA = new Int32Array(0);
  private pairB = new Int32Array(0);
  private pairRank = new Int32Array(0);
  private pairResult = new Int32Array(0);
  private pairMask = 0;

  private readonly ignoreMerges: boolean;
  private readonly regex: RegExp;
  private readonly specialBytes = new Map<number, Uint8Array>();
  private readonly specialRegexAll: RegExp | undefined;
  private readonly scanner: Scanner | undefined;
  private readonly cache: PieceCache | undefined;
  // Scratch buffers of the merge loop, grown on demand.
  private buf = new Uint8Array(1024);
  private posA = new Int32Array(LONG_PIECE + 2);
  private rankA = new Int32Array(LONG_PIECE + 2);
  private resA = new Int32Array(LONG_PIECE + 2);

  constructor(options: BpeOptions) {
    const { vocab } = options;
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
      if (t.length === 1) this.byteIds[t[0]] = id;
    }
    this.starts[vocab.length] = at;

    this.tiktokenRanks = options.merges === undefined;
    this.ignoreMerges = options.ignoreMerges ?? this.tiktokenRanks;
    if (options.merges) this.buildPairs(options.merges);

    const specials = new Map<string, number>(
      options.specialTokens instanceof Map
        ? options.specialTokens
        : Object.entries((options.specialTokens ?? {}) as Record<string, number>),
    );
    this.specialTokens = specials;
    let maxId = vocab.length - 1;
    for (const [s, id] of specials) {
      this.specialBytes.set(id, encoder.encode(s));
      if (id > maxId) maxId = id;
    }
    this.vocabSize = maxId + 1;
    this.specialRegexAll = specialRegex([...specials.keys()]);
    this.regex = typeof options.pattern === 'string' ? new RegExp(options.pattern, 'gu') : options.pattern;
    if (!this.regex.global || !this.regex.unicode) throw new Error('BPE split pattern must have the g and u flags');
    this.scanner = options.scanner ?? scannerFor(this.regex.source);
    const cacheSize = options.cacheSize ?? 100_000;
    this.cache = cacheSize > 0 ? new PieceCache(cacheSize) : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Tables

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
      if (la <= 0 || lb <= 0) throw new Error(`BPE merge ${rank} (${a}, ${b}) refers to an id not in the vocabulary`);
      if (la + lb > joined.length) joined = new Uint8Array(2 * (la + lb));
      joined.set(this.pool.subarray(this.starts[a], this.starts[a] + la), 0);
      joined.set(this.pool.subarray(this.starts[b], this.starts[b] + lb), la);
      const result = this.lookupBytes(joined, 0, la + lb);
      if (result < 0) throw new Error(`BPE merge ${rank} (${a}, ${b}): the merged token is not in the vocabulary`);
      let s = hashPair(a, b) & this.pairMask;
      while (this.pairA[s] !== -1 && !(this.pairA[s] === a && this.pairB[s] === b)) s = (s + 1) & this.pairMask;
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

  private tokenLength(id: number): number {
    return id >= 0 && id < this.nTokens ? this.starts[id + 1] - this.starts[id] : -1;
  }

  // ---------------------------------------------------------------------------------------------
  // Encode

  encode(text: string, options?: EncodeOptions): number[] {
    const out: number[] = [];
    const special = this.allowedRegex(options?.allowedSpecial);
    if (!special) {
      this.encodeOrdinaryInto(text, out);
      return out;
    }
    let from = 0;
    special.lastIndex = 0;
    for (let m = special.exec(text); m !== null; m = special.exec(text)) {
      this.encodeOrdinaryInto(text, out, from, m.index);
      out.push(this.specialTokens.get(m[0])!);
      from = m.index + m[0].length;
    }
    this.encodeOrdinaryInto(text, out, from, text.length);
    return out;
  }

  /** Encodes text with every special token treated as plain text. */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    this.encodeOrdinaryInto(text, out);
    return out;
  }

  /** The hot loop: split text[start..end), then each piece from the cache or through the merge loop. */
  encodeOrdinaryInto(text: string, out: number[], start = 0, end = text.length): void {
    if (end <= start) return;
    const scan = this.scanner;
    if (!scan) {
      this.encodeWithRegex(text, out, start, end);
      return;
    }
    const cache = this.cache;
    let i = start;
    while (i < end) {
      const e = scan(text, i, end);
      if (cache) {
        const h = PieceCache.hash(text, i, e);
        const v = cache.get(text, i, e, h);
        if (v >= 0) out.push(v);
        else if (v !== MISS) cache.copyIds(v, out);
        else this.encodeSpan(text, i, e, h, out);
      } else {
        this.encodeSpan(text, i, e, 0, out);
      }
      i = e;
    }
  }

  private encodeWithRegex(text: string, out: number[], start: number, end: number): void {
    const part = start === 0 && end === text.length ? text : text.slice(start, end);
    const re = this.regex;
    const cache = this.cache;
    re.lastIndex = 0;
    for (let m = re.exec(part); m !== null; m = re.exec(part)) {
      const len = m[0].length;
      if (len === 0) {
        re.lastIndex++; // a pattern that can match empty: step over
        continue;
      }
      const i = m.index;
      if (cache) {
        const h = PieceCache.hash(part, i, i + len);
        const v = cache.get(part, i, i + len, h);
        if (v >= 0) out.push(v);
        else if (v !== MISS) cache.copyIds(v, out);
        else this.encodeSpan(part, i, i + len, h, out);
      } else {
        this.encodeSpan(part, i, i + len, 0, out);
      }
    }
  }

  /** Encodes the piece text[start..end) (no splitting), caching it under hash h. */
  private encodeSpan(text: string, start: number, end: number, h: number, out: number[]): void {
    const n = this.utf8Encode(text, start, end);
    const first = out.length;
    this.encodeBytesInto(this.buf, n, out);
    if (this.cache && end - start <= MAX_CACHED_PIECE) this.cache.set(text, start, end, h, out, first);
  }

  /** Encodes one pre-token (no splitting). */
  encodePieceInto(piece: string, out: number[]): void {
    const n = this.utf8Encode(piece, 0, piece.length);
    this.encodeBytesInto(this.buf, n, out);
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

  /** UTF-8 of s[start..end) into this.buf (lone surrogates as U+FFFD); returns the byte length. */
  private utf8Encode(s: string, start: number, end: number): number {
    if (this.buf.length < (end - start) * 3) this.buf = new Uint8Array((end - start) * 3 + 16);
    const buf = this.buf;
    let n = 0;
    for (let i = start; i < end; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        buf[n++] = c;
      } else if (c < 0x800) {
        buf[n++] = 0xc0 | (c >> 6);
        buf[n++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c < 0xe000) {
        const d = i + 1 < end ? s.charCodeAt(i + 1) : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[n++] = 0xf0 | (c >> 18);
          buf[n++] = 0x80 | ((c >> 12) & 63);
          buf[n++] = 0x80 | ((c >> 6) & 63);
          buf[n++] = 0x80 | (c & 63);
        } else {
          buf[n++] = 0xef; // lone surrogate -> U+FFFD
          buf[n++] = 0xbf;
          buf[n++] = 0xbd;
        }
      } else {
        buf[n++] = 0xe0 | (c >> 12);
        buf[n++] = 0x80 | ((c >> 6) & 63);
        buf[n++] = 0x80 | (c & 63);
      }
    }
    return n;
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

  private allowedRegex(allowed: AllowedSpecial | undefined): RegExp | undefined {
    if (allowed === undefined || allowed === 'none') return undefined;
    if (allowed === 'all') return this.specialRegexAll;
    const names: string[] = [];
    for (const s of allowed) {
      if (!this.specialTokens.has(s)) throw new Error(`allowedSpecial: "${s}" is not a special token of this tokenizer`);
      names.push(s);
    }
    return specialRegex(names);
  }

  encodeWithOffsets(text: string, options?: EncodeOptions): Encoding {
    const ids: number[] = [];
    const offsets: Offset[] = [];
    const special = this.allowedRegex(options?.allowedSpecial);
    let from = 0;
    if (special) {
      special.lastIndex = 0;
      for (let m = special.exec(text); m !== null; m = special.exec(text)) {
        this.offsetsOrdinary(text, from, m.index, ids, offsets);
        ids.push(this.specialTokens.get(m[0])!);
        offsets.push([m.index, m.index + m[0].length]);
        from = m.index + m[0].length;
      }
    }
    this.offsetsOrdinary(text, from, text.length, ids, offsets);
    return { ids, tokens: ids.map((id) => this.idToToken(id)!), offsets };
  }

  /**
   * Offsets of text[from..to): each token spans the characters that hold its bytes, in UTF-16 units.
   * A character split over several tokens (an emoji in byte tokens) gives each of them its full span.
   */
  private offsetsOrdinary(text: string, from: number, to: number, ids: number[], offsets: Offset[]): void {
    const spans = this.splitSpans(text, from, to);
    const pieceIds: number[] = [];
    for (let p = 0; p < spans.length; p += 2) {
      const piece = text.slice(spans[p], spans[p + 1]);
      pieceIds.length = 0;
      this.encodePieceInto(piece, pieceIds);
      // charStart[b]: UTF-16 start of the character holding byte b of the piece; charEnd[b] its end.
      // (Lone surrogates count as U+FFFD, three bytes, as in utf8Encode.)
      const charStart: number[] = [];
      const charEnd: number[] = [];
      for (let u = 0; u < piece.length; ) {
        const c = piece.charCodeAt(u);
        const pair = c >= 0xd800 && c < 0xdc00 && u + 1 < piece.length && (piece.charCodeAt(u + 1) & 0xfc00) === 0xdc00;
        const units = pair ? 2 : 1;
        const nb = pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
        for (let k = 0; k < nb; k++) {
          charStart.push(u);
          charEnd.push(u + units);
        }
        u += units;
      }
      const base = spans[p];
      let at = 0;
      for (const id of pieceIds) {
        const len = this.tokenLength(id);
        const last = Math.min(at + len, charEnd.length) - 1;
        ids.push(id);
        offsets.push([base + charStart[Math.min(at, last)], base + charEnd[last]]);
        at += len;
      }
    }
  }

  /** The pre-token spans of text[start..end) as [start0, end0, start1, end1, ...]. */
  splitSpans(text: string, start = 0, end = text.length): number[] {
    const spans: number[] = [];
    if (this.scanner) {
      for (let i = start; i < end; ) {
        const e = this.scanner(text, i, end);
        spans.push(i, e);
        i = e;
      }
      return spans;
    }
    const part = text.slice(start, end);
    const re = this.regex;
    re.lastIndex = 0;
    for (let m = re.exec(part); m !== null; m = re.exec(part)) {
      if (m[0].length === 0) re.lastIndex++;
      else spans.push(start + m.index, start + m.index + m[0].length);
    }
    return spans;
  }

  /** The pre-tokens of text (the split pattern's pieces), e.g. for inspection. */
  split(text: string): string[] {
    const spans = this.splitSpans(text);
    const out: string[] = [];
    for (let p = 0; p < spans.length; p += 2) out.push(text.slice(spans[p], spans[p + 1]));
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Decode

  /** The exact bytes of the ids (special tokens as their UTF-8 text). */
  decodeBytes(ids: ArrayLike<number>, options?: DecodeOptions): Uint8Array {
    const skip = options?.skipSpecialTokens === true;
    const starts = this.starts;
    const nTok = this.nTokens;
    let total = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      const len = id >= 0 && id < nTok ? starts[id + 1] - starts[id] : 0;
      if (len > 0) total += len;
      else {
        const sb = this.specialBytes.get(id);
        if (sb === undefined) throw new RangeError(`decode: id ${id} is not in the vocabulary (size ${this.vocabSize})`);
        if (!skip) total += sb.length;
      }
    }
    const out = new Uint8Array(total);
    const pool = this.pool;
    let at = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      const a = id < nTok ? starts[id] : 0;
      const len = id < nTok ? starts[id + 1] - a : 0;
      if (len > 0) {
        for (let q = 0; q < len; q++) out[at + q] = pool[a + q];
        at += len;
      } else if (!skip) {
        const sb = this.specialBytes.get(id)!;
        out.set(sb, at);
        at += sb.length;
      }
    }
    return out;
  }

  /** Text of the ids; invalid UTF-8 (a character cut between ids) becomes U+FFFD. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    return utf8.decode(this.decodeBytes(ids, options));
  }

  /** A decoder for ids that arrive one by one (generation), never emitting half a character. */
  streamDecoder(options?: DecodeOptions): StreamingDecoder {
    return new StreamingDecoder(this, options);
  }

  /** The bytes of one token (special tokens: their UTF-8 text). */
  tokenBytes(id: number): Uint8Array {
    return this.decodeBytes([id]);
  }

  /** Byte-level token text ("Ġhello"), or a special token's content. */
  idToToken(id: number): string | undefined {
    const len = this.tokenLength(id);
    if (len > 0) {
      let s = '';
      for (let k = this.starts[id]; k < this.starts[id] + len; k++) s += BYTE_TO_CHAR[this.pool[k]];
      return s;
    }
    for (const [s, sid] of this.specialTokens) if (sid === id) return s;
    return undefined;
  }

  /** Inverse of idToToken. */
  tokenToId(token: string): number | undefined {
    const special = this.specialTokens.get(token);
    if (special !== undefined) return special;
    const bytes = unicodeToBytes(token);
    if (!bytes || bytes.length === 0) return undefined;
    const id = this.lookupBytes(bytes, 0, bytes.length);
    return id < 0 ? undefined : id;
  }

  /** Every token's bytes by id (unused ids undefined), e.g. to save or convert the vocabulary. */
  vocabBytes(): (Uint8Array | undefined)[] {
    const out: (Uint8Array | undefined)[] = [];
    for (let id = 0; id < this.nTokens; id++) {
      const len = this.tokenLength(id);
      out.push(len > 0 ? this.pool.slice(this.starts[id], this.starts[id] + len) : undefined);
    }
    return out;
  }

  /** Empties the piece cache (e.g. to measure cold encoding). */
  clearCache(): void {
    this.cache?.clear();
  }
}

/**
 * Decodes ids as they arrive. `push` returns the text that is complete so far; the bytes of a
 * character not yet complete wait for the next ids. `flush` ends the stream (a dangling partial
 * character becomes U+FFFD). The concatenated output always equals `decode(allIds)`.
 */
export class StreamingDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  constructor(
    private readonly tokenizer: { decodeBytes(ids: ArrayLike<number>, options?: DecodeOptions): Uint8Array },
    private readonly options?: DecodeOptions,
  ) {}

  push(ids: number | ArrayLike<number>): string {
    const bytes = this.tokenizer.decodeBytes(typeof ids === 'number' ? [ids] : ids, this.options);
    return this.decoder.decode(bytes, { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}

function specialRegex(names: string[]): RegExp | undefined {
  if (names.length === 0) return undefined;
  // Longest first, so that a special token that is a prefix of another does not shadow it.
  const sorted = [...names].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gu');
}
