/** Retrieval-augmented generation: loaders, chunking, embedders, the vector store, retrieval, prompts, generators. */
export { type Answer, type AnswerOptions, type AnswerSource, answer } from './answer.ts';
export { type ChunkOptions, chunkText, type TextChunk } from './chunker.ts';
export {
  cosine,
  createEmbedder,
  type Embedder,
  type EmbedderSpec,
  type EmbedKind,
  l2normalize,
} from './embedder.ts';
export { EncoderEmbedder, type EncoderEmbedderOptions } from './encoder_embedder.ts';
export {
  type CompleteOptions,
  EndpointGenerator,
  type EndpointOptions,
  type Generator,
  LocalGenerator,
} from './generator.ts';
export { HashEmbedder, type HashEmbedderOptions } from './hash_embedder.ts';
export { htmlToText } from './html.ts';
export { type IndexOptions, type IndexReport, indexPaths } from './indexer.ts';
export { type DocKind, type LoadedDocument, loadDocument, type Skip, walkPaths } from './loaders.ts';
export { buildPrompt, DEFAULT_TEMPLATE } from './prompt.ts';
export {
  type RetrievalMode,
  type RetrievedChunk,
  type RetrieveOptions,
  reciprocalRankFusion,
  retrieve,
} from './retriever.ts';
export { readStLayout, type StDense, type StLayout } from './sentence_transformers.ts';
export { SqliteStore } from './sqlite_store.ts';
export type {
  ChunkRecord,
  DocumentRecord,
  Metadata,
  MetadataFilter,
  SearchHit,
  StoredDocument,
  StoreInfo,
  VectorStore,
} from './store.ts';
