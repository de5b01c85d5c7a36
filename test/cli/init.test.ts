/** `xfmr init`: a random model directory from a config and a tokenizer. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDecoder } from '../../src/models/load.ts';
import { byteLevelTokenizerJson, TINY_LLAMA, tempDir, writeJson, xfmr, xfmrAll } from './helpers.ts';

const dir = tempDir();
const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, true));
const tokNoEos = writeJson(dir, 'tokenizer-noeos.json', byteLevelTokenizerJson(40, false));
const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);

function oneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('init writes config, weights, the tokenizer (same bytes) and generation_config', async () => {
  const out = join(dir, 'm1');
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', out, '--seed', '7']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.deepEqual(readFileSync(join(out, 'tokenizer.json')), readFileSync(tok));
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'llama');
  assert.equal(config.vocab_size, 297); // 256 bytes + 40 merges + <|endoftext|>
  assert.equal(config.num_key_value_heads, 2);
  assert.equal(config.eos_token_id, 296);
  const gen = JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'));
  assert.deepEqual(gen, { bos_token_id: 296, eos_token_id: 296 });
  const m = loadDecoder(out);
  assert.equal(m.config.vocabSize, 297);
  assert.equal(m.config.dModel, 64);
});

test('the same seed gives the same weights, another seed others', async () => {
  const [a, b, c] = ['s1', 's2', 's3'].map((n) => join(dir, n));
  const runs = [
    [a, '1'],
    [b, '1'],
    [c, '2'],
  ].map(([out, seed]) => [
    'init',
    '--config',
    'llama-tiny',
    '--tokenizer',
    tok,
    '--out',
    out,
    '--seed',
    seed,
  ]);
  for (const r of await xfmrAll(runs)) assert.equal(r.code, 0, r.stderr);
  const w = (d: string) => readFileSync(join(d, 'model.safetensors'));
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
  assert.equal(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).vocab_size, 297); // preset's 512 replaced
});

test('a tokenizer without an obvious EOS gives an empty generation_config', async () => {
  const out = join(dir, 'noeos');
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tokNoEos, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no obvious EOS/);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')), {});
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size, 296);
});

test('without --tokenizer: allowed when the config has a vocabulary size, said on stderr', async () => {
  const out = join(dir, 'notok');
  const r = await xfmr(['init', '--config', 'gpt2-tiny', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no --tokenizer/);
  assert.equal(existsSync(join(out, 'tokenizer.json')), false);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size, 512);
  // a config file without a vocabulary size needs the tokenizer
  const r2 = await xfmr(['init', '--config', cfg, '--out', join(dir, 'notok2')]);
  oneLineError(r2, /--tokenizer is required/);
});

test('errors: a tokenizer that does not fit, an existing model, a bad config or tokenizer', async () => {
  const small = writeJson(dir, 'small.json', { ...TINY_LLAMA, vocabSize: 100 });
  oneLineError(
    await xfmr(['init', '--config', small, '--tokenizer', tok, '--out', join(dir, 'e1')]),
    /--tokenizer .*297 tokens do not fit the vocabulary size 100/,
  );
  // a larger stated vocabulary is kept (padding)
  const big = writeJson(dir, 'big.json', { ...TINY_LLAMA, vocabSize: 320 });
  const rb = await xfmr(['init', '--config', big, '--tokenizer', tok, '--out', join(dir, 'big')]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(JSON.parse(readFileSync(join(dir, 'big', 'config.json'), 'utf8')).vocab_size, 320);
  oneLineError(
    await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', join(dir, 'm1')]),
    /--out: .* already holds a model/,
  );
  oneLineError(
    await xfmr(['init', '--config', 'nope', '--tokenizer', tok, '--out', join(dir, 'e2')]),
    /--config/,
  );
  oneLineError(
    await xfmr(['init', '--config', cfg, '--tokenizer', join(dir, 'missing.json'), '--out', join(dir, 'e3')]),
    /--tokenizer: .*missing\.json: no such file/,
  );
  const badTok = writeJson(dir, 'bad-tok.json', { model: { type: 'BPE', vocab: 3 } });
  oneLineError(
    await xfmr(['init', '--config', cfg, '--tokenizer', badTok, '--out', join(dir, 'e4')]),
    /bad-tok\.json/,
  );
  oneLineError(await xfmr(['init', '--tokenizer', tok, '--out', join(dir, 'e5')]), /--config is required/);
});
