/** Indexing: incremental re-index by content hash, vector reuse, pruning, bad files skipped. */
import assert from 'node:assert/strict';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Embedder, EmbedKind } from '../../src/rag/embedder.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import { TOPICS, tempDir, writeFiles } from './helpers.ts';

/** The hash embedder, counting the passages it embeds. */
class Counting implements Embedder {
  readonly inner = new HashEmbedder({ maxTokens: 24 });
  embedded: string[] = [];
  readonly id = this.inner.id;
  readonly dim = this.inner.dim;
  readonly maxTokens = this.inner.maxTokens;
  readonly spec = this.inner.spec;
  countTokens(t: string): number {
    return this.inner.countTokens(t);
  }
  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    if (kind === 'passage') this.embedded.push(...texts);
    return this.inner.embed(texts, kind);
  }
}

test('re-indexing a changed folder re-embeds only what changed, and drops what is gone', async () => {
  const dir = tempDir();
  const docs = join(dir, 'docs');
  writeFiles(docs, {
    'bees.md': `# Bees\n\n${TOPICS.bees}\n\n${TOPICS.tides}`,
    'bread.txt': TOPICS.bread,
    'sub/chess.html': `<h1>Chess</h1><p>${TOPICS.chess}</p>`,
  });
  const e = new Counting();
  const store = SqliteStore.openOrCreate(join(dir, 'i.db'), e);
  const r1 = await indexPaths([docs], store, e);
  assert.deepEqual([r1.added, r1.updated, r1.unchanged, r1.removed, r1.skipped.length], [3, 0, 0, 0, 0]);
  assert.equal(r1.embedded, r1.chunks);
  assert.ok(r1.chunks >= 4, `${r1.chunks} chunks`);
  const firstCount = e.embedded.length;

  // nothing changed: nothing embedded, nothing written
  const r2 = await indexPaths([docs], store, e);
  assert.deepEqual([r2.added, r2.updated, r2.unchanged, r2.embedded], [0, 0, 3, 0]);

  // one paragraph of one file changes, one file is deleted, one is added
  e.embedded = [];
  writeFileSync(join(docs, 'bees.md'), `# Bees\n\n${TOPICS.bees}\n\n${TOPICS.violin}`);
  rmSync(join(docs, 'bread.txt'));
  writeFileSync(join(docs, 'volcano.txt'), TOPICS.volcano);
  const r3 = await indexPaths([docs], store, e);
  assert.deepEqual([r3.added, r3.updated, r3.unchanged, r3.removed], [1, 1, 1, 1]);
  assert.ok(
    e.embedded.every((t) => !t.includes('Honey bees live in colonies') || t.includes('violin')),
    'the unchanged bee chunk reused its vector',
  );
  assert.ok(e.embedded.length < firstCount, `${e.embedded.length} embedded`);
  assert.deepEqual(
    (await store.listDocuments()).map((d) => d.source),
    [`${docs}/bees.md`, `${docs}/sub/chess.html`, `${docs}/volcano.txt`],
  );
  const hits = await store.searchText('violin strings', 3);
  assert.equal(hits[0].source, `${docs}/bees.md`);
  assert.deepEqual(store.verify(), []);

  // a folder that no longer exists: its documents go too
  rmSync(docs, { recursive: true });
  const r4 = await indexPaths([docs], store, e);
  assert.equal(r4.removed, 3);
  assert.equal((await store.info()).documents, 0);
  await store.close();
});

test('bad files are reported and skipped; the run indexes the rest', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'good.md': TOPICS.bees,
    'empty.txt': '',
    'binary.txt': new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]),
    'huge.txt': 'x',
    'also-good.txt': TOPICS.tides,
  });
  truncateSync(join(dir, 'huge.txt'), 4096);
  const e = new Counting();
  const store = SqliteStore.openOrCreate(join(dir, 'bad.db'), e);
  const skipped: string[] = [];
  const r = await indexPaths([dir, join(dir, 'nope.md')], store, e, {
    maxBytes: 1024,
    onSkip: (s) => skipped.push(`${s.source.slice(dir.length + 1)}: ${s.reason}`),
    metadata: { batch: 1 },
  });
  assert.deepEqual(skipped.sort(), [
    'binary.txt: binary file (not text)',
    'empty.txt: empty file',
    'huge.txt: too large (4.0 KiB, the limit is 1.0 KiB)',
    'nope.md: no such file or directory',
  ]);
  assert.equal(r.added, 2);
  assert.deepEqual((await store.getDocument(join(dir, 'good.md')))?.metadata, { batch: 1 });
  // other metadata re-writes the documents even though the files did not change
  const again = await indexPaths([dir], store, e, { maxBytes: 1024, metadata: { batch: 2 } });
  assert.equal(again.updated, 2);
  assert.equal(again.embedded, 0, 'vectors reused');
  await store.close();
});
