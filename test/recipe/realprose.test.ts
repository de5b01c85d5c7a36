/**
 * The real-prose QA set (eval/realprose) is what issue 17 says it is: at least 150 answerable
 * questions with gold spans of their documents and 40 unanswerable ones, over 30+ documents of
 * three kinds, split by document into dev (about a third) and test; no duplicate questions; and
 * the loader, span search and gold passages behave.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAbstention } from '../../src/rag/abstain.ts';
import { normalizeAnswer, realProseEvalSet } from '../../src/recipe/eval.ts';
import {
  containsAnswer,
  findSpan,
  GOLD_WORDS,
  goldPassage,
  loadRealProse,
  splitOf,
} from '../../src/recipe/realprose.ts';

const DIR = 'eval/realprose';
const set = loadRealProse(DIR);
const split = splitOf(set);
const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

test('sizes: >= 30 documents of three kinds, >= 150 answerable and >= 40 unanswerable questions', () => {
  assert.ok(set.docs.length >= 30, `${set.docs.length} documents`);
  assert.deepEqual([...new Set(set.docs.map((d) => d.kind))].sort(), ['license', 'man', 'pydoc']);
  assert.ok(set.answerable.length >= 150, `${set.answerable.length} answerable`);
  assert.ok(set.unanswerable.length >= 40, `${set.unanswerable.length} unanswerable`);
  for (const d of set.docs) {
    // "A few hundred to about 2,000 words": the BSD license (225 words) is the shortest.
    const n = words(set.text.get(d.id)!);
    assert.ok(n >= 200 && n <= 2000, `${d.id}: ${n} words`);
    assert.ok(d.license && d.package && d.path.startsWith('/usr/'), `${d.id}: source recorded`);
  }
});

test('split by document: dev holds about a third of the documents, each split has every kind', () => {
  const dev = set.docs.filter((d) => d.split === 'dev');
  const share = dev.length / set.docs.length;
  assert.ok(share > 0.25 && share < 0.4, `dev share ${share}`);
  for (const s of ['dev', 'test'] as const)
    assert.deepEqual([...new Set(set.docs.filter((d) => d.split === s).map((d) => d.kind))].sort(), [
      'license',
      'man',
      'pydoc',
    ]);
  // One source file, one document: no text is in both splits under two ids.
  assert.equal(new Set(set.docs.map((d) => d.path)).size, set.docs.length);
  // Every split has answerable and unanswerable questions.
  for (const s of ['dev', 'test'] as const) {
    assert.ok(set.answerable.filter((q) => split.get(q.doc) === s).length >= 50);
    assert.ok(set.unanswerable.filter((q) => split.get(q.doc) === s).length >= 15);
  }
});

test('every gold answer is a span of its document; the gold passage holds it and is short', () => {
  for (const q of set.answerable) {
    const text = set.text.get(q.doc)!;
    for (const a of q.answers) assert.ok(containsAnswer(text, a), `${q.id}: "${a}" not in ${q.doc}`);
    const gold = goldPassage(text, q.answers);
    assert.ok(
      q.answers.some((a) => findSpan(gold, a)),
      `${q.id}: gold passage lacks the answer`,
    );
    // Within the budget, unless the lines of the answer alone are longer.
    assert.ok(words(gold) <= GOLD_WORDS + words(q.answers.join(' ')) + 20, `${q.id}: ${words(gold)} words`);
    // No gold answer reads as a refusal: it would count as an abstention.
    for (const a of q.answers) assert.equal(isAbstention(a), false, `${q.id}: "${a}"`);
  }
});

test('no duplicate questions (after SQuAD normalisation) in either split; ids unique', () => {
  const all = [...set.answerable, ...set.unanswerable];
  assert.equal(new Set(all.map((q) => q.id)).size, all.length);
  const norm = all.map((q) => normalizeAnswer(q.question));
  const dupes = norm.filter((n, i) => norm.indexOf(n) !== i);
  assert.deepEqual(dupes, []);
});

test('realProseEvalSet: one split, its documents only, gold passages for the answerable items', () => {
  for (const s of ['dev', 'test'] as const) {
    const es = realProseEvalSet(DIR, s);
    const docs = set.docs.filter((d) => d.split === s);
    assert.equal(es.name, `realprose-${s}`);
    assert.deepEqual(
      es.paths,
      docs.map((d) => join(DIR, 'docs', `${d.id}.txt`)),
    );
    const ans = set.answerable.filter((q) => split.get(q.doc) === s);
    const un = set.unanswerable.filter((q) => split.get(q.doc) === s);
    assert.equal(es.items.length, ans.length + un.length);
    assert.equal(es.items.filter((i) => i.answers.length === 0 && i.gold === '').length, un.length);
  }
});

test('findSpan: whitespace-insensitive, not inside a longer option or word', () => {
  const text = '--time=WORD\n       -t     sort by time,\n              newest first';
  assert.deepEqual(findSpan(text, '-t'), [19, 21]);
  assert.equal(
    text.slice(...findSpan(text, 'sort by time, newest first')!),
    'sort by time,\n              newest first',
  );
  assert.equal(findSpan('--timeout', '-t'), undefined);
  assert.deepEqual(findSpan('a (default 3) b', '3'), [11, 12]);
  assert.equal(findSpan('2G', '2'), undefined);
});

test('goldPassage: the lines around the longest answer, within GOLD_WORDS', () => {
  const lines = Array.from({ length: 200 }, (_, i) => `line ${i} word word word`);
  lines[100] = '-r, --reverse reverse the result';
  lines[3] = 'see --random-source and -r';
  const text = lines.join('\n');
  const gold = goldPassage(text, ['-r', '--reverse']);
  assert.ok(gold.includes('-r, --reverse'));
  assert.ok(!gold.includes('--random-source'));
  assert.ok(words(gold) <= GOLD_WORDS);
  assert.ok(words(gold) > GOLD_WORDS - 5);
  assert.throws(() => goldPassage(text, ['absent']), /none of the answers/);
});

test('loadRealProse: a bad manifest or question names the file and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-realprose-'));
  try {
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs', 'a.txt'), 'The answer is forty two.\n');
    const doc = {
      id: 'a',
      split: 'dev',
      kind: 'man',
      source: 's',
      path: '/usr/x',
      package: 'p',
      license: 'l',
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ documents: [{ ...doc, split: 'train' }] }));
    writeFileSync(join(dir, 'questions.json'), JSON.stringify({ answerable: [], unanswerable: [] }));
    assert.throws(() => loadRealProse(dir), /manifest\.json: documents\[0\]: split must be dev or test/);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ documents: [doc] }));
    writeFileSync(
      join(dir, 'questions.json'),
      JSON.stringify({
        answerable: [{ id: 'q', doc: 'b', question: 'x?', answers: ['y'] }],
        unanswerable: [],
      }),
    );
    assert.throws(() => loadRealProse(dir), /answerable\[0\]: unknown document b/);
    writeFileSync(
      join(dir, 'questions.json'),
      JSON.stringify({ answerable: [{ id: 'q', doc: 'a', question: 'x?', answers: [] }], unanswerable: [] }),
    );
    assert.throws(() => loadRealProse(dir), /field "answers" must be a non-empty array/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
