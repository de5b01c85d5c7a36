/**
 * `--dtype auto|f32|bf16` of the inference commands: what each value loads (printed on stderr),
 * that bf16 and f32 give the same greedy tokens on the shipped SFT model, and the one-line errors
 * of a bad value in every command that takes the option.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { exportHfDir } from '../../src/io/model_export.ts';
import { LocalGenerator } from '../../src/rag/generator.ts';
import { loadServeModel } from '../../src/serve/server.ts';
import { expectOneLineErrors, ROOT, tempDir, xfmr } from './helpers.ts';

/** An F16 checkpoint (torch_dtype float16) of 3.5M parameters with a tokenizer. */
const SFT = join(ROOT, 'models', 'xfmr-rag-tiny-sft');
const dir = tempDir();
const bf16Dir = join(dir, 'sft-bf16');

before(() => {
  exportHfDir(SFT, bf16Dir, 'BF16');
});

const gen = (model: string, ...args: string[]) =>
  xfmr([
    'generate',
    '--model',
    model,
    '--prompt',
    'Answer the question: What is xfmr?',
    '--temperature',
    '0',
    '--max-tokens',
    '16',
    '--json',
    ...args,
  ]);

test('generate --dtype: what each value loads, said on stderr; bf16 gives the f32 greedy tokens', async () => {
  const [auto16, f32, bf16, autoBf16, f32FromBf16] = await Promise.all([
    gen(SFT),
    gen(SFT, '--dtype', 'f32'),
    gen(SFT, '--dtype', 'bf16'),
    gen(bf16Dir, '--dtype', 'auto'),
    gen(bf16Dir, '--dtype', 'f32'),
  ]);
  for (const r of [auto16, f32, bf16, autoBf16, f32FromBf16]) assert.equal(r.code, 0, r.stderr);
  // 3,476,736 parameters: 13.26 MiB in f32; bf16 matrices and f32 norms (2,304 values) 6.64 MiB
  assert.match(auto16.stderr, /^xfmr generate: dtype f32 \(weights 13\.26 MiB\)$/m, 'auto on an F16 file');
  assert.match(f32.stderr, /^xfmr generate: dtype f32 \(weights 13\.26 MiB\)$/m);
  assert.match(bf16.stderr, /^xfmr generate: dtype bf16 \(weights 6\.63 MiB\)$/m);
  assert.match(autoBf16.stderr, /^xfmr generate: dtype bf16 \(weights 6\.63 MiB\)$/m, 'auto on a BF16 file');
  assert.match(f32FromBf16.stderr, /^xfmr generate: dtype f32 \(weights 13\.26 MiB\)$/m);
  const ids = (r: { stdout: string }) => JSON.parse(r.stdout).ids as number[];
  assert.equal(ids(f32).length, 11, 'ten tokens of answer, then EOS'); // " a library for parsing dates"
  assert.deepEqual(ids(bf16), ids(f32));
  assert.deepEqual(ids(auto16), ids(f32));
  // the BF16 file rounded at export and the F16 file rounded at load hold the same weights
  assert.deepEqual(ids(autoBf16), ids(bf16));
});

test('serve and rag load in the dtype asked for', async () => {
  const served = await loadServeModel(bf16Dir, undefined, { dtype: 'auto' });
  assert.match(served.weights, /^bf16 /, 'auto keeps the BF16 file in bf16');
  assert.match((await loadServeModel(bf16Dir, undefined, { dtype: 'f32' })).weights, /^f32 /);
  assert.match(LocalGenerator.load(SFT, { dtype: 'bf16' }).weights, /^bf16 \(weights 6\.63 MiB\)$/);
  assert.match(LocalGenerator.load(SFT).weights, /^f32 /);
});

test('a bad --dtype is one line on stderr naming the option, in every command that takes it', async () => {
  const want = /^xfmr: --dtype must be one of auto, f32, bf16, got "f16"$/;
  const cases: [string[], RegExp][] = [
    [['generate', '--model', SFT, '--prompt-ids', '1', '--dtype', 'f16'], want],
    [['serve', '--model', SFT, '--dtype', 'f16'], want],
    [['start', '--dtype', 'f16'], want],
    [['eval', '--dtype', 'f16'], want],
    [['rag', 'ask', '--db', join(dir, 'none.sqlite'), '--model', SFT, '--dtype', 'f16', 'q'], want],
    [
      [
        'rag',
        'ask',
        '--db',
        join(dir, 'none.sqlite'),
        '--endpoint',
        'http://127.0.0.1:9/v1',
        '--dtype',
        'bf16',
        'q',
      ],
      /^xfmr: --dtype applies to --model, not --endpoint$/,
    ],
    [['generate', '--model', SFT, '--prompt-ids', '1', '--dtype'], /^xfmr: option --dtype needs a value$/],
  ];
  await expectOneLineErrors(cases);
});
