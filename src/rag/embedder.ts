/**
 * The embedder interface: text -> unit vectors whose dot product (cosine) measures relevance.
 *
 *   const e = createEmbedder(defaultEmbedderSpec().spec); // the default: trained word vectors + hashed words
 *   const e = createEmbedder({ type: 'hash' });           // hashed words alone (hash_embedder.ts)
 *   const e = createEmbedder(shippedEmbedderSpec().spec); // the encoder xfmr trained (below)
 *   const e = createEmbedder({ type: 'encoder', dir });  // a sentence-transformers / BERT directory
 *   const [q] = await e.embed(['how do I ...'], 'query');
 *   const vs  = await e.embed(chunks, 'passage');
 *
 * Queries and passages are embedded differently where the model wants it (E5's "query: " /
 * "passage: " prefixes, BGE's query instruction). `spec` says how to build the same embedder again:
 * the store keeps it, so that `xfmr rag query` embeds questions exactly as the index was embedded,
 * and `id` refuses to mix vectors of different embedders in one index.
 *
 * `embed` is async so that an embedder behind a network API can implement the interface.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EncoderEmbedder, type EncoderEmbedderOptions } from './encoder_embedder.ts';
import { HashEmbedder, type HashEmbedderOptions } from './hash_embedder.ts';
import { WORDS_CONFIG, WordEmbedder } from './word_embedder.ts';

export type EmbedKind = 'query' | 'passage';

/** How to build an embedder; JSON-serialisable (kept in the index). */
export type EmbedderSpec =
  | ({ type: 'hash' } & HashEmbedderOptions)
  | ({ type: 'encoder' } & EncoderEmbedderOptions)
  | { type: 'words'; dir: string };

/** Reciprocal-rank-fusion constants for hybrid retrieval with an embedder (retriever.ts). */
export interface FusionWeights {
  rrfK: number;
  vectorWeight: number;
  bm25Weight: number;
  /**
   * The BM25 list counts only for a question whose content words BM25's first hit holds at least
   * this share of (rag/overlap.ts); below it the question is asked in other words than the
   * documents', and the vector list ranks alone. Absent: BM25 always counts.
   */
  bm25MinCoverage?: number;
}

export interface Embedder {
  /** Names the embedding function: vectors of embedders with different ids are not comparable. */
  readonly id: string;
  /** Length of every vector. */
  readonly dim: number;
  /** Largest passage, in this embedder's tokens, that it embeds without truncating. */
  readonly maxTokens: number;
  /** How to build this embedder again. */
  readonly spec: EmbedderSpec;
  /** Texts cut to the model's sequence limit so far, where the embedder truncates (encoders). */
  readonly truncated?: number;
  /** Hybrid retrieval's fusion constants tuned for this embedder, where it has them. */
  readonly fusion?: FusionWeights;
  /**
   * How far hybrid retrieval trusts this embedder's ranking for a question, in [0, 1] (it scales
   * the vector list's fusion weight); absent: fully.
   */
  vectorTrust?(question: string): number;
  /** Tokens in a text, as `maxTokens` counts them (used to size chunks). */
  countTokens(text: string): number;
  /** One L2-normalised vector per text. */
  embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]>;
}

/**
 * The embedder xfmr trains itself and ships (`xfmr embedder train`; models/xfmr-embed-mini/README.md
 * says how it was made): a sentence-transformers directory, `--embedder models/xfmr-embed-mini`.
 */
export const SHIPPED_EMBEDDER_DIR = fileURLToPath(new URL('../../models/xfmr-embed-mini', import.meta.url));

/**
 * The shipped trained embedder's spec, or the hash embedder where the model directory is missing
 * (an install without models/); `fallback` says why in that case.
 */
export function shippedEmbedderSpec(dir = SHIPPED_EMBEDDER_DIR): { spec: EmbedderSpec; fallback?: string } {
  if (existsSync(join(dir, 'config.json'))) return { spec: { type: 'encoder', dir } };
  return { spec: { type: 'hash' }, fallback: `${dir} has no config.json: using the hash embedder` };
}

/**
 * The word-vector embedder xfmr trains and ships (`xfmr embedder words`, src/rag/word_embedder.ts;
 * models/xfmr-embed-words/README.md says how it was made): `--embedder models/xfmr-embed-words`.
 */
export const SHIPPED_WORDS_DIR = fileURLToPath(new URL('../../models/xfmr-embed-words', import.meta.url));

/**
 * The default embedder of `xfmr rag index` and `xfmr start` for a new index: the shipped
 * word-vector embedder, which finds paraphrased passages better than the hash embedder (eval/
 * paraphrase dev recall@5 0.274 against 0.219 in hybrid retrieval) and, trusting BM25 more for
 * questions that name words it has no vectors for, finds named things as well (README
 * "Paraphrase retrieval"); the hash embedder where the model directory is missing (an install
 * without models/), with `fallback` saying so.
 */
export function defaultEmbedderSpec(dir = SHIPPED_WORDS_DIR): { spec: EmbedderSpec; fallback?: string } {
  if (existsSync(join(dir, WORDS_CONFIG))) return { spec: { type: 'words', dir } };
  return { spec: { type: 'hash' }, fallback: `${dir} has no ${WORDS_CONFIG}: using the hash embedder` };
}

/** What `--embedder` names: "hash", a word-vector embedder's directory, or an encoder's. */
export function embedderSpecOf(which: string): EmbedderSpec {
  if (which === 'hash') return { type: 'hash' };
  if (existsSync(join(which, WORDS_CONFIG))) return { type: 'words', dir: which };
  return { type: 'encoder', dir: which };
}

/** Builds an embedder from its spec (throws with the directory or field at fault). */
export function createEmbedder(spec: EmbedderSpec): Embedder {
  switch (spec.type) {
    case 'hash': {
      const { type: _, ...o } = spec;
      return new HashEmbedder(o);
    }
    case 'encoder': {
      const { type: _, ...o } = spec;
      return EncoderEmbedder.load(o);
    }
    case 'words':
      return WordEmbedder.load(spec.dir);
    default:
      throw new Error(`unknown embedder type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
}

/** Cosine similarity of two vectors (they need not be normalised). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosine: lengths differ (${a.length} vs ${b.length})`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const d = Math.sqrt(na) * Math.sqrt(nb);
  return d > 0 ? dot / d : 0;
}

/** Scales v to unit length in place (a zero vector stays zero); returns v. */
export function l2normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  if (n > 0) {
    const s = 1 / Math.sqrt(n);
    for (let i = 0; i < v.length; i++) v[i] *= s;
  }
  return v;
}
