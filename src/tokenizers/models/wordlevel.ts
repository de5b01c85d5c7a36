/** WordLevel: each word is one vocabulary entry, or `unk_token`. */

import { type JsonObject, optString } from '../json_fields.ts';
import { type Model, type ModelToken, readVocab, vocabToJSON } from './model.ts';

export class WordLevelModel implements Model {
  readonly byId: string[] = [];

  constructor(
    readonly vocab: Map<string, number>,
    readonly unkToken = '<unk>',
  ) {
    for (const [t, id] of vocab) this.byId[id] = t;
  }

  static fromJSON(o: JsonObject, path: string): WordLevelModel {
    return new WordLevelModel(readVocab(o, path).vocab, optString(o, 'unk_token', path, '<unk>'));
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

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    const id = this.vocab.get(word);
    if (id !== undefined) return [{ id, value: word, start: 0, end: word.length }];
    const unk = this.vocab.get(this.unkToken);
    if (unk === undefined)
      throw new Error(`WordLevel: "${word}" and unk_token "${this.unkToken}" are not in the vocabulary`);
    return [{ id: unk, value: this.unkToken, start: 0, end: word.length }];
  }

  toJSON(): JsonObject {
    return { type: 'WordLevel', vocab: vocabToJSON(this.byId), unk_token: this.unkToken };
  }
}
