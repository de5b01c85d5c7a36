/**
 * `--kv-type f32|f16|q8_0` of the inference commands: generate runs with each type and says the
 * cache's type and bytes on stderr; serve, rag ask and eval get caches of the type asked for (the
 * model they load makes them); a bad value is one line on stderr naming the option, in every
 * command that takes it. (The numerics of each type: test/nn/kv_cache.test.ts.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { generate } from '../../src/generate/index.ts';
import { LocalGenerator } from '../../src/rag/generator.ts';
import { loadServeModel, startServer } from '../../src/serve/server.ts';
import {
  byteLevelTokenizerJson,
  expectOneLineErrors,
  TINY_LLAMA,
  tempDir,
  writeJson,
  xfmr,
} from './helpers.ts';

const dir = tempDir();
const model = join(dir, 'model');

before(async () => {
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, false));
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', model, '--seed', '11']);
  assert.equal(r.code, 0, r.stderr);
});

test('generate --kv-type: each type runs, and its cache type and bytes are printed', async () => {
  const run = (...kv: string[]) =>
    xfmr([
      'generate',
      '--model',
      model,
      '--prompt-ids',
      '1,2,3',
      '--max-tokens',
      '8',
      '--temperature',
      '0',
      '--json',
      ...kv,
    ]);
  const [none, f32, f16, q8] = await Promise.all([
    run(),
    run('--kv-type', 'f32'),
    run('--kv-type', 'f16'),
    run('--kv-type', 'q8_0'),
  ]);
  // TINY_LLAMA: 2 layers, 2 KV heads of 16; 3 + 8 tokens: 2 x 2 x 2 x 16 x 11 = 1408 values a side
  // -> 5632 bytes in f32 (5.5 KiB), 2816 in f16, 1408 / 32 x 34 = 1496 in q8_0
  const line = (t: string, size: string) =>
    new RegExp(`^xfmr generate: KV cache ${t}, 11 tokens x 1 sequence, ${size.replace('.', '\\.')}$`, 'm');
  for (const r of [none, f32, f16, q8]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).ids.length, 8);
  }
  assert.match(none.stderr, line('f32', '5.5 KiB'), 'f32 is the default');
  assert.match(f32.stderr, line('f32', '5.5 KiB'));
  assert.match(f16.stderr, line('f16', '2.8 KiB'));
  assert.match(q8.stderr, line('q8_0', '1.5 KiB'));
});

test('serve, rag ask and eval make caches of the type asked for; the batched scheduler decodes with them', async () => {
  for (const kvType of ['f16', 'q8_0'] as const) {
    // rag ask and eval load through LocalGenerator
    const g = LocalGenerator.load(model, { kvType });
    assert.equal(g.model.createCache(1, 4).type, kvType);
    // serve: the scheduler's slots
    const m = await loadServeModel(model, undefined, { kvType });
    const server = await startServer(m, { port: 0, batch: 2 });
    try {
      const f32Bytes = 2 * 2 * 2 * 16 * TINY_LLAMA.contextLength * 2 * 4;
      assert.equal(server.scheduler.cacheBytes, kvType === 'f16' ? f32Bytes / 2 : (f32Bytes / 128) * 34);
      // Two sequences in the scheduler's slots give what each gives alone (same cache type): every
      // slot reads only its own rows of the shared low-precision cache.
      const prompts = [
        [1, 2, 3],
        [4, 5, 6, 7, 8],
      ];
      const options = { maxNewTokens: 6, temperature: 0 };
      const got: number[][] = [[], []];
      const specs = prompts.map((prompt, index) => ({ prompt, index }));
      for await (const p of server.scheduler.submit(specs, options))
        if (p.tokenId !== null) got[p.index].push(p.tokenId);
      for (const [i, prompt] of prompts.entries()) {
        const [alone] = await generate(m.model, [prompt], options);
        assert.deepEqual(got[i], alone.ids, `${kvType} sequence ${i}`);
        assert.equal(got[i].length, 6);
      }
    } finally {
      await server.close();
    }
  }
  assert.equal(LocalGenerator.load(model).model.createCache(1, 4).type, 'f32', 'f32 by default');
});

test('a bad --kv-type is one line on stderr naming the option, in every command that takes it', async () => {
  const want = /^xfmr: --kv-type must be one of f32, f16, q8_0, got "q4_0"$/;
  const db = join(dir, 'none.sqlite');
  const cases: [string[], RegExp][] = [
    [['generate', '--model', model, '--prompt-ids', '1', '--kv-type', 'q4_0'], want],
    [['serve', '--model', model, '--kv-type', 'q4_0'], want],
    [['start', '--kv-type', 'q4_0'], want],
    [['eval', '--kv-type', 'q4_0'], want],
    [['rag', 'ask', '--db', db, '--model', model, '--kv-type', 'q4_0', 'q'], want],
    [
      ['rag', 'ask', '--db', db, '--endpoint', 'http://127.0.0.1:9/v1', '--kv-type', 'f16', 'q'],
      /^xfmr: --kv-type applies to --model, not --endpoint$/,
    ],
  ];
  await expectOneLineErrors(cases);
});
