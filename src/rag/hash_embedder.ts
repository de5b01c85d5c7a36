/**
 * The default embedder: works offline with no downloaded weights. A weighted bag of words, word
 * pairs and character n-grams, feature-hashed (signed) into a dense vector, so that cosine
 * similarity is a TF-IDF-like match that also forgives inflections and typos.
 *
 *   text -> NFKC, words (`[\p{L}\p{N}]+` runs joined by _ ' . - , e.g. sqlite3_open_v2, 3.7.0),
 *           each compound also as its parts (sqlite3, open, v2; camelCase splits too)
 *   weight of a word = idf(w)^idfPower, idf from a frequency prior (word_prior.ts: BPE ranks,
 *           stopwords 0), times 1 + log(tf); the features:
 *     w:stem          the lowercased word, lightly stemmed (databases -> database)      x 1
 *     b:stem1|stem2   adjacent content words (stopwords skipped)                         x bigrams
 *     c:gram          character 3- and 4-grams of "<word>", sharing the word's weight    x chars
 *   v[1 + h(f) mod (dim - 1)] += sign(f) * weight(f)
 *   query:    v / |v|
 *   passage:  v / max(|v|, pivot), and v[0] = sqrt(1 - |that|^2) (queries leave v[0] at 0): unit
 *             vectors whose cosine with a query is q.v / max(|v|, pivot), i.e. pivoted length
 *             normalisation, so a three-word heading chunk does not outrank a paragraph about the
 *             same thing just for being short
 *
 * Signed feature hashing is a sparse random projection: dot products of the sparse vectors are
 * kept up to noise of order |a||b| / sqrt(dim), which `dim` trades against storage.
 *
 * Why this design, measured by `npm run bench -- rag --ablation` (the table is in the bench's
 * output): on 69 hand-written, paraphrased questions over SQLite's documentation its MRR is within
 * a few points of BM25's and hybrid retrieval (this + BM25 by reciprocal rank fusion, the CLI's
 * default) beats both; on ~6k chunks with generated keyword questions BM25 leads, and dimension
 * matters (2048 over 1024: fewer collisions). A damped prior (power 0.3) beats the raw prior
 * (power 1, which over-weights words that are rare in English but everywhere in a technical
 * collection, like "sqlite"). A randomly initialised transformer encoder is near zero. It knows
 * nothing of synonyms: "car" does not find "automobile" (a trained encoder does; see
 * encoder_embedder.ts).
 *
 * The hash function, stemmer and weights are part of the embedding: changing any of them changes
 * `id` (bump HASH_VERSION for code changes), and an index built with another one must be rebuilt.
 */
import type { Embedder, EmbedderSpec, EmbedKind } from './embedder.ts';
import { wordRank } from './word_prior.ts';

export const HASH_VERSION = 1;

export interface HashEmbedderOptions {
  /** Vector length (default 2048; 8 KiB per chunk; collisions cost recall on big collections below it). */
  dim?: number;
  /** Chunk budget in words (default 200: a few paragraphs, room for one topic). */
  maxTokens?: number;
  /** Weight of word pairs relative to words (default 0.5). */
  bigrams?: number;
  /** Weight of a word's character n-grams, all together, relative to the word (default 0.5). */
  chars?: number;
  /** Damping of common words in the IDF prior, log(1 + rank / idfDamping) (default 20). */
  idfDamping?: number;
  /** The prior's weight is raised to this power (default 1; 0 weighs every non-stopword alike). */
  idfPower?: number;
  /** Passages shorter than this norm are scaled as if they had it (0: plain cosine). */
  pivot?: number;
}

const DEFAULTS = {
  dim: 2048,
  maxTokens: 200,
  bigrams: 0.5,
  chars: 0.5,
  idfDamping: 20,
  idfPower: 0.3,
  pivot: 20,
} as const;

