/** `xfmr generate`: seeds, greedy, --max-tokens, --logits, --stop, streaming and error paths. */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { argmax } from '../../src/generate/index.ts';
import { loadDecoder } from '../../src/models/load.ts';
import { noGrad } from '../../src/tensor/index.ts';
import { byteLevelTokenizerJson, TINY_LLAMA, tempDir, writeJson, xfmr, xfmrAll } from './helpers.ts';

const dir = tempDir();
/** A model whose tokenizer has no EOS: generation stops only at --max-tokens. */
const model = join(dir, 'model');
/** The same shape with <|endoftext|> as EOS. */
const modelEos = join(dir, 'model-eos');

before(async () => {
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, false));
  const tokEos = writeJson(dir, 'tokenizer-eos.json', byteLevelTokenizerJson(40, true));
  const [a, b] = await Promise.all([
    xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', model, '--seed', '11']),
    xfmr(['init', '--config', cfg, '--tokenizer', tokEos, '--out', modelEos, '--seed', '11']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
});

async function genJson(args: string[]): Promise<{ ids: number[]; text: string }> {
  const r = await xfmr(['generate', '--model', model, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--json prints one document: ${r.stdout}`);
  const j = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(j), ['ids', 'text']);
  return j;
}

/** Greedy decoding in-process with the KV cache. */
function greedy(dir: string, prompt: number[], n: number): number[] {
  const m = loadDecoder(dir).model;
  const cache = m.createCache(1, prompt.length + n);
  let logits = m.extend([Int32Array.from(prompt)], cache)[0] as Float32Array;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = argmax(logits);
    out.push(id);
    logits = m.extend([Int32Array.of(id)], cache)[0] as Float32Array;
  }
  return out;
}

test('--seed reproduces the sampled ids; --max-tokens N gives exactly N ids without EOS', async () => {
  const args = ['--prompt-ids', '1,2,3', '--max-tokens', '24', '--temperature', '1.2', '--top-k', '50'];
  const [a, b, c, ...byN] = await Promise.all([
    genJson([...args, '--seed', '5']),
    genJson([...args, '--seed', '5']),
    genJson([...args, '--seed', '6']),
    ...[0, 1, 7].map((n) => genJson(['--prompt-ids', '9', '--max-tokens', String(n)])),
  ]);
  assert.equal(a.ids.length, 24);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.ids, c.ids);
  assert.deepEqual(
    byN.map((r) => r.ids.length),
    [0, 1, 7],
  );
});

test('--temperature 0 is greedy (equal to argmax decoding, and to --top-k 1)', async () => {
  const prompt = [5, 17, 42, 99, 7];
  const base = ['--prompt-ids', prompt.join(','), '--max-tokens', '16'];
  const [g, g2, k1] = await Promise.all([
    genJson([...base, '--temperature', '0', '--seed', '1']),
    genJson([...base, '--temperature', '0', '--seed', '2']),
    genJson([...base, '--top-k', '1', '--seed', '3']),
  ]);
  assert.deepEqual(g.ids, greedy(model, prompt, 16));
  assert.deepEqual(g2.ids, g.ids);
  assert.deepEqual(k1.ids, g.ids);
});

test('EOS from generation_config.json ends generation early', async () => {
  const eos = 296;
  const prompt = [100]; // (seed 11) greedy reaches EOS after 28 tokens
  const ids = greedy(modelEos, prompt, 40);
  const at = ids.indexOf(eos);
  assert.ok(at > 0 && at < 39, `greedy reaches EOS at ${at}`);
  const r = await xfmr([
    'generate',
    '--model',
    modelEos,
    '--prompt-ids',
    '100',
    '--max-tokens',
    '40',
    '--temperature',
    '0',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).ids, ids.slice(0, at + 1)); // the EOS id is included, its text is not
});

test('--logits writes float32 LE logits of the prompt positions only, [T, V]', async () => {
  const file = join(dir, 'logits.bin');
  const prompt = [5, 17, 42, 99, 7, 256];
  const r = await xfmr([
    'generate',
    '--model',
    model,
    '--prompt-ids',
    prompt.join(','),
    '--max-tokens',
    '3',
    '--logits',
    file,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const V = 296;
  assert.equal(statSync(file).size, prompt.length * V * 4);
  const buf = readFileSync(file);
  const got = new Float32Array(prompt.length * V);
  for (let i = 0; i < got.length; i++) got[i] = buf.readFloatLE(i * 4);
  const m = loadDecoder(model).model;
  const want = noGrad(() => m.forward(Int32Array.from(prompt), 1, prompt.length).data);
  // equal up to float rounding (the child process may run other kernels, e.g. js while the addon rebuilds)
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
  }
  assert.ok(scale > 0 && diff <= 1e-5 * scale, `max difference ${diff} (scale ${scale})`);
});

test('--prompt streams text; the stream equals the --json text; --stop ends before the stop string', async () => {
  const args = ['--prompt', 'the cat sat on', '--max-tokens', '30', '--temperature', '0.8', '--seed', '4'];
  const j = await genJson(args);
  const s = await xfmr(['generate', '--model', model, ...args]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, j.text);
  // a stop string taken from the greedy text: the output ends right before its first occurrence
  const g = await genJson(['--prompt', 'the cat sat on', '--max-tokens', '30', '--temperature', '0']);
  const chars = [...g.text];
  const printable = (c: string | undefined) => c !== undefined && c >= ' ' && c <= '~';
  const i = chars.findIndex((c, k) => k >= 2 && printable(c) && printable(chars[k + 1]));
  assert.ok(i >= 2, `two printable characters in ${JSON.stringify(g.text)}`);
  const stop = chars[i] + chars[i + 1];
  const st = await genJson([
    '--prompt',
    'the cat sat on',
    '--max-tokens',
    '30',
    '--temperature',
    '0',
    '--stop',
    'zzzq',
    '--stop',
    stop,
  ]);
  assert.equal(st.text, g.text.slice(0, g.text.indexOf(stop)));
  assert.ok(st.ids.length < 30);
});

test('errors: one line naming the argument, non-zero exit, no stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['--model', model, '--prompt-ids', '1,x'], /--prompt-ids: "1,x" is not a list of integers/],
    [
      ['--model', model, '--prompt-ids', '1,2,296'],
      /--prompt-ids: token id 296 at position 2 is not in \[0, 296\)/,
    ],
    [['--model', model, '--prompt-ids', '-1'], /--prompt-ids: token id -1/],
    [['--model', model, '--prompt-ids', ''], /--prompt-ids: give at least one token id/],
    [['--model', model, '--prompt-ids', '1.5'], /--prompt-ids: "1.5" is not a list of integers/],
    [['--model', join(dir, 'missing'), '--prompt-ids', '1'], /--model: .*missing: no such directory/],
    [['--model', dir, '--prompt-ids', '1'], /config\.json: not found/],
    [['--model', model, '--prompt-ids', '1', '--prompt', 'x'], /--prompt or --prompt-ids, not both/],
    [['--model', model], /--prompt or --prompt-ids is required/],
    [['--model', model, '--prompt-ids', '1', '--temperature', '-1'], /--temperature must be/],
    [['--model', model, '--prompt-ids', '1', '--top-p', '2'], /--top-p must be/],
    [['--model', model, '--prompt-ids', '1', '--max-tokens', '1000'], /--max-tokens: .*context length 128/],
    [['--model', model, '--prompt-ids', '1', '--bogus'], /unknown option --bogus/],
  ];
  const results = await xfmrAll(cases.map(([args]) => ['generate', ...args]));
  for (const [i, [args, want]] of cases.entries()) {
    const r = results[i];
    assert.notEqual(r.code, 0, args.join(' '));
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], want);
  }
});
