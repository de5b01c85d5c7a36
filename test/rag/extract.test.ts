/**
 * The extractive reader (src/rag/extract.ts): what a question asks for, the spans of a chunk and
 * their offsets, and the span it answers with, on examples worked by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { expectedKinds, extractSpan, SPAN_WEIGHTS, spans } from '../../src/rag/extract.ts';
import { contentStems, StemSet } from '../../src/rag/overlap.ts';

test('expectedKinds: the kind of span a question asks for, from its form', () => {
  const cases: [string, string][] = [
    ['How do I sort in reverse order?', 'option'],
    ['Which flag makes diff ignore case?', 'option'],
    ['What does the --pid option of tail do?', 'description'],
    ['How many lines does tail show?', 'number'],
    ['What exit status does xargs use?', 'number'],
    ['Who wrote sort?', 'name'],
    ['What is the default timeout of subprocess.run?', 'value'],
    ['When was the hive founded?', 'number'],
    ['Can I charge a fee for support?', 'sentence'],
    ['Which environment variable does wenny read?', 'gap'],
  ];
  for (const [q, kind] of cases) assert.equal(expectedKinds(q)[0], kind, q);
});

test('spans: each span is its text at its offsets, trimmed, with the sentence and paragraph around it', () => {
  const text =
    '  -r, --reverse\n         reverse the result\n\nBodael was founded in 1710. See "man 1 sort".';
  const found = spans(text, new StemSet(contentStems('When was Bodael founded?')));
  for (const s of found) {
    assert.equal(text.slice(s.start, s.end), s.text, s.kind);
    assert.equal(s.text, s.text.trim());
    assert.ok(
      s.sentence.includes(s.text) || s.kind === 'description',
      `${s.kind}: ${s.text} in ${s.sentence}`,
    );
    assert.ok(s.paragraph.includes(s.text), `${s.kind}: ${s.text}`);
  }
  const of = (kind: string) => found.filter((s) => s.kind === kind).map((s) => s.text);
  assert.deepEqual(of('option'), ['-r', '--reverse', '-r, --reverse']);
  assert.deepEqual(of('description'), ['reverse the result']);
  assert.deepEqual(of('number'), ['1710', '1']);
  assert.deepEqual(of('quoted'), ['"man 1 sort"']);
  // the sentence's words the question does not have ("was", "in" are stopwords)
  assert.ok(of('gap').includes('1710'));
  assert.ok(!of('gap').some((g) => /bodael|founded/i.test(g)));
  assert.ok(of('sentence').includes('Bodael was founded in 1710'), 'a whole sentence, its full stop dropped');
  // names: capitalised words in a row, "and" between them, never across a full stop
  const names = spans(
    'Written by Mike Haertel and Paul Eggert. Direct Preference Optimization. The model reads.',
    new StemSet([]),
  )
    .filter((s) => s.kind === 'name')
    .map((s) => s.text);
  assert.deepEqual(names, ['Mike Haertel and Paul Eggert', 'Direct Preference Optimization']);
  // a full stop ends a sentence only before a space or the end: not inside gnu.org or 2.5
  const more = spans('Report bugs to bug-diffutils@gnu.org. Width 2.5 (default 130) here.', new StemSet([]));
  const kind = (k: string) => more.filter((s) => s.kind === k).map((s) => s.text);
  assert.deepEqual(kind('sentence'), [
    'Report bugs to bug-diffutils@gnu.org',
    'Width 2.5 (default 130) here',
  ]);
  assert.deepEqual(kind('identifier'), ['bug-diffutils@gnu.org']);
  assert.deepEqual(kind('value'), ['130'], '"default N" gives N');
  // an option's sentence is its block: the flags and the lines that describe them
  const flags = spans('  -r, --reverse\n         reverse the result\n', new StemSet([])).filter(
    (s) => s.kind === 'option',
  );
  for (const f of flags) assert.equal(f.sentence, '  -r, --reverse\n         reverse the result');
});

test('extractSpan: the span of the kind asked for, where the question words are', () => {
  const manPage =
    '  -n, --numeric-sort\n         compare according to string numerical value\n\n' +
    '  -r, --reverse\n         reverse the result of comparisons\n';
  // "reverse" is in the question: the flag that repeats it least, in the block that has it
  assert.equal(extractSpan('Which option reverses the order of comparisons?', manPage)?.text, '-r');
  assert.equal(
    extractSpan('What does the -n option do?', manPage)?.text,
    'compare according to string numerical value',
  );
  const prose = 'Bodael is a town on the river Sarlo. Bodael was founded in 1710 by Mira Telfen.';
  assert.equal(extractSpan('In what year was Bodael founded?', prose)?.text, '1710');
  assert.equal(extractSpan('Who founded Bodael?', prose)?.text, 'Mira Telfen');
  const license =
    'You may charge a reasonable copying fee. You may charge any fee you choose for support of this Package.';
  assert.equal(
    extractSpan('Can I charge a fee for support?', license)?.text,
    'You may charge any fee you choose for support of this Package',
  );
  // the score is the file comment's: sentence 1, paragraph 0.5, kind 1, echo 0.5. The question's
  // content words are year, Bodael, founded; the text is 1 paragraph, which holds Bodael and
  // founded (idf ln(1 + 1/2)) and not year (idf ln 2); the answer's sentence holds the same two
  const best = extractSpan('In what year was Bodael founded?', prose);
  assert.ok(best);
  const covered = (2 * Math.log(1.5)) / (2 * Math.log(1.5) + Math.log(2));
  assert.ok(Math.abs(best.score - (covered + 0.5 * covered + 1 - 0)) < 1e-12, `${best.score}`);
  // a word in every paragraph (the program's name) weighs less than one in a single paragraph
  const page = '-n, --numeric-sort\n       sort by number\n\n-r, --reverse\n       sort in reverse order\n';
  assert.equal(extractSpan('Which option makes sort reverse the order?', page)?.text, '-r');
  assert.deepEqual(SPAN_WEIGHTS, { sentence: 1, paragraph: 0.5, kind: 1, echo: 0.5 });
  // nothing but the question's own words: no answer
  assert.equal(extractSpan('Bodael founded?', 'Bodael founded.'), null);
  assert.equal(extractSpan('Anything?', ''), null);
});

test('extractSpan: on any text, the answer is a span of it at its offsets', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('How do I list files?', 'Who wrote it?', 'What is the default size?', 'Is it free?'),
      (text, question) => {
        const a = extractSpan(question, text);
        if (a) assert.equal(text.slice(a.start, a.end), a.text);
      },
    ),
    { numRuns: 300 },
  );
});
