/**
 * ggufTokenizerFromJson on its own: the pre-tokenizer name llama.cpp gets for each split pattern
 * (a guess comes back as a warning, not on stderr), merges in both tokenizer.json spellings, where
 * bos/eos come from, and padding ids up to the model's vocabulary. `xfmr export` runs the whole
 * path in test/cli/export.test.ts, and test/io/gguf_llama_cpp.test.ts runs the file in llama.cpp.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { ggufTokenizerFromJson } from '../../src/io/gguf_tokenizer.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';

const WHERE = 'm/tokenizer.json';
/** 256 bytes + 40 merges + <|endoftext|> (id 296). */
const V = 297;

function withSplit(regex: string): JsonValue {
  const json = byteLevelTokenizerJson(40, true);
  json.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
  return json as JsonValue;
}

const CL100K =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

test('tokenizer.ggml.pre from the split pattern; an unknown one is gpt-2 with a warning naming the file', () => {
  const plain = ggufTokenizerFromJson(byteLevelTokenizerJson(40, true) as JsonValue, V, WHERE);
  assert.equal(plain.tokenizer.pre, 'gpt-2');
  assert.deepEqual(plain.warnings, []);
  assert.equal(ggufTokenizerFromJson(withSplit(CL100K), V, WHERE).tokenizer.pre, 'llama-bpe');
  assert.equal(ggufTokenizerFromJson(withSplit(QWEN2), V, WHERE).tokenizer.pre, 'qwen2');
  const odd = ggufTokenizerFromJson(withSplit('\\w+|\\s+'), V, WHERE);
  assert.equal(odd.tokenizer.pre, 'gpt-2');
  assert.equal(odd.warnings.length, 1);
  assert.match(odd.warnings[0], /^m\/tokenizer\.json: its split pattern .* is not one llama\.cpp knows/);
});

test('merges: "a b" strings and ["a", "b"] pairs give the same GGUF merges', () => {
  const strings = byteLevelTokenizerJson(40, true);
  const pairs = byteLevelTokenizerJson(40, true);
  const model = pairs.model as { merges: string[] | [string, string][] };
  model.merges = (model.merges as string[]).map((m) => m.split(' ') as [string, string]);
  const a = ggufTokenizerFromJson(strings as JsonValue, V, WHERE).tokenizer.merges;
  const b = ggufTokenizerFromJson(pairs as JsonValue, V, WHERE).tokenizer.merges;
  assert.equal(a.length, 40);
  assert.deepEqual(b, a);
});

test('bos/eos: generation_config.json, else config.json, else the obvious special token', () => {
  const json = byteLevelTokenizerJson(40, true) as JsonValue;
  const obvious = ggufTokenizerFromJson(json, V, WHERE).tokenizer;
  assert.deepEqual([obvious.bosId, obvious.eosId], [296, 296]);
  const fromConfig = ggufTokenizerFromJson(json, V, WHERE, {
    configJson: { eos_token_id: [7, 8] },
  }).tokenizer;
  assert.deepEqual([fromConfig.bosId, fromConfig.eosId], [296, 7]);
  const fromGen = ggufTokenizerFromJson(json, V, WHERE, {
    generationConfig: { bos_token_id: 1, eos_token_id: 2 },
    configJson: { eos_token_id: 7 },
  }).tokenizer;
  assert.deepEqual([fromGen.bosId, fromGen.eosId], [1, 2]);
  assert.throws(
    () => ggufTokenizerFromJson(byteLevelTokenizerJson(40, false) as JsonValue, 296, WHERE),
    /^Error: m\/tokenizer\.json: no EOS token id/,
  );
});

test('ids past the tokenizer up to the vocabulary size are unused [PAD<id>] tokens; past it, an error', () => {
  const t = ggufTokenizerFromJson(byteLevelTokenizerJson(40, true) as JsonValue, 300, WHERE).tokenizer;
  assert.equal(t.tokens.length, 300);
  assert.deepEqual(t.tokens.slice(297), ['[PAD297]', '[PAD298]', '[PAD299]']);
  assert.deepEqual(t.tokenTypes.slice(295), [1, 3, 5, 5, 5]);
  assert.throws(
    () => ggufTokenizerFromJson(byteLevelTokenizerJson(40, true) as JsonValue, 290, WHERE),
    /beyond the model's vocabulary size 290/,
  );
});
