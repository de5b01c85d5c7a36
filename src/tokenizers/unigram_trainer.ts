/**
 * Unigram trainer, SentencePiece style (Kudo 2018; the algorithm of SentencePiece's
 * unigram_model_trainer.cc, which HF tokenizers also ports). Returns a tokenizer.json object with a
 * Metaspace pre-tokenizer and decoder and a Unigram model.
 *
 *   1. Words: the texts split by Metaspace (" " -> "▁", a "▁" before each word), with counts.
 *   2. Seed vocabulary: every character, plus the most frequent substrings of the words (up to
 *      `maxPieceLength` characters), scored by frequency x length; SentencePiece finds them with a
 *      suffix array, we count substrings directly, bounded by `seedSize`.
 *   3. EM: the E step runs forward-backward over each word's lattice (every way the pieces cover it)
 *      to get each piece's expected count; the M step sets score = digamma(count) - digamma(total)
 *      (the Bayesian / sparse-prior variant SentencePiece uses) and drops pieces expected < 0.5 times.
 *   4. Pruning: for each piece, the loss in corpus likelihood if it were removed and its uses
 *      re-segmented by its second-best segmentation; the 25% least useful go (shrinking factor
 *      0.75), then EM again, until the vocabulary is within 10% of the target.
 *   5. Finalize: all characters (so nothing is unknown on the training alphabet), then the
 *      best-scoring pieces up to `vocabSize`, special tokens first.
 *
 * Deterministic: ties are broken by the piece string.
 *
 *   trainUnigram(texts, { vocabSize: 8000 })   // special tokens default to ["<unk>"]
 */

import { specialTokenJson } from './added_tokens.ts';
import type { JsonObject } from './json_fields.ts';
import { PieceTrie } from './models/unigram.ts';
import { NormalizedString } from './normalized_string.ts';
import { Metaspace } from './pre_tokenizers.ts';

export interface UnigramTrainOptions {
  /** Total size including special tokens (at least the number of distinct characters + specials). */
  vocabSize: number;
  /** Placed first with score 0; "<unk>" (default ["<unk>"]) becomes unk_id. */
  specialTokens?: string[];
  /** Longest piece, in characters (default 16, as SentencePiece). */
  maxPieceLength?: number;
  /** Seed substrings kept before EM (default 1,000,000, bounded by what the corpus has). */
  seedSize?: number;
  /** EM iterations between prunings (default 2). */
  subIterations?: number;
  /** Fraction kept by each pruning (default 0.75). */
  shrinkingFactor?: number;
  onProgress?: (pieces: number, target: number) => void;
}

type Piece = [string, number];

const UNK_PENALTY = 10;

/** SentencePiece's digamma approximation. */
export function digamma(x: number): number {
  let result = 0;
  for (; x < 7; x++) result -= 1 / x;
  x -= 1 / 2;
  const xx = 1 / x;
  const xx2 = xx * xx;
  const xx4 = xx2 * xx2;
  result +=
    Math.log(x) + (1 / 24) * xx2 - (7 / 960) * xx4 + (31 / 8064) * xx4 * xx2 - (127 / 30720) * xx4 * xx4;
  return result;
}

