/**
 * Sizes read from files are checked before anything of that size is allocated (src/io/limits.ts):
 * one test per field class, each asserting that the message names the file and the field, and that
 * the refusal allocated nothing large (ArrayBuffer memory grows by less than ALLOC_SLACK: every case
 * here would otherwise allocate gigabytes, most of them terabytes).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { saveModelDir } from '../../src/io/checkpoint.ts';
import { exportLlamaGguf } from '../../src/io/gguf_export.ts';
import { parseHfConfig, toHfConfig } from '../../src/io/hf_config.ts';
import { SIZE_LIMITS } from '../../src/io/limits.ts';
import { openSafetensors } from '../../src/io/safetensors.ts';
import { toHf } from '../../src/io/weight_names.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { loadDecoder } from '../../src/models/load.ts';
import { resolveConfig } from '../../src/models/load_config.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { ggufTokenizerFor, randomCanonical, tempDir, tinyBert, tinyGpt2, tinyLlama } from './helpers.ts';

/** More ArrayBuffer memory than any refusal here may take (the tiny models below are ~100 KB). */
const ALLOC_SLACK = 64 * 2 ** 20;

/** Asserts that `fn` throws a message matching every pattern, without allocating past ALLOC_SLACK. */
function refuses(fn: () => unknown, ...patterns: RegExp[]): void {
  const before = process.memoryUsage().arrayBuffers;
  let message = '';
  try {
    fn();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.ok(message !== '', 'expected an error');
  for (const p of patterns) assert.match(message, p);
  assert.doesNotMatch(message, /Invalid typed array length|Array buffer allocation failed/);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < ALLOC_SLACK, `${grown} bytes of ArrayBuffers allocated before the refusal`);
}

/** `s` as a regular expression matching itself (paths hold dots). */
const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A config.json for every family xfmr loads (gemma3 both as text config and multimodal wrapper). */
function familyConfigs(): [string, Record<string, unknown>][] {
  const gemma = {
    ffnType: 'geglu',
    normUnitOffset: true,
    scaleEmbeddings: true,
    sandwichNorm: true,
  } as const;
  const text = toHfConfig(tinyLlama({ arch: 'gemma3', ...gemma, qkNorm: true }));
  return [
    ['gpt2', toHfConfig(tinyGpt2())],
    ['llama', toHfConfig(tinyLlama())],
    ['qwen2', toHfConfig(tinyLlama({ arch: 'qwen2', qkvBias: true }))],
    ['qwen3', toHfConfig(tinyLlama({ arch: 'qwen3', qkNorm: true }))],
    ['mistral', toHfConfig(tinyLlama({ arch: 'mistral', slidingWindow: 64 }))],
    ['gemma2', toHfConfig(tinyLlama({ arch: 'gemma2', ...gemma }))],
    ['gemma3_text', text],
    ['gemma3', { model_type: 'gemma3', text_config: text }],
    ['bert', toHfConfig(tinyBert())],
  ];
}

/** Sets `key` in the config, or in its text_config for the multimodal wrapper. */
function withKey(json: Record<string, unknown>, key: string, value: number): Record<string, unknown> {
  if (json.model_type === 'gemma3')
    return { ...json, text_config: { ...(json.text_config as object), [key]: value } };
  return { ...json, [key]: value };
}

