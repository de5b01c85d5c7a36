/**
 * A character-level tokenizer: one id per Unicode code point seen in training, plus special
 * tokens after them. The smallest tokenizer that works (nanoGPT's shakespeare_char), used by the
 * training benchmark and tests. It saves as a Hugging Face tokenizer.json (a BPE model with no
 * merges), so HF tokenizers and our own loader read it back.
 */

import { specialTokenJson } from './added_tokens.ts';
import type { DecodeOptions, EncodeOptions, Encoding, Offset, Tokenizer } from './tokenizer.ts';

export class CharTokenizer implements Tokenizer {
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly stoi: Map<string, number>;
  private readonly itos: string[];

  constructor(
    readonly chars: readonly string[],
    special: readonly string[] = [],
  ) {
    this.itos = [...chars, ...special];
    this.stoi = new Map(this.itos.map((c, i) => [c, i]));
    this.specialTokens = new Map(special.map((s, i) => [s, chars.length + i]));
  }

  /** The sorted set of code points in `texts`. */
  static train(texts: Iterable<string>, special: readonly string[] = []): CharTokenizer {
    const set = new Set<string>();
    for (const t of texts) for (const c of t) set.add(c);
    return new CharTokenizer([...set].sort(), special);
  }

  get vocabSize(): number {
    return this.itos.length;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.encodeWithOffsets(text, options).ids;
  }

  encodeWithOffsets(text: string, options: EncodeOptions = {}): Encoding {
    const allowed = options.allowedSpecial ?? 'none';
    const specials = [...this.specialTokens.keys()].filter(
      (s) => allowed === 'all' || (allowed !== 'none' && allowed.has(s)),
    );
    const ids: number[] = [];
    const tokens: string[] = [];
    const offsets: Offset[] = [];
    let i = 0;
    outer: while (i < text.length) {
      for (const s of specials) {
        if (text.startsWith(s, i)) {
          ids.push(this.specialTokens.get(s) as number);
          tokens.push(s);
          offsets.push([i, i + s.length]);
          i += s.length;
          continue outer;
        }
      }
      const c = String.fromCodePoint(text.codePointAt(i) as number);
      const id = this.stoi.get(c);
      if (id === undefined || id >= this.chars.length) {
        throw new Error(
          `character ${JSON.stringify(c)} (U+${c.codePointAt(0)?.toString(16).toUpperCase()}) at ${i} is not in the vocabulary`,
        );
      }
      ids.push(id);
      tokens.push(c);
      offsets.push([i, i + c.length]);
      i += c.length;
    }
    return { ids, tokens, offsets };
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (options.skipSpecialTokens && id >= this.chars.length) continue;
      s += this.itos[id] ?? '\uFFFD';
    }
    return s;
  }

  tokenToId(token: string): number | undefined {
    return this.stoi.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.itos[id];
  }

  /** A Hugging Face tokenizer.json: BPE with no merges, special tokens as added tokens. */
  toTokenizerJson(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    this.chars.forEach((c, i) => {
      vocab[c] = i;
    });
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [...this.specialTokens].map(([content, id]) => specialTokenJson(content, id)),
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        vocab,
        merges: [],
      },
    };
  }
}
