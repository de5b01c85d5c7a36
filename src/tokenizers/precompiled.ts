/**
 * SentencePiece's precompiled normalization rules (`precompiled_charsmap`), the `Precompiled`
 * normalizer of T5, ALBERT, XLM-R, mBART and other converted SentencePiece tokenizer.json files.
 *
 * The charsmap is SentencePiece's compiled `nmt_nfkc` (or custom) rule table, base64 in the JSON:
 *
 *   u32 LE trie_size | trie: trie_size bytes = darts-clone double array of u32 units | strings
 *
 * The trie maps UTF-8 byte strings (single characters or short sequences) to an offset into
 * `strings`, where the replacement text sits NUL-terminated. We do what HF tokenizers does (which is
 * what SentencePiece does), including its quirks:
 *   - the text is walked by extended grapheme cluster (Intl.Segmenter); a cluster under 6 UTF-8
 *     bytes is looked up whole first, and the FIRST (shortest) trie prefix hit replaces the whole
 *     cluster;
 *   - otherwise each character of the cluster is looked up alone and replaced, or kept.
 * Output characters take the span of the input character at the same position (the last one when
 * the replacement is longer), which is HF's alignment rule.
 *
 * Not handled: the grapheme rules follow the Unicode version of Node's ICU, which may differ from
 * the Rust `unicode-segmentation` crate for scripts added recently. An empty charsmap (some files
 * have `precompiled_charsmap: null`) normalizes nothing.
 */

import { asString, fail, type JsonObject } from './json_fields.ts';
import { NormalizedString } from './normalized_string.ts';

export class Precompiled {
  private readonly trie: Uint32Array;
  private readonly strings: Uint8Array;
  private readonly cache = new Map<string, string | null>();
  private static readonly segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });
  private static readonly utf8 = new TextEncoder();
  private static readonly utf8d = new TextDecoder('utf-8');

  constructor(
    /** The charsmap as stored in tokenizer.json (base64), kept for toJSON. */
    readonly charsmapBase64: string | null,
  ) {
    const bytes = charsmapBase64 ? Buffer.from(charsmapBase64, 'base64') : Buffer.alloc(0);
    if (bytes.length === 0) {
      this.trie = new Uint32Array(0);
      this.strings = new Uint8Array(0);
      return;
    }
    if (bytes.length < 4) throw new Error('precompiled_charsmap is too short');
    const trieSize = bytes.readUInt32LE(0);
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length)
      throw new Error('precompiled_charsmap: bad trie size');
    this.trie = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.trie.length; i++) this.trie[i] = bytes.readUInt32LE(4 + 4 * i);
    this.strings = new Uint8Array(bytes.subarray(4 + trieSize));
  }

  static fromJSON(o: JsonObject, path: string): Precompiled {
    const v = o.precompiled_charsmap;
    if (v === null || v === undefined) return new Precompiled(null);
    const b64 = asString(v, `${path}.precompiled_charsmap`);
    try {
      return new Precompiled(b64);
    } catch (e) {
      fail(`${path}.precompiled_charsmap`, `is not a valid charsmap: ${(e as Error).message}`);
    }
  }

  toJSON(): JsonObject {
    return { type: 'Precompiled', precompiled_charsmap: this.charsmapBase64 };
  }

  /** The replacement for `chunk` (its shortest prefix in the trie), or null. */
  transform(chunk: string): string | null {
    const hit = this.cache.get(chunk);
    if (hit !== undefined) return hit;
    const key = Precompiled.utf8.encode(chunk);
    let result: string | null = null;
    const a = this.trie;
    if (a.length > 0) {
      let pos = offset(a[0]);
      for (const c of key) {
        if (c === 0) break;
        pos ^= c;
        if (pos >= a.length) break;
        const unit = a[pos];
        if (label(unit) !== c) break;
        pos ^= offset(unit);
        if (hasLeaf(unit)) {
          const start = value(a[pos]);
          let end = start;
          while (end < this.strings.length && this.strings[end] !== 0) end++;
          result = Precompiled.utf8d.decode(this.strings.subarray(start, end));
          break; // HF takes the first (shortest) match
        }
      }
    }
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(chunk, result);
    return result;
  }

  normalize(s: NormalizedString): NormalizedString {
    if (this.trie.length === 0 || s.length === 0) return s;
    const t = s.text;
    let modified = false;
    const outText: string[] = [];
    const outStarts: number[] = [];
    const outEnds: number[] = [];
    const emit = (ch: string, at: number) => {
      outText.push(ch);
      for (let k = 0; k < ch.length; k++) {
        outStarts.push(s.starts[at]);
        outEnds.push(s.ends[at]);
      }
    };
    // Replace the characters at code units `pos` (one per character) by `norm`.
    const replace = (pos: number[], norm: string) => {
      const chars = Array.from(norm);
      for (let k = 0; k < chars.length; k++) emit(chars[k], pos[Math.min(k, pos.length - 1)]);
    };
    for (const { segment, index } of Precompiled.segmenter.segment(t)) {
      const positions: number[] = [];
      for (let k = 0; k < segment.length; ) {
        positions.push(index + k);
        const c = segment.charCodeAt(k);
        k += c >= 0xd800 && c < 0xdc00 && k + 1 < segment.length ? 2 : 1;
      }
      if (Buffer.byteLength(segment, 'utf8') < 6) {
        const norm = this.transform(segment);
        if (norm !== null) {
          modified = true;
          replace(positions, norm);
          continue;
        }
      }
      for (const p of positions) {
        const w = p + 1 < t.length && (t.charCodeAt(p) & 0xfc00) === 0xd800 ? 2 : 1;
        const ch = t.slice(p, p + w);
        const norm = this.transform(ch);
        if (norm !== null) {
          modified = true;
          replace([p], norm);
        } else {
          emit(ch, p);
        }
      }
    }
    if (!modified) return s;
    return new NormalizedString(outText.join(''), Int32Array.from(outStarts), Int32Array.from(outEnds));
  }
}

// darts-clone unit layout.
const hasLeaf = (unit: number): boolean => ((unit >>> 8) & 1) === 1;
const value = (unit: number): number => unit & 0x7fffffff;
const label = (unit: number): number => unit & (0x80000000 | 0xff);
const offset = (unit: number): number => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
