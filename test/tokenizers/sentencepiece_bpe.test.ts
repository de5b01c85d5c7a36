/**
 * The SentencePieceBPE model on its own: the merge order (highest score first, leftmost on equal
 * scores), byte fallback and its fallbacks, spans, and the tokenizer.json form. Its agreement with
 * llama.cpp on real and seeded vocabularies is test/io/gguf_tokenizer_llama_cpp.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentencePieceBPEModel } from '../../src/tokenizers/models/sentencepiece_bpe.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';

const model = (pieces: [string, number][], unkId: number | null = null, byteFallback = true) =>
  new SentencePieceBPEModel(pieces, unkId, byteFallback);
const values = (m: SentencePieceBPEModel, word: string) => m.tokenize(word).map((t) => t.value);

test('the highest-scoring merged piece merges first, whatever the pair that makes it', () => {
  // [▁][a][b]: "ab" (-1) beats "▁a" (-2); then only "▁ab" is left.
  const m = model([
    ['▁', 0],
    ['a', 0],
    ['b', 0],
    ['ab', -1],
    ['▁a', -2],
    ['▁ab', -3],
  ]);
  assert.deepEqual(values(m, '▁ab'), ['▁ab']);
  // Without "▁ab", the word stops at [▁][ab]: "▁a" never forms since "ab" took the "a".
  const m2 = model([
    ['▁', 0],
    ['a', 0],
    ['b', 0],
    ['ab', -1],
    ['▁a', -2],
  ]);
  assert.deepEqual(values(m2, '▁ab'), ['▁', 'ab']);
  // Reverse the scores and "▁a" wins.
  const m3 = model([
    ['▁', 0],
    ['a', 0],
    ['b', 0],
    ['ab', -2],
    ['▁a', -1],
  ]);
  assert.deepEqual(values(m3, '▁ab'), ['▁a', 'b']);
});

test('equal scores: the leftmost candidate merges first (no BPE rank order gives both results)', () => {
  const m = model([
    ['a', 0],
    ['b', 0],
    ['ab', -1],
    ['ba', -1],
  ]);
  // A BPE with ranks ab < ba would give [b][ab] for "bab"; with ba < ab, [a][ba] for "aba".
  assert.deepEqual(values(m, 'aba'), ['ab', 'a']);
  assert.deepEqual(values(m, 'bab'), ['ba', 'b']);
  assert.deepEqual(values(m, 'ababab'), ['ab', 'ab', 'ab']);
});

test('a character missing from the vocabulary: <0xNN> bytes, else the ASCII piece, else unk, else an error', () => {
  const bytes: [string, number][] = Array.from({ length: 256 }, (_, b) => [
    `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
    0,
  ]);
  const m = model([['<unk>', 0], ['a', 0], ...bytes], 0);
  const toks = m.tokenize('aé');
  assert.deepEqual(
    toks.map((t) => [t.value, t.start, t.end]),
    [
      ['a', 0, 1],
      ['<0xC3>', 1, 2],
      ['<0xA9>', 1, 2],
    ],
  );
  // no byte pieces: an ASCII byte may be its own piece, the rest is unk
  const noBytes = model(
    [
      ['<unk>', 0],
      ['a', 0],
    ],
    0,
  );
  assert.deepEqual(values(noBytes, 'aé'), ['a', '<unk>', '<unk>']);
  // byte_fallback off: the <0xNN> pieces are not used even when present
  const off = model([['<unk>', 0], ['a', 0], ['z', 0], ...bytes], 0, false);
  assert.deepEqual(values(off, 'é'), ['<unk>', '<unk>']);
  const none = model([['a', 0]]);
  assert.throws(
    () => none.tokenize('ab'),
    /SentencePieceBPE: "b" is not in the vocabulary, nor its byte <0x62>/,
  );
});

test('surrogate pairs are one character; spans are UTF-16 code units of the word', () => {
  const m = model([
    ['🎉', -1],
    ['x', -1],
    ['x🎉', -2],
  ]);
  assert.deepEqual(
    m.tokenize('🎉x🎉').map((t) => [t.value, t.start, t.end]),
    [
      ['🎉', 0, 2],
      ['x🎉', 2, 5],
    ],
  );
  assert.deepEqual(m.tokenize(''), []);
});

test('tokenizer.json: loads by type, round-trips through toJSON, and names bad fields', () => {
  const json = {
    model: {
      type: 'SentencePieceBPE',
      unk_id: null,
      byte_fallback: true,
      vocab: [
        ['a', 0],
        ['b', 0],
        ['ab', -1],
      ],
    },
  };
  const tok = loadTokenizerJson(json);
  assert.deepEqual(tok.encode('abab'), [2, 2]);
  assert.deepEqual(tok.toJSON().model, json.model);
  assert.throws(
    () => loadTokenizerJson({ model: { type: 'SentencePieceBPE', vocab: [['a']] } }),
    /tokenizer\.json: model\.vocab\[0\] must be a pair \[piece, score\]/,
  );
  assert.throws(
    () => loadTokenizerJson({ model: { type: 'SentencePieceBPE', vocab: [['a', 0]], unk_id: 3 } }),
    /tokenizer\.json: model\.unk_id is 3, past the end of model\.vocab/,
  );
});
