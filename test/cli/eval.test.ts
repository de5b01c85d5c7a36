/**
 * `xfmr eval` end to end on the shipped tiny model and a two-document real-prose set: the test
 * split is run only when asked, with a warning; the last stdout line is the JSON of every figure
 * (EM, F1, answer rate, answer in sources, abstention); bad --split / --sets are one-line errors.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { PAGES, writeRealproseSet } from '../recipe/helpers.ts';
import { tempDir, xfmr } from './helpers.ts';

const MODEL = 'models/xfmr-rag-tiny';

function tinySet(dir: string): string {
  return writeRealproseSet(
    join(dir, 'realprose'),
    [
      { id: 'a', split: 'test', text: PAGES.timeout },
      { id: 'b', split: 'dev', text: PAGES.watch },
    ],
    {
      answerable: [
        { id: 'a1', doc: 'a', question: 'What exit code means the command timed out?', answers: ['124'] },
        {
          id: 'a2',
          doc: 'a',
          question: 'What does timeout do?',
          answers: ['run a command with a time limit'],
        },
        { id: 'a3', doc: 'b', question: 'How often does watch run?', answers: ['every 2 seconds'] },
      ],
      unanswerable: [{ id: 'u1', about: 'a', question: 'Can timeout limit memory?' }],
    },
  );
}

test('xfmr eval --split test: one set, a warning, every figure in the JSON line', async () => {
  const dir = tempDir();
  const realprose = tinySet(dir);
  const r = await xfmr([
    'eval',
    '--model',
    MODEL,
    '--sets',
    'realprose',
    '--realprose',
    realprose,
    '--split',
    'test',
    '--work',
    join(dir, 'work'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: the real-prose TEST split is reported once/);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /abstain \(n\)/);
  const j = JSON.parse(lines[lines.length - 1]);
  assert.equal(j.split, 'test');
  assert.deepEqual(Object.keys(j).sort(), ['model/free', 'model/grounded', 'split']);
  for (const k of ['model/free', 'model/grounded']) {
    assert.deepEqual(Object.keys(j[k]), ['realprose-test'], 'only the test split, only this set');
    const s = j[k]['realprose-test'];
    for (const c of ['none', 'retrieval', 'gold']) {
      assert.equal(s[c].n, 2, 'the two answerable questions of the test document');
      for (const f of ['em', 'f1', 'answer_rate'])
        assert.ok(s[c][f] >= 0 && s[c][f] <= 100, `${k} ${c} ${f}`);
    }
    // Both answers are in the only chunk of the indexed document, which fits the window.
    assert.equal(s.answer_in_sources, 100);
    assert.equal(s.unanswerable.n, 1);
    for (const c of ['none', 'retrieval']) assert.ok([0, 100].includes(s.unanswerable[c].abstain_rate));
  }
});

test('xfmr eval: a bad --split or --sets is one line on stderr naming the option', async () => {
  const split = await xfmr(['eval', '--split', 'train']);
  assert.notEqual(split.code, 0);
  assert.match(split.stderr, /^xfmr: --split must be dev or test, got "train"\n$/);
  const sets = await xfmr(['eval', '--sets', 'docs,nope']);
  assert.notEqual(sets.code, 0);
  assert.match(sets.stderr, /^xfmr: --sets: unknown set "nope" \(known: synthetic, docs, realprose\)\n$/);
});
