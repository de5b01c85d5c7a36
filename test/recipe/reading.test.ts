/**
 * Rule-based reading comprehension: every question's answer is a span of its passage, the
 * question keeps the words that locate it, and the pretraining exercises (lookup, copy) hold
 * their answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packageDocument, parseDumpavail } from '../../src/recipe/prose.ts';
import {
  clause,
  clozeQuestions,
  copyText,
  fieldQuestions,
  lookupText,
  optionQuestions,
  packageQuestions,
  paragraphQuestions,
  sentences,
  whQuestions,
} from '../../src/recipe/reading.ts';
import { Rng } from '../../src/tensor/random.ts';

test('sentences and clause: split at sentence ends, cut answers at clause boundaries', () => {
  assert.deepEqual(sentences('Foo reads files quickly. It writes them\nto disk! Short.'), [
    'Foo reads files quickly.',
    'It writes them to disk!',
  ]);
  assert.equal(clause('IPv6 and TLS, which are new.'), 'IPv6 and TLS');
  assert.equal(clause('a very long span goes on and on and on past the limit of words', 5), '');
});

test('clozeQuestions: a span replaced by a wh-word, the rest of the sentence kept', () => {
  const qs = clozeQuestions('The daemon reads /etc/zed.conf at start and waits 30 seconds for Ann Lee.');
  const byAnswer = new Map(qs.map((q) => [q.answer, q.question]));
  assert.equal(
    byAnswer.get('/etc/zed.conf'),
    'The daemon reads what at start and waits 30 seconds for Ann Lee?',
  );
  assert.equal(
    byAnswer.get('30'),
    'The daemon reads /etc/zed.conf at start and waits how many seconds for Ann Lee?',
  );
  assert.equal(
    byAnswer.get('Ann Lee'),
    'The daemon reads /etc/zed.conf at start and waits 30 seconds for who?',
  );
  // not inside words: "Node.js" gives no "Node", "V8-CI" no "-CI"
  assert.deepEqual(
    clozeQuestions('We build the V8-CI job with Node.js in Jenkins today.').map((q) => q.answer),
    ['Jenkins'],
  );
});

test('whQuestions: verbs, definitions, authors, defaults', () => {
  const rng = new Rng(1);
  const v = whQuestions('It supports IPv6 and TLS, which are new.', 'zed', rng);
  assert.equal(v[0].answer, 'IPv6 and TLS');
  assert.match(v[0].question, /zed/);
  const d = whQuestions('Zed is a tool for reading archives.', 'zed', rng);
  assert.equal(d[0].answer, 'a tool for reading archives');
  assert.match(d[0].question, /Zed/);
  const a = whQuestions('The program was written by Ann Lee and Bo Chen.', 'zed', rng);
  assert.deepEqual(a.at(-1), { question: a.at(-1)?.question, answer: 'Ann Lee and Bo Chen' });
  assert.match(a.at(-1)?.question ?? '', /^(Who wrote zed\?|By whom was zed written\?)$/);
  const f = whQuestions('The port defaults to 8080 on every system.', 'zed', rng);
  assert.equal(f.at(-1)?.answer, '8080 on every system');
});

test('optionQuestions: the option for a description and the description for an option', () => {
  const para = 'Options:\n  -v, --verbose     print every file name\n  --color[=WHEN]    colour the output';
  const qs = optionQuestions(para, 'zed', new Rng(2));
  assert.deepEqual(
    qs.map((q) => q.answer),
    ['-v', 'print every file name', '--color[=WHEN]', 'colour the output'],
  );
  assert.match(qs[0].question, /print every file name|print every file name/);
});

test('fieldQuestions: "Key: value" lines', () => {
  const qs = fieldQuestions('Author: Ann Lee\nVersion: 1.2', 'zed', new Rng(3));
  assert.deepEqual(
    qs.map((q) => q.answer),
    ['Ann Lee', '1.2'],
  );
  assert.match(qs[0].question, /author/i);
});

test('packageQuestions and paragraphQuestions: every answer is a span of the document', () => {
  const [p] = parseDumpavail(
    'Package: zed-tool\nVersion: 2.1-3\nMaintainer: Ann Lee <ann@example.org>\nSection: utils\nDescription: converts zed files to text\n Zed-tool reads zed archives and writes their members as plain text.\n .\n It supports compressed archives and was written by Bo Chen.\nHomepage: https://zed.example.org\n',
  );
  const doc = packageDocument(p);
  const rng = new Rng(4);
  for (let i = 0; i < 20; i++) {
    const qs = packageQuestions(p, rng);
    assert.ok(qs.length >= 7);
    for (const q of qs) assert.ok(doc.includes(q.answer), `${q.answer} not in the document`);
  }
  const para =
    'Zed reads files from /var/lib/zed every 5 minutes. It was developed by Kim Park at Example Labs.';
  for (let i = 0; i < 20; i++)
    for (const q of paragraphQuestions(para, 'zed', rng)) assert.ok(para.includes(q.answer));
});

test('lookupText: the answer after "Look up K:" is the first value of K in the table', () => {
  const rng = new Rng(5);
  for (let i = 0; i < 50; i++) {
    const t = lookupText(['river', 'stone', 'cloud', 'ember'], rng);
    const [table, ask] = t.split('\n');
    const m = /^Look up (\w+): (.+)$/.exec(ask);
    assert.ok(m, ask);
    const rows = table
      .replace(/^Table: /, '')
      .split(' | ')
      .map((r) => r.split(' = '));
    assert.equal(rows.find((r) => r[0] === m[1])?.[1], m[2]);
  }
});

test('copyText: the quoted piece is a span of the passage, repeated', () => {
  const passage = 'one two three four five six seven eight nine ten eleven twelve thirteen';
  const t = copyText(passage, new Rng(6));
  const m = /\nQuote: "(.+)"\nAgain: "(.+)"$/.exec(t);
  assert.ok(m);
  assert.equal(m[1], m[2]);
  assert.ok(passage.includes(m[1]));
});
