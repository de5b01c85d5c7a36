/**
 * Indexing: paths -> documents -> chunks -> vectors -> store, one document per transaction.
 *
 *   for each file found (loaders.ts walkPaths):
 *     read bytes, sha256         unchanged hash (and metadata) -> skip the file: nothing embedded
 *     extract text, chunk        chunker.ts, budget = the embedder's maxTokens
 *     vectors                    reused from the document's previous version where a chunk's text
 *                                is unchanged (by text hash), embedded otherwise
 *     store.putDocument          atomic: the old version is replaced whole
 *   prune                        documents under a walked folder (or a path that no longer
 *                                exists) whose file is gone are deleted
 *
 * A crash (even SIGKILL) loses at most the document being written: a re-run skips the ones
 * committed (same hash) and does the rest. Bad files are reported through `onSkip` and the run
 * goes on; a skipped file keeps whatever version the index already had.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chunkText } from './chunker.ts';
import type { Embedder } from './embedder.ts';
import { type LoadOptions, parseDocument, readSource, type Skip, walkPaths } from './loaders.ts';
import type { ChunkRecord, Metadata, VectorStore } from './store.ts';

export interface IndexOptions extends LoadOptions {
  /** Chunk budget in the embedder's tokens (default and maximum: embedder.maxTokens). */
  maxTokens?: number;
  /** Overlap between neighbouring chunks, tokens (default maxTokens / 8). */
  overlapTokens?: number;
  /** Metadata stored with every document of this run (filterable at query time). */
  metadata?: Metadata;
  /** Delete documents whose files are gone from the walked folders (default true). */
  prune?: boolean;
  /** Texts per embed call (default 32). */
  batchSize?: number;
  /** Called after each file with the running totals. */
  onProgress?: (done: number, total: number, report: IndexReport) => void;
  onSkip?: (skip: Skip) => void;
}

export interface IndexReport {
  /** Files found. */
  files: number;
  added: number;
  updated: number;
  unchanged: number;
  /** Documents deleted because their files are gone. */
  removed: number;
  skipped: Skip[];
  /** Chunks written. */
  chunks: number;
  /** Chunks embedded in this run (the rest of the written ones reused a stored vector). */
  embedded: number;
  seconds: number;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameMetadata(a: Metadata, b: Metadata): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/** Indexes files and folders into the store (see the file comment). */
export async function indexPaths(
  paths: readonly string[],
  store: VectorStore,
  embedder: Embedder,
  options: IndexOptions = {},
): Promise<IndexReport> {
  const t0 = performance.now();
  const maxTokens = Math.min(options.maxTokens ?? embedder.maxTokens, embedder.maxTokens);
  const overlapTokens = options.overlapTokens ?? Math.floor(maxTokens / 8);
  const metadata = options.metadata ?? {};
  const batch = options.batchSize ?? 32;
  const walk = walkPaths(paths);
  const report: IndexReport = {
    files: walk.files.length,
    added: 0,
    updated: 0,
    unchanged: 0,
    removed: 0,
    skipped: [],
    chunks: 0,
    embedded: 0,
    seconds: 0,
  };
  const skip = (s: Skip): void => {
    report.skipped.push(s);
    options.onSkip?.(s);
  };
  for (const s of walk.skipped) skip(s);

  let done = 0;
  for (const f of walk.files) {
    const r = readSource(f.source, options);
    if ('skip' in r) skip({ source: f.source, reason: r.skip });
    else {
      const old = await store.getDocument(f.source);
      if (old && old.hash === r.hash && sameMetadata(old.metadata, metadata)) report.unchanged++;
      else {
        const p = parseDocument(f.source, r.bytes, r.hash);
        if ('skip' in p) skip({ source: f.source, reason: p.skip });
        else {
          const doc = p.doc;
          const pieces = chunkText(doc.text, {
            maxTokens,
            overlapTokens,
            countTokens: (s) => embedder.countTokens(s),
          });
          const reuse = old ? await store.vectorsByTextHash(f.source) : new Map<string, Float32Array>();
          const chunks: ChunkRecord[] = pieces.map((c) => {
            const rec: ChunkRecord = {
              text: c.text,
              start: c.start,
              end: c.end,
              line: c.line,
              tokens: c.tokens,
              textHash: sha256(c.text),
              vector: new Float32Array(0),
            };
            if (c.heading !== undefined) rec.heading = c.heading;
            return rec;
          });
          const todo = chunks.filter((c) => {
            const v = reuse.get(c.textHash);
            if (v && v.length === embedder.dim) c.vector = v;
            return c.vector.length === 0;
          });
          for (let i = 0; i < todo.length; i += batch) {
            const part = todo.slice(i, i + batch);
            const vs = await embedder.embed(
              part.map((c) => c.text),
              'passage',
            );
            part.forEach((c, j) => {
              c.vector = vs[j];
            });
          }
          report.embedded += todo.length;
          const rec = { source: doc.source, hash: doc.hash, kind: doc.kind, bytes: doc.bytes, metadata };
          await store.putDocument(doc.title !== undefined ? { ...rec, title: doc.title } : rec, chunks);
          report.chunks += chunks.length;
          if (old) report.updated++;
          else report.added++;
        }
      }
    }
    done++;
    report.seconds = (performance.now() - t0) / 1000;
    options.onProgress?.(done, walk.files.length, report);
  }

  if (options.prune ?? true) {
    const found = new Set(walk.files.map((f) => f.source));
    const gone: string[] = [];
    const under = (root: string): string => (root.endsWith('/') ? root : `${root}/`);
    for (const root of walk.folders)
      for (const d of await store.listDocuments(under(root))) if (!found.has(d.source)) gone.push(d.source);
    // Arguments that no longer exist at all: the file, or everything under the folder, is gone.
    for (const root of paths) {
      if (existsSync(root)) continue;
      const exact = await store.getDocument(root);
      if (exact) gone.push(root);
      for (const d of await store.listDocuments(under(root))) gone.push(d.source);
    }
    if (gone.length > 0) report.removed = await store.deleteDocuments([...new Set(gone)]);
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
