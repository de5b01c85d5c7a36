/**
 * WordPiece trainer (BERT): returns a complete tokenizer.json object (BERT normalizer,
 * pre-tokenizer, [CLS] ... [SEP] post-processor, WordPiece model and decoder).
 *
 * Like HF tokenizers' WordPieceTrainer, the vocabulary is learned by BPE merges over words written
 * with the continuation prefix ("hello" -> h ##e ##l ##l ##o): repeatedly the most frequent adjacent
 * pair is merged ("##l" + "##o" -> "##lo", "h" + "##e" -> "he") until the vocabulary is full; the
 * WordPiece model then encodes greedily with the result. Merging by frequency (rather than by
 * Google's likelihood score) is what HF does and gives fewer tokens per word for the same size.
 *
 * Pair counts are kept incrementally: each merge only revisits the words that contain the pair
 * (an index pair -> words), and a max-heap with lazy deletion picks the next pair.
 * Ties: the higher count first, then the pair of older tokens (smaller left id, then smaller right
 * id; ids follow creation order, as in HF), so training is deterministic.
 *
 *   trainWordPiece(texts, { vocabSize: 30000 })   // specials [PAD] [UNK] [CLS] [SEP] [MASK] first
 */

import { specialTokenJson } from './added_tokens.ts';
import type { JsonObject } from './json_fields.ts';
import { NormalizedString } from './normalized_string.ts';
import { BertNormalizer } from './normalizers.ts';
import { BertPreTokenizer } from './pre_tokenizers.ts';

export interface WordPieceTrainOptions {
  /** Total size, special tokens and alphabet included (the alphabet is kept whole even if larger). */
  vocabSize: number;
  /** Placed first, ids 0.. (default [PAD] [UNK] [CLS] [SEP] [MASK]). */
  specialTokens?: string[];
  /** BERT uncased (default true): lowercase and strip accents. */
  lowercase?: boolean;
  /** A pair must occur at least this often to be merged (default 1, as HF: fill the vocabulary). */
  minFrequency?: number;
  /** Called with (merges done, merges wanted) every few hundred merges. */
  onProgress?: (done: number, total: number) => void;
}

const PREFIX = '##';

/** Words of the texts (BERT-normalized and pre-tokenized) with their counts. */
export function bertWordCounts(texts: readonly string[], lowercase: boolean): Map<string, number> {
  const norm = new BertNormalizer(true, true, null, lowercase);
  const pre = new BertPreTokenizer();
  const counts = new Map<string, number>();
  for (const t of texts) {
    for (const w of pre.split(norm.normalize(NormalizedString.fromOriginal(t)))) {
      counts.set(w.text, (counts.get(w.text) ?? 0) + 1);
    }
  }
  return counts;
}

