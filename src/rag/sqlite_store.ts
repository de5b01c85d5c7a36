/**
 * The embedded vector store: one SQLite file (better-sqlite3) with the sqlite-vec extension.
 *
 *   meta            key/value: format "xfmr-rag", schema version, the embedder (id, spec, dim)
 *   documents       one row per source path: content hash, kind, title, size, metadata (JSON),
 *                   chunk_count (how many chunks a whole document has), indexed_at
 *   chunks          text, position (start, end, line), tokens, heading, text_hash
 *   chunk_vectors   sqlite-vec `vec0` table: chunk_id -> float[dim], cosine distance
 *   chunk_fts       FTS5 index of the chunk texts (porter stemming) for BM25
 *
 * Durability: WAL journal, every document written in one IMMEDIATE transaction (its old chunks,
 * vectors and FTS rows deleted and the new ones inserted), so a killed writer leaves the file
 * with whole documents only, and readers (any number of processes) see the last committed state
 * while a writer works. `synchronous = NORMAL`: a power loss may lose the last commits, never
 * consistency.
 *
 * Search: without a filter, the vec0 KNN query (an exact brute-force scan inside sqlite-vec);
 * with a filter, the same exact cosine computed by `vec_distance_cosine` over the rows the filter
 * leaves. Score = 1 - cosine distance = cosine similarity. BM25 = -bm25(chunk_fts) (FTS5 returns
 * lower-is-better), the query's words ORed together.
 *
 * The extension is loaded from the `sqlite-vec` npm package's platform package
 * (sqlite-vec-linux-x64 etc.: a prebuilt `vec0.so` inside the npm tarball, nothing downloaded).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { EmbedderSpec } from './embedder.ts';
import type { DocKind } from './loaders.ts';
import type {
  ChunkRecord,
  DocumentRecord,
  Metadata,
  MetadataFilter,
  SearchHit,
  StoredDocument,
  StoreInfo,
  VectorStore,
} from './store.ts';
import { STOPWORDS } from './word_prior.ts';

export const FORMAT = 'xfmr-rag';
export const SCHEMA_VERSION = 1;
/** sqlite-vec's largest k for a KNN query. */
const MAX_KNN = 4096;

type Db = Database.Database;

/** The embedder a new store records. */
export interface StoreEmbedder {
  id: string;
  dim: number;
  spec: EmbedderSpec;
}

interface DocRow {
  id: number;
  source: string;
  hash: string;
  kind: string;
  title: string | null;
  bytes: number;
  metadata: string;
  chunk_count: number;
  indexed_at: string;
}

interface HitRow {
  id: number;
  source: string;
  title: string | null;
  text: string;
  start: number;
  end: number;
  line: number;
  heading: string | null;
  score: number;
}

function loadVec(db: Db): void {
  try {
    sqliteVec.load(db);
  } catch (e) {
    throw new Error(
      `sqlite-vec: cannot load the extension (${(e as Error).message}); is the sqlite-vec npm package ` +
        `(and its platform package, e.g. sqlite-vec-linux-x64) installed?`,
    );
  }
}

function vecBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function blobVec(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

function toDoc(r: DocRow): StoredDocument {
  const d: StoredDocument = {
    id: r.id,
    source: r.source,
    hash: r.hash,
    kind: r.kind as DocKind,
    bytes: r.bytes,
    metadata: JSON.parse(r.metadata) as Metadata,
    chunkCount: r.chunk_count,
    indexedAt: r.indexed_at,
  };
  if (r.title !== null) d.title = r.title;
  return d;
}

function toHit(r: HitRow): SearchHit {
  const h: SearchHit = {
    chunkId: r.id,
    source: r.source,
    text: r.text,
    start: r.start,
    end: r.end,
    line: r.line,
    score: r.score,
  };
  if (r.heading !== null) h.heading = r.heading;
  if (r.title !== null) h.title = r.title;
  return h;
}

/** SQL for a filter over `d` (documents): a WHERE fragment and its parameters. */
function filterSql(f: MetadataFilter | undefined): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (f?.source !== undefined) {
    parts.push('d.source = ?');
    params.push(f.source);
  }
  if (f?.sourcePrefix !== undefined) {
    parts.push('substr(d.source, 1, ?) = ?');
    params.push(f.sourcePrefix.length, f.sourcePrefix);
  }
  if (f?.kind !== undefined) {
    parts.push('d.kind = ?');
    params.push(f.kind);
  }
  for (const [k, v] of Object.entries(f?.metadata ?? {})) {
    // json_extract gives 1/0 for JSON booleans
    parts.push('json_extract(d.metadata, ?) = ?');
    params.push(`$.${JSON.stringify(k)}`, typeof v === 'boolean' ? (v ? 1 : 0) : v);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}

/** A user's question -> an FTS5 query: its words (stopwords dropped), quoted, ORed. */
export function ftsQuery(text: string): string | null {
  const seen = new Set<string>();
  for (const m of text
    .normalize('NFKC')
    .toLowerCase()
    .matchAll(/[\p{L}\p{N}]+/gu)) {
    if (!STOPWORDS.has(m[0])) seen.add(m[0]);
  }
  if (seen.size === 0) {
    // only stopwords: search them rather than nothing
    for (const m of text
      .normalize('NFKC')
      .toLowerCase()
      .matchAll(/[\p{L}\p{N}]+/gu))
      seen.add(m[0]);
  }
  if (seen.size === 0) return null;
  return [...seen].map((w) => `"${w}"`).join(' OR ');
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/** Why `path` cannot be opened as an xfmr RAG database, or null if it looks like one. */
function checkFile(path: string): string | null {
  if (!existsSync(path))
    return `${path}: no such database file (create it with: xfmr rag index --db ${path} PATHS...)`;
  const st = statSync(path);
  if (st.isDirectory()) return `${path}: is a directory, not a database file`;
  if (st.size === 0) return null; // an empty file is a database SQLite has not written yet
  const head = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') !== SQLITE_MAGIC)
    return `${path}: not an xfmr RAG database (not an SQLite file)`;
  return null;
}

export interface OpenOptions {
  /** Open for reading only (the default for `open`). */
  readonly?: boolean;
}

export class SqliteStore implements VectorStore {
  private readonly stmts: Record<string, Database.Statement>;
  readonly dim: number;
  readonly embedderId: string;
  readonly embedderSpec: EmbedderSpec;

  private constructor(
    readonly db: Db,
    readonly path: string,
  ) {
    const meta = new Map(
      (db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [
        r.key,
        r.value,
      ]),
    );
    this.dim = Number(meta.get('dim'));
    this.embedderId = meta.get('embedder_id') ?? '';
    this.embedderSpec = JSON.parse(meta.get('embedder_spec') ?? '{}') as EmbedderSpec;
    const hitCols =
      'c.id AS id, d.source AS source, d.title AS title, c.text AS text, c.start AS start, c."end" AS "end", ' +
      'c.line AS line, c.heading AS heading';
    this.stmts = {
      getDoc: db.prepare('SELECT * FROM documents WHERE source = ?'),
      listDocs: db.prepare('SELECT * FROM documents WHERE substr(source, 1, ?) = ? ORDER BY source'),
      docChunks: db.prepare('SELECT id, text FROM chunks WHERE doc_id = ?'),
      vectorsOf: db.prepare(
        'SELECT c.text_hash AS h, v.embedding AS e FROM chunks c JOIN chunk_vectors v ON v.chunk_id = c.id WHERE c.doc_id = ?',
      ),
      delVec: db.prepare('DELETE FROM chunk_vectors WHERE chunk_id = ?'),
      delFts: db.prepare("INSERT INTO chunk_fts(chunk_fts, rowid, text) VALUES('delete', ?, ?)"),
      delChunks: db.prepare('DELETE FROM chunks WHERE doc_id = ?'),
      delDoc: db.prepare('DELETE FROM documents WHERE id = ?'),
      insDoc: db.prepare(
        'INSERT INTO documents (source, hash, kind, title, bytes, metadata, chunk_count, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      insChunk: db.prepare(
        'INSERT INTO chunks (doc_id, ord, text, start, "end", line, tokens, heading, text_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      insVec: db.prepare('INSERT INTO chunk_vectors (chunk_id, embedding) VALUES (?, ?)'),
      insFts: db.prepare('INSERT INTO chunk_fts (rowid, text) VALUES (?, ?)'),
      knn: db.prepare(
        `WITH knn AS (SELECT chunk_id, distance FROM chunk_vectors WHERE embedding MATCH ? AND k = ?)
         SELECT ${hitCols}, 1.0 - knn.distance AS score
         FROM knn JOIN chunks c ON c.id = knn.chunk_id JOIN documents d ON d.id = c.doc_id
         ORDER BY knn.distance, c.id`,
      ),
      counts: db.prepare(
        'SELECT (SELECT count(*) FROM documents) AS docs, (SELECT count(*) FROM chunks) AS chunks',
      ),
    };
  }

  /**
   * Opens an existing index (read-only unless asked). Errors name the file: missing, not SQLite,
   * SQLite but not an xfmr index, an unsupported schema version.
   */
  static open(path: string, options: OpenOptions = {}): SqliteStore {
    const why = checkFile(path);
    if (why) throw new Error(why);
    const db = openDb(path, options.readonly ?? true);
    try {
      checkMeta(db, path);
      return new SqliteStore(db, path);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Opens an index for writing, creating it (and its schema) when the file is missing or empty.
   * An existing index must have been built by the same embedder.
   */
  static openOrCreate(path: string, embedder: StoreEmbedder): SqliteStore {
    const fresh = !existsSync(path);
    if (!fresh) {
      const why = checkFile(path);
      if (why) throw new Error(why);
    }
    const db = openDb(path, false);
    try {
      const tables = (
        db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }
      ).n;
      if (tables === 0) createSchema(db, embedder);
      else checkMeta(db, path);
      const store = new SqliteStore(db, path);
      if (store.embedderId !== embedder.id)
        throw new Error(
          `${path}: this index was built with embedder ${store.embedderId}; this run uses ${embedder.id} ` +
            `(index with the same embedder, or use a new --db)`,
        );
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async info(): Promise<StoreInfo> {
    const c = this.stmts.counts.get() as { docs: number; chunks: number };
    return {
      dim: this.dim,
      embedder: this.embedderSpec,
      embedderId: this.embedderId,
      documents: c.docs,
      chunks: c.chunks,
      exact: true,
    };
  }

  async getDocument(source: string): Promise<StoredDocument | null> {
    const r = this.stmts.getDoc.get(source) as DocRow | undefined;
    return r ? toDoc(r) : null;
  }

  async listDocuments(prefix = ''): Promise<StoredDocument[]> {
    return (this.stmts.listDocs.all(prefix.length, prefix) as DocRow[]).map(toDoc);
  }

  async vectorsByTextHash(source: string): Promise<Map<string, Float32Array>> {
    const doc = this.stmts.getDoc.get(source) as DocRow | undefined;
    const out = new Map<string, Float32Array>();
    if (!doc) return out;
    for (const r of this.stmts.vectorsOf.all(doc.id) as { h: string; e: Buffer }[])
      out.set(r.h, blobVec(r.e));
    return out;
  }

  private deleteDoc(id: number): void {
    for (const c of this.stmts.docChunks.all(id) as { id: number; text: string }[]) {
      this.stmts.delVec.run(BigInt(c.id));
      this.stmts.delFts.run(c.id, c.text);
    }
    this.stmts.delChunks.run(id);
    this.stmts.delDoc.run(id);
  }

  async putDocument(doc: DocumentRecord, chunks: readonly ChunkRecord[]): Promise<StoredDocument> {
    for (const c of chunks)
      if (c.vector.length !== this.dim)
        throw new Error(
          `${doc.source}: a vector of length ${c.vector.length} for an index of dimension ${this.dim}`,
        );
    const write = this.db.transaction((): StoredDocument => {
      const old = this.stmts.getDoc.get(doc.source) as DocRow | undefined;
      if (old) this.deleteDoc(old.id);
      const now = new Date().toISOString();
      const info = this.stmts.insDoc.run(
        doc.source,
        doc.hash,
        doc.kind,
        doc.title ?? null,
        doc.bytes,
        JSON.stringify(doc.metadata),
        chunks.length,
        now,
      );
      const docId = Number(info.lastInsertRowid);
      chunks.forEach((c, ord) => {
        const r = this.stmts.insChunk.run(
          docId,
          ord,
          c.text,
          c.start,
          c.end,
          c.line,
          c.tokens,
          c.heading ?? null,
          c.textHash,
        );
        const chunkId = Number(r.lastInsertRowid);
        this.stmts.insVec.run(BigInt(chunkId), vecBlob(c.vector));
        this.stmts.insFts.run(chunkId, c.text);
      });
      return { ...doc, id: docId, chunkCount: chunks.length, indexedAt: now };
    });
    return write.immediate();
  }

  async deleteDocuments(sources: readonly string[]): Promise<number> {
    const del = this.db.transaction((): number => {
      let n = 0;
      for (const s of sources) {
        const r = this.stmts.getDoc.get(s) as DocRow | undefined;
        if (r) {
          this.deleteDoc(r.id);
          n++;
        }
      }
      return n;
    });
    return del.immediate();
  }

  async searchVector(query: Float32Array, k: number, filter?: MetadataFilter): Promise<SearchHit[]> {
    if (query.length !== this.dim)
      throw new Error(`a query vector of length ${query.length} for an index of dimension ${this.dim}`);
    if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
    const f = filterSql(filter);
    if (f.params.length === 0 && k <= MAX_KNN)
      return (this.stmts.knn.all(vecBlob(query), k) as HitRow[]).map(toHit);
    const sql = `SELECT c.id AS id, d.source AS source, d.title AS title, c.text AS text, c.start AS start,
        c."end" AS "end", c.line AS line, c.heading AS heading,
        1.0 - vec_distance_cosine(v.embedding, ?) AS score
      FROM chunks c JOIN documents d ON d.id = c.doc_id JOIN chunk_vectors v ON v.chunk_id = c.id
      WHERE ${f.sql} ORDER BY score DESC, c.id LIMIT ?`;
    return (this.db.prepare(sql).all(vecBlob(query), ...f.params, k) as HitRow[]).map(toHit);
  }

  async searchText(query: string, k: number, filter?: MetadataFilter): Promise<SearchHit[]> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
    const q = ftsQuery(query);
    if (q === null) return [];
    const f = filterSql(filter);
    const sql = `SELECT c.id AS id, d.source AS source, d.title AS title, c.text AS text, c.start AS start,
        c."end" AS "end", c.line AS line, c.heading AS heading, -bm25(chunk_fts) AS score
      FROM chunk_fts JOIN chunks c ON c.id = chunk_fts.rowid JOIN documents d ON d.id = c.doc_id
      WHERE chunk_fts MATCH ? AND ${f.sql} ORDER BY bm25(chunk_fts), c.id LIMIT ?`;
    return (this.db.prepare(sql).all(q, ...f.params, k) as HitRow[]).map(toHit);
  }

  /**
   * Consistency problems, if any (for tests and `xfmr rag` diagnostics): documents whose chunk
   * count is not what was committed with them, chunks without a vector or FTS row, and SQLite's
   * own integrity check.
   */
  verify(): string[] {
    const problems: string[] = [];
    const ic = this.db.pragma('integrity_check') as { integrity_check: string }[];
    if (ic.length !== 1 || ic[0].integrity_check !== 'ok')
      problems.push(`integrity_check: ${ic.map((r) => r.integrity_check).join('; ')}`);
    const partial = this.db
      .prepare(
        'SELECT d.source AS source, d.chunk_count AS want, count(c.id) AS got FROM documents d ' +
          'LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id HAVING got != want',
      )
      .all() as { source: string; want: number; got: number }[];
    for (const p of partial) problems.push(`${p.source}: ${p.got} chunks stored, ${p.want} committed`);
    const chunks = (this.db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
    const vectors = (this.db.prepare('SELECT count(*) AS n FROM chunk_vectors').get() as { n: number }).n;
    if (vectors !== chunks) problems.push(`${vectors} vectors for ${chunks} chunks`);
    const orphans = (
      this.db
        .prepare(
          'SELECT count(*) AS n FROM chunk_vectors v LEFT JOIN chunks c ON c.id = v.chunk_id WHERE c.id IS NULL',
        )
        .get() as { n: number }
    ).n;
    if (orphans > 0) problems.push(`${orphans} vectors without a chunk`);
    try {
      this.db.prepare("INSERT INTO chunk_fts(chunk_fts, rank) VALUES ('integrity-check', 1)").run();
    } catch (e) {
      if (!this.db.readonly) problems.push(`fts: ${(e as Error).message}`);
    }
    return problems;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function openDb(path: string, readonly: boolean): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (e) {
    throw new Error(`${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    db.pragma('busy_timeout = 10000');
    // Memory-mapped reads: the vector scan reads the whole vec0 table per query, and through
    // mmap it skips the pager's copies (3x faster at 100k x 384 here). Capped by SQLite's
    // SQLITE_MAX_MMAP_SIZE; beyond it, reads fall back to read().
    db.pragma('mmap_size = 2147418112');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    loadVec(db);
    return db;
  } catch (e) {
    db.close();
    const msg = (e as Error).message;
    if (/not a database|file is encrypted/i.test(msg))
      throw new Error(`${path}: not an xfmr RAG database (not an SQLite file)`);
    throw new Error(`${path}: ${msg}`);
  }
}

function checkMeta(db: Db, path: string): void {
  let meta: Map<string, string>;
  try {
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (!hasMeta)
      throw new Error(`${path}: an SQLite database, but not an xfmr RAG index (it has no meta table)`);
    meta = new Map(
      (db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [
        r.key,
        r.value,
      ]),
    );
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith(path)) throw e;
    if (/not a database|file is encrypted/i.test(msg))
      throw new Error(`${path}: not an xfmr RAG database (not an SQLite file)`);
    throw new Error(`${path}: an SQLite database, but not an xfmr RAG index (${msg})`);
  }
  if (meta.get('format') !== FORMAT)
    throw new Error(
      `${path}: an SQLite database, but not an xfmr RAG index (meta.format is not "${FORMAT}")`,
    );
  const v = Number(meta.get('schema_version'));
  if (v !== SCHEMA_VERSION)
    throw new Error(
      `${path}: xfmr RAG schema version ${meta.get('schema_version')} is not supported (this xfmr reads ${SCHEMA_VERSION})`,
    );
}

function createSchema(db: Db, e: StoreEmbedder): void {
  if (!Number.isInteger(e.dim) || e.dim < 1)
    throw new Error(`embedder dimension must be a positive integer, got ${e.dim}`);
  db.transaction(() => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT,
        bytes INTEGER NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        chunk_count INTEGER NOT NULL,
        indexed_at TEXT NOT NULL
      );
      CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        doc_id INTEGER NOT NULL REFERENCES documents(id),
        ord INTEGER NOT NULL,
        text TEXT NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        line INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        heading TEXT,
        text_hash TEXT NOT NULL,
        UNIQUE (doc_id, ord)
      );
      CREATE VIRTUAL TABLE chunk_vectors USING vec0(chunk_id INTEGER PRIMARY KEY, embedding float[${e.dim}] distance_metric=cosine);
      CREATE VIRTUAL TABLE chunk_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='porter unicode61');
    `);
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    put.run('format', FORMAT);
    put.run('schema_version', String(SCHEMA_VERSION));
    put.run('dim', String(e.dim));
    put.run('embedder_id', e.id);
    put.run('embedder_spec', JSON.stringify(e.spec));
    put.run('created_at', new Date().toISOString());
  }).immediate();
}
