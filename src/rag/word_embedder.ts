/**
 * The word-vector embedder xfmr trains (issue 18; `xfmr embedder words`, models/xfmr-embed-words):
 * a text is the weighted mean of its words' trained vectors, beside the hash embedder's vector of
 * the same text, so that exact words still count:
 *
 *   words(t) = unit(sum_w a_w W[w])       a_w: the hash embedder's word weight at idf power 1
 *   vector   = [sqrt(1 - g) words(t) ; sqrt(g) hash(t)]      // [dim_words + dim_hash], unit
 *   cos(q, p) = (1 - g) cos_words + g cos_hash                g = hash_weight
 *
 * Words are the hash embedder's stems (hash_embedder.ts `features`, "w:" keys); a word without a
 * vector adds nothing. W starts as PPMI + SVD vectors of Debian's package descriptions and
 * /usr/share/doc (word_vectors.ts) and is tuned on paraphrase pairs (src/train/word_tuning.ts).
 *
 * In hybrid retrieval the vector list's fusion weight is scaled by `vectorTrust`: the share of the
 * question's word weight whose words have vectors, to the power trust_power. A question that names
 * something the vectors do not know (a product, an invented name, an option) is ranked mostly by
 * BM25, where the name decides; a question in common words mostly by the vectors.
 *
 * A directory holds WORDS_CONFIG ({"format": "xfmr-words", "vectors", "hash_weight",
 * "idf_power", "hash": HashEmbedderOptions, "trust_power"?}), the vectors file (word_vectors.ts's
 * format) and xfmr_retrieval.json (hybrid retrieval's fusion constants, tuned on dev data).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Embedder, EmbedderSpec, EmbedKind, FusionWeights } from './embedder.ts';
import { FUSION_FILE, readFusion } from './encoder_embedder.ts';
import { HashEmbedder, type HashEmbedderOptions } from './hash_embedder.ts';
import { WordVectors } from './word_vectors.ts';

/** The config file that marks a directory as a word-vector embedder. */
export const WORDS_CONFIG = 'xfmr_words.json';

export interface WordsConfig {
  format: 'xfmr-words';
  /** The vectors file, relative to the directory. */
  vectors: string;
  /** g: the hash embedder's share of the cosine. */
  hash_weight: number;
  /** The idf power of the word weights a_w. */
  idf_power: number;
  /** Options of the hash embedder beside the words. */
  hash: HashEmbedderOptions;
  /** The power of vectorTrust (absent or 0: the vector list is always fully trusted). */
  trust_power?: number;
  [extra: string]: unknown;
}

