/** src/rag/overlap.ts: lexical overlap, on examples counted by hand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lexicalOverlap } from '../../src/rag/overlap.ts';

test('lexical overlap: share of the question content words, stemmed, that the passage has', () => {
  // content words: use, shrink, file ("what", "would", "i", "to", "a" are stopwords); only
  // "file" (stem "fil", as "files") is in the passage: 1/3.
  assert.equal(
    lexicalOverlap('What would I use to shrink a file?', 'gzip reduces the size of the named files'),
    1 / 3,
  );
  // compression ~ compress by their first 5 letters; ratio is absent: 1/2.
  assert.equal(lexicalOverlap('compression ratio', 'Compress it with -9.'), 1 / 2);
  // Repeated words count once; case does not matter.
  assert.equal(lexicalOverlap('Sort SORT sorted lines', 'sort lines of text files'), 1);
  // Short words match whole only: "cat" is not "catalog".
  assert.equal(lexicalOverlap('cat', 'catalog'), 0);
  // Only stopwords: nothing to overlap.
  assert.equal(lexicalOverlap('what is it?', 'anything'), 0);
});
