/**
 * The synthetic QA generator: deterministic by seed, answers are spans of their gold passage,
 * prompts fit the model's window, held-out names never occur in training data, and DPO rejected
 * answers are hallucinations (absent from the context).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDumpavail } from '../../src/recipe/prose.ts';
import {
  clauseQuestions,
  entityDocuments,
  fillPrompt,
  nameSplit,
  parseKjv,
  preferencePairs,
  proseExample,
  qaExamples,
  RAG_TEMPLATE,
  Values,
} from '../../src/recipe/qa_data.ts';
import { Rng } from '../../src/tensor/random.ts';
import { getEncoding } from '../../src/tokenizers/tiktoken.ts';

const KJV = `Genesis 1

  1 In the beginning God created the heaven and the earth.
  2 And the earth was without form, and void; and darkness was upon the face of
the deep. And the Spirit of God moved upon the face of the waters.
  3 And God called the light Day, and the darkness he called Night.
  4 And Adam knew Eve his wife; and she bare three sons unto him.
  5 And he went up from Bethel to Hebron with seven servants.

Genesis 2

  1 Thus the heavens and the earth were finished, and all the host of them.
  2 And the man was called Enoch, and he lived sixty and five years.
  3 And Enoch walked with God two hundred years after he begat Methuselah.
`;
const verses = parseKjv(KJV);

test('parseKjv: verses with references, continuation lines joined', () => {
  assert.equal(verses.length, 8);
  assert.deepEqual(verses[1], {
    ref: 'Genesis 1:2',
    text: 'And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.',
  });
  assert.equal(verses[5].ref, 'Genesis 2:1');
});

test('clauseQuestions: in-place wh-questions whose answers are spans of the clause', () => {
  const qs = clauseQuestions('And Adam knew Eve his wife; and she bare three sons unto him.');
  assert.ok(qs.some((q) => q.question === 'And Adam knew who?' && q.answer === 'Eve'));
  assert.ok(
    qs.some(
      (q) => q.question === 'And Adam knew Eve his wife; and she bare how many sons?' && q.answer === 'three',
    ),
  );
  const where = clauseQuestions('And he went up from Bethel to Hebron with seven servants.');
  assert.ok(where.some((q) => q.answer === 'Hebron' && q.question === 'And he went up from Bethel where?'));
  const called = clauseQuestions('And the man was called Enoch, and he lived');
  assert.ok(called.some((q) => q.question === 'And the man was called what?' && q.answer === 'Enoch'));
  for (const q of [...qs, ...where, ...called]) assert.ok(q.question.endsWith('?'));
});

test('the same seed gives the same examples; another seed others', () => {
  const a = qaExamples({ n: 50, seed: 7, split: 'train', kjvShare: 0.3, verses });
  const b = qaExamples({ n: 50, seed: 7, split: 'train', kjvShare: 0.3, verses });
  const c = qaExamples({ n: 50, seed: 8, split: 'train', kjvShare: 0.3, verses });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(preferencePairs(20, 3), preferencePairs(20, 3));
  assert.deepEqual(entityDocuments(10, 5), entityDocuments(10, 5));
});

test('every answer is a span of its gold passage, and the prompt is the RAG template', () => {
  const ex = qaExamples({ n: 400, seed: 11, split: 'train', kjvShare: 0.4, verses });
  assert.ok(ex.some((e) => e.source === 'kjv') && ex.some((e) => e.source === 'entity'));
  for (const e of ex) {
    assert.ok(e.answer.length > 0);
    assert.ok(e.passages[e.gold].includes(e.answer), `${e.answer} not in ${e.passages[e.gold]}`);
    assert.equal(e.prompt, fillPrompt(e.passages, e.question));
    assert.ok(e.prompt.startsWith('[ctx: ') && e.prompt.includes('] Answer the question: '));
    assert.ok(e.passages.length >= 1 && e.passages.length <= 4);
  }
  assert.equal(
    fillPrompt(['a', 'b'], 'q?'),
    RAG_TEMPLATE.replace('{docs}', 'a\n\nb').replace('{query}', 'q?'),
  );
  assert.equal(fillPrompt([], 'q?'), '[ctx: ] Answer the question: q?');
});

test('prompts fit a 512-token window (GPT-2 BPE as a stand-in; the recipe drops the rare longer ones)', () => {
  const tok = getEncoding('gpt2');
  const ex = qaExamples({ n: 300, seed: 12, split: 'train', kjvShare: 0, verses });
  for (const e of ex)
    assert.ok(tok.encode(e.prompt).length + 16 <= 512, `${tok.encode(e.prompt).length} tokens`);
});

test('evaluation names never appear in training data', () => {
  const train = new Values(new Rng(1), 'train');
  const held = new Values(new Rng(1), 'eval');
  for (let i = 0; i < 200; i++) {
    assert.equal(nameSplit(train.person().split(' ')[0]), 'train');
    assert.equal(nameSplit(held.place()), 'eval');
    assert.equal(nameSplit(held.tool()), 'eval');
  }
  const text = entityDocuments(300, 2).join(' ');
  const evalNames = Array.from({ length: 50 }, () => held.tool());
  for (const n of evalNames) assert.ok(!new RegExp(`\\b${n}\\b`, 'i').test(text), n);
});

test('DPO pairs: chosen is in the context, rejected is a value absent from it', () => {
  const pairs = preferencePairs(200, 9);
  for (const p of pairs) {
    assert.ok(p.prompt.includes(p.chosen));
    assert.ok(!p.prompt.includes(p.rejected), `${p.rejected} is in the context`);
    assert.notEqual(p.chosen, p.rejected);
  }
});

test('proseExample: the answer is a span of the gold passage, the prompt holds every passage', () => {
  const catalog = parseDumpavail(
    Array.from(
      { length: 12 },
      (_, i) =>
        `Package: pkg${i}\nVersion: 1.${i}\nMaintainer: Person ${String.fromCharCode(65 + i)} <p${i}@example.org>\nSection: utils\nDescription: tool number ${i}\n It reads format${i} files and was written by Kim Park${i}.`,
    ).join('\n\n'),
  );
  const paragraphs = Array.from({ length: 12 }, (_, i) => ({
    source: `/usr/share/doc/pkg${i}/README`,
    text: `The daemon ${i} reads /etc/conf${i} every ${i + 2} minutes and supports format${i} archives.`,
  }));
  const rng = new Rng(9);
  const sources = new Set<string>();
  for (let i = 0; i < 60; i++) {
    const ex = proseExample({ paragraphs, installed: catalog, catalog }, rng);
    sources.add(ex.source);
    assert.ok(ex.passages[ex.gold].includes(ex.answer), `${ex.answer} not in gold`);
    assert.equal(ex.prompt, fillPrompt(ex.passages, ex.question));
    assert.ok(ex.passages.length >= 1 && ex.passages.length <= 5);
  }
  assert.deepEqual([...sources].sort(), ['doc', 'package']);
});