function logSumExp(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** Words (Metaspace pre-tokenization) with counts. */
export function metaspaceWordCounts(texts: readonly string[]): Map<string, number> {
  const pre = new Metaspace('▁', 'always', true);
  const counts = new Map<string, number>();
  for (const t of texts) {
    for (const w of pre.split(NormalizedString.fromOriginal(t)))
      counts.set(w.text, (counts.get(w.text) ?? 0) + 1);
  }
  return counts;
}

/** The current model during training: pieces, their scores, and a trie to find them. */
class Lattice {
  readonly trie = new PieceTrie();
  readonly unkScore: number;
  constructor(readonly pieces: readonly Piece[]) {
    let min = Number.POSITIVE_INFINITY;
    pieces.forEach(([p, s], id) => {
      this.trie.add(p, id);
      if (s < min) min = s;
    });
    this.unkScore = min - UNK_PENALTY;
  }

  /** Edges [start, end, id, score] of `w`; id -1 is an unknown character. */
  edges(w: string, skip = -1): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < w.length; ) {
      const cw = (w.charCodeAt(i) & 0xfc00) === 0xd800 && i + 1 < w.length ? 2 : 1;
      let single = false;
      this.trie.prefixes(w, i, (id, end) => {
        if (id === skip && i === 0 && end === w.length) return;
        out.push([i, end, id, this.pieces[id][1]]);
        if (end - i === cw) single = true;
      });
      if (!single) out.push([i, i + cw, -1, this.unkScore]);
      i += cw;
    }
    return out;
  }

  /** Best segmentation of `w` as piece ids (-1 unknown). `skip`: the piece not to use for all of w. */
  viterbi(w: string, skip = -1): number[] {
    const n = w.length;
    const best = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY);
    const from = new Int32Array(n + 1).fill(-1);
    const via = new Int32Array(n + 1);
    best[0] = 0;
    for (const [s, e, id, score] of this.edges(w, skip)) {
      if (best[s] === Number.NEGATIVE_INFINITY) continue;
      const c = best[s] + score;
      if (c > best[e]) {
        best[e] = c;
        from[e] = s;
        via[e] = id;
      }
    }
    const out: number[] = [];
    for (let e = n; e > 0; e = from[e]) {
      if (from[e] < 0) return [];
      out.push(via[e]);
    }
    return out.reverse();
  }

  /** Adds count x the expected number of uses of each piece in `w` to `expected`. */
  expect(w: string, count: number, expected: Float64Array): void {
    const n = w.length;
    const edges = this.edges(w);
    const alpha = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY);
    const beta = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY);
    alpha[0] = 0;
    beta[n] = 0;
    // Edges are sorted by start, so one pass forward and one backward suffice.
    for (const [s, e, , score] of edges) alpha[e] = logSumExp(alpha[e], alpha[s] + score);
    for (let k = edges.length - 1; k >= 0; k--) {
      const [s, e, , score] = edges[k];
      beta[s] = logSumExp(beta[s], score + beta[e]);
    }
    const z = alpha[n];
    for (const [s, e, id, score] of edges) {
      if (id >= 0) expected[id] += count * Math.exp(alpha[s] + score + beta[e] - z);
    }
  }
}

export function trainUnigram(texts: readonly string[], opts: UnigramTrainOptions): JsonObject {
  const specials = opts.specialTokens ?? ['<unk>'];
  const maxLen = opts.maxPieceLength ?? 16;
  const seedSize = opts.seedSize ?? 1_000_000;
  const subIterations = opts.subIterations ?? 2;
  const shrink = opts.shrinkingFactor ?? 0.75;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 1)
    throw new Error('trainUnigram: vocabSize must be a positive integer');
  const target = opts.vocabSize - specials.length;
  const words = [...metaspaceWordCounts(texts)].sort((a, b) => (a[0] < b[0] ? -1 : 1));

  // Seeds: characters (always), and substrings by frequency x length.
  const chars = new Map<string, number>();
  const subs = new Map<string, number>();
  for (const [w, c] of words) {
    const cs = Array.from(w);
    for (const ch of cs) chars.set(ch, (chars.get(ch) ?? 0) + c);
    for (let i = 0; i < cs.length; i++) {
      let s = cs[i];
      for (let j = i + 1; j < cs.length && j - i < maxLen; j++) {
        s += cs[j];
        subs.set(s, (subs.get(s) ?? 0) + c);
      }
    }
  }
  const byScore = (a: Piece, b: Piece) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const seeds: Piece[] = [...chars].sort(byScore);
  const cand: Piece[] = [];
  for (const [s, c] of subs) if (c > 1) cand.push([s, c * Array.from(s).length]);
  cand.sort(byScore);
  for (let k = 0; k < cand.length && seeds.length < seedSize; k++) seeds.push(cand[k]);
  subs.clear();
  const total = seeds.reduce((acc, p) => acc + p[1], 0);
  let pieces: Piece[] = seeds.map(([p, s]) => [p, Math.log(s) - Math.log(total)]);

  const desired = Math.floor((opts.vocabSize * 11) / 10);
  for (;;) {
    for (let it = 0; it < subIterations; it++) pieces = mStep(pieces, eStep(pieces, words));
    opts.onProgress?.(pieces.length, opts.vocabSize);
    if (pieces.length <= desired) break;
    const next = prune(pieces, words, Math.max(desired, Math.floor(pieces.length * shrink)));
    if (next.length >= pieces.length) break; // nothing more to prune
    pieces = next;
  }

  // Finalize: every character, then the best pieces.
  const final: Piece[] = [];
  const have = new Map(pieces);
  const minScore = pieces.reduce((m, p) => Math.min(m, p[1]), Number.POSITIVE_INFINITY);
  let penalty = 0;
  for (const [ch] of [...chars].sort(byScore)) {
    const s = have.get(ch);
    final.push([ch, s ?? minScore + penalty]);
    if (s === undefined) penalty -= 1e-4;
  }
  const inFinal = new Set(final.map((p) => p[0]));
  for (const p of [...pieces].sort(byScore)) {
    if (final.length >= target) break;
    if (!inFinal.has(p[0]) && !specials.includes(p[0])) {
      final.push(p);
      inFinal.add(p[0]);
    }
  }
  final.sort(byScore);
  return unigramJson([...specials.map((s): Piece => [s, 0]), ...final], specials);
}

