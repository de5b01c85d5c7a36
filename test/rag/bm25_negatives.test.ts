/**
 * BM25 hard negatives (src/rag/bm25_negatives.ts): the pick is BM25's best passage other than the
 * query's own and other than copies of it; none without a shared word; `skip` passes over the top;
 * common words are left out of the search unless too few would remain.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mineBm25Negatives, rareWords } from '../../src/rag/bm25_negatives.ts';

const PASSAGES = [
  'gzip compresses files with the deflate algorithm', // 0: query 0's own
  'bzip2 compresses files with the burrows wheeler transform', // 1: shares "compresses files"
  'a text editor for the terminal', // 2
  'gzip compresses files with the deflate algorithm', // 3: a copy of 0
  'image viewer for photos', // 4
];

test('the negative is the best-ranked wrong passage, never the positive or a copy of it', () => {
  const negs = mineBm25Negatives(
    ['gzip compresses files', 'edit text in a terminal', 'zzz qqq'],
    PASSAGES,
    Int32Array.from([0, 2, 4]),
    { maxDf: 1 },
  );
  assert.equal(negs[0], 1); // 3 scores higher (a copy of 0) but has the positive's text
  assert.equal(negs[1], -1); // no other passage shares a word with the question
  assert.equal(negs[2], -1);
});

test('skip passes over the top wrong passages', () => {
  const passages = ['alpha beta', 'alpha beta gamma', 'alpha delta', 'omega'];
  const q = ['alpha beta'];
  const first = mineBm25Negatives(q, passages, Int32Array.from([0]), { maxDf: 1 })[0];
  const second = mineBm25Negatives(q, passages, Int32Array.from([0]), { maxDf: 1, skip: 1 })[0];
  assert.equal(first, 1);
  assert.equal(second, 2);
});

test('rareWords drops words above the document count, keeping at least the two rarest', () => {
  const df = new Map([
    ['library', 900],
    ['xml', 40],
    ['parsing', 60],
    ['the', 1000],
  ]);
  assert.equal(rareWords('the XML parsing library', df, 100), 'xml parsing');
  assert.equal(rareWords('the library xml', df, 10), 'xml library');
  assert.throws(() => mineBm25Negatives(['a'], ['b'], Int32Array.from([0, 1])), /2 positives for 1 queries/);
});
