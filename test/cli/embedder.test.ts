/**
 * `xfmr embedder pairs | train | tune` end to end on tiny inputs: the pairs file, a trained
 * sentence-transformers directory that `--embedder DIR` loads (modules.json, pooling, normalize),
 * checkpoints and --resume, the tuned fusion file, and usage errors naming the option.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { EncoderEmbedder } from '../../src/rag/encoder_embedder.ts';
import { readStLayout } from '../../src/rag/sentence_transformers.ts';
import { tempDir, xfmr } from '../rag/helpers.ts';

const dir = tempDir('xfmr-embedder-cli-');
const pairs = join(dir, 'pairs.jsonl');
const out = join(dir, 'model');

const TOPICS = [
  ['compress files', 'gzip makes files smaller with the deflate algorithm'],
  ['edit text', 'an editor for plain text files in the terminal'],
  ['play music', 'a player for audio files such as mp3 and ogg'],
  ['view images', 'shows photos and pictures in a window'],
  ['send mail', 'delivers electronic mail to other people'],
  ['browse the web', 'a browser for pages on the internet'],
];

before(() => {
  const rows = [
    ...TOPICS.map(([q, p], i) => ({ query: q, passage: p, source: `debian:pkg${i}`, split: 'train' })),
    ...TOPICS.map(([q, p], i) => ({
      query: `${q} quickly`,
      passage: `${p}.`,
      source: `debian:dev${i}`,
      split: 'dev',
    })),
  ];
  writeFileSync(pairs, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
});

const TRAIN = ['embedder', 'train', '--pairs', pairs, '--out', out, '--vocab', '120', '--layers', '1'];
const SMALL = [
  '--dim',
  '16',
  '--heads',
  '2',
  '--ffn',
  '32',
  '--max-len',
  '16',
  '--max-seq',
  '24',
  '--batch-size',
  '4',
];

test('embedder train writes a sentence-transformers directory that loads as an embedder; --resume goes on', async () => {
  const r = await xfmr([...TRAIN, ...SMALL, '--steps', '4', '--checkpoint-every', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /6 training pairs/);
  assert.match(r.stderr, /encoder: 1 layers, d 16, 2 heads, vocab \d+/);
  const layout = readStLayout(out);
  assert.equal(layout.declared, true);
  assert.deepEqual(layout.pooling, ['mean']);
  assert.equal(layout.normalize, true);
  assert.equal(layout.maxSeqLength, 24);
  const e = EncoderEmbedder.load({ dir: out });
  assert.equal(e.dim, 16);
  const [v] = await e.embed(['compress files'], 'query');
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit vectors');
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(steps.length, 4);
  const more = await xfmr([...TRAIN, ...SMALL, '--steps', '6', '--resume']);
  assert.equal(more.code, 0, more.stderr);
  assert.match(more.stderr, /resumed from .*step-000004 at step 4/);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 6);
});

test('embedder train --minutes sizes the run from timed probe steps', async () => {
  const m = join(dir, 'minutes');
  const r = await xfmr([
    'embedder',
    'train',
    '--pairs',
    pairs,
    '--out',
    m,
    '--vocab',
    '120',
    ...SMALL,
    '--minutes',
    '0.02',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const said = /a step takes ~([\d.]+) s: (\d+) steps in 0\.02 minutes/.exec(r.stderr);
  assert.ok(said, r.stderr);
  const steps = Number(said[2]);
  // steps = floor(1.2 s / the probe's step time), at least 1; the time is printed to 3 significant
  // digits, so it may be up to 0.5% above the one used (1% allowed)
  assert.ok(steps >= 1 && steps <= Math.max(1, Math.ceil(1.2 / (Number(said[1]) * 0.99))), said[0]);
  assert.equal(readFileSync(join(m, 'metrics.jsonl'), 'utf8').trim().split('\n').length, steps);
});

test('embedder tune writes the fusion constants and the dev figures, and the embedder reads them', async () => {
  if (!existsSync(join(out, 'config.json'))) {
    const r = await xfmr([...TRAIN, ...SMALL, '--steps', '2']);
    assert.equal(r.code, 0, r.stderr);
  }
  const r = await xfmr(['embedder', 'tune', '--model', out, '--pairs', pairs, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    fusion: { rrfK: number };
    sets: Record<string, { bm25: { questions: number } }>;
  };
  assert.deepEqual(Object.keys(report.sets), ['debian']);
  assert.equal(report.sets.debian.bm25.questions, 6);
  const saved = JSON.parse(readFileSync(join(out, 'xfmr_retrieval.json'), 'utf8')) as { rrf_k: number };
  assert.equal(saved.rrf_k, report.fusion.rrfK);
  assert.deepEqual(EncoderEmbedder.load({ dir: out }).fusion, report.fusion);
});

test('embedder: usage errors name the option; a bad fusion file names its field', async () => {
  const cases: [string[], RegExp][] = [
    [['embedder'], /^xfmr: usage: xfmr embedder pairs/],
    [['embedder', 'fit'], /^xfmr: unknown embedder command "fit"/],
    [['embedder', 'train', '--pairs', pairs], /--pairs PAIRS\.jsonl and --out DIR are required/],
    [[...TRAIN], /give one of --minutes N or --steps N/],
    [[...TRAIN, '--steps', '2', '--dim', '15'], /--dim 15 is not a multiple of --heads 4/],
    [[...TRAIN, '--steps', '2', '--lr', '0'], /--lr must be > 0, got 0/],
    [
      ['embedder', 'train', '--pairs', join(dir, 'none.jsonl'), '--out', out, '--steps', '1'],
      /none\.jsonl: no such file/,
    ],
    [['embedder', 'pairs'], /--out PAIRS\.jsonl is required/],
  ];
  for (const [args, want] of cases) {
    const r = await xfmr(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, want, args.join(' '));
  }
  writeFileSync(join(out, 'xfmr_retrieval.json'), '{"rrf_k": 60, "vector_weight": -1, "bm25_weight": 1}');
  assert.throws(
    () => EncoderEmbedder.load({ dir: out }),
    /xfmr_retrieval\.json: vector_weight must be a finite number >= 0, got -1/,
  );
  writeFileSync(
    join(out, 'xfmr_retrieval.json'),
    '{"rrf_k": 5, "vector_weight": 1, "bm25_weight": 2, "bm25_min_coverage": "half"}',
  );
  assert.throws(
    () => EncoderEmbedder.load({ dir: out }),
    /xfmr_retrieval\.json: bm25_min_coverage must be a number in \[0, 1\], got "half"/,
  );
});
