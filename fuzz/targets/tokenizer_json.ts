/**
 * tokenizer.json: a byte-level BPE tokenizer.json (GPT-2 style, with an added special token),
 * damaged by JSON edits (json_mutate.ts) that reach the model, vocab, merges, added tokens,
 * normalizer, pre-tokenizer and decoder; sometimes raw text instead. Loaded by loadTokenizerJson
 * (the file), then, when it loads, a few awkward strings are encoded and decoded back.
 * Clean: an Error naming tokenizer.json (TokenizerJsonError's messages start with it), or, from
 * encode, one saying what the vocabulary lacks.
 */
import fc from 'fast-check';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson } from '../../test/cli/helpers.ts';
import { type FuzzTarget, namedError } from '../target.ts';
import { removeScratch, scratchFile } from './files.ts';
import { applyJsonEdits, type Json, type JsonEdit, jsonEdits } from './json_mutate.ts';

const BASE = byteLevelTokenizerJson(40, true) as Json;
const TEXTS = ['', 'hello there', ' <|endoftext|> x', 'naïve 日本 🙂', '\u0000\uFFFD\uD800', 'a'.repeat(300)];

interface TokInput {
  edits: JsonEdit[];
  raw: string | null;
  text: string;
}

export const tokenizerJsonTarget: FuzzTarget<TokInput> = {
  name: 'tokenizer_json',
  what: 'tokenizer.json -> loadTokenizerJson, then encode/decode',
  hangMs: 2000,
  arbitrary: fc.record({
    edits: jsonEdits(2),
    raw: fc.option(fc.oneof(fc.string(), fc.constantFrom('{', 'null', '{"model": {}}')), { freq: 10 }),
    text: fc.oneof(fc.constantFrom(...TEXTS), fc.string({ unit: 'grapheme', maxLength: 40 })),
  }),
  run(input) {
    const text = input.raw ?? JSON.stringify(applyJsonEdits(BASE, input.edits));
    const tok = loadTokenizerJson(scratchFile('tokenizer.json', text));
    for (const s of [input.text, ...TEXTS.slice(0, 3)]) {
      const ids = tok.encode(s);
      if (!ids.every((id) => Number.isInteger(id) && id >= 0)) throw new TypeError(`encode gave ${ids}`);
      tok.decode(ids);
    }
  },
  // Encoding may refuse text the damaged vocabulary cannot spell (a plain Error saying so).
  clean: (e) => namedError(e, 'tokenizer.json', 'vocabulary'),
  teardown: removeScratch,
};
