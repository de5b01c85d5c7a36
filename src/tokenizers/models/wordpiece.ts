/**
 * WordPiece (BERT): greedy longest-match-first. From the start of the word, take the longest
 * vocabulary entry that matches (with "##" before it unless it starts the word), then continue
 * after it. If some position has no match, the WHOLE word is `[UNK]`; so is a word longer than
 * `max_input_chars_per_word` characters.
 *
 *   vocab {un, ##aff, ##able}: "unaffable" -> un ##aff ##able
 *   vocab {un}: "unx" -> [UNK]
 */

import { fail, type JsonObject, optInt, optString } from '../json_fields.ts';
import { charWidth } from '../normalized_string.ts';
import { type Model, type ModelToken, readVocab, vocabToJSON } from './model.ts';

export class WordPieceModel implements Model {
  readonly byId: string[];
  /** Longest vocabulary entry, in code units (bounds the search). */
  private readonly maxLen: number;

  constructor(
    readonly vocab: Map<string, number>,
    readonly unkToken = '[UNK]',
    readonly continuingSubwordPrefix = '##',
    readonly maxInputCharsPerWord = 100,
  ) {
    this.byId = [];
    let maxLen = 0;
    for (const [t, id] of vocab) {
      this.byId[id] = t;
      if (t.length > maxLen) maxLen = t.length;
    }
    this.maxLen = maxLen;
  }

  static fromJSON(o: JsonObject, path: string): WordPieceModel {
    const { vocab } = readVocab(o, path);
    const unk = optString(o, 'unk_token', path, '[UNK]');
    return new WordPieceModel(
      vocab,
      unk,
      optString(o, 'continuing_subword_prefix', path, '##'),
      optInt(o, 'max_input_chars_per_word', path, 100),
    );
  }

  get size(): number {
    return this.byId.length;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.byId[id];
  }

  private unk(word: string): ModelToken[] {
    const id = this.vocab.get(this.unkToken);
    if (id === undefined) fail('model.unk_token', `"${this.unkToken}" is not in model.vocab`);
    return [{ id, value: this.unkToken, start: 0, end: word.length }];
  }

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    // Character count (code points) against the limit.
    let chars = 0;
    for (let i = 0; i < word.length; i += charWidth(word, i)) chars++;
    if (chars > this.maxInputCharsPerWord) return this.unk(word);
    const out: ModelToken[] = [];
    const prefix = this.continuingSubwordPrefix;
    for (let start = 0; start < word.length; ) {
      const limit = start > 0 ? this.maxLen - prefix.length : this.maxLen;
      let end = Math.min(word.length, start + Math.max(limit, 1));
      // Never end inside a surrogate pair.
      if (end < word.length && (word.charCodeAt(end) & 0xfc00) === 0xdc00) end--;
      let found: ModelToken | undefined;
      while (end > start) {
        const sub = start > 0 ? prefix + word.slice(start, end) : word.slice(start, end);
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = { id, value: sub, start, end };
          break;
        }
        end -= (word.charCodeAt(end - 1) & 0xfc00) === 0xdc00 && end - 2 >= start ? 2 : 1;
      }
      if (found === undefined) return this.unk(word);
      out.push(found);
      start = found.end;
    }
    return out;
  }

  toJSON(): JsonObject {
    return {
      type: 'WordPiece',
      unk_token: this.unkToken,
      continuing_subword_prefix: this.continuingSubwordPrefix,
      max_input_chars_per_word: this.maxInputCharsPerWord,
      vocab: vocabToJSON(this.byId),
    };
  }
}