describe('config.json', () => {
  test('vocab_size 1e12 is refused by name in every family, before any allocation', () => {
    for (const [family, json] of familyConfigs()) {
      parseHfConfig(json, 'm/config.json'); // the unmodified config is valid
      refuses(
        () => parseHfConfig(withKey(json, 'vocab_size', 1e12), 'm/config.json'),
        /^m\/config\.json( \(text_config\))?: vocab_size 1000000000000 is too large \(at most 16777216\)$/,
      );
      assert.ok(family);
    }
  });

  test('each size key has its ceiling, named as the file spells it', () => {
    const llama = toHfConfig(tinyLlama());
    const gpt2 = toHfConfig(tinyGpt2());
    const bert = toHfConfig(tinyBert());
    const cases: [Record<string, unknown>, string, keyof typeof SIZE_LIMITS][] = [
      [llama, 'hidden_size', 'width'],
      [llama, 'intermediate_size', 'ffn'],
      [llama, 'num_hidden_layers', 'layers'],
      [llama, 'num_attention_heads', 'heads'],
      [llama, 'num_key_value_heads', 'heads'],
      [llama, 'head_dim', 'headDim'],
      [llama, 'max_position_embeddings', 'context'],
      [gpt2, 'n_embd', 'width'],
      [gpt2, 'n_layer', 'layers'],
      [gpt2, 'n_head', 'heads'],
      [gpt2, 'n_positions', 'context'],
      [bert, 'type_vocab_size', 'typeVocab'],
    ];
    for (const [json, key, kind] of cases) {
      const max = SIZE_LIMITS[kind];
      refuses(
        () => parseHfConfig({ ...json, [key]: max + 1 }, 'c.json'),
        new RegExp(`^c\\.json: ${key} ${max + 1} is too large \\(at most ${max}\\)$`),
      );
    }
  });

  test('sizes under the ceilings but past what model.safetensors holds are refused before the model is built', () => {
    const c = tinyLlama();
    const dir = tempDir();
    saveModelDir(dir, { config: toHfConfig(c), tensors: toHf(c, randomCanonical(c)) });
    assert.equal(loadDecoder(dir).config.vocabSize, c.vocabSize); // the directory loads as written
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const configPath = literal(join(dir, 'config.json'));
    // 2^23 x 1024 f32 values: a 32 GiB embedding, within both ceilings
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ ...config, vocab_size: 2 ** 23, hidden_size: 1024 }),
    );
    refuses(
      () => loadDecoder(dir),
      new RegExp(`^${configPath}: vocabulary 8388608 x width 1024 = 8589934592 embedding values`),
      /model\.safetensors$/,
    );
    // 4000 layers: the embedding fits, the layers do not
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 4000 }));
    refuses(() => loadDecoder(dir), new RegExp(`^${configPath}: 4000 layers`), /model\.safetensors$/);
  });

  test('a config of our own fields (--config) has the same ceilings', () => {
    const dir = tempDir();
    const p = join(dir, 'mine.json');
    writeFileSync(p, JSON.stringify({ arch: 'llama', vocabSize: 1e12 }));
    refuses(() => resolveConfig(p), new RegExp(`^${literal(p)}: vocabSize 1000000000000 is too large`));
    writeFileSync(p, JSON.stringify({ arch: 'gpt2', contextLength: 2 ** 30 }));
    refuses(() => resolveConfig(p), new RegExp(`^${literal(p)}: contextLength 1073741824 is too large`));
  });
});

