/**
 * The encoder embedder against a PyTorch reference (scripts/fixtures/make_embedder_fixture.py):
 * tokenization with query/passage prefixes and truncation, mean and CLS pooling, L2
 * normalisation, for a random-weight BERT-style model directory, within 1e-4.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createEmbedder } from '../../src/rag/embedder.ts';
import { EncoderEmbedder } from '../../src/rag/encoder_embedder.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const DIR = join(FIXTURES, 'encoder');

interface Case {
  text: string;
  kind: 'query' | 'passage';
  ids: number[];
  mean: number[];
  cls: number[];
}
const golden = JSON.parse(readFileSync(join(FIXTURES, 'encoder_golden.json'), 'utf8')) as {
  queryPrefix: string;
  passagePrefix: string;
  contextLength: number;
  cases: Case[];
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const tmp = mkdtempSync(join(tmpdir(), 'xfmr-rag-enc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('settings come from the directory: mean pooling, E5-style prefixes, dimension, chunk budget', () => {
  const e = EncoderEmbedder.load({ dir: DIR });
  assert.deepEqual(e.pooling, ['mean']);
  assert.equal(e.queryPrefix, golden.queryPrefix);
  assert.equal(e.passagePrefix, golden.passagePrefix);
  assert.equal(e.dim, 32);
  // 32 positions - [CLS] [SEP] - "passage: " (passage, :)
  assert.equal(e.maxTokens, 32 - 2 - 2);
  assert.equal(e.spec.type, 'encoder');
});

test('token ids (prefix, [CLS] ... [SEP], truncation keeping [SEP]) match the reference', () => {
  const e = EncoderEmbedder.load({ dir: DIR });
  for (const c of golden.cases) assert.deepEqual([...e.ids(c.text, c.kind)], c.ids, `${c.kind}: ${c.text}`);
  assert.ok(
    golden.cases.some((c) => c.ids.length === golden.contextLength),
    'a case is truncated',
  );
});

test('mean-pooled embeddings match PyTorch within 1e-4 (queries and passages)', async () => {
  const e = EncoderEmbedder.load({ dir: DIR });
  for (const kind of ['query', 'passage'] as const) {
    const cases = golden.cases.filter((c) => c.kind === kind);
    const vs = await e.embed(
      cases.map((c) => c.text),
      kind,
    );
    cases.forEach((c, i) => {
      assert.ok(maxDiff(vs[i], c.mean) < 1e-4, `${kind} "${c.text}": max diff ${maxDiff(vs[i], c.mean)}`);
      const norm = Math.hypot(...vs[i]);
      assert.ok(Math.abs(norm - 1) < 1e-5, `unit length, got ${norm}`);
    });
  }
  // the prefixes matter: a query and a passage of the same text differ
  const [q] = await e.embed([golden.cases[0].text], 'query');
  const [p] = await e.embed([golden.cases[0].text], 'passage');
  assert.ok(maxDiff(q, p) > 1e-3);
});

test('CLS pooling matches PyTorch within 1e-4, and overrides the directory setting', async () => {
  const e = createEmbedder({ type: 'encoder', dir: DIR, pooling: 'cls' });
  const cases = golden.cases.filter((c) => c.kind === 'passage');
  const vs = await e.embed(
    cases.map((c) => c.text),
    'passage',
  );
  for (const [i, c] of cases.entries())
    assert.ok(maxDiff(vs[i], c.cls) < 1e-4, `cls "${c.text}": ${maxDiff(vs[i], c.cls)}`);
  assert.notEqual(e.id, EncoderEmbedder.load({ dir: DIR }).id, 'the pooling is part of the id');
});

test('explicit prefixes override the directory; vocab.txt replaces a missing tokenizer.json', async () => {
  const e = EncoderEmbedder.load({ dir: DIR, queryPrefix: '', passagePrefix: '' });
  assert.deepEqual([...e.ids('x', 'query')], [2, 36, 3]);
  // the same model with only a vocab.txt (BERT uncased) tokenizes the same way
  const dir = join(tmp, 'vocab-only');
  cpSync(DIR, dir, { recursive: true });
  const tj = JSON.parse(readFileSync(join(DIR, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
  };
  const tokens = Object.entries(tj.model.vocab)
    .sort((a, b) => a[1] - b[1])
    .map(([t]) => t);
  writeFileSync(join(dir, 'vocab.txt'), `${tokens.join('\n')}\n`);
  rmSync(join(dir, 'tokenizer.json'));
  const v = EncoderEmbedder.load({ dir });
  for (const c of golden.cases) assert.deepEqual([...v.ids(c.text, c.kind)], c.ids);
  const [a] = await v.embed([golden.cases[1].text], 'query');
  assert.ok(maxDiff(a, golden.cases[1].mean) < 1e-4);
});

test('errors name the directory', () => {
  assert.throws(() => EncoderEmbedder.load({ dir: join(tmp, 'nope') }), /nope: no such model directory/);
  const noTok = join(tmp, 'no-tokenizer');
  cpSync(DIR, noTok, { recursive: true });
  rmSync(join(noTok, 'tokenizer.json'));
  assert.throws(() => EncoderEmbedder.load({ dir: noTok }), /no-tokenizer: no tokenizer.json or vocab.txt/);
});
