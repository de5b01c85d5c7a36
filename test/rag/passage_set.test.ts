/**
 * The held-out paraphrase retrieval sets and their loader: eval/paraphrase (issue 18) and
 * eval/paraphrase-fresh (a second set, never used while tuning, every document in split test).
 * For each, every gold reference resolves, dev and test share no document, the counts its README
 * states, and the lexical overlap of the paraphrase questions stays under the bound stated there.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  goldOverlap,
  goldRank,
  loadPassageSet,
  type PassageSet,
  splitPassages,
  squashSpace,
} from '../../src/rag/passage_set.ts';
import { heldOutIndex, heldOutReason } from '../../src/train/held_out.ts';
import { ROOT, tempDir } from './helpers.ts';

const DIR = join(ROOT, 'eval', 'paraphrase');

/** Stated in each set's README.md: mean overlap of the paraphrase questions at most this. */
const PARAPHRASE_OVERLAP_MEAN = 0.2;
/** And no paraphrase question shares more than this share of its content words with its gold. */
const PARAPHRASE_OVERLAP_MAX = 0.7;

/** Questions of a style (and split, when given). */
function count(set: PassageSet, style: string, split?: string): number {
  return set.questions.filter((q) => q.style === style && (!split || q.split === split)).length;
}

interface SetCase {
  /** The folder, relative to the repository root. */
  name: string;
  /** The counts this set promises (its README). */
  size: { title: string; check: (set: PassageSet) => void };
  /** A document of this set only (in no other held-out folder) and one of its passages. */
  ownDoc: string;
  ownPassage: string;
}

const SETS: readonly SetCase[] = [
  {
    name: 'eval/paraphrase',
    size: {
      title: 'the size issue 18 asks for: 120+ paraphrase and 60+ keyword questions, in both splits',
      check: (set) => {
        const n = (style: string, split?: string) => count(set, style, split);
        assert.ok(n('paraphrase') >= 120, `paraphrase questions: ${n('paraphrase')}`);
        assert.ok(n('keyword') >= 60, `keyword questions: ${n('keyword')}`);
        for (const style of ['paraphrase', 'keyword'])
          for (const split of ['dev', 'test'])
            assert.ok(n(style, split) >= 30, `${style} ${split}: ${n(style, split)}`);
        // Enough passages and documents that retrieval is not trivial, small enough to stay a fixture.
        assert.ok(set.docs.length >= 40 && set.docs.length <= 100, `documents: ${set.docs.length}`);
        assert.ok(
          set.passages.length >= 150 && set.passages.length <= 450,
          `passages: ${set.passages.length}`,
        );
      },
    },
    ownDoc: 'man-wc',
    ownPassage: 'man-wc#2',
  },
  {
    name: 'eval/paraphrase-fresh',
    size: {
      title:
        'a second test set: 75+ paraphrase and 25+ keyword questions over 20+ documents, all in split test',
      check: (set) => {
        assert.ok(count(set, 'paraphrase') >= 75, `paraphrase questions: ${count(set, 'paraphrase')}`);
        assert.ok(count(set, 'keyword') >= 25, `keyword questions: ${count(set, 'keyword')}`);
        assert.deepEqual(
          set.docs.filter((d) => d.split !== 'test').map((d) => d.id),
          [],
        );
        assert.ok(set.docs.length >= 20 && set.docs.length <= 40, `documents: ${set.docs.length}`);
        assert.ok(
          set.passages.length >= 150 && set.passages.length <= 300,
          `passages: ${set.passages.length}`,
        );
        // Every document is asked about, none dominates.
        const perDoc = new Map<string, number>();
        for (const q of set.questions)
          for (const d of new Set(q.gold.map((g) => g.slice(0, g.indexOf('#')))))
            perDoc.set(d, (perDoc.get(d) ?? 0) + 1);
        for (const d of set.docs) {
          const k = perDoc.get(d.id) ?? 0;
          assert.ok(k >= 2 && k <= 6, `${d.id}: ${k} questions`);
        }
      },
    },
    ownDoc: 'man-grep',
    ownPassage: 'man-grep#5',
  },
];

// The fresh set's documents are new: none is in eval/paraphrase, which holds all of eval/realprose's.
test('eval/paraphrase-fresh shares no document or source with eval/paraphrase', () => {
  const [old, fresh] = SETS.map((c) => loadPassageSet(join(ROOT, c.name)));
  const sources = new Set(old.docs.map((d) => d.source.replace(/ \(.*\)$/, '')));
  const ids = new Set(old.docs.map((d) => d.id));
  for (const d of fresh.docs) {
    assert.ok(!ids.has(d.id), d.id);
    assert.ok(!sources.has(d.source.replace(/ \(.*\)$/, '')), d.source);
  }
});

