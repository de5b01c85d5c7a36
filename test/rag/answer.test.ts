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
import { answer, chunkReads, EXTRACT_BELOW, RANK_PRIOR, readChunks } from '../../src/rag/answer.ts';
import { type Generator, LocalGenerator } from '../../src/rag/generator.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { DEFAULT_TEMPLATE, fillTemplate } from '../../src/rag/prompt.ts';
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
  // each chunk is read alone: the answer's prompt holds its chunk and the question, no other chunk
  assert.equal(a.sources.length, 2);
  assert.ok(a.prompt.includes(src.text.slice(0, 20)) && a.prompt.includes('How do bees make honey?'));
  assert.ok(!a.prompt.includes(a.sources[1 - a.quote.index].text.slice(0, 20)));
  // the same question decoded freely: no quote, no confidence, every chunk that fits in one prompt
  const f = await ask(g, false);
  assert.deepEqual([f.grounded, f.quote, f.confidence, f.abstained], [false, null, null, false]);
  for (const s of f.sources) assert.ok(f.prompt.includes(s.truncated ? s.text.slice(0, 20) : s.text));
});

/** A generator whose quote of each prompt is scripted: [text, mean log-probability per token]. */
function scriptedQuotes(quotes: Record<string, [string, number]>): Generator & { asked: string[] } {
  const asked: string[] = [];
  return {
    name: 'scripted',
    contextTokens: 1000,
    promptOverhead: 0,
    abstention: null,
    asked,
    countTokens: (t) => t.length,
    truncate: (t, n) => t.slice(0, n),
    complete: async () => '',
    quote: async (prompt, sources) => {
      asked.push(prompt);
      const key = Object.keys(quotes).find((k) => prompt.includes(k)) as string;
      const [text, mean] = quotes[key];
      const start = sources[0].indexOf(text);
      // one token per character, EOS included in the mean
      const tokens = text.length;
      return {
        text,
        tokens,
        finished: true,
        score: { tokens, logprob: mean * (tokens + 1), finishedLogprob: mean * (tokens + 1), finished: true },
        at: { index: 0, start, end: start + text.length },
      };
    },
  };
}

test('readChunks: each chunk read alone; the best quote by mean log-probability less RANK_PRIOR x ln(1 + rank)', async () => {
  const chunks = [
    { text: 'first chunk says red', source: 'a.txt' },
    { text: 'second chunk says blue', source: 'b.txt' },
  ];
  const fit = { budget: 1000, countTokens: (t: string) => t.length };
  const reads = chunkReads('Which colour?', chunks, fit);
  assert.deepEqual(
    reads.map((r) => [r.text, r.truncated]),
    [
      ['first chunk says red', false],
      ['second chunk says blue', false],
    ],
  );
  // the second chunk's quote is likelier by more than the prior's RANK_PRIOR x ln 2: it wins
  const margin = RANK_PRIOR * Math.log(2);
  // (confident quotes: at least EXTRACT_BELOW, so the model's quote is the answer)
  let g = scriptedQuotes({ red: ['red', -1], blue: ['blue', -1 + margin + 0.01] });
  let r = await readChunks(g, reads, { maxTokens: 8 });
  assert.equal(g.asked.length, 2, 'one quote search per chunk');
  assert.ok(
    g.asked.every((p) => !(p.includes('red') && p.includes('blue'))),
    'each prompt holds one chunk',
  );
  assert.deepEqual([r.read, r.answer], [1, 'blue']);
  assert.deepEqual(r.quote, { index: 0, start: 18, end: 22, text: 'blue' });
  // by less than the prior: the first chunk keeps it
  g = scriptedQuotes({ red: ['red', -1], blue: ['blue', -1 + margin - 0.01] });
  r = await readChunks(g, reads, { maxTokens: 8 });
  assert.deepEqual([r.read, r.answer, r.reader], [0, 'red', 'model']);
  assert.ok(Math.abs(r.scores[0] + 1) < 1e-9 && r.confidence === r.scores[0]);
  // sampled quotes (temperature > 0) have no score: only the first chunk is read
  g = scriptedQuotes({ red: ['red', -3], blue: ['blue', -0.1] });
  const sampled: Generator = {
    ...g,
    quote: async (prompt, sources, o) => ({
      ...(await (g.quote as NonNullable<Generator['quote']>)(prompt, sources, o)),
      score: null,
    }),
  };
  r = await readChunks(sampled, reads, { maxTokens: 8, temperature: 1 });
  assert.deepEqual([r.read, r.answer, g.asked.length, r.reader], [0, 'red', 1, 'model']);
  // a chunk too long for the window is read cut, and said so
  const cut = chunkReads('Which colour?', chunks, {
    budget: fillTemplate(DEFAULT_TEMPLATE, '', 'Which colour?').length + 21,
    countTokens: (t) => t.length,
  });
  assert.equal(cut[0].truncated, false);
  assert.equal(cut[1].truncated, true);
  assert.ok('second chunk says blue'.startsWith(cut[1].text) && cut[1].text.length < 22);
});

test('readChunks: below EXTRACT_BELOW the extractive reader answers, from the same chunks, with its place', async () => {
  const chunks = [
    { text: 'Bees live in hives. Bees make honey from nectar.', source: 'bees.txt' },
    { text: 'The hive was founded in 1710 by a beekeeper.', source: 'hive.txt' },
  ];
  const reads = chunkReads('In what year was the hive founded?', chunks, {
    budget: 1000,
    countTokens: (t: string) => t.length,
  });
  // the model's best quote is 'Bees' (first chunk, at EXTRACT_BELOW exactly): trusted
  let g = scriptedQuotes({ nectar: ['Bees', EXTRACT_BELOW], beekeeper: ['beekeeper', EXTRACT_BELOW - 1] });
  let r = await readChunks(g, reads, { maxTokens: 8 });
  assert.deepEqual([r.answer, r.read, r.reader], ['Bees', 0, 'model']);
  // just below: the extractive reader's span, the year in the chunk that holds the question's words
  g = scriptedQuotes({ nectar: ['Bees', EXTRACT_BELOW - 0.01], beekeeper: ['beekeeper', EXTRACT_BELOW - 1] });
  r = await readChunks(g, reads, { maxTokens: 8 });
  assert.deepEqual([r.answer, r.read, r.reader], ['1710', 1, 'extractive']);
  assert.deepEqual(r.quote, { index: 0, start: 24, end: 28, text: '1710' });
  assert.equal(chunks[1].text.slice(24, 28), '1710');
  assert.ok(r.confidence !== null && Math.abs(r.confidence - (EXTRACT_BELOW - 0.01)) < 1e-9, "the model's");
  assert.deepEqual([r.tokens, r.finished, r.abstained], [0, true, false]);
  // a model that abstains still abstains: the extractive reader does not overrule it
  const policy = {
    abstainBelow: 0,
    confidence: 'mean_logprob' as const,
    calibratedOn: 'test',
    date: '',
    file: '',
  };
  r = await readChunks({ ...g, abstention: policy }, reads, { maxTokens: 8 });
  assert.deepEqual([r.answer, r.reader, r.abstained], [NOT_FOUND_ANSWER, 'model', true]);
  // answer() says who answered
  const a = await answer('In what year was the hive founded?', {
    store,
    embedder,
    generator: scriptedQuotes({ '': ['x', -9] }),
    k: 2,
    maxTokens: 8,
  });
  assert.equal(a.reader, 'extractive');
  assert.ok(a.quote && a.sources[a.quote.index].text.slice(a.quote.start, a.quote.end) === a.answer);
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
