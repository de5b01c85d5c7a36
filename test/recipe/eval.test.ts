/**
 * SQuAD-style EM / F1 against hand-computed values, the docs questions' gold spans and wording, the
 * bookkeeping of answer rate, answer-in-sources and abstention (with a scripted generator), and
 * the table and JSON line that report them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalGenerator } from '../../src/rag/generator.ts';
import {
  bestOf,
  docsEvalSet,
  type EvalSet,
  evaluateModel,
  exactMatch,
  f1Score,
  formatTable,
  goldPrompt,
  normalizeAnswer,
  quotable,
  type SetPrompts,
  type SetResult,
  summaryJson,
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
  // a real-prose pair: "Paul Eggert" vs "Mike Haertel and Paul Eggert": precision 2/2, recall 2/5,
  // F1 = 2 * 1 * 0.4 / 1.4 = 4/7; an option's short and long forms share no token
  assert.ok(Math.abs(f1Score('Paul Eggert', 'Mike Haertel and Paul Eggert') - 4 / 7) < 1e-12);
  assert.equal(f1Score('--human-readable', '-h'), 0);
  assert.equal(exactMatch('-h', '-h'), 1);
  assert.equal(exactMatch('LC_ALL=C.', 'LC_ALL=C'), 1);
});

test('the docs questions: every answer is in the gold paragraph of its file, asked in other words', async () => {
  const { DOCS_QUESTIONS } = await import('../../src/recipe/docs_questions.ts');
  const set = await docsEvalSet('docs');
  const answerable = set.items.filter((i) => i.answers.length > 0);
  const unanswerable = set.items.filter((i) => i.answers.length === 0);
  assert.ok(answerable.length >= 40);
  assert.ok(unanswerable.length >= 10);
  for (const item of answerable) assert.ok(item.answers.some((a) => item.gold.includes(a)));
  for (const item of unanswerable) assert.equal(item.gold, '');
  // A user's wording, not the document's: no question repeats the sentence that answers it.
  for (const q of DOCS_QUESTIONS)
    assert.ok(!q.question.toLowerCase().includes(q.evidence.toLowerCase()), q.question);
  const norm = set.items.map((i) => normalizeAnswer(i.question));
  assert.equal(new Set(norm).size, norm.length);
});

/** A generator that answers from a table keyed by prompt (what a LocalGenerator would write). */
function scripted(answers: Map<string, string>): LocalGenerator {
  const complete = async (prompt: string) => answers.get(prompt) ?? '';
  return { complete } as unknown as LocalGenerator;
}

test('evaluateModel: EM/F1 and answer rate over answerable items, abstain rate over unanswerable ones', async () => {
  const set: EvalSet = {
    name: 'toy',
    paths: [],
    items: [
      { question: 'q1', answers: ['8080'], gold: 'port 8080' },
      { question: 'q2', answers: ['Hono'], gold: 'built on Hono' },
      { question: 'u1', answers: [], gold: '' },
      { question: 'u2', answers: [], gold: '' },
    ],
  };
  const p = (c: string, q: string) => `${c}:${q}`;
  const prompts: SetPrompts = {
    prompts: set.items.map((i) => ({
      none: p('none', i.question),
      retrieval: p('retrieval', i.question),
      gold: i.answers.length ? p('gold', i.question) : '',
    })),
    chunks: set.items.map(() => []),
    retrievedGold: [true, false, false, false],
    answerInSources: [true, true, false, false],
  };
  const gen = scripted(
    new Map([
      // q1: right everywhere; q2: wrong with retrieval, silent without, right with gold
      [p('none', 'q1'), '8080'],
      [p('retrieval', 'q1'), '8080.'],
      [p('gold', 'q1'), '8080'],
      [p('retrieval', 'q2'), 'Express'],
      [p('gold', 'q2'), 'Hono'],
      // u1: abstains in both conditions (in words, then silent); u2: makes something up with retrieval
      [p('none', 'u1'), 'I could not find the answer in the documents.'],
      [p('none', 'u2'), 'not found'],
      [p('retrieval', 'u2'), '443'],
    ]),
  );
  const [r] = await evaluateModel(gen, [set], [prompts], { workDir: 'unused' });
  assert.deepEqual(r.scores.none, { em: 50, f1: 50, n: 2, answerRate: 50 });
  assert.deepEqual(r.scores.retrieval, { em: 50, f1: 50, n: 2, answerRate: 100 });
  assert.deepEqual(r.scores.gold, { em: 100, f1: 100, n: 2, answerRate: 100 });
  assert.deepEqual(r.unanswerable, {
    none: { n: 2, abstainRate: 100 },
    retrieval: { n: 2, abstainRate: 50 },
  });
  assert.equal(r.recall, 50);
  assert.equal(r.answerInSources, 100);
  assert.equal(r.samples[2].gold, '', 'an unanswerable item is not asked with a gold passage');
});

