/**
 * Crash safety: `xfmr rag index` is SIGKILLed after its first documents are committed (a reader
 * polls the database meanwhile, as WAL allows). The database must open, hold whole documents
 * only, and a re-run must complete the rest without duplicates.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import { spawnXfmr, TOPICS, tempDir, writeFiles, xfmr } from './helpers.ts';

const N = 400;

/** Documents committed so far, or -1 while the database is not there yet. */
function committed(path: string): number {
  if (!existsSync(path)) return -1;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return -1; // the schema is not committed yet
  }
}

test('SIGKILL mid-index leaves whole documents; a re-run completes without duplicates', async (t) => {
  const dir = tempDir();
  const topics = Object.values(TOPICS);
  const files: Record<string, string> = {};
  for (let i = 0; i < N; i++) {
    // a few chunks per file (the hash embedder's budget is 200 words; named below, as the
    // equal chunk counts checked at the end are its. The re-run keeps the recorded embedder)
    const body = Array.from(
      { length: 12 },
      (_, j) => `${topics[(i + j) % topics.length]} File ${i} part ${j}.`,
    );
    files[`f${String(i).padStart(4, '0')}.txt`] = body.join('\n\n');
  }
  writeFiles(join(dir, 'docs'), files);
  const db = join(dir, 'crash.db');

  const child = spawnXfmr(['rag', 'index', '--db', db, '--embedder', 'hash', join(dir, 'docs')]);
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  let seen = -1;
  const deadline = Date.now() + 60_000;
  while (seen < 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 15));
    seen = committed(db);
  }
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(seen >= 1, 'a document was committed before the kill');

  const store = SqliteStore.open(db);
  const docs = (await store.info()).documents;
  assert.ok(docs >= seen && docs < N, `killed mid-way: ${docs} of ${N} documents committed`);
  t.diagnostic(`killed after ${docs} of ${N} documents (${seen} seen by the polling reader)`);
  assert.deepEqual(store.verify(), [], 'whole documents only, every chunk with its vector and FTS row');
  const partial = store.db
    .prepare(
      'SELECT count(*) AS n FROM documents d WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)',
    )
    .get() as { n: number };
  assert.equal(partial.n, 0);
  await store.close();

  const again = await xfmr(['rag', 'index', '--db', db, join(dir, 'docs')]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`${N} files: ${N - docs} added, 0 updated, ${docs} unchanged`));
  const done = SqliteStore.open(db);
  const info = await done.info();
  assert.equal(info.documents, N);
  const dup = done.db
    .prepare('SELECT count(*) AS n FROM (SELECT source FROM documents GROUP BY source HAVING count(*) > 1)')
    .get() as {
    n: number;
  };
  assert.equal(dup.n, 0);
  const perDoc = done.db
    .prepare('SELECT count(DISTINCT chunk_count) AS n, min(chunk_count) AS c FROM documents')
    .get() as {
    n: number;
    c: number;
  };
  assert.equal(perDoc.n, 1, 'every file has the same number of chunks');
  assert.equal(info.chunks, N * perDoc.c, 'no duplicate chunks');
  assert.deepEqual(done.verify(), []);
  await done.close();
});