/** Reads and checks a directory's WORDS_CONFIG (errors name the file and field). */
export function readWordsConfig(dir: string): WordsConfig {
  const path = join(dir, WORDS_CONFIG);
  if (!existsSync(path)) throw new Error(`${dir}: no ${WORDS_CONFIG} (not a word-vector embedder)`);
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not JSON (${(e as Error).message})`);
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c))
    throw new Error(`${path}: must be a JSON object`);
  if (c.format !== 'xfmr-words')
    throw new Error(`${path}: format must be "xfmr-words", got ${JSON.stringify(c.format)}`);
  if (typeof c.vectors !== 'string' || c.vectors === '')
    throw new Error(`${path}: vectors must be a file name`);
  for (const k of ['hash_weight', 'idf_power']) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k === 'hash_weight' && v > 1))
      throw new Error(
        `${path}: ${k} must be a number in ${k === 'hash_weight' ? '[0, 1]' : '[0, inf)'}, got ${JSON.stringify(v)}`,
      );
  }
  if (c.hash === null || typeof c.hash !== 'object' || Array.isArray(c.hash))
    throw new Error(`${path}: hash must be an object of hash embedder options`);
  const t = c.trust_power;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0))
    throw new Error(`${path}: trust_power must be a number >= 0, got ${JSON.stringify(t)}`);
  return c as WordsConfig;
}

export class WordEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly maxTokens: number;
  readonly spec: EmbedderSpec;
  readonly fusion?: FusionWeights;
  private readonly hashShare: number;
  private readonly trustPower: number;

  constructor(
    readonly vectors: WordVectors,
    readonly hash: HashEmbedder,
    /** Tokenises and weighs the words (the hash embedder's features at the config's idf power). */
    private readonly weigher: HashEmbedder,
    o: { hashWeight: number; dir: string; fingerprint: string; fusion?: FusionWeights; trustPower?: number },
  ) {
    this.hashShare = o.hashWeight;
    this.trustPower = o.trustPower ?? 0;
    this.dim = vectors.dim + hash.dim;
    this.maxTokens = hash.maxTokens;
    this.spec = { type: 'words', dir: o.dir };
    this.id = `words-v1:${o.fingerprint}:g=${o.hashWeight}${this.trustPower ? `:trust=${this.trustPower}` : ''}:${hash.id}`;
    if (o.fusion) this.fusion = o.fusion;
  }

  static load(dir: string): WordEmbedder {
    const c = readWordsConfig(dir);
    const file = join(dir, c.vectors);
    if (!existsSync(file)) throw new Error(`${join(dir, WORDS_CONFIG)}: vectors: ${file} does not exist`);
    const bytes = readFileSync(file);
    const vectors = WordVectors.parse(bytes, file);
    const fingerprint = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    return new WordEmbedder(
      vectors,
      new HashEmbedder(c.hash),
      new HashEmbedder({ ...c.hash, idfPower: c.idf_power }),
      {
        hashWeight: c.hash_weight,
        dir,
        fingerprint,
        fusion: readFusion(join(dir, FUSION_FILE)),
        trustPower: c.trust_power ?? 0,
      },
    );
  }

  countTokens(text: string): number {
    return this.hash.countTokens(text);
  }

  /**
   * The share of a question's word weight whose words have vectors, to the config's trust_power:
   * a question that names things the vectors do not know (a product, an option) is ranked more by
   * BM25 in hybrid retrieval. 1 without trust_power.
   */
  vectorTrust(question: string): number {
    if (this.trustPower === 0) return 1;
    let known = 0;
    let total = 0;
    for (const [key, a] of this.weigher.features(question)) {
      if (!key.startsWith('w:')) continue;
      total += a;
      if (this.vectors.has(key.slice(2))) known += a;
    }
    return total > 0 ? (known / total) ** this.trustPower : 1;
  }

  /** unit(sum_w a_w W[w]) of a text: [vectors.dim]; zeros when no word has a vector. */
  wordMean(text: string): Float32Array {
    const dim = this.vectors.dim;
    const v = new Float32Array(dim);
    for (const [key, a] of this.weigher.features(text)) {
      if (!key.startsWith('w:')) continue;
      const u = this.vectors.vector(key.slice(2));
      if (u) for (let j = 0; j < dim; j++) v[j] += a * u[j];
    }
    let n = 0;
    for (let j = 0; j < dim; j++) n += v[j] * v[j];
    if (n > 0) for (let j = 0, s = 1 / Math.sqrt(n); j < dim; j++) v[j] *= s;
    return v;
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    const hashed = await this.hash.embed(texts, kind);
    const a = Math.sqrt(1 - this.hashShare);
    const b = Math.sqrt(this.hashShare);
    return texts.map((t, i) => {
      const out = new Float32Array(this.dim);
      const w = this.wordMean(t);
      for (let j = 0; j < w.length; j++) out[j] = a * w[j];
      const h = hashed[i];
      for (let j = 0; j < h.length; j++) out[w.length + j] = b * h[j];
      // unit when both parts are; re-normalise when the words part is zero
      let n = 0;
      for (let j = 0; j < out.length; j++) n += out[j] * out[j];
      if (n > 0 && Math.abs(n - 1) > 1e-6)
        for (let j = 0, s = 1 / Math.sqrt(n); j < out.length; j++) out[j] *= s;
      return out;
    });
  }
}