test('goldPrompt: a passage over the window loses lines far from the answer first, never the answer', () => {
  // One token per word; a window of 40 tokens, 8 for the answer, 2 of overhead: 30 for the prompt.
  const count = (t: string) => t.split(/\s+/).filter(Boolean).length;
  const gen = {
    contextTokens: 40,
    promptOverhead: 2,
    countTokens: count,
    truncate: (t: string, n: number) => t.split(' ').slice(0, n).join(' '),
  } as unknown as LocalGenerator;
  const lines = Array.from({ length: 12 }, (_, i) => `line${i} a b`);
  lines[9] = 'the answer is 124';
  const item = { question: 'which code?', answers: ['124'], gold: lines.join('\n') };
  const p = goldPrompt(item, gen, 8);
  assert.ok(count(p) <= 30, `${count(p)} tokens`);
  assert.ok(p.includes('the answer is 124'));
  // Lines after the answer are kept while the far end (line0, line1, ...) is dropped.
  assert.ok(p.includes('line11') && !p.includes('line0 '));
  const short = { question: 'q?', answers: ['x'], gold: 'x y' };
  assert.equal(goldPrompt(short, gen, 8), fillPrompt(['x y'], 'q?'));
});

const toyResult = (): SetResult => {
  const s = { em: 50, f1: 60, n: 2, answerRate: 75 };
  return {
    set: 'docs',
    scores: { none: s, retrieval: s, gold: s },
    recall: 100,
    answerInSources: 90,
    unanswerable: { none: { n: 4, abstainRate: 25 }, retrieval: { n: 4, abstainRate: 0 } },
    samples: [],
  };
};

test('formatTable: one row per model and set, with answer rate, answer in sources and abstention', () => {
  const t = formatTable([{ model: 'm', label: 'sft', decoding: 'grounded', sets: [toyResult()] }]);
  assert.match(t, /sft\s+grounded\s+docs\s+2\s+50\.0 \/ 60\.0/);
  assert.match(t, /75\.0%\s+90\.0%\s+100\.0%\s+0\.0% \(4\)$/m);
});

test('summaryJson: the figures of every set under model/decoding, with the split', () => {
  const j = JSON.parse(
    summaryJson([{ model: 'm', label: 'dpo', decoding: 'free', sets: [toyResult()] }], 'dev'),
  );
  assert.equal(j.split, 'dev');
  assert.deepEqual(j['dpo/free'].docs, {
    none: { em: 50, f1: 60, n: 2, answer_rate: 75 },
    retrieval: { em: 50, f1: 60, n: 2, answer_rate: 75 },
    gold: { em: 50, f1: 60, n: 2, answer_rate: 75 },
    retrieval_recall: 100,
    answer_in_sources: 90,
    unanswerable: { n: 4, none: { abstain_rate: 25 }, retrieval: { abstain_rate: 0 } },
  });
});
