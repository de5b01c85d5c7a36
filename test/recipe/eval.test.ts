/** SQuAD-style EM / F1 against hand-computed values, and the docs questions' gold spans. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bestOf,
  docsEvalSet,
  exactMatch,
  f1Score,
  formatTable,
  normalizeAnswer,
  quotable,
} from '../../src/recipe/eval.ts';
import { fillPrompt } from '../../src/recipe/qa_data.ts';

test('normalizeAnswer: case, punctuation, articles and spaces', () => {
  assert.equal(normalizeAnswer('The  Port 8080.'), 'port 8080');
  assert.equal(normalizeAnswer('an apple, a pear'), 'apple pear');
  assert.equal(normalizeAnswer('"XFMR_THREADS"'), 'xfmrthreads');
  assert.equal(normalizeAnswer(''), '');
});

test('quotable: a grounded answer quotes the context, or the whole prompt when there is none', () => {
  const p = fillPrompt(['The port is 8080.', 'A [bracketed] note.'], 'What is the port?');
  assert.equal(quotable(p), 'The port is 8080.\n\nA [bracketed] note.');
  const none = fillPrompt([], 'What is the port?');
  assert.equal(quotable(none), none);
});

test('exact match after normalisation', () => {
  assert.equal(exactMatch('the TypeScript', 'TypeScript'), 1);
  assert.equal(exactMatch('TypeScript.', 'typescript'), 1);
  assert.equal(exactMatch('Type Script', 'TypeScript'), 0);
  assert.equal(bestOf('port 8080', ['8080', 'port 8080'], exactMatch), 1);
});

test('F1 by token overlap (hand-computed)', () => {
  // prediction "red blue green" vs gold "blue green yellow white": 2 common,
  // precision 2/3, recall 2/4, F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = 4/7
  assert.ok(Math.abs(f1Score('red blue green', 'blue green yellow white') - 4 / 7) < 1e-12);
  assert.equal(f1Score('the port', 'port'), 1);
  assert.equal(f1Score('cats', 'dogs'), 0);
  assert.equal(f1Score('', ''), 1);
  assert.equal(f1Score('a', 'dogs'), 0);
  // repeated words count once per occurrence in the gold: "a a b" vs "a b": the article is dropped
  assert.equal(f1Score('x x y', 'x y'), 0.8);
});

test('the docs questions: every answer is in the gold paragraph of its file', async () => {
  const set = await docsEvalSet('docs');
  assert.ok(set.items.length >= 25);
  for (const item of set.items) assert.ok(item.answers.some((a) => item.gold.includes(a)));
});

test('formatTable: one row per model and set', () => {
  const s = { em: 50, f1: 60, n: 2 };
  const t = formatTable([
    {
      model: 'm',
      label: 'sft',
      decoding: 'grounded',
      sets: [{ set: 'docs', scores: { none: s, retrieval: s, gold: s }, recall: 100, samples: [] }],
    },
  ]);
  assert.match(t, /sft\s+grounded\s+docs\s+2\s+50\.0 \/ 60\.0/);
});