for (const c of SETS) {
  const dir = join(ROOT, c.name);
  const set = loadPassageSet(dir);
  const passage = new Map(set.passages.map((p) => [p.id, p]));
  const title = (t: string) => `${c.name}: ${t}`;

  test(title(`the set has ${c.size.title}`), () => {
    c.size.check(set);
    assert.equal(
      new Set(set.questions.map((q) => squashSpace(q.question).toLowerCase())).size,
      set.questions.length,
    );
  });

  test(
    title('every question has gold passages that exist, all in its split; dev and test share no document'),
    () => {
      const splitOfDoc = new Map(set.docs.map((d) => [d.id, d.split]));
      const docsOf = { dev: new Set<string>(), test: new Set<string>() };
      for (const q of set.questions) {
        assert.ok(q.gold.length > 0, q.id);
        for (const g of q.gold) {
          const p = passage.get(g);
          assert.ok(p, `${q.id}: ${g}`);
          assert.equal(p.split, q.split, `${q.id}: ${g}`);
          assert.equal(splitOfDoc.get(p.doc), q.split);
          docsOf[q.split].add(p.doc);
        }
      }
      assert.deepEqual(
        [...docsOf.dev].filter((d) => docsOf.test.has(d)),
        [],
      );
      for (const p of set.passages) assert.equal(p.split, splitOfDoc.get(p.doc), p.id);
    },
  );

  test(
    title(
      'evidence picks out exactly the gold passages of its document, and gold passages are not boilerplate',
    ),
    () => {
      for (const q of set.questions) {
        const gold = q.gold.map((g) => passage.get(g)!);
        for (const e of q.evidence) {
          const span = squashSpace(e);
          // Every passage of the gold documents that holds the evidence is gold: none is left out.
          const holders = set.passages.filter(
            (p) => gold.some((g) => g.doc === p.doc) && squashSpace(p.text).includes(span),
          );
          assert.ok(holders.length > 0, `${q.id}: ${e}`);
          for (const h of holders)
            assert.ok(q.gold.includes(h.id), `${q.id}: ${h.id} holds "${e}" but is not gold`);
        }
        for (const g of gold)
          assert.ok(
            q.evidence.some((e) => squashSpace(g.text).includes(squashSpace(e))),
            `${q.id}: gold ${g.id} holds none of its evidence`,
          );
      }
      // A gold passage whose text is repeated elsewhere (a shared copyright footer) would make
      // retrieval of the twin a miss: there is none.
      const texts = new Map<string, number>();
      for (const p of set.passages) texts.set(squashSpace(p.text), (texts.get(squashSpace(p.text)) ?? 0) + 1);
      for (const q of set.questions)
        for (const g of q.gold)
          assert.equal(texts.get(squashSpace(passage.get(g)!.text)), 1, `${q.id}: ${g}`);
    },
  );

  test(
    title('paraphrase questions avoid the words of their gold passage; keyword questions reuse them'),
    () => {
      const byQuestion = goldOverlap(set);
      const overlap = (style: string) =>
        set.questions
          .filter((q) => q.style === style)
          .map((q) => ({ id: q.id, o: byQuestion.get(q.id) as number }));
      const para = overlap('paraphrase');
      const mean = para.reduce((s, x) => s + x.o, 0) / para.length;
      assert.ok(mean <= PARAPHRASE_OVERLAP_MEAN, `paraphrase mean overlap ${mean.toFixed(3)}`);
      for (const x of para) assert.ok(x.o <= PARAPHRASE_OVERLAP_MAX, `${x.id}: overlap ${x.o.toFixed(2)}`);
      const kw = overlap('keyword');
      const kwMean = kw.reduce((s, x) => s + x.o, 0) / kw.length;
      assert.ok(kwMean >= 0.8, `keyword mean overlap ${kwMean.toFixed(3)}`);
    },
  );

  test(title('the set is held out of training data, by path and by content'), () => {
    const why = new RegExp(`the evaluation documents in ${c.name}/`);
    assert.match(heldOutReason(join(dir, 'docs', `${c.ownDoc}.txt`)) ?? '', why);
    assert.match(heldOutReason(join(dir, 'questions.json')) ?? '', why);
    // The document is in this set only: a copy of one of its passages is refused as this set's.
    const copy = `Notes taken from elsewhere: ${passage.get(c.ownPassage)!.text}`;
    assert.equal(heldOutIndex().find(copy)?.source, `${c.name}/docs/${c.ownDoc}.txt`);
  });
}

test('passages are separated by two blank lines; one blank line stays inside a passage', () => {
  assert.deepEqual(splitPassages('a\n\nb\n\n\nc\n  \n\n\nd\n'), ['a\n\nb', 'c', 'd']);
  assert.deepEqual(splitPassages('\n\n\nonly\n'), ['only']);
  assert.equal(goldRank(['a#2', 'b#1'], ['c#1', 'b#1', 'a#2']), 2);
  assert.equal(goldRank(['a#2'], ['c#1', 'b#1']), 0);
});

test('the loader names the question and field at fault', () => {
  const dir = tempDir();
  cpSync(DIR, dir, { recursive: true });
  const qPath = join(dir, 'questions.json');
  const original = readFileSync(qPath, 'utf8');
  const edit = (f: (q: Record<string, unknown>) => void) => {
    const j = JSON.parse(original) as { questions: Record<string, unknown>[] };
    f(j.questions[0]);
    writeFileSync(qPath, JSON.stringify(j));
  };
  edit((q) => {
    q.gold = ['man-ls#99'];
  });
  assert.throws(() => loadPassageSet(dir), /question p001: gold passage man-ls#99 is not in/);
  edit((q) => {
    q.evidence = ['words that are in no passage'];
  });
  assert.throws(
    () => loadPassageSet(dir),
    /question p001: evidence "words that are in no passage" is in none/,
  );
  edit((q) => {
    q.gold = ['man-ls#1', 'man-sort#1'];
  });
  assert.throws(() => loadPassageSet(dir), /question p001: gold passages lie in both splits/);
  edit((q) => {
    q.style = 'vague';
  });
  assert.throws(
    () => loadPassageSet(dir),
    /question p001: style must be one of paraphrase, keyword, got vague/,
  );
  edit((q) => {
    q.gold = [];
  });
  assert.throws(() => loadPassageSet(dir), /question p001: field "gold" must be a non-empty array/);
});
