/**
 * `xfmr start --embedder DIR`: the documents are indexed with that embedder (a sentence-transformers
 * directory), into a database of their own, before serving; a bad directory stops it with one line.
 * The server itself is test/cli/start_browser.test.ts's; here a bad --port stops `start` right
 * after indexing, which leaves the database to inspect.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { byteLevelTokenizerJson, ROOT, TINY_LLAMA, tempDir, writeJson, xfmr } from './helpers.ts';

const dir = tempDir();
const model = join(dir, 'model');
const docs = join(dir, 'docs');
const MINILM = join(ROOT, 'test', 'rag', 'fixtures', 'st', 'minilm');

before(async () => {
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, false));
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', model, '--seed', '11']);
  assert.equal(r.code, 0, r.stderr);
  mkdirSync(docs);
  writeFileSync(join(docs, 'a.txt'), 'SQLite stores the whole database in one file.');
});

test('start --embedder DIR indexes the documents with that embedder', async () => {
  const db = join(dir, 'st.sqlite');
  const r = await xfmr([
    'start',
    '--model',
    model,
    '--docs',
    docs,
    '--db',
    db,
    '--embedder',
    MINILM,
    '--port',
    'x',
  ]);
  assert.match(r.stderr, /xfmr start: indexing/);
  assert.match(r.stderr, /1 files: 1 added/);
  assert.notEqual(r.code, 0, 'the bad --port stops it after indexing');
  const info = await xfmr(['rag', 'info', '--db', db, '--json']);
  assert.equal(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout) as {
    dim: number;
    embedderId: string;
    embedder: { type: string; dir: string };
  };
  assert.equal(i.embedder.type, 'encoder');
  assert.equal(i.embedder.dir, MINILM);
  assert.match(i.embedderId, /^encoder:[0-9a-f]{16}:mean:.*:len=16$/);
});

test('start --embedder with no such directory: one line naming it, nothing served', async () => {
  const r = await xfmr([
    'start',
    '--model',
    model,
    '--docs',
    docs,
    '--db',
    join(dir, 'none.sqlite'),
    '--embedder',
    join(dir, 'nope'),
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nope: no such model directory/);
  assert.doesNotMatch(r.stderr, /listening/);
});
