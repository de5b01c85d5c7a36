/**
 * answer(): grounded by default where the generator can quote, the quote's chunk and offsets, and
 * the model's calibrated abstention (a threshold above every score abstains, one below every score
 * answers); free decoding on request and with a generator that cannot quote.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { NOT_FOUND_ANSWER, POLICY_FILE } from '../../src/rag/abstain.ts';
import { answer } from '../../src/rag/answer.ts';
import { type Generator, LocalGenerator } from '../../src/rag/generator.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import { saveQuotingModel, TOPICS, tempDir, writeFiles } from './helpers.ts';

const dir = tempDir();
const embedder = new HashEmbedder();
let store: SqliteStore;
const modelDir = join(dir, 'tiny');

before(async () => {
  writeFiles(
    join(dir, 'docs'),
    Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [`${k}.txt`, `${v}\n`])),
  );
  store = SqliteStore.openOrCreate(join(dir, 'r.db'), embedder);
  await indexPaths([join(dir, 'docs')], store, embedder, { maxTokens: 40 });
  saveQuotingModel(modelDir, 3);
});

const ask = (generator: Generator, grounded?: boolean) =>
  answer('How do bees make honey?', { store, embedder, generator, k: 2, maxTokens: 16, grounded });

test('answer(): a local model answers with a quote of one chunk, located, and its confidence', async () => {
  const g = LocalGenerator.load(modelDir);
  assert.equal(g.abstention, null, 'no policy file: never abstains');
  const a = await ask(g);
  assert.equal(a.grounded, true, 'grounded by default');
  assert.equal(a.abstained, false);
  assert.ok(a.quote, 'the quote is located');
  const src = a.sources[a.quote.index];
  assert.equal(a.quote.source, src.source);
  assert.equal(src.text.slice(a.quote.start, a.quote.end), a.quote.text);
  assert.equal(a.quote.text, a.answer.trim(), 'the offsets point at the answer');
  assert.ok(a.confidence !== null && a.confidence < 0 && Number.isFinite(a.confidence));
  // the same question decoded freely: no quote, no confidence
  const f = await ask(g, false);
  assert.deepEqual([f.grounded, f.quote, f.confidence, f.abstained], [false, null, null, false]);
  assert.equal(f.prompt, a.prompt);
});

test('answer(): the threshold in the model directory decides; the sources stay', async () => {
  const base = await ask(LocalGenerator.load(modelDir));
  const c = base.confidence as number;
  const policy = (abstainBelow: number) =>
    writeFileSync(
      join(modelDir, POLICY_FILE),
      JSON.stringify({
        abstain_below: abstainBelow,
        confidence: 'mean_logprob',
        calibrated_on: 'test',
        date: '',
      }),
    );
  try {
    // mean log-probabilities are <= 0: a threshold of 1 is above every score
    policy(1);
    const above = await ask(LocalGenerator.load(modelDir));
    assert.equal(above.abstained, true);
    assert.equal(above.answer, NOT_FOUND_ANSWER);
    assert.equal(above.quote, null);
    assert.equal(above.confidence, c, 'the confidence is still reported');
    assert.deepEqual(
      above.sources.map((s) => s.source),
      base.sources.map((s) => s.source),
    );
    // just above and just below this answer's own confidence
    policy(c + 1e-6);
    assert.equal((await ask(LocalGenerator.load(modelDir))).abstained, true);
    policy(c - 1e-6);
    const below = await ask(LocalGenerator.load(modelDir));
    assert.equal(below.abstained, false);
    assert.equal(below.answer, base.answer);
    assert.deepEqual(below.quote, base.quote);
    policy(-1e9);
    assert.equal((await ask(LocalGenerator.load(modelDir))).abstained, false);
    // the policy is not read when asked not to (calibration replaces a broken file)
    writeFileSync(join(modelDir, POLICY_FILE), '{"abstain_below": "high"}');
    assert.throws(
      () => LocalGenerator.load(modelDir),
      new RegExp(`${POLICY_FILE}: "abstain_below" must be a finite number, got "high"`),
    );
    assert.equal(LocalGenerator.load(modelDir, { abstention: false }).abstention, null);
  } finally {
    writeFileSync(join(modelDir, POLICY_FILE), '{"abstain_below": -1e9, "confidence": "mean_logprob"}');
  }
});

test('answer(): a generator that cannot quote (an endpoint) decodes freely; grounded: true is an error', async () => {
  const words = (t: string) => t.split(/\s+/).filter(Boolean);
  const g: Generator = {
    name: 'http://example (m)',
    contextTokens: 4096,
    promptOverhead: 8,
    countTokens: (t) => words(t).length,
    truncate: (t, n) => words(t).slice(0, n).join(' '),
    complete: async () => 'From nectar.',
  };
  const a = await ask(g);
  assert.deepEqual(
    [a.answer, a.grounded, a.quote, a.confidence, a.abstained],
    ['From nectar.', false, null, null, false],
  );
  await assert.rejects(
    ask(g, true),
    /grounded decoding needs a local model \(--model\); http:\/\/example \(m\) decodes freely/,
  );
});
