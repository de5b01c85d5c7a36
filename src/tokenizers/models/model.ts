/**
 * The model step of the `tokenizer.json` pipeline: one pre-tokenized word in, tokens out. The four
 * Hugging Face models (BPE, WordPiece, Unigram, WordLevel) and xfmr's SentencePieceBPE (the merge
 * by piece scores of GGUF "llama" vocabularies) live beside this file; `modelFromJSON` picks one.
 */

import {
  asArray,
  asId,
  asNumber,
  asObject,
  asString,
  fail,
  type JsonObject,
  type JsonValue,
  optInt,
  typeOf,
} from '../json_fields.ts';
import { BPEModel } from './bpe.ts';
import { SentencePieceBPEModel } from './sentencepiece_bpe.ts';
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

const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel', 'SentencePieceBPE'] as const;

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
    case 'SentencePieceBPE':
      return SentencePieceBPEModel.fromJSON(o, path);
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
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      fail(`${path}.vocab[${JSON.stringify(key)}]`, 'must be a non-negative integer id');
    // byId is indexed by id, and vocabSize is the largest id + 1. Ids travel as Int32Array: asId's
    // vocabulary ceiling keeps them far below 2^31, where one would wrap (found by npm run fuzz).
    asId(id, `${path}.vocab[${JSON.stringify(key)}]`);
    vocab.set(key, id);
    byId[id] = key;
  }
  return { vocab, byId };
}

/** `vocab` as [piece, score] pairs by id and the optional `unk_id` (Unigram, SentencePieceBPE). */
export function readScoredVocab(
  o: JsonObject,
  path: string,
): { pieces: [string, number][]; unkId: number | null } {
  const pieces = asArray(o.vocab, `${path}.vocab`).map((e, i): [string, number] => {
    const pair = asArray(e, `${path}.vocab[${i}]`);
    if (pair.length !== 2) fail(`${path}.vocab[${i}]`, 'must be a pair [piece, score]');
    return [asString(pair[0], `${path}.vocab[${i}][0]`), asNumber(pair[1], `${path}.vocab[${i}][1]`)];
  });
  const unkId = optInt(o, 'unk_id', path, null);
  if (unkId !== null && unkId < 0) fail(`${path}.unk_id`, `is ${unkId}, not an id`);
  if (unkId !== null && unkId >= pieces.length)
    fail(`${path}.unk_id`, `is ${unkId}, past the end of model.vocab`);
  return { pieces, unkId };
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
