/**
 * The model step of the `tokenizer.json` pipeline: one pre-tokenized word in, tokens out. The four
 * models (BPE, WordPiece, Unigram, WordLevel) live beside this file; `modelFromJSON` picks one.
 */

import { asObject, fail, type JsonObject, type JsonValue, typeOf } from '../json_fields.ts';
import { BPEModel } from './bpe.ts';
import { UnigramModel } from './unigram.ts';
import { WordLevelModel } from './wordlevel.ts';
import { WordPieceModel } from './wordpiece.ts';

/** A token of a word: its id, its string, and its span [start, end) in code units of the word. */
export interface ModelToken {
  readonly id: number;
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

export interface Model {
  tokenize(word: string): readonly ModelToken[];
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Largest id + 1. */
  readonly size: number;
  toJSON(): JsonObject;
}

const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'] as const;

/** The model described by `v`. Old files may omit `type`; then it is inferred as HF does. */
export function modelFromJSON(v: JsonValue | undefined, path = 'model'): Model {
  const o = asObject(v, path);
  let type: string;
  if (o.type === undefined) {
    if (Array.isArray(o.vocab)) type = 'Unigram';
    else if (o.merges !== undefined) type = 'BPE';
    else if (o.continuing_subword_prefix !== undefined || o.max_input_chars_per_word !== undefined)
      type = 'WordPiece';
    else type = 'WordLevel';
  } else {
    type = typeOf(o, path, 'model', MODEL_TYPES);
  }
  switch (type) {
    case 'BPE':
      return BPEModel.fromJSON(o, path);
    case 'WordPiece':
      return WordPieceModel.fromJSON(o, path);
    case 'Unigram':
      return UnigramModel.fromJSON(o, path);
    case 'WordLevel':
      return WordLevelModel.fromJSON(o, path);
  }
  fail(`${path}.type`, `names an unknown model "${type}"`);
}

/** `vocab` as an object token -> id, checked, as a Map (and the id -> token table). */
export function readVocab(o: JsonObject, path: string): { vocab: Map<string, number>; byId: string[] } {
  const v = asObject(o.vocab, `${path}.vocab`);
  const vocab = new Map<string, number>();
  const byId: string[] = [];
  for (const key in v) {
    const id = v[key];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      fail(`${path}.vocab[${JSON.stringify(key)}]`, 'must be a non-negative integer id');
    }
    vocab.set(key, id);
    byId[id] = key;
  }
  return { vocab, byId };
}

/** The vocabulary as a JSON object ordered by id. */
export function vocabToJSON(byId: readonly (string | undefined)[]): JsonObject {
  const out: JsonObject = {};
  for (let id = 0; id < byId.length; id++) {
    const t = byId[id];
    if (t !== undefined) out[t] = id;
  }
  return out;
}