describe('GGUF', () => {
  /** A tiny llama GGUF file and its bytes. */
  function tinyGguf(): { path: string; bytes: Buffer; config: ModelConfig } {
    const config = tinyLlama({ bosTokenId: 0, eosTokenId: 0 });
    const path = join(tempDir(), 'tiny.gguf');
    exportLlamaGguf(path, config, randomCanonical(config), ggufTokenizerFor(config));
    return { path, bytes: readFileSync(path), config };
  }

  /** The byte offset of the u32 value of metadata key `key` (after its name and its type tag). */
  function u32Value(bytes: Buffer, key: string): number {
    const at = bytes.indexOf(Buffer.from(key));
    assert.ok(at > 0, key);
    assert.equal(bytes.readUInt32LE(at + key.length), 4, `${key} is a u32`);
    return at + key.length + 4;
  }

  test('block_count and context_length past their ceilings name the key, before the layer loop', () => {
    const { path, bytes, config } = tinyGguf();
    assert.equal(loadDecoder(path).config.nLayers, config.nLayers);
    for (const [key, value, max] of [
      ['llama.block_count', 4e9, SIZE_LIMITS.layers],
      ['llama.context_length', 2 ** 31, SIZE_LIMITS.context],
      ['llama.embedding_length', 2 ** 20, SIZE_LIMITS.width],
    ] as const) {
      const b = Buffer.from(bytes);
      b.writeUInt32LE(value, u32Value(b, key));
      writeFileSync(path, b);
      refuses(
        () => loadDecoder(path),
        new RegExp(`^${literal(path)}: ${literal(key)} ${value} is too large \\(at most ${max}\\)$`),
      );
    }
  });

  test('tensor and kv counts, string and array lengths, tensor sizes are checked against the file size', () => {
    const { path, bytes } = tinyGguf();
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['tensor count', (b) => b.writeBigUInt64LE(2n ** 40n, 8), /tensor and kv counts exceed the file size/],
      ['kv count', (b) => b.writeBigUInt64LE(2n ** 40n, 16), /tensor and kv counts exceed the file size/],
      // the first key's length: a string of 2^50 bytes
      ['string length', (b) => b.writeBigUInt64LE(2n ** 50n, 24), /runs past the end of the file/],
      [
        'array length',
        (b) => {
          const key = 'tokenizer.ggml.tokens';
          const at = b.indexOf(Buffer.from(key)) + key.length;
          assert.equal(b.readUInt32LE(at), 9, 'an array');
          b.writeBigUInt64LE(2n ** 40n, at + 8);
        },
        /kv tokenizer\.ggml\.tokens: array of 1099511627776 items runs past the end of the file/,
      ],
      [
        'tensor dims',
        (b) => {
          const name = 'token_embd.weight';
          const at = b.indexOf(Buffer.from(name)) + name.length;
          assert.equal(b.readUInt32LE(at), 2, 'two dims');
          b.writeBigUInt64LE(2n ** 40n, at + 12); // the outer dim (vocabulary)
        },
        /tensor token_embd\.weight: dims \[\d+, 1099511627776\] of F32 need more bytes than the file has/,
      ],
    ];
    for (const [what, patch, re] of cases) {
      const b = Buffer.from(bytes);
      patch(b);
      writeFileSync(path, b);
      refuses(() => loadDecoder(path), new RegExp(`^${literal(path)}: `), re);
      assert.ok(what);
    }
  });
});

describe('safetensors', () => {
  /** A file of one F32 tensor [2] with `header` as its JSON header. */
  function file(header: unknown, dataBytes = 8, length?: bigint): string {
    const h = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(length ?? BigInt(h.length));
    const p = join(tempDir(), 'x.safetensors');
    writeFileSync(p, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
    return p;
  }
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  test('header length, shapes against data_offsets, offsets out of range or overlapping', () => {
    openSafetensors(file(ok)).close();
    const cases: [string, RegExp][] = [
      [file(ok, 8, 2n ** 62n), /header length 4611686018427387904 exceeds/],
      [file(ok, 8, 2n ** 20n), /header claims 1048576 bytes but the file has/],
      [
        file({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }),
        /tensor a: shape \[1099511627776, 1099511627776\] of F32 needs \S+ bytes but data_offsets \[0, 8\] span 8/,
      ],
      [
        file({ a: { dtype: 'F32', shape: [2 ** 38], data_offsets: [0, 2 ** 40] } }),
        /tensor a: data_offsets end at byte 1099511627776 of the data but the file holds only 8/,
      ],
      [
        file({
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        }),
        /overlap tensor a/,
      ],
    ];
    for (const [p, re] of cases) refuses(() => openSafetensors(p), new RegExp(`^${literal(p)}: `), re);
  });
});

describe('tokenizer.json', () => {
  test('a vocabulary id or an added token id past the ceiling is refused by its field', () => {
    const base = byteLevelTokenizerJson(4, true) as {
      model: { vocab: Record<string, number> };
      added_tokens: { id: number }[];
    };
    assert.ok(loadTokenizerJson(base).vocabSize < 1000);
    const vocab = structuredClone(base);
    vocab.model.vocab.zz = 1e12;
    refuses(
      () => loadTokenizerJson(vocab),
      /^tokenizer\.json: model\.vocab\["zz"\] 1000000000000 is too large \(at most 16777215\)$/,
    );
    const added = structuredClone(base);
    assert.ok(added.added_tokens.length > 0);
    added.added_tokens[0].id = 2 ** 31;
    refuses(
      () => loadTokenizerJson(added),
      /^tokenizer\.json: added_tokens\[0\]\.id 2147483648 is too large \(at most 16777215\)$/,
    );
  });
});
