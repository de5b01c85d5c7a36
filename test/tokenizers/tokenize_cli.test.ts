// `xfmr tokenize` and `xfmr tokenizer train` as a user runs them: exact bytes of --input, stdin,
// --json, a million ids through a pipe, and one-line errors that name the argument at fault.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { getEncoding } from '../../src/tokenizers/tiktoken.ts';
import { englishText } from './corpus.ts';

const XFMR = new URL('../../bin/xfmr.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'xfmr-cli-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs xfmr with stdout and stderr on pipes (and optional stdin bytes). */
function xfmr(args: string[], stdin?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [XFMR, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

// A BOM, CRLF line ends, trailing spaces, no final newline, and one invalid byte (-> U+FFFD).
const BYTES = Buffer.concat([
  Buffer.from('\ufeffHello  \r\nworld\t\t<|endoftext|> 👍🏽 中文  '),
  Buffer.from([0xff]),
  Buffer.from(' end  '),
]);
const TEXT = new TextDecoder('utf-8', { ignoreBOM: true }).decode(BYTES);

test('--input is the exact bytes of the file, ids space-separated', async () => {
  const file = join(dir, 'in.txt');
  writeFileSync(file, BYTES);
  const r = await xfmr(['tokenize', '--tokenizer', 'cl100k_base', '--input', file]);
  assert.equal(r.code, 0, r.stderr);
  const want = getEncoding('cl100k_base').encode(TEXT);
  assert.equal(r.stdout, `${want.join(' ')}\n`);
  assert.ok(TEXT.startsWith('\ufeff') && TEXT.includes('\r\n') && TEXT.endsWith('  '));
  assert.ok(!want.includes(100257), 'special tokens in user text stay text');
});

test('stdin and --json', async () => {
  const r = await xfmr(['tokenize', '--tokenizer', 'o200k_base', '--json'], BYTES);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), getEncoding('o200k_base').encode(TEXT));
  assert.equal(r.stdout.trimEnd().split('\n').length, 1, 'one JSON document');
});

test('a million ids arrive whole through a pipe', async () => {
  const text = englishText(3_200_000, 17);
  const file = join(dir, 'big.txt');
  writeFileSync(file, text);
  const want = getEncoding('gpt2').encode(text);
  assert.ok(want.length >= 1_000_000, `only ${want.length} ids`);
  const r = await xfmr(['tokenize', '--tokenizer', 'gpt2', '--input', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as number[];
  assert.equal(got.length, want.length);
  assert.deepEqual(got, want);
});

test('errors: one line on stderr naming the argument, non-zero exit, nothing on stdout', async () => {
  const missing = join(dir, 'no-such-file.txt');
  const cases: [string[], RegExp][] = [
    [['tokenize', '--tokenizer', 'gpt2', '--input', missing], /--input.*no-such-file\.txt/],
    [['tokenize', '--tokenizer', 'gpt5_base'], /--tokenizer.*"gpt5_base"/],
    [['tokenize', '--input', missing], /--tokenizer is required/],
    [['tokenize', '--tokenizer', 'gpt2', '--bogus'], /--bogus/],
    [['tokenizer', 'train', '--type', 'bpe', '--out', join(dir, 'x.json'), missing], /--vocab-size/],
    [
      ['tokenizer', 'train', '--type', 'bpe', '--vocab-size', '300', '--out', join(dir, 'x.json'), missing],
      /no-such-file/,
    ],
    [['tokenizer', 'train', '--type', 'sentencepiece', '--vocab-size', '300', '--out', 'x', 'f'], /--type/],
  ];
  const runs = await Promise.all(cases.map(([args]) => xfmr(args, Buffer.from('x'))));
  for (const [k, [args, re]] of cases.entries()) {
    const r = runs[k];
    assert.notEqual(r.code, 0, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('tokenizer train --type bpe writes a tokenizer.json that tokenize reads', async () => {
  const corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, englishText(200_000, 23));
  const out = join(dir, 'bpe.json');
  const r = await xfmr(['tokenizer', 'train', '--type', 'bpe', '--vocab-size', '800', '--out', out, corpus]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /merges/);
  const json = JSON.parse(readFileSync(out, 'utf8')) as {
    model: { type: string; vocab: object; merges: unknown[] };
  };
  assert.equal(json.model.type, 'BPE');
  // 800 ids, <|endoftext|> (id 0) included: it is also an added token, at the same id
  assert.equal(Object.keys(json.model.vocab).length, 800);
  assert.equal((json.model.vocab as Record<string, number>)['<|endoftext|>'], 0);
  assert.deepEqual(json.model.merges[0], ['Ġ', 't']);
  assert.ok(!existsSync(`${out}.tmp`));
  if (existsSync(new URL('../../src/tokenizers/tokenizer_json.ts', import.meta.url))) {
    const t = await xfmr(['tokenize', '--tokenizer', out, '--json'], Buffer.from('the world'));
    assert.equal(t.code, 0, t.stderr);
    assert.ok((JSON.parse(t.stdout) as number[]).length >= 2);
  }
});
