/**
 * The Unigram model (SentencePiece, T5, ALBERT, XLM-R): every piece has a log-probability score,
 * and a word is split into the pieces with the highest total score (Viterbi over all the ways the
 * vocabulary can cover it). Ported from HF tokenizers' `encode_optimized`, so ties and unknowns
 * come out the same:
 *
 *   - at each character, every vocabulary piece starting there is a candidate edge; a candidate
 *     replaces the best path to its end only if strictly better (so, on a tie, the edge found
 *     first, i.e. the shorter piece from the leftmost start, wins);
 *   - a character that no single-character piece covers gets an `unk` edge scored
 *     (lowest score in the vocabulary) - 10; consecutive unknowns fuse into one token, whose string
 *     is the text itself (HF keeps it), and with byte_fallback become `<0xNN>` tokens instead.
 *
 *   vocab {▁: -1, a: -2, b: -2, ab: -3, ▁ab: -3.5}: "▁ab" -> [▁ab] (-3.5 beats -1-3 and -1-2-2)
 *
 * Scores add in the same order as HF (edge score + best score so far, in float64), so results are
 * bit-identical.
 */

import { type JsonObject, optBool } from '../json_fields.ts';
import { charWidth } from '../normalized_string.ts';
import { type Model, type ModelToken, readScoredVocab } from './model.ts';

/** A trie over UTF-16 code units: `prefixes(s, i)` lists the pieces that start at s[i]. */
export class PieceTrie {
  /** edge key node * 65536 + unit -> child node */
  private readonly edges = new Map<number, number>();
  private readonly ids: number[] = [-1];

  add(piece: string, id: number): void {
    let node = 0;
    for (let i = 0; i < piece.length; i++) {
      const key = node * 65536 + piece.charCodeAt(i);
      let child = this.edges.get(key);
      if (child === undefined) {
        child = this.ids.length;
        this.ids.push(-1);
        this.edges.set(key, child);
      }
      node = child;
    }
    this.ids[node] = id;
  }

  /** Calls `f(id, end)` for each piece s[start, end), shortest first. */
  prefixes(s: string, start: number, f: (id: number, end: number) => void): void {
    let node = 0;
    for (let i = start; i < s.length; i++) {
      const child = this.edges.get(node * 65536 + s.charCodeAt(i));
      if (child === undefined) return;
      node = child;
      const id = this.ids[node];
      if (id >= 0) f(id, i + 1);
    }
  }
}

const K_UNK_PENALTY = 10;
const utf8 = new TextEncoder();

export class UnigramModel implements Model {
  readonly tokenIds = new Map<string, number>();
  readonly trie = new PieceTrie();
  readonly minScore: number;

  constructor(
    /** [piece, score] by id. */
    readonly pieces: readonly (readonly [string, number])[],
    readonly unkId: number | null = null,
    readonly byteFallback = false,
  ) {
    let min = Number.POSITIVE_INFINITY;
    pieces.forEach(([p, score], id) => {
      this.tokenIds.set(p, id);
      if (score < min) min = score;
    });
    // Later duplicates win in token -> id (as HF); the trie must agree.
    for (const [p, id] of this.tokenIds) if (p.length > 0) this.trie.add(p, id);
    this.minScore = min;
    if (unkId !== null && unkId >= pieces.length)
      throw new Error(`Unigram: unk_id ${unkId} is not in the vocabulary`);
  }

  static fromJSON(o: JsonObject, path: string): UnigramModel {
    const { pieces, unkId } = readScoredVocab(o, path);
    return new UnigramModel(pieces, unkId, optBool(o, 'byte_fallback', path, false));
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

  /** The best segmentation of `s` as [start, end, id] triples (id -1 = fused unknown). */
  viterbi(s: string): [number, number, number][] {
    const n = s.length;
    const bestScore = new Float64Array(n + 1);
    const startsAt = new Int32Array(n + 1).fill(-1);
    const bestId = new Int32Array(n + 1);
    const unkScore = this.minScore - K_UNK_PENALTY;
    for (let start = 0; start < n; ) {
      const w = charWidth(s, start);
      const here = bestScore[start];
      let single = false;
      this.trie.prefixes(s, start, (id, end) => {
        const cand = this.pieces[id][1] + here;
        if (startsAt[end] < 0 || cand > bestScore[end]) {
          bestScore[end] = cand;
          startsAt[end] = start;
          bestId[end] = id;
        }
        if (end - start === w) single = true;
      });
      if (!single) {
        const end = start + w;
        const cand = unkScore + here;
        if (startsAt[end] < 0 || cand > bestScore[end]) {
          if (this.unkId === null) {
            throw new Error(
              `Unigram: ${JSON.stringify(s.slice(start, end))} is not in the vocabulary and there is no unk_id`,
            );
          }
          bestScore[end] = cand;
          startsAt[end] = start;
          bestId[end] = this.unkId;
        }
      }
      start += w;
    }
    // Backtrack, fusing consecutive unknowns.
    const out: [number, number, number][] = [];
    for (let end = n; end > 0; ) {
      const start = startsAt[end];
      const id = bestId[end];
      if (id === this.unkId) {
        const last = out[out.length - 1];
        if (last !== undefined && last[2] === -1 && last[0] === end) last[0] = start;
        else out.push([start, end, -1]);
      } else {
        out.push([start, end, id]);
      }
      end = start;
    }
    return out.reverse();
  }

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    const out: ModelToken[] = [];
    for (const [start, end, id] of this.viterbi(word)) {
      const value = word.slice(start, end);
      if (id >= 0) {
        out.push({ id, value, start, end });
        continue;
      }
      const known = this.tokenIds.get(value);
      if (known !== undefined) {
        out.push({ id: known, value, start, end });
        continue;
      }
      if (this.byteFallback) {
        const bytes = utf8.encode(value);
        const ids = Array.from(bytes, (b) =>
          this.tokenIds.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`),
        );
        if (ids.every((x) => x !== undefined)) {
          bytes.forEach((b, k) => {
            out.push({
              id: ids[k]!,
              value: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
              start,
              end,
            });
          });
          continue;
        }
      }
      out.push({ id: this.unkId!, value, start, end });
    }
    return out;
  }

  toJSON(): JsonObject {
    return {
      type: 'Unigram',
      unk_id: this.unkId,
      vocab: this.pieces.map(([p, s]) => [p, s]),
      byte_fallback: this.byteFallback,
    };
  }
}
