/**
 * The default embedder: the shipped word-vector embedder (models/xfmr-embed-words) for a new index,
 * hash where it is missing; the recorded embedder for an existing one; the shipped encoder
 * (models/xfmr-embed-mini) given by --embedder DIR; and the error when a run names an embedder
 * other than the index's.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  createEmbedder,
  defaultEmbedderSpec,
  embedderSpecOf,
  SHIPPED_EMBEDDER_DIR,
  SHIPPED_WORDS_DIR,
  shippedEmbedderSpec,
} from '../../src/rag/embedder.ts';
import { TOPICS, tempDir, topSource, writeFiles, xfmr } from './helpers.ts';

const dir = tempDir();
const docs = join(dir, 'docs');

before(() => {
  writeFiles(docs, Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [`${k}.txt`, `${v}\n`])));
});

type Info = { embedderId: string; embedder: { type: string; dir?: string }; chunks: number };
async function info(db: string): Promise<Info> {
  const r = await xfmr(['rag', 'info', '--db', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Info;
}

test('defaultEmbedderSpec: the shipped word-vector embedder, or hash with the reason when it is missing', () => {
  assert.deepEqual(defaultEmbedderSpec(), { spec: { type: 'words', dir: SHIPPED_WORDS_DIR } });
  const missing = join(dir, 'no-words');
  assert.deepEqual(defaultEmbedderSpec(missing), {
    spec: { type: 'hash' },
    fallback: `${missing} has no xfmr_words.json: using the hash embedder`,
  });
  const e = createEmbedder(defaultEmbedderSpec().spec);
  assert.match(e.id, /^words-v1:[0-9a-f]{16}:g=0\.35:trust=2:hash-v1:/);
  assert.deepEqual(e.fusion, { rrfK: 5, vectorWeight: 1, bm25Weight: 2, bm25MinCoverage: 0.5 });
  assert.deepEqual(embedderSpecOf('hash'), { type: 'hash' });
  assert.deepEqual(embedderSpecOf(SHIPPED_WORDS_DIR), { type: 'words', dir: SHIPPED_WORDS_DIR });
  assert.deepEqual(embedderSpecOf(SHIPPED_EMBEDDER_DIR), { type: 'encoder', dir: SHIPPED_EMBEDDER_DIR });
});

test('shippedEmbedderSpec: the shipped model directory, or hash with the reason when it is missing', () => {
  assert.ok(existsSync(join(SHIPPED_EMBEDDER_DIR, 'model.safetensors')), 'the model is shipped');
  assert.deepEqual(shippedEmbedderSpec(), { spec: { type: 'encoder', dir: SHIPPED_EMBEDDER_DIR } });
  const missing = join(dir, 'no-model');
  assert.deepEqual(shippedEmbedderSpec(missing), {
    spec: { type: 'hash' },
    fallback: `${missing} has no config.json: using the hash embedder`,
  });
  const e = createEmbedder(shippedEmbedderSpec().spec);
  assert.match(e.id, /^encoder:[0-9a-f]{16}:mean:/);
  assert.ok(e.fusion, 'the shipped model carries its tuned fusion constants');
});

test('rag index without --embedder: a new index gets the word-vector embedder; a paraphrase finds its topic', async () => {
  const db = join(dir, 'default.db');
  const r = await xfmr(['rag', 'index', '--db', db, docs]);
  assert.equal(r.code, 0, r.stderr);
  const i = await info(db);
  assert.equal(i.embedder.type, 'words');
  assert.equal(i.embedder.dir, SHIPPED_WORDS_DIR);
  assert.match(await topSource(db, 'Which chess piece moves diagonally?'), /chess\.txt$/);
});

test('rag index --embedder models/xfmr-embed-mini: the trained model indexes, and queries find the topic', async () => {
  const db = join(dir, 'trained.db');
  const r = await xfmr(['rag', 'index', '--db', db, '--embedder', SHIPPED_EMBEDDER_DIR, docs]);
  assert.equal(r.code, 0, r.stderr);
  const i = await info(db);
  assert.equal(i.embedder.type, 'encoder');
  assert.equal(i.embedder.dir, SHIPPED_EMBEDDER_DIR);
  assert.match(await topSource(db, 'Which chess piece moves diagonally?'), /chess\.txt$/);
});

test('an index built with --embedder hash keeps it: re-indexing without --embedder and querying use hash', async () => {
  const db = join(dir, 'hash.db');
  const first = await xfmr(['rag', 'index', '--db', db, '--embedder', 'hash', docs]);
  assert.equal(first.code, 0, first.stderr);
  writeFiles(docs, { 'extra.txt': 'Tides follow the moon.\n' });
  const again = await xfmr(['rag', 'index', '--db', db, docs]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /1 added, 0 updated, \d+ unchanged/);
  assert.match((await info(db)).embedderId, /^hash-v1:/);
  for (const mode of ['vector', 'hybrid'])
    assert.equal((await xfmr(['rag', 'query', '--db', db, 'chess bishop', '--mode', mode])).code, 0, mode);
  // naming another embedder for it is refused, naming both
  const wrong = await xfmr(['rag', 'index', '--db', db, '--embedder', SHIPPED_EMBEDDER_DIR, docs]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /this index was built with embedder hash-v1:.*; this run uses encoder:/);
});

test('re-indexing without --embedder keeps the recorded encoder as built (pooling, prefixes)', async () => {
  const db = join(dir, 'cls.db');
  const built = ['rag', 'index', '--db', db, '--embedder', SHIPPED_EMBEDDER_DIR, '--pooling', 'cls'];
  const first = await xfmr([...built, '--query-prefix', 'q: ', docs]);
  assert.equal(first.code, 0, first.stderr);
  const id = (await info(db)).embedderId;
  const again = await xfmr(['rag', 'index', '--db', db, docs]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await info(db)).embedderId, id);
  assert.match(id, /:cls:q="q: ":/);
});
