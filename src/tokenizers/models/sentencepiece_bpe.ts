/**
 * SentencePiece's BPE encoding by piece scores: the algorithm of sentencepiece's `bpe_model.cc` and
 * of llama.cpp's SPM tokenizer (`tokenizer.ggml.model` "llama": Llama 2, Mistral, Gemma GGUF files).
 * Not a Hugging Face model type; `gguf_tokenizer_import.ts` writes it as
 *
 *   { "type": "SentencePieceBPE", "vocab": [["<unk>", 0], ["▁t", -1], ...], "byte_fallback": true,
 *     "unk_id": 0 }
 *
 * A word starts as one symbol per character. Any two adjacent symbols whose concatenation is a piece
 * of the vocabulary (of any kind: normal, control, byte, unused) may merge; the candidate whose
 * merged piece has the highest score merges first, the leftmost on equal scores. Merging repeats
 * until no candidate is left. A final symbol that is not a piece (a character missing from the
 * vocabulary) becomes its UTF-8 bytes as `<0xNN>` pieces, or the byte itself where the vocabulary
 * has it as a one-character piece, or `unk_id`.
 *
 *   vocab {▁: 0, a: 0, b: 0, ab: -1, ▁a: -2, ▁ab: -3}, word "▁ab":
 *   [▁][a][b] -> [▁][ab] (score -1 beats ▁a's -2) -> [▁ab] (-3, the only candidate left)
 *
 * Why not tokenizer.json's BPE with merges sorted by score (what HF's converters write)? A BPE rank
 * belongs to a pair, so two candidates of equal score merge in rank order instead of left to right,
 * and where they overlap or touch the results differ; here the score itself is the priority.
 */

import { type JsonObject, optBool } from '../json_fields.ts';
import { charWidth } from '../normalized_string.ts';
import { type Model, type ModelToken, readScoredVocab } from './model.ts';

const BYTE_PIECES = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);
const utf8 = new TextEncoder();

/** Max-heap of merge candidates: higher score first, then the smaller left symbol index. */
class CandidateHeap {
  private score: number[] = [];
  private left: number[] = [];
  private size_: number[] = [];
  get length(): number {
    return this.score.length;
  }
  private before(i: number, j: number): boolean {
    const a = this.score[i];
    const b = this.score[j];
    return a > b || (a === b && this.left[i] < this.left[j]);
  }
  private swap(i: number, j: number): void {
    for (const arr of [this.score, this.left, this.size_]) {
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
  }
  push(score: number, left: number, size: number): void {
    this.score.push(score);
    this.left.push(left);
    this.size_.push(size);
    for (let i = this.score.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** Removes the top candidate and returns [left, size]. */
  pop(): [number, number] {
    const top: [number, number] = [this.left[0], this.size_[0]];
    const n = this.score.length - 1;
    this.swap(0, n);
    this.score.pop();
    this.left.pop();
    this.size_.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

export class SentencePieceBPEModel implements Model {
  readonly tokenIds = new Map<string, number>();

  constructor(
    /** [piece, score] by id. */
    readonly pieces: readonly (readonly [string, number])[],
    readonly unkId: number | null = null,
    readonly byteFallback = true,
  ) {
    pieces.forEach(([p], id) => {
      this.tokenIds.set(p, id);
    });
    if (unkId !== null && !(unkId >= 0 && unkId < pieces.length))
      throw new Error(`SentencePieceBPE: unk_id ${unkId} is not in the vocabulary`);
  }

  static fromJSON(o: JsonObject, path: string): SentencePieceBPEModel {
    const { pieces, unkId } = readScoredVocab(o, path);
    return new SentencePieceBPEModel(pieces, unkId, optBool(o, 'byte_fallback', path, true));
  }

  get size(): number {
    return this.pieces.length;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id]?.[0];
  }

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    // Symbols as a linked list over code-unit spans: symbol i covers word[start[i], start[i] + len[i]);
    // len 0 = merged into its left neighbour.
    const start: number[] = [];
    const len: number[] = [];
    for (let i = 0; i < word.length; ) {
      const w = charWidth(word, i);
      start.push(i);
      len.push(w);
      i += w;
    }
    const n = start.length;
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const heap = new CandidateHeap();
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const size = len[l] + len[r];
      const id = this.tokenIds.get(word.slice(start[l], start[l] + size));
      if (id !== undefined) heap.push(this.pieces[id][1], l, size);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (heap.length > 0) {
      const [l, size] = heap.pop();
      const r = next[l];
      // Stale: either side merged since (lengths only grow, so an unchanged sum means unchanged sides).
      if (len[l] === 0 || r < 0 || len[r] === 0 || len[l] + len[r] !== size) continue;
      len[l] = size;
      len[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }
    const out: ModelToken[] = [];
    for (let i = 0; i !== -1; i = next[i]) {
      const s = start[i];
      const e = s + len[i];
      const piece = word.slice(s, e);
      const id = this.tokenIds.get(piece);
      if (id !== undefined) {
        out.push({ id, value: piece, start: s, end: e });
        continue;
      }
      for (const b of utf8.encode(piece)) {
        const byteId =
          (this.byteFallback ? this.tokenIds.get(BYTE_PIECES[b]) : undefined) ??
          (b < 0x80 ? this.tokenIds.get(String.fromCharCode(b)) : undefined) ??
          this.unkId;
        if (byteId === null) {
          throw new Error(
            `SentencePieceBPE: ${JSON.stringify(piece)} is not in the vocabulary, nor its byte ${BYTE_PIECES[b]}, and there is no unk_id`,
          );
        }
        out.push({ id: byteId, value: this.pieces[byteId][0], start: s, end: e });
      }
    }
    return out;
  }

  toJSON(): JsonObject {
    return {
      type: 'SentencePieceBPE',
      unk_id: this.unkId,
      byte_fallback: this.byteFallback,
      vocab: this.pieces.map(([p, s]) => [p, s]),
    };
  }
}
