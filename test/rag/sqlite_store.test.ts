/** The SQLite + sqlite-vec store: schema, atomic replace/delete, exact search, filters, BM25, errors. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { l2normalize } from '../../src/rag/embedder.ts';
import { ftsQuery, SqliteStore } from '../../src/rag/sqlite_store.ts';
import type { ChunkRecord, DocumentRecord } from '../../src/rag/store.ts';
import { tempDir } from './helpers.ts';

const DIM = 8;
const EMB = { id: 'test-embedder', dim: DIM, spec: { type: 'hash' as const, dim: DIM } };

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}
const rand = rng(3);
const vec = () => l2normalize(Float32Array.from({ length: DIM }, rand));

function doc(source: string, extra: Partial<DocumentRecord> = {}): DocumentRecord {
  return { source, hash: `h-${source}`, kind: 'text', bytes: 10, metadata: {}, ...extra };
}
function chunks(texts: string[]): ChunkRecord[] {
  return texts.map((text, i) => ({
    text,
    start: i * 10,
    end: i * 10 + 5,
    line: i + 1,
    tokens: 3,
    textHash: text,
    vector: vec(),
  }));
}

test('documents and chunks round-trip; putDocument replaces atomically; deletes remove everything', async () => {
  const dir = tempDir();
  const store = SqliteStore.openOrCreate(join(dir, 'a.db'), EMB);
  await store.putDocument(
    doc('a.txt', { title: 'A', metadata: { lang: 'en' } }),
    chunks(['one', 'two', 'three']),
  );
  await store.putDocument(doc('b.txt'), chunks(['four']));
  const a = await store.getDocument('a.txt');
  assert.equal(a?.chunkCount, 3);
  assert.equal(a?.title, 'A');
  assert.deepEqual(a?.metadata, { lang: 'en' });
  assert.deepEqual((await store.info()).chunks, 4);
  // replace: the old chunks, vectors and FTS rows go
  await store.putDocument(doc('a.txt', { hash: 'h2' }), chunks(['five']));
  assert.equal((await store.info()).chunks, 2);
  assert.deepEqual((await store.searchText('one', 5)).length, 0);
  assert.equal((await store.searchText('five', 5))[0].source, 'a.txt');
  assert.deepEqual(store.verify(), []);
  // a failing write leaves the previous version whole
  const bad = chunks(['six', 'seven']);
  bad[1].vector = new Float32Array(DIM + 1);
  await assert.rejects(
    store.putDocument(doc('a.txt', { hash: 'h3' }), bad),
    /length 9 for an index of dimension 8/,
  );
  assert.equal((await store.getDocument('a.txt'))?.hash, 'h2');
  assert.equal(await store.deleteDocuments(['a.txt', 'missing.txt']), 1);
  assert.equal(await store.getDocument('a.txt'), null);
  assert.deepEqual(
    (await store.listDocuments()).map((d) => d.source),
    ['b.txt'],
  );
  assert.deepEqual(store.verify(), []);
  const reuse = await store.vectorsByTextHash('b.txt');
  assert.equal(reuse.get('four')?.length, DIM);
  await store.close();
});

test('searchVector is the exact top-k by cosine, with and without filters', async () => {
  const dir = tempDir();
  const store = SqliteStore.openOrCreate(join(dir, 'v.db'), EMB);
  const all: { source: string; text: string; v: Float32Array }[] = [];
  for (let d = 0; d < 12; d++) {
    const cs = chunks(Array.from({ length: 5 }, (_, i) => `doc ${d} chunk ${i}`));
    const source = d % 2 === 0 ? `even/${d}.md` : `odd/${d}.txt`;
    await store.putDocument(
      doc(source, { kind: d % 2 === 0 ? 'markdown' : 'text', metadata: { d, big: d > 5 } }),
      cs,
    );
    for (const c of cs) all.push({ source, text: c.text, v: c.vector });
  }
  const q = vec();
  const dot = (a: Float32Array) => a.reduce((s, x, i) => s + x * q[i], 0);
  const expected = (keep: (x: (typeof all)[number]) => boolean, k: number) =>
    all
      .filter(keep)
      .map((x) => ({ text: x.text, score: dot(x.v) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  const check = async (
    filter: Parameters<typeof store.searchVector>[2],
    keep: (x: (typeof all)[number]) => boolean,
  ) => {
    const got = await store.searchVector(q, 7, filter);
    const want = expected(keep, 7);
    assert.deepEqual(
      got.map((h) => h.text),
      want.map((w) => w.text),
      JSON.stringify(filter),
    );
    for (const [i, h] of got.entries()) assert.ok(Math.abs(h.score - want[i].score) < 1e-5);
  };
  await check(undefined, () => true);
  await check({ sourcePrefix: 'even/' }, (x) => x.source.startsWith('even/'));
  await check({ kind: 'text' }, (x) => x.source.startsWith('odd/'));
  await check({ metadata: { big: true } }, (x) => Number(x.source.match(/\d+/)?.[0]) > 5);
  await check({ metadata: { d: 3 } }, (x) => x.source === 'odd/3.txt');
  await check({ source: 'even/4.md' }, (x) => x.source === 'even/4.md');
  const hit = (await store.searchVector(q, 1))[0];
  assert.equal(typeof hit.line, 'number');
  assert.equal(typeof hit.chunkId, 'number');
  await assert.rejects(store.searchVector(new Float32Array(3), 1), /length 3/);
  await store.close();
});

test('searchText ranks by BM25 with stemming and filters; the question becomes a safe FTS query', async () => {
  const dir = tempDir();
  const store = SqliteStore.openOrCreate(join(dir, 't.db'), EMB);
  await store.putDocument(doc('a'), chunks(['checkpoints move pages from the log', 'readers and writers']));
  await store.putDocument(
    doc('b', { metadata: { x: 'y' } }),
    chunks(['a checkpoint happens', 'nothing here']),
  );
  const hits = await store.searchText('How does checkpointing work? "quotes" AND OR NOT * (', 5);
  assert.deepEqual(hits.map((h) => h.source).sort(), ['a', 'b']);
  assert.ok(hits[0].score >= hits[1].score && hits[1].score > 0);
  assert.deepEqual(
    (await store.searchText('checkpoint', 5, { metadata: { x: 'y' } })).map((h) => h.source),
    ['b'],
  );
  assert.equal(ftsQuery('the what?'), '"the" OR "what"');
  assert.equal(ftsQuery('...'), null);
  assert.deepEqual(await store.searchText('...', 5), []);
  await store.close();
});

test('clear errors for a missing, foreign or mismatched database; files are never modified', async () => {
  const dir = tempDir();
  const missing = join(dir, 'missing.db');
  assert.throws(() => SqliteStore.open(missing), new RegExp(`${missing}: no such database file`));
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'just some text, not a database at all');
  assert.throws(() => SqliteStore.open(text), /notes.txt: not an xfmr RAG database \(not an SQLite file\)/);
  assert.throws(() => SqliteStore.openOrCreate(text, EMB), /not an SQLite file/);
  const other = join(dir, 'other.db');
  const db = new Database(other);
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)');
  db.close();
  assert.throws(() => SqliteStore.open(other), /other.db: an SQLite database, but not an xfmr RAG index/);
  assert.throws(() => SqliteStore.openOrCreate(other, EMB), /not an xfmr RAG index/);
  const check = new Database(other, { readonly: true });
  assert.deepEqual(
    (check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
      (r) => r.name,
    ),
    ['users'],
  );
  check.close();
  const good = join(dir, 'good.db');
  await SqliteStore.openOrCreate(good, EMB).close();
  assert.throws(
    () => SqliteStore.openOrCreate(good, { ...EMB, id: 'another' }),
    /built with embedder test-embedder; this run uses another/,
  );
});

test('WAL: several read-only connections read while a writer commits', async () => {
  const dir = tempDir();
  const path = join(dir, 'wal.db');
  const w = SqliteStore.openOrCreate(path, EMB);
  await w.putDocument(doc('a'), chunks(['first']));
  const r1 = SqliteStore.open(path);
  const r2 = SqliteStore.open(path);
  assert.equal(r1.db.readonly, true);
  assert.equal((r1.db.pragma('journal_mode') as { journal_mode: string }[])[0].journal_mode, 'wal');
  const q = vec();
  assert.equal((await r1.searchVector(q, 5)).length, 1);
  await w.putDocument(doc('b'), chunks(['second']));
  assert.equal((await r2.searchVector(q, 5)).length, 2);
  assert.equal((await r1.info()).documents, 2);
  await Promise.all([r1.close(), r2.close(), w.close()]);
});