export function trainWordPiece(texts: readonly string[], opts: WordPieceTrainOptions): JsonObject {
  const specials = opts.specialTokens ?? ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const lowercase = opts.lowercase ?? true;
  const minFrequency = Math.max(1, opts.minFrequency ?? 1);
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 1)
    throw new Error('trainWordPiece: vocabSize must be a positive integer');
  const counts = bertWordCounts(texts, lowercase);

  // The vocabulary: specials, then the alphabet (word-initial and ## forms, in code point order).
  const tokens: string[] = [];
  const ids = new Map<string, number>();
  const add = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(t);
      ids.set(t, id);
    }
    return id;
  };
  for (const s of specials) add(s);
  const initial = new Set<string>();
  for (const w of counts.keys()) {
    Array.from(w).forEach((ch, i) => {
      initial.add(i === 0 ? ch : PREFIX + ch);
    });
  }
  for (const t of [...initial].sort()) add(t);

  // Words as symbol id sequences.
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [w, c] of counts) {
    words.push(Int32Array.from(Array.from(w), (ch, i) => ids.get(i === 0 ? ch : PREFIX + ch)!));
    freq.push(c);
  }
  const lens = words.map((w) => w.length);

  // pair key -> count, and pair key -> words containing it.
  const K = 2 ** 24;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  let changed: Set<number> | null = null;
  const addPairs = (wi: number, sign: number) => {
    const w = words[wi];
    for (let i = 0; i + 1 < lens[wi]; i++) {
      const key = w[i] * K + w[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[wi]);
      changed?.add(key);
      if (sign > 0) {
        const set = pairWords.get(key);
        if (set === undefined) pairWords.set(key, new Set([wi]));
        else set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  // Max-heap of [count, key]; entries are checked against pairCount when popped.
  const heap = new PairHeap((a, b) => (a[0] !== b[0] ? a[0] > b[0] : a[1] < b[1]));
  for (const [key, c] of pairCount) if (c >= minFrequency) heap.push([c, key]);

  const wanted = Math.max(0, opts.vocabSize - tokens.length);
  let done = 0;
  while (tokens.length < opts.vocabSize && heap.size > 0) {
    const [c, key] = heap.pop();
    if (pairCount.get(key) !== c) continue; // stale
    if (c < minFrequency) break;
    const a = Math.floor(key / K);
    const b = key % K;
    const merged = tokens[a] + (tokens[b].startsWith(PREFIX) ? tokens[b].slice(PREFIX.length) : tokens[b]);
    const m = add(merged);
    const touched = new Set<number>();
    changed = touched;
    for (const wi of pairWords.get(key) ?? []) {
      const w = words[wi];
      let found = false;
      for (let i = 0; i + 1 < lens[wi]; i++) if (w[i] === a && w[i + 1] === b) found = true;
      if (!found) continue;
      addPairs(wi, -1);
      let n = 0;
      for (let i = 0; i < lens[wi]; i++) {
        if (i + 1 < lens[wi] && w[i] === a && w[i + 1] === b) {
          w[n++] = m;
          i++;
        } else w[n++] = w[i];
      }
      lens[wi] = n;
      addPairs(wi, 1);
    }
    changed = null;
    pairCount.delete(key);
    pairWords.delete(key);
    touched.delete(key);
    for (const k of touched) {
      const cnt = pairCount.get(k) ?? 0;
      if (cnt >= minFrequency) heap.push([cnt, k]);
    }
    done++;
    if (opts.onProgress && done % 500 === 0) opts.onProgress(done, wanted);
  }

  return wordPieceJson(tokens, specials, lowercase);
}

/** The tokenizer.json object of a BERT-style WordPiece tokenizer with this vocabulary. */
export function wordPieceJson(
  tokens: readonly string[],
  specials: readonly string[],
  lowercase: boolean,
): JsonObject {
  const vocab: JsonObject = {};
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  const id = (t: string) => tokens.indexOf(t);
  const hasBert = specials.includes('[CLS]') && specials.includes('[SEP]');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => specialTokenJson(content, id(content))),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: hasBert
      ? {
          type: 'TemplateProcessing',
          single: [
            { SpecialToken: { id: '[CLS]', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '[SEP]', type_id: 0 } },
          ],
          pair: [
            { SpecialToken: { id: '[CLS]', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '[SEP]', type_id: 0 } },
            { Sequence: { id: 'B', type_id: 1 } },
            { SpecialToken: { id: '[SEP]', type_id: 1 } },
          ],
          special_tokens: {
            '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
            '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
          },
        }
      : null,
    decoder: { type: 'WordPiece', prefix: PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: specials.includes('[UNK]') ? '[UNK]' : (specials[0] ?? '[UNK]'),
      continuing_subword_prefix: PREFIX,
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** A binary heap of [count, key] with a custom "a before b" order. */
class PairHeap {
  private a: [number, number][] = [];
  constructor(private readonly before: (x: [number, number], y: [number, number]) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  push(x: [number, number]): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(x, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }
  pop(): [number, number] {
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
        const c = r < n && this.before(a[r], a[l]) ? r : l;
        if (!this.before(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