function eStep(pieces: readonly Piece[], words: readonly [string, number][]): Float64Array {
  const lattice = new Lattice(pieces);
  const expected = new Float64Array(pieces.length);
  for (const [w, c] of words) lattice.expect(w, c, expected);
  return expected;
}

function mStep(pieces: readonly Piece[], expected: Float64Array): Piece[] {
  const kept: Piece[] = [];
  let sum = 0;
  pieces.forEach(([p], i) => {
    if (expected[i] < 0.5) return;
    kept.push([p, expected[i]]);
    sum += expected[i];
  });
  const logSum = digamma(sum);
  return kept.map(([p, f]) => [p, digamma(f) - logSum]);
}

/** Keeps the `size` pieces whose removal would cost the most likelihood (SentencePiece's pruning). */
function prune(pieces: readonly Piece[], words: readonly [string, number][], size: number): Piece[] {
  const lattice = new Lattice(pieces);
  const n = pieces.length;
  const alternatives: number[][] = new Array(n);
  const alwaysKeep = new Uint8Array(n);
  pieces.forEach(([p], id) => {
    const best = lattice.viterbi(p);
    if (Array.from(p).length === 1) {
      alwaysKeep[id] = 1; // a character has no alternative
      alternatives[id] = [];
    } else if (best.length === 1 && best[0] === id) {
      alwaysKeep[id] = 1;
      alternatives[id] = lattice.viterbi(p, id);
    } else {
      alternatives[id] = []; // never used alone: removable if unused
    }
  });
  const freq = new Float64Array(n);
  let vsum = 0;
  for (const [w, c] of words) {
    vsum += c;
    for (const id of lattice.viterbi(w)) if (id >= 0) freq[id] += c;
  }
  const sum = freq.reduce((a, b) => a + b, 0);
  const logSum = Math.log(sum);
  const keep: Piece[] = [];
  const candidates: [number, number][] = [];
  for (let id = 0; id < n; id++) {
    if (freq[id] === 0 && !alwaysKeep[id]) continue;
    const alt = alternatives[id];
    if (alt.length === 0 || alt.includes(-1)) {
      keep.push(pieces[id]);
      continue;
    }
    const f = freq[id] / vsum;
    if (f === 0) continue;
    const logProbSp = Math.log(freq[id]) - logSum;
    const logSumAlt = Math.log(sum + freq[id] * (alt.length - 1));
    let logProbAlt = 0;
    for (const a of alt) logProbAlt += Math.log(freq[a] + freq[id]) - logSumAlt;
    candidates.push([id, f * (logProbSp - logProbAlt)]);
  }
  candidates.sort((a, b) => b[1] - a[1] || (pieces[a[0]][0] < pieces[b[0]][0] ? -1 : 1));
  for (const [id] of candidates) {
    if (keep.length >= size) break;
    keep.push(pieces[id]);
  }
  return keep;
}

/** The tokenizer.json object of a SentencePiece-style Unigram tokenizer. */
export function unigramJson(vocab: readonly Piece[], specials: readonly string[]): JsonObject {
  const unk = specials.indexOf('<unk>');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => specialTokenJson(content, id)),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: {
      type: 'Unigram',
      unk_id: unk >= 0 ? unk : null,
      vocab: vocab.map(([p, s]) => [p, s]),
      byte_fallback: false,
    },
  };
}
