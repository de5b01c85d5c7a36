/** Word vectors from co-occurrence: words used alike end up nearest, the same way every run. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/rag/eval.ts';
import { buildWordVectors, symmetricEigen, WordVectors } from '../../src/rag/word_vectors.ts';

/**
 * A toy corpus of two topics. "folder" and "directory" never occur together but share their
 * contexts (file system verbs and nouns); so do "dog" and "puppy" (pet words). A good model puts
 * each synonym first among the other's neighbours.
 */
function toyCorpus(n = 400): string[][] {
  const rand = mulberry32(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const fsVerbs = ['list', 'create', 'delete', 'rename', 'open', 'copy'];
  const fsNouns = ['files', 'path', 'disk', 'permissions', 'tree', 'names'];
  const petVerbs = ['feed', 'walk', 'brush', 'train', 'pet', 'wash'];
  const petNouns = ['bone', 'leash', 'tail', 'collar', 'fur', 'paws'];
  const out: string[][] = [];
  for (let i = 0; i < n; i++) {
    const fs = pick(['folder', 'directory']);
    const pet = pick(['dog', 'puppy']);
    out.push([pick(fsVerbs), 'the', fs, pick(fsNouns), pick(fsVerbs), pick(fsNouns)]);
    out.push([pick(petVerbs), 'the', pet, pick(petNouns), pick(petVerbs), pick(petNouns)]);
  }
  return out;
}

test('synonyms that share contexts are each other nearest neighbours', () => {
  const v = buildWordVectors(toyCorpus(), { dim: 8, window: 2, minCount: 2 });
  assert.equal(v.neighbours('folder', 1)[0][0], 'directory');
  assert.equal(v.neighbours('dog', 1)[0][0], 'puppy');
  // across topics the similarity is lower than within
  assert.ok(v.similarity('folder', 'directory') > v.similarity('folder', 'dog') + 0.3);
  assert.equal(v.similarity('folder', 'no-such-word'), 0);
  assert.deepEqual(v.neighbours('no-such-word'), []);
  // unit vectors
  const f = v.vector('folder') as Float32Array;
  assert.ok(Math.abs(f.reduce((s, x) => s + x * x, 0) - 1) < 1e-5);
});

test('the same corpus and seed give the same vectors, and they survive a round trip', () => {
  const a = buildWordVectors(toyCorpus(), { dim: 8, window: 2 });
  const b = buildWordVectors(toyCorpus(), { dim: 8, window: 2 });
  assert.deepEqual(a.words, b.words);
  assert.deepEqual(a.vectors, b.vectors);
  const c = WordVectors.parse(a.serialize());
  assert.deepEqual(c.words, a.words);
  assert.equal(c.dim, 8);
  assert.deepEqual(c.vectors, a.vectors);
  assert.throws(() => WordVectors.parse(a.serialize().subarray(0, 100), 'cut.bin'), /cut\.bin/);
});

test('the vocabulary keeps the most frequent words seen minCount times', () => {
  const v = buildWordVectors([['a', 'b', 'a', 'c', 'a', 'b', 'd']], { dim: 2, window: 1, minCount: 2 });
  assert.deepEqual(v.words, ['a', 'b']);
  assert.throws(() => buildWordVectors([['a', 'b']], { minCount: 5 }), /minCount/);
  assert.throws(() => buildWordVectors([], { window: 0 }), /window/);
});

test('symmetricEigen recovers a known decomposition', () => {
  // [[2, 1], [1, 2]]: eigenvalues 3 and 1, vectors (1, 1)/sqrt2 and (1, -1)/sqrt2
  const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
  assert.ok(Math.abs(Math.abs(vectors[0]) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(vectors[0] - vectors[2]) < 1e-12); // first column (1, 1) up to sign
});
