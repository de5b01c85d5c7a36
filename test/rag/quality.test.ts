/**
 * Retrieval quality guard on the shipped collection (17 pages of SQLite's documentation, 69
 * hand-written questions; `npm run bench -- rag` reports the full table). Thresholds sit a little
 * under the measured figures, so a regression in chunking, the embedder or the store shows here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { firstRelevantRank, generateQuestions, metricsFromRanks, type Question } from '../../src/rag/eval.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { type RetrievalMode, retrieve } from '../../src/rag/retriever.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import { FIXTURES, tempDir } from './helpers.ts';

test('recall@5 and MRR of the default embedder, BM25 and hybrid on the shipped question set', async (t) => {
  const questions = (
    JSON.parse(readFileSync(join(FIXTURES, 'sqlite-questions.json'), 'utf8')) as { questions: Question[] }
  ).questions;
  const e = new HashEmbedder();
  const store = SqliteStore.openOrCreate(join(tempDir(), 'q.db'), e);
  const r = await indexPaths([join(FIXTURES, 'sqlite-docs')], store, e);
  assert.equal(r.added, 17);
  const floor: Record<RetrievalMode, { r5: number; mrr: number }> = {
    vector: { r5: 0.75, mrr: 0.6 },
    bm25: { r5: 0.85, mrr: 0.65 },
    hybrid: { r5: 0.85, mrr: 0.65 },
  };
  for (const mode of ['vector', 'bm25', 'hybrid'] as const) {
    const ranks: number[] = [];
    for (const q of questions)
      ranks.push(firstRelevantRank(q.answer, await retrieve(store, e, q.q, { k: 10, mode })));
    const m = metricsFromRanks(ranks);
    t.diagnostic(
      `${mode}: recall@1 ${m.recallAt1.toFixed(3)} @5 ${m.recallAt5.toFixed(3)} @10 ${m.recallAt10.toFixed(3)} MRR ${m.mrrAt10.toFixed(3)}`,
    );
    assert.ok(m.recallAt5 >= floor[mode].r5, `${mode} recall@5 ${m.recallAt5}`);
    assert.ok(m.mrrAt10 >= floor[mode].mrr, `${mode} MRR ${m.mrrAt10}`);
  }
  await store.close();
});

test('generated questions are deterministic, answerable spans with half their words', () => {
  const texts = [readFileSync(join(FIXTURES, 'sqlite-docs', 'wal.md'), 'utf8')];
  const a = generateQuestions(texts, { count: 10, seed: 3 });
  assert.deepEqual(a, generateQuestions(texts, { count: 10, seed: 3 }));
  assert.notDeepEqual(a, generateQuestions(texts, { count: 10, seed: 4 }));
  assert.equal(a.length, 10);
  for (const q of a) {
    assert.ok(texts[0].replace(/\s+/g, ' ').includes(q.answer));
    assert.ok(q.q.split(' ').length >= 3 && q.q.split(' ').length < q.answer.split(' ').length);
  }
  assert.deepEqual(metricsFromRanks([1, 2, 0, 11]), {
    questions: 4,
    recallAt1: 0.25,
    recallAt5: 0.5,
    recallAt10: 0.5,
    mrrAt10: 0.375,
  });
});
