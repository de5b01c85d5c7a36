/**
 * eval/paraphrase's passages in a temporary SQLite store, one chunk each, embedded by the given
 * embedder (the hash embedder for expansion and distsem): the BM25 (FTS5) and vector search that the
 * retrieval experiments fuse their own lists with. The store's folder is removed when the process exits. `bm25` gives a
 * question's BM25 hits with chunkId = the passage's index + 1, as the experiments' own lists number
 * them. `resultRow` is a method's row of the experiments' JSON results.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Embedder } from '../src/rag/embedder.ts';
import type { Metrics } from '../src/rag/eval.ts';
import type { PassageSet } from '../src/rag/passage_set.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';
import type { SearchHit } from '../src/rag/store.ts';

export async function paraphraseStore(
  set: PassageSet,
  embedder: Embedder,
  prefix: string,
): Promise<{
  store: SqliteStore;
  vectors: Float32Array[];
  bm25: (question: string, k: number) => Promise<SearchHit[]>;
}> {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const store = SqliteStore.openOrCreate(join(tmp, 'passages.db'), {
    id: embedder.id,
    dim: embedder.dim,
    spec: embedder.spec,
  });
  const vectors = await embedder.embed(
    set.passages.map((p) => p.text),
    'passage',
  );
  for (const [i, p] of set.passages.entries())
    await store.putDocument({ source: p.id, hash: p.id, kind: 'text', bytes: p.text.length, metadata: {} }, [
      { text: p.text, start: 0, end: p.text.length, line: 1, tokens: 1, textHash: p.id, vector: vectors[i] },
    ]);
  const index = new Map(set.passages.map((p, i) => [p.id, i]));
  const bm25 = async (question: string, k: number) =>
    (await store.searchText(question, k)).map((h) => ({ ...h, chunkId: (index.get(h.source) ?? -1) + 1 }));
  return { store, vectors, bm25 };
}

/** A method's figures as the retrieval experiments' JSON results hold them (3 decimals). */
export function resultRow(r: { method: string; metrics: Record<string, Metrics> }): {
  method: string;
  paraphraseRecallAt5: number;
  paraphraseMrrAt10: number;
  keywordRecallAt5: number;
} {
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    method: r.method,
    paraphraseRecallAt5: r3(r.metrics.paraphrase.recallAt5),
    paraphraseMrrAt10: r3(r.metrics.paraphrase.mrrAt10),
    keywordRecallAt5: r3(r.metrics.keyword.recallAt5),
  };
}