const WORD = /[\p{L}\p{N}]+(?:[_'\u2019.-][\p{L}\p{N}]+)*/gu;

/** FNV-1a over UTF-16 code units with a murmur3 finaliser: stable across platforms and versions. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A light English stemmer (plurals, -ing, -ed, -ly): enough to meet "indexes"/"index",
 * "committed"/"commit"; character n-grams cover the rest.
 */
export function stem(w: string): string {
  if (w.length <= 3 || /[0-9]/.test(w)) return w;
  let s = w;
  if (s.endsWith('ies') && s.length > 4) s = `${s.slice(0, -3)}y`;
  else if (/(?:ss|x|ch|sh|zz)es$/.test(s)) s = s.slice(0, -2);
  else if (s.endsWith('s') && !/(?:ss|us|is|ys)$/.test(s)) s = s.slice(0, -1);
  if (s.length > 5 && s.endsWith('ing')) s = undouble(s.slice(0, -3));
  else if (s.length > 4 && s.endsWith('ed') && !s.endsWith('eed')) s = undouble(s.slice(0, -2));
  else if (s.length > 4 && s.endsWith('ly')) s = s.slice(0, -2);
  if (s.length > 3 && s.endsWith('e')) s = s.slice(0, -1);
  return s;
}

function undouble(s: string): string {
  return s.length > 2 && s[s.length - 1] === s[s.length - 2] && !/[lsz]/.test(s[s.length - 1])
    ? s.slice(0, -1)
    : s;
}

/** The lowercase words of a text, compounds followed by their parts: "sqlite3_open" -> sqlite3_open, sqlite3, open. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').matchAll(WORD)) {
    const w = m[0];
    out.push(w.toLowerCase());
    const parts = w
      .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
      .split(/[_'\u2019.\- ]+/)
      .filter((p) => p.length > 0);
    if (parts.length > 1) for (const p of parts) out.push(p.toLowerCase());
  }
  return out;
}

/** Number of words (compounds count once): the unit of the chunk budget. */
export function countWords(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(WORD)) n++;
  return n;
}

export class HashEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly maxTokens: number;
  readonly spec: EmbedderSpec;
  private readonly bigramWeight: number;
  private readonly charWeight: number;
  private readonly idfDamping: number;
  private readonly idfPower: number;
  private readonly pivot: number;
  private readonly weights = new Map<string, number>();

  constructor(options: HashEmbedderOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const [k, v] of Object.entries(o))
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw new Error(`hash embedder: ${k} must be a number >= 0`);
    if (!Number.isInteger(o.dim) || o.dim < 8)
      throw new Error(`hash embedder: dim must be an integer >= 8, got ${o.dim}`);
    if (!Number.isInteger(o.maxTokens) || o.maxTokens < 8)
      throw new Error(`hash embedder: maxTokens must be an integer >= 8, got ${o.maxTokens}`);
    this.dim = o.dim;
    this.maxTokens = o.maxTokens;
    this.bigramWeight = o.bigrams;
    this.charWeight = o.chars;
    if (o.idfDamping <= 0) throw new Error(`hash embedder: idfDamping must be > 0, got ${o.idfDamping}`);
    this.idfDamping = o.idfDamping;
    this.idfPower = o.idfPower;
    this.pivot = o.pivot;
    this.id =
      `hash-v${HASH_VERSION}:dim=${o.dim}:bigrams=${o.bigrams}:chars=${o.chars}` +
      `:idf=${o.idfDamping}^${o.idfPower}:pivot=${o.pivot}`;
    this.spec = { type: 'hash', ...o };
  }

  countTokens(text: string): number {
    return countWords(text);
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t, kind));
  }

  /** The norm of a text's hashed features before normalisation (to choose `pivot`). */
  rawNorm(text: string): number {
    const v = this.hashed(this.features(text));
    let n = 0;
    for (let i = 0; i < v.length; i++) n += v[i] * v[i];
    return Math.sqrt(n);
  }

  /** IDF prior of a word; a plural or inflection of a known word weighs as that word. */
  private weight(stemmed: string, word: string): number {
    let w = this.weights.get(word);
    if (w === undefined) {
      let r = wordRank(word);
      if (stemmed !== word && r > 0) {
        const rs = wordRank(stemmed);
        if (rs > 0 && rs < r) r = rs;
      }
      w = r === 0 ? 0 : Math.log(1 + r / this.idfDamping) ** this.idfPower;
      this.weights.set(word, w);
    }
    return w;
  }

  /** The sparse features of a text with their weights (before hashing). */
  features(text: string): Map<string, number> {
    const tf = new Map<string, number>();
    const weightOf = new Map<string, number>();
    let prev: string | null = null;
    for (const w of words(text)) {
      const s = stem(w);
      const wt = this.weight(s, w);
      if (wt === 0) {
        prev = null;
        continue;
      }
      weightOf.set(s, wt);
      tf.set(`w:${s}`, (tf.get(`w:${s}`) ?? 0) + 1);
      if (prev !== null && this.bigramWeight > 0) {
        const b = `b:${prev}|${s}`;
        tf.set(b, (tf.get(b) ?? 0) + 1);
        weightOf.set(b, this.bigramWeight * Math.sqrt(wt * (weightOf.get(prev) ?? 0)));
      }
      prev = s;
    }
    const out = new Map<string, number>();
    for (const [f, n] of tf) {
      const base = f.startsWith('w:') ? (weightOf.get(f.slice(2)) ?? 0) : (weightOf.get(f) ?? 0);
      const v = base * (1 + Math.log(n));
      out.set(f, (out.get(f) ?? 0) + v);
      if (f.startsWith('w:') && this.charWeight > 0) {
        const grams = charGrams(f.slice(2));
        const g = (this.charWeight * v) / Math.sqrt(grams.length);
        for (const c of grams) out.set(`c:${c}`, (out.get(`c:${c}`) ?? 0) + g);
      }
    }
    return out;
  }

  /** Features hashed into v[1..dim) (v[0] is kept for the passage slack, see embedFeatures). */
  private hashed(features: ReadonlyMap<string, number>): Float32Array {
    const v = new Float32Array(this.dim);
    const buckets = this.dim - 1;
    for (const [f, w] of features) {
      const h = hash32(f);
      const sign = hash32(f, 0x9e3779b9) & 1 ? 1 : -1;
      v[1 + (h % buckets)] += sign * w;
    }
    return v;
  }

  private embedOne(text: string, kind: EmbedKind): Float32Array {
    return this.embedFeatures(this.features(text), kind);
  }

  /**
   * The vector of features given directly (`features(text)`, possibly edited: a query expanded
   * with related words, experiments/expansion.ts), normalised as `embed` does for `kind`.
   */
  embedFeatures(features: ReadonlyMap<string, number>, kind: EmbedKind): Float32Array {
    const v = this.hashed(features);
    let n = 0;
    for (let i = 0; i < v.length; i++) n += v[i] * v[i];
    n = Math.sqrt(n);
    if (n === 0) return v;
    if (kind === 'passage' && this.pivot > 0) {
      // Pivoted length normalisation with a unit result: divide by max(norm, pivot), then put
      // what is missing from unit length in v[0], which queries leave at 0. The cosine with a
      // query is then q.d / max(|d|, pivot): short passages are not favoured over long ones.
      const s = 1 / Math.max(n, this.pivot);
      for (let i = 1; i < v.length; i++) v[i] *= s;
      const r = n * s;
      v[0] = Math.sqrt(Math.max(0, 1 - r * r));
      return v;
    }
    const s = 1 / n;
    for (let i = 0; i < v.length; i++) v[i] *= s;
    return v;
  }
}

/** Character 3- and 4-grams of "<word>" ("<db>" -> <db, db>, <db>); short words give themselves. */
function charGrams(word: string): string[] {
  const s = `<${word}>`;
  if (s.length <= 4) return [s];
  const out: string[] = [];
  for (let n = 3; n <= 4; n++) for (let i = 0; i + n <= s.length; i++) out.push(s.slice(i, i + n));
  return out;
}
