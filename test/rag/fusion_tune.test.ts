/**
 * Fusion tuning (src/rag/fusion_tune.ts): weighted RRF computed by hand, the grid search picking
 * the constants that put the relevant passage first, and the dev ranked lists of a real store-less
 * run (the hash embedder and FTS5) holding each query's own passage where it should.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { devRankedLists, fuseLists, tuneFusion } from '../../src/rag/fusion_tune.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';

test('fuseLists: score = w_v / (k + rank_v) + w_b / (k + rank_b)', () => {
  const v = Int32Array.from([0, 1, 2]);
  const b = Int32Array.from([2, 1]);
  // equal weights, k 1: 0 -> 1/2, 1 -> 1/3 + 1/3, 2 -> 1/4 + 1/2
  assert.deepEqual([...fuseLists(v, b, { rrfK: 1, vectorWeight: 1, bm25Weight: 1 })], [2, 1, 0]);
  // the vector list weighted 4x: 0 -> 2, 1 -> 4/3 + 1/3, 2 -> 1 + 1/2
  assert.deepEqual([...fuseLists(v, b, { rrfK: 1, vectorWeight: 4, bm25Weight: 1 })], [0, 1, 2]);
  // weight 0: BM25's order, then the vector-only passage
  assert.deepEqual([...fuseLists(v, b, { rrfK: 1, vectorWeight: 0, bm25Weight: 1 })], [2, 1, 0]);
});

test('tuneFusion picks the weights that rank each relevant passage first', () => {
  // vector is right for queries 0 and 1, BM25 only for 2. Weight 0 (BM25 alone) gets 0 and 1
  // wrong; weights 1 and 2 with k 1 get all three right (ties go to the vector list's order), and
  // the grid's first such point is kept
  const lists = {
    vector: [Int32Array.from([0, 1]), Int32Array.from([1, 0]), Int32Array.from([0, 2])],
    bm25: [Int32Array.from([1, 0]), Int32Array.from([0, 1]), Int32Array.from([2])],
  };
  const r = tuneFusion({ s: lists }, { rrfK: [1, 60], vectorWeight: [0, 1, 2] });
  assert.equal(r.sets.s.vector.mrrAt10, (1 + 1 + 0.5) / 3);
  assert.equal(r.sets.s.bm25.mrrAt10, (0.5 + 0.5 + 1) / 3);
  assert.equal(r.sets.s.tuned.mrrAt10, 1);
  assert.deepEqual(r.fusion, { rrfK: 1, vectorWeight: 1, bm25Weight: 1 });
});

test('devRankedLists: each method ranks the query own passage first on an easy set', async () => {
  const passages = ['violins have four strings', 'chess bishops move diagonally', 'tomatoes need sun'];
  const queries = ['strings of a violin', 'how a bishop moves in chess', 'sun for tomatoes'];
  const l = await devRankedLists(new HashEmbedder(), queries, passages);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.vector[i][0], i, `vector ${i}`);
    assert.equal(l.bm25[i][0], i, `bm25 ${i}`);
  }
  await assert.rejects(devRankedLists(new HashEmbedder(), ['a'], []), /1 queries for 0 passages/);
});
