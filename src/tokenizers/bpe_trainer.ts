/**
 * Byte-level BPE training. (`toTokenizerJson` in tokenizer_json.ts writes the result for HF.)
 *
 * 1. count (`feed`): each text is split into pieces with the chosen pattern (GPT-2's by default),
 *    and identical pieces are counted once with their frequency ("word-frequency dedup"). Special
 *    tokens are cut out of the text first and never learned from.
 * 2. ids (`train`: `GrowingVocab`): special tokens first (0..k-1), then the alphabet: all 256 bytes
 *    (default; any text can then be encoded) or only the bytes seen, in the order of their
 *    byte-level characters (as HF sorts its alphabet), then one id per merge.
 * 3. merge (`train`: `MergeLoop` in bpe_merge_loop.ts): repeatedly merge the most frequent
 *    adjacent pair of symbols, inside every word, left to right without overlap ("a a a" -> "aa a").
 *
 * Tie-breaking (deterministic, and Hugging Face's rule): the highest count wins; among equal counts,
 * the pair with the smallest (left id, right id). Training stops at `vocabSize` tokens (special
 * tokens included), or when the best count falls below `minFrequency`. A merge whose result already
 * exists (two different splits of the same bytes) reuses that token's id, as HF does.
 *
 * With `alphabet: 'seen'` and the texts split into lines, the merges are exactly those of HF
 * tokenizers' BpeTrainer with a ByteLevel pre-tokenizer (test/tokenizers/bpe_trainer.test.ts).
 * */

import { BpeTokenizer } from './bpe.ts';
import { GrowingVocab, grow, linkSymbols, MergeLoop } from './bpe_merge_loop.ts';
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
