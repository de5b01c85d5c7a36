/**
 * Atomic writes and Hugging Face model directories: save -> load round trip, chat template
 * sources, sharded weights, and errors that name the file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModelDir, saveModelDir, writeFileAtomic } from '../../src/io/checkpoint.ts';
import { toHfConfig } from '../../src/io/hf_config.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { fromHf, toHf } from '../../src/io/weight_names.ts';
import { randomCanonical, sameTensors, tempDir, tinyGpt2, tinyLlama } from './helpers.ts';

const root = tempDir();

describe('writeFileAtomic', () => {
  test('writes strings, bytes and streamed content', () => {
    const d = join(root, 'atomic');
    mkdirSync(d);
    writeFileAtomic(join(d, 'a.txt'), 'héllo');
    writeFileAtomic(join(d, 'b.bin'), new Uint8Array([1, 2, 3]));
    writeFileAtomic(join(d, 'c.bin'), (fd) => {
      writeSync(fd, new Uint8Array([9]));
      writeSync(fd, new Uint8Array([8, 7]));
    });
    assert.equal(readFileSync(join(d, 'a.txt'), 'utf8'), 'héllo');
    assert.deepEqual([...readFileSync(join(d, 'b.bin'))], [1, 2, 3]);
    assert.deepEqual([...readFileSync(join(d, 'c.bin'))], [9, 8, 7]);
    assert.deepEqual(readdirSync(d).sort(), ['a.txt', 'b.bin', 'c.bin']);
  });

  test('a failure mid-write keeps the old file and removes the temporary one', () => {
    const d = join(root, 'atomic-fail');
    mkdirSync(d);
    const p = join(d, 'model.safetensors');
    writeFileAtomic(p, 'old');
    assert.throws(
      () =>
        writeFileAtomic(p, (fd) => {
          writeSync(fd, new Uint8Array(1000));
          throw new Error('disk full');
        }),
      /disk full/,
    );
    assert.equal(readFileSync(p, 'utf8'), 'old');
    assert.deepEqual(readdirSync(d), ['model.safetensors']);
  });
});

describe('model directories', () => {
  test('save -> load round trip (gpt2 with tokenizer, generation config, chat template)', () => {
    const c = tinyGpt2({ eosTokenId: [1, 2] });
    const canon = randomCanonical(c, 21);
    const dir = join(root, 'gpt2');
    const tokenizerJson = { version: '1.0', model: { type: 'BPE', merges: [['a', 'b']] } };
    saveModelDir(dir, {
      config: toHfConfig(c),
      tensors: toHf(c, canon),
      tokenizerJson,
      tokenizerConfig: { chat_template: '{{ messages }}' },
      generationConfig: { eos_token_id: [1, 2] },
    });
    assert.deepEqual(readdirSync(dir).sort(), [
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    assert.deepEqual(readSafetensors(join(dir, 'model.safetensors')).metadata, { format: 'pt' });
    const m = loadModelDir(dir);
    assert.deepEqual(m.config, c);
    assert.equal(m.hfConfig.model_type, 'gpt2');
    assert.ok(m.tensors.has('transformer.h.0.attn.c_attn.weight'));
    assert.ok(sameTensors(fromHf(m.config, m.tensors, dir), canon));
    assert.deepEqual(m.tokenizerJson, tokenizerJson);
    assert.deepEqual(m.generationConfig, { eos_token_id: [1, 2] });
    assert.equal(m.chatTemplate, '{{ messages }}');
  });

  test('chat_template.jinja wins over tokenizer_config.json; named template lists', () => {
    const c = tinyLlama();
    const dir = join(root, 'llama');
    saveModelDir(dir, {
      config: toHfConfig(c),
      tensors: toHf(c, randomCanonical(c)),
      tokenizerConfig: {
        chat_template: [
          { name: 'tool_use', template: 'T' },
          { name: 'default', template: 'D' },
        ],
      },
    });
    assert.equal(loadModelDir(dir).chatTemplate, 'D');
    writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    assert.equal(loadModelDir(dir).chatTemplate, '{% for m in messages %}{{ m.content }}{% endfor %}');
  });

  test('sharded safetensors through model.safetensors.index.json', () => {
    const c = tinyLlama();
    const hf = toHf(c, randomCanonical(c, 5));
    const dir = join(root, 'sharded');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfConfig(c)));
    const names = [...hf.keys()];
    const half = Math.floor(names.length / 2);
    const shards = [names.slice(0, half), names.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((list, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(
        join(dir, file),
        list.map((n) => hf.get(n)!),
      );
      for (const n of list) weightMap[n] = file;
    });
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const m = loadModelDir(dir);
    assert.ok(sameTensors(m.tensors, hf));
  });

  test('errors name the file', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    assert.throws(
      () => loadModelDir(empty),
      (e: Error) => e.message === `${join(empty, 'config.json')}: not found`,
    );
    writeFileSync(join(empty, 'config.json'), JSON.stringify({ model_type: 'mamba' }));
    assert.throws(
      () => loadModelDir(empty),
      (e: Error) => e.message.startsWith(`${join(empty, 'config.json')}: model_type "mamba"`),
    );
    writeFileSync(join(empty, 'config.json'), JSON.stringify(toHfConfig(tinyGpt2())));
    writeFileSync(join(empty, 'pytorch_model.bin'), 'x');
    assert.throws(
      () => loadModelDir(empty),
      /model\.safetensors: not found \(pytorch_model\.bin is not supported/,
    );
    writeFileSync(join(empty, 'model.safetensors'), 'garbage that is not safetensors');
    assert.throws(
      () => loadModelDir(empty),
      (e: Error) => e.message.startsWith(join(empty, 'model.safetensors')),
    );
    assert.throws(
      () => saveModelDir(join(root, 'x'), { config: { model_type: 'gpt3' }, tensors: [] }),
      /x\/config\.json: model_type "gpt3"/,
    );
  });
});
