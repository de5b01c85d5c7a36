/**
 * The vector store interface: what RAG needs from a database, so that a server database can take
 * the place of the embedded SQLite one (sqlite_store.ts).
 *
 * Model: a store holds documents (one per source path, with the content hash of the file it was
 * read from); a document holds chunks (text, position, token count, the hash of the chunk text);
 * each chunk has one vector. The store also remembers which embedder made its vectors
 * (`info().embedder`), so that queries are embedded the same way.
 *
 * Contract an implementation must keep:
 *   - `putDocument` replaces any document with the same source and its chunks and vectors
 *     atomically: a reader (or a crash) sees the old document whole or the new one whole.
 *   - `deleteDocuments` is atomic too.
 *   - `searchVector` is an exact top-k by cosine similarity, best first, scores in [-1, 1]
 *     (an approximate index is allowed only if the implementation says so in `info().exact`).
 *   - `searchText` (optional) is a keyword search with BM25 scores, higher is better.
 *   - Filters restrict both searches before the top-k is taken (not after).
 *
 * How other stores map onto it:
 *   - pgvector: tables documents(id, source unique, hash, kind, title, metadata jsonb) and
 *     chunks(id, doc_id, ord, text, start, end, line, tokens, text_hash, embedding vector(dim));
 *     putDocument = BEGIN; DELETE ... WHERE source = $1; INSERT ...; COMMIT. searchVector =
 *     `ORDER BY embedding <=> $1 LIMIT k` (exact without an index; with HNSW it is approximate),
 *     score = 1 - distance; filters as WHERE clauses; searchText with a tsvector column and
 *     ts_rank_cd (not BM25: say so) or the pg_search extension (BM25).
 *   - Qdrant: one collection, a point per chunk (id = chunk id, vector, payload = the chunk fields
 *     plus source, kind, doc hash and metadata). putDocument = delete points by payload filter
 *     `source`, then upsert (Qdrant has no multi-request transaction: write the new points first
 *     under a new doc version in the payload, then delete the old version, so readers never see
 *     nothing); searchVector = search with `exact: true` and a payload filter (distance Cosine);
 *     searchText = sparse vectors with the IDF modifier (BM25-like).
 */
import type { EmbedderSpec } from './embedder.ts';
import type { DocKind } from './loaders.ts';

/** Document metadata: flat, JSON-friendly values (filterable by equality). */
export type Metadata = Record<string, string | number | boolean>;

export interface DocumentRecord {
  source: string;
  /** sha256 of the file's bytes. */
  hash: string;
  kind: DocKind;
  title?: string;
  bytes: number;
  metadata: Metadata;
}

export interface StoredDocument extends DocumentRecord {
  id: number;
  chunkCount: number;
  /** ISO time of the last (re)index. */
  indexedAt: string;
}

export interface ChunkRecord {
  text: string;
  /** [start, end): offsets into the document's text. */
  start: number;
  end: number;
  /** 1-based line of `start`. */
  line: number;
  tokens: number;
  heading?: string;
  /** sha256 of the text the vector was made from: equal hashes can reuse a vector. */
  textHash: string;
  vector: Float32Array;
}

/** Restricts a search to some documents; every given field must match. */
export interface MetadataFilter {
  /** Exactly this source. */
  source?: string;
  /** Sources starting with this (a folder: "docs/"). */
  sourcePrefix?: string;
  kind?: DocKind;
  /** Document metadata fields equal to these values. */
  metadata?: Metadata;
}

export interface SearchHit {
  chunkId: number;
  source: string;
  text: string;
  start: number;
  end: number;
  line: number;
  heading?: string;
  title?: string;
  /** Cosine similarity (searchVector) or BM25 score (searchText); higher is better. */
  score: number;
}

export interface StoreInfo {
  /** Vector length. */
  dim: number;
  /** The embedder the vectors came from. */
  embedder: EmbedderSpec;
  embedderId: string;
  documents: number;
  chunks: number;
  /** Whether searchVector is exact. */
  exact: boolean;
}

export interface VectorStore {
  info(): Promise<StoreInfo>;
  getDocument(source: string): Promise<StoredDocument | null>;
  /** Documents whose source starts with `prefix` (all when omitted), by source. */
  listDocuments(prefix?: string): Promise<StoredDocument[]>;
  /** Vectors of a document's chunks by text hash (to reuse when a changed document is re-indexed). */
  vectorsByTextHash(source: string): Promise<Map<string, Float32Array>>;
  /** Adds or replaces a document with its chunks, atomically. */
  putDocument(doc: DocumentRecord, chunks: readonly ChunkRecord[]): Promise<StoredDocument>;
  /** Deletes documents (and their chunks) by source, atomically; returns how many existed. */
  deleteDocuments(sources: readonly string[]): Promise<number>;
  /** Exact top-k by cosine similarity to `query`. */
  searchVector(query: Float32Array, k: number, filter?: MetadataFilter): Promise<SearchHit[]>;
  /** Top-k by BM25 over the chunk texts, if the store has a keyword index. */
  searchText?(query: string, k: number, filter?: MetadataFilter): Promise<SearchHit[]>;
  close(): Promise<void>;
}
