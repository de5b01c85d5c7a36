/** What counts as an abstention: silence or a refusal in words; a real answer, even a short one, does not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAbstention, NOT_FOUND_ANSWER } from '../../src/rag/abstain.ts';

test('isAbstention: empty answers and refusals abstain', () => {
  for (const a of [
    '',
    '   \n',
    NOT_FOUND_ANSWER,
    'Not found.',
    "I don't know",
    'I do not know',
    'cannot answer that',
    "couldn't find it",
  ])
    assert.equal(isAbstention(a), true, JSON.stringify(a));
});

test('isAbstention: answers, including ones about finding things, do not abstain', () => {
  for (const a of [
    '--reverse',
    '0',
    'no',
    '127',
    'if COMMAND cannot be found',
    'find',
    'known',
    'the foundation',
  ])
    assert.equal(isAbstention(a), false, JSON.stringify(a));
});
