/** The default (hash) embedder: deterministic unit vectors that put related texts close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosine, createEmbedder } from '../../src/rag/embedder.ts';
import { countWords, HashEmbedder, hash32, stem, words } from '../../src/rag/hash_embedder.ts';
import { wordRank, wordWeight } from '../../src/rag/word_prior.ts';
import { TOPICS } from './helpers.ts';

test('words, stems and the hash are stable', () => {
  assert.deepEqual(words('Open sqlite3_open_v2 in WAL-mode, camelCase!'), [
    'open',
    'sqlite3_open_v2',
    'sqlite3',
    'open',
    'v2',
    'in',
    'wal-mode',
    'wal',
    'mode',
    'camelcase',
    'camel',
    'case',
  ]);
  assert.equal(countWords('Open sqlite3_open_v2 in WAL-mode, camelCase!'), 5);
  for (const [a, b] of [
    ['databases', 'database'],
    ['indexes', 'index'],
    ['committed', 'commit'],
    ['running', 'run'],
    ['queries', 'query'],
  ])
    assert.equal(stem(a), stem(b), `${a} ~ ${b}`);
  // fixed values: a change here changes every stored vector (bump HASH_VERSION)
  assert.equal(hash32('w:database'), 535458995);
  assert.equal(hash32(''), 2872998923);
});

test('the IDF prior: stopwords 0, common words low, rare words high', () => {
  assert.equal(wordWeight('the'), 0);
  assert.equal(wordRank('what'), 0);
  assert.ok(wordRank('house') > 0 && wordRank('house') < wordRank('checkpoint'));
  assert.ok(wordWeight('house') < wordWeight('xylophonist'));
  assert.equal(wordRank('42'), 200);
  assert.equal(wordRank('2048'), 5000);
});

test('vectors: dimension, unit length, deterministic; the query and passage forms differ only in the slack', async () => {
  const e = new HashEmbedder();
  assert.equal(e.dim, 2048);
  const [a, b] = await e.embed([TOPICS.bees, TOPICS.bees], 'passage');
  assert.deepEqual(a, b);
  assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-5);
  const [q] = await e.embed([TOPICS.bees], 'query');
  assert.equal(q[0], 0, 'queries never use the slack coordinate');
  assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-5);
  const [empty] = await e.embed(['the of and'], 'query');
  assert.ok(
    empty.every((x) => x === 0),
    'only stopwords: the zero vector',
  );
  assert.equal(new HashEmbedder({ dim: 64 }).dim, 64);
  assert.notEqual(new HashEmbedder({ dim: 64 }).id, e.id);
  assert.throws(() => new HashEmbedder({ dim: 4 }), /dim/);
});

test('embedFeatures: the features of a text give its vector; an added feature moves the query towards it', async () => {
  const e = new HashEmbedder();
  for (const kind of ['query', 'passage'] as const) {
    const [v] = await e.embed([TOPICS.bees], kind);
    assert.deepEqual(e.embedFeatures(e.features(TOPICS.bees), kind), v);
  }
  // "hive" is not in the question; adding its word feature (as query expansion does) makes the
  // question closer to a text that says "hive".
  const [hive] = await e.embed(['the hive'], 'query');
  const f = e.features('where do bees live');
  const before = cosine(e.embedFeatures(f, 'query'), hive);
  f.set(`w:${stem('hive')}`, 1);
  assert.ok(cosine(e.embedFeatures(f, 'query'), hive) > before + 0.1);
  assert.ok(e.embedFeatures(new Map(), 'query').every((x) => x === 0));
});

test('each question is closest to its own topic, also through inflections and a typo', async () => {
  const e = new HashEmbedder();
  const names = Object.keys(TOPICS);
  const passages = await e.embed(Object.values(TOPICS), 'passage');
  const questions: [string, string][] = [
    ['how do worker bees make honey', 'bees'],
    ['what happens when magma erupts', 'volcano'],
    ['how long should dough rise before baking', 'bread'],
    ['which piece moves diagonaly', 'chess'], // typo: character n-grams still match
    ['why are there two high tides each day', 'tides'],
    ['how many strings does a violin have', 'violin'],
  ];
  for (const [q, want] of questions) {
    const [v] = await e.embed([q], 'query');
    const scores = passages.map((p) => cosine(v, p));
    const best = names[scores.indexOf(Math.max(...scores))];
    assert.equal(best, want, `${q}: ${scores.map((s) => s.toFixed(3)).join(' ')}`);
  }
});

test('options that change the embedding are part of its spec and id', () => {
  const a = new HashEmbedder({ bigrams: 0 });
  const b = new HashEmbedder({ chars: 0 });
  const c = new HashEmbedder({ pivot: 0 });
  assert.equal(new Set([a.id, b.id, c.id, new HashEmbedder().id]).size, 4);
  assert.equal(createEmbedder(a.spec).id, a.id);
});
