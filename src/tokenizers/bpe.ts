/**
 * Byte-level BPE: the model behind GPT-2, tiktoken (cl100k_base, o200k_base), Llama 3 and Qwen.
 *
 * encode: split the text with a regex into pieces (patterns.ts), then turn each piece's UTF-8 bytes
 * into tokens by repeatedly merging the adjacent pair of lowest rank (leftmost first on ties):
 *
 *   " lower" -> bytes [Ġ l o w e r] -> [Ġ lo w e r] -> [Ġ low e r] -> [Ġ low er] -> [Ġlow er] -> ...
 *
 * The vocabulary table (token bytes <-> ids) is token_bytes.ts, the merge loop bpe_merger.ts (tiktoken
 * ranks or GPT-2-style merge rules). This file adds the rest of the tokenizer.
 *
 * Speed (this is the hot path of every data pipeline): hand-written splitters for the known
 * patterns (splitters.ts; any other pattern runs as a RegExp), a piece -> ids cache keyed by spans of
 * the input so that a hit allocates nothing (piece_cache.ts; most pieces of real text repeat), UTF-8
 * encoding of a missed piece into a reused buffer, and the typed-array merge loop.
 *
 * decode: concatenate the tokens' bytes. `decodeBytes` returns them exactly; `decode` turns them
 * into text with the WHATWG UTF-8 decoder (each invalid sequence becomes U+FFFD, as TextDecoder and
 * the reference implementations' `errors="replace"` do). `StreamingDecoder` emits text as ids arrive
 * and holds back the bytes of an incomplete character, so no broken character is ever emitted.
 *
 * Lone surrogates in the input are encoded as U+FFFD (EF BF BD), which is what the reference does:
 * it receives the text as UTF-8, and JavaScript's TextEncoder replaces them on the way.
 */

import { BpeMerger, rulesFromPairs } from './bpe_merger.ts';
import { BYTE_TO_CHAR, unicodeToBytes } from './byte_level.ts';
import { MISS, PieceCache } from './piece_cache.ts';
import { type Scanner, scannerFor } from './splitters.ts';
import { TokenBytes } from './token_bytes.ts';
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

/** Pieces longer than this (in UTF-16 units) are not cached: they rarely repeat. */
const MAX_CACHED_PIECE = 256;

const utf8 = new TextDecoder('utf-8');
const encoder = new TextEncoder();

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Token bytes <-> ids. */
  readonly tokens: TokenBytes;
  /** The merge loop, with tiktoken ranks or merge rules. */
  readonly merger: BpeMerger;
  /** Whether a piece that is itself a token is returned without merging. */
  readonly ignoreMerges: boolean;

  private readonly regex: RegExp;
  private readonly specialBytes = new Map<number, Uint8Array>();
  private readonly specialRegexAll: RegExp | undefined;
  private readonly scanner: Scanner | undefined;
  private readonly cache: PieceCache | undefined;
  // Scratch buffers of the merge loop, grown on demand.
  private buf = new Uint8Array(1024);

  constructor(options: BpeOptions) {
    const { vocab } = options;
    this.tokens = new TokenBytes(vocab);
    this.merger = options.merges
      ? BpeMerger.fromRules(rulesFromPairs(this.tokens, options.merges))
      : BpeMerger.fromRanks(this.tokens);
    this.ignoreMerges = options.ignoreMerges ?? options.merges === undefined;
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
    if (!this.regex.global || !this.regex.unicode)
      throw new Error('BPE split pattern must have the g and u flags');
    this.scanner = options.scanner ?? scannerFor(this.regex.source);
    const cacheSize = options.cacheSize ?? 100_000;
    this.cache = cacheSize > 0 ? new PieceCache(cacheSize) : undefined;
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
    this.encodeBuf(n, out);
    if (this.cache && end - start <= MAX_CACHED_PIECE) this.cache.set(text, start, end, h, out, first);
  }

  /** Encodes one pre-token (no splitting). */
  encodePieceInto(piece: string, out: number[]): void {
    const n = this.utf8Encode(piece, 0, piece.length);
    this.encodeBuf(n, out);
  }

  /** The ids of the bytes this.buf[0..n): a single byte or (ignoreMerges) a token directly, else BPE. */
  private encodeBuf(n: number, out: number[]): void {
    if (n === 0) return;
    const byteIds = this.tokens.byteIds;
    if (n === 1) {
      const id = byteIds[this.buf[0]];
      if (id >= 0) out.push(id); // a byte missing from the vocabulary is dropped, as HF does
      return;
    }
    if (this.ignoreMerges) {
      const id = this.tokens.lookup(this.buf, 0, n);
      if (id >= 0) {
        out.push(id);
        return;
      }
    }
    this.merger.mergeBytes(this.buf, n, byteIds, out);
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

  private allowedRegex(allowed: AllowedSpecial | undefined): RegExp | undefined {
    if (allowed === undefined || allowed === 'none') return undefined;
    if (allowed === 'all') return this.specialRegexAll;
    const names: string[] = [];
    for (const s of allowed) {
      if (!this.specialTokens.has(s))
        throw new Error(`allowedSpecial: "${s}" is not a special token of this tokenizer`);
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
        const pair =
          c >= 0xd800 && c < 0xdc00 && u + 1 < piece.length && (piece.charCodeAt(u + 1) & 0xfc00) === 0xdc00;
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
        const len = this.tokens.length(id);
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
    const starts = this.tokens.starts;
    const nTok = this.tokens.size;
    let total = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      const len = id >= 0 && id < nTok ? starts[id + 1] - starts[id] : 0;
      if (len > 0) total += len;
      else {
        const sb = this.specialBytes.get(id);
        if (sb === undefined)
          throw new RangeError(`decode: id ${id} is not in the vocabulary (size ${this.vocabSize})`);
        if (!skip) total += sb.length;
      }
    }
    const out = new Uint8Array(total);
    const pool = this.tokens.pool;
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
    if (this.tokens.length(id) > 0) {
      let s = '';
      for (const b of this.tokens.bytes(id)) s += BYTE_TO_CHAR[b];
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
    const id = this.tokens.lookup(bytes, 0, bytes.length);
    return id < 0 ? undefined : id;
  }

  /** Every token's bytes by id (unused ids undefined), e.g. to save or convert the vocabulary. */
  vocabBytes(): (Uint8Array | undefined)[] {
    const out: (Uint8Array | undefined)[] = [];
    for (let id = 0; id < this.tokens.size; id++)
      out.push(this.tokens.length(id) > 0 ? this.tokens.bytes(id).slice() : undefined);
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
