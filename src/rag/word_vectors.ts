/**
 * Word vectors from co-occurrence counts (distributional similarity): words used in the same
 * contexts ("folder" and "directory", "rows" and "lines") get nearby vectors, learned from plain
 * text with no labels and no downloaded weights (issue 18's paraphrase misses).
 *
 *   counts    c(w, c): for each token w and each token c within `window` positions of it, weight
 *             (window - d + 1) / window at distance d (word2vec's dynamic window, in expectation);
 *             symmetric, over the `vocabSize` most frequent tokens seen at least `minCount` times
 *   PPMI      max(0, log(c(w, c) S / (c(w) c(c)^alpha))) with S = sum over c of c(c)^alpha: the
 *             context distribution is smoothed (alpha 0.75), so rare contexts do not dominate
 *             (Levy, Goldberg and Dagan 2015)
 *   SVD       randomized truncated SVD (Halko, Martinsson and Tropp 2011) to `dim` dimensions with
 *             `powerIterations` power iterations; a word's vector is its row of U S^eigPower,
 *             normalised to unit length, so cosine is a dot product
 *
 * The caller tokenizes: it passes each text as its tokens (for retrieval, the hash embedder's
 * stems of content words, so the vectors key the same strings as its features).
 *
 * Cost: one pass over the tokens with a typed-array hash table of pair counts (30k words: keys
 * fit in 32 bits), then 2 + 2 * powerIterations sparse-times-dense products of nnz * (dim + 10)
 * each. A few million tokens take a minute or two on one core. Deterministic for a seed.
 *
 * Not handled: words outside the vocabulary have no vector; senses are not told apart (one vector
 * per string); antonyms look alike (they share contexts: "ascending" and "descending").
 */

export interface WordVectorOptions {
  /** Words kept, most frequent first (default 30000; at most 65535 so pair keys fit 32 bits). */
  vocabSize?: number;
  /** Fewer occurrences than this and a word gets no vector (default 5). */
  minCount?: number;
  /** Context positions on each side (default 5). */
  window?: number;
  /** Vector length (default 200). */
  dim?: number;
  /** Context distribution smoothing of PPMI (default 0.75; 1 is plain PPMI). */
  alpha?: number;
  /** Power iterations of the randomized SVD (default 3). */
  powerIterations?: number;
  /** Singular values are raised to this power in the vectors (default 0.5). */
  eigPower?: number;
  /** Seed of the random projection (default 1). */
  seed?: number;
}

const DEFAULTS = {
  vocabSize: 30_000,
  minCount: 5,
  window: 5,
  dim: 200,
  alpha: 0.75,
  powerIterations: 3,
  eigPower: 0.5,
  seed: 1,
} as const;

/** Unit-length vectors of a vocabulary, row-major [words.length, dim]. */
export class WordVectors {
  private readonly index = new Map<string, number>();

  constructor(
    readonly words: readonly string[],
    readonly dim: number,
    readonly vectors: Float32Array,
  ) {
    if (vectors.length !== words.length * dim)
      throw new Error(
        `word vectors: vectors has ${vectors.length} values, expected ${words.length} x ${dim}`,
      );
    words.forEach((w, i) => {
      this.index.set(w, i);
    });
  }

  has(word: string): boolean {
    return this.index.has(word);
  }

  /** The unit vector of a word (a view), or undefined outside the vocabulary. */
  vector(word: string): Float32Array | undefined {
    const i = this.index.get(word);
    return i === undefined ? undefined : this.vectors.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /** Cosine similarity of two words; 0 when either has no vector. */
  similarity(a: string, b: string): number {
    const x = this.vector(a);
    const y = this.vector(b);
    if (!x || !y) return 0;
    let s = 0;
    for (let k = 0; k < this.dim; k++) s += x[k] * y[k];
    return s;
  }

  /** The `k` words most similar to `word` (itself excluded), best first; [] outside the vocabulary. */
  neighbours(word: string, k = 10): [string, number][] {
    const q = this.vector(word);
    if (!q) return [];
    return this.nearest(q, k + 1)
      .filter(([w]) => w !== word)
      .slice(0, k);
  }

  /** The `k` words whose vectors have the largest dot product with `q`, best first. */
  nearest(q: Float32Array, k = 10): [string, number][] {
    if (q.length !== this.dim)
      throw new Error(`word vectors: q has length ${q.length}, expected ${this.dim}`);
    const best: [number, number][] = []; // [score, row], ascending, at most k
    const n = this.words.length;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * this.dim;
      for (let j = 0; j < this.dim; j++) s += q[j] * this.vectors[o + j];
      if (best.length === k && s <= best[0][0]) continue;
      let p = best.length < k ? best.length : 0;
      if (best.length < k) best.push([s, i]);
      else best[0] = [s, i];
      // restore ascending order from position p
      for (; p > 0 && best[p][0] < best[p - 1][0]; p--) [best[p], best[p - 1]] = [best[p - 1], best[p]];
      for (; p + 1 < best.length && best[p][0] > best[p + 1][0]; p++)
        [best[p], best[p + 1]] = [best[p + 1], best[p]];
    }
    return best.reverse().map(([s, i]) => [this.words[i], s]);
  }

  /** Binary form: a JSON header line ({ dim, words }) then the float32 values, little-endian. */
  serialize(): Buffer {
    const head = Buffer.from(`${JSON.stringify({ dim: this.dim, words: this.words })}\n`, 'utf8');
    const body = Buffer.from(this.vectors.buffer, this.vectors.byteOffset, this.vectors.byteLength);
    return Buffer.concat([head, body]);
  }

  static parse(buf: Buffer, name = 'word vectors'): WordVectors {
    const nl = buf.indexOf(10);
    if (nl < 0) throw new Error(`${name}: no header line`);
    const head = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { dim?: unknown; words?: unknown };
    if (typeof head.dim !== 'number' || !Array.isArray(head.words))
      throw new Error(`${name}: header must be { dim, words }`);
    const body = buf.subarray(nl + 1);
    const words = head.words as string[];
    if (body.length !== words.length * head.dim * 4)
      throw new Error(`${name}: ${body.length} bytes of vectors, expected ${words.length * head.dim * 4}`);
    const vectors = new Float32Array(words.length * head.dim);
    new Uint8Array(vectors.buffer).set(body);
    return new WordVectors(words, head.dim, vectors);
  }
}

/** Deterministic standard normals (xorshift32 + Box-Muller). */
function normals(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** Pair counts keyed by i * V + j (i <= j), open addressing in typed arrays. */
class PairCounts {
  keys: Uint32Array;
  values: Float32Array;
  size = 0;
  constructor(capacity = 1 << 20) {
    this.keys = new Uint32Array(capacity).fill(0xffffffff);
    this.values = new Float32Array(capacity);
  }
  add(key: number, x: number): void {
    if (this.size * 10 > this.keys.length * 6) this.grow();
    const mask = this.keys.length - 1;
    let h = Math.imul(key, 0x9e3779b1) & mask;
    for (;;) {
      const k = this.keys[h];
      if (k === key) {
        this.values[h] += x;
        return;
      }
      if (k === 0xffffffff) {
        this.keys[h] = key;
        this.values[h] = x;
        this.size++;
        return;
      }
      h = (h + 1) & mask;
    }
  }
  private grow(): void {
    const { keys, values } = this;
    this.keys = new Uint32Array(keys.length * 2).fill(0xffffffff);
    this.values = new Float32Array(keys.length * 2);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0xffffffff) this.add(keys[i], values[i]);
  }
}

/** A sparse matrix in compressed rows. */
interface Csr {
  rows: number;
  ptr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Y[rows, k] = M X[cols, k] (row-major). */
function csrTimes(m: Csr, x: Float64Array, k: number): Float64Array {
  const y = new Float64Array(m.rows * k);
  for (let i = 0; i < m.rows; i++) {
    const yo = i * k;
    for (let p = m.ptr[i]; p < m.ptr[i + 1]; p++) {
      const v = m.val[p];
      const xo = m.col[p] * k;
      for (let j = 0; j < k; j++) y[yo + j] += v * x[xo + j];
    }
  }
  return y;
}

/** Y[cols, k] = M^T X[rows, k] (row-major); `cols` is M's column count. */
function csrTransposeTimes(m: Csr, x: Float64Array, k: number, cols: number): Float64Array {
  const y = new Float64Array(cols * k);
  for (let i = 0; i < m.rows; i++) {
    const xo = i * k;
    for (let p = m.ptr[i]; p < m.ptr[i + 1]; p++) {
      const v = m.val[p];
      const yo = m.col[p] * k;
      for (let j = 0; j < k; j++) y[yo + j] += v * x[xo + j];
    }
  }
  return y;
}

/** Eigen-decomposition of a symmetric n x n matrix (cyclic Jacobi): eigenvalues descending, vectors as columns. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += m[i * n + j] ** 2;
    }
    if (off <= 1e-22 * diag) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p, q
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          // rows p, q
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y] - m[x * n + x]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = m[src * n + src];
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/** Y^T Y of a row-major [rows, k] matrix. */
function gram(y: Float64Array, rows: number, k: number): Float64Array {
  const g = new Float64Array(k * k);
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    for (let i = 0; i < k; i++) {
      const yi = y[o + i];
      if (yi === 0) continue;
      for (let j = i; j < k; j++) g[i * k + j] += yi * y[o + j];
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i];
  return g;
}

/** Y W for a row-major [rows, k] Y and [k, k] W. */
function timesSmall(y: Float64Array, rows: number, k: number, w: Float64Array): Float64Array {
  const out = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    for (let i = 0; i < k; i++) {
      const yi = y[o + i];
      if (yi === 0) continue;
      for (let j = 0; j < k; j++) out[o + j] += yi * w[i * k + j];
    }
  }
  return out;
}

/** An orthonormal basis of Y's columns (eigenvectors of Y^T Y, scaled; null directions zeroed). */
function orthonormalize(y: Float64Array, rows: number, k: number): Float64Array {
  const { values, vectors } = symmetricEigen(gram(y, rows, k), k);
  const w = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++)
      w[i * k + j] = values[j] > 1e-10 * values[0] ? vectors[i * k + j] / Math.sqrt(values[j]) : 0;
  return timesSmall(y, rows, k, w);
}

/** Word vectors of the texts given as token lists (file comment). */
export function buildWordVectors(
  texts: Iterable<readonly string[]>,
  options: WordVectorOptions = {},
): WordVectors {
  const o = { ...DEFAULTS, ...options };
  for (const [k, v] of Object.entries(o))
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new Error(`word vectors: ${k} must be a number >= 0, got ${v}`);
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < 2 || o.vocabSize > 65_535)
    throw new Error(`word vectors: vocabSize must be an integer in [2, 65535], got ${o.vocabSize}`);
  if (!Number.isInteger(o.window) || o.window < 1)
    throw new Error(`word vectors: window must be an integer >= 1, got ${o.window}`);
  if (!Number.isInteger(o.dim) || o.dim < 1)
    throw new Error(`word vectors: dim must be an integer >= 1, got ${o.dim}`);

  // Pass 1: the vocabulary (texts are kept as ids, so the iterable is read once).
  const freq = new Map<string, number>();
  const docs: (readonly string[])[] = [];
  for (const t of texts) {
    docs.push(t);
    for (const w of t) freq.set(w, (freq.get(w) ?? 0) + 1);
  }
  const words = [...freq]
    .filter(([, n]) => n >= o.minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, o.vocabSize)
    .map(([w]) => w);
  const V = words.length;
  if (V < 2) throw new Error(`word vectors: only ${V} words occur at least minCount (${o.minCount}) times`);
  const id = new Map(words.map((w, i) => [w, i]));

  // Pass 2: windowed pair counts; out-of-vocabulary tokens keep their place (distances stay true).
  const pairs = new PairCounts();
  const weights = Array.from({ length: o.window + 1 }, (_, d) => (o.window - d + 1) / o.window);
  for (const t of docs) {
    const ids = t.map((w) => id.get(w) ?? -1);
    for (let a = 0; a < ids.length; a++) {
      const i = ids[a];
      if (i < 0) continue;
      for (let d = 1; d <= o.window && a + d < ids.length; d++) {
        const j = ids[a + d];
        if (j < 0) continue;
        pairs.add(i <= j ? i * V + j : j * V + i, weights[d]);
      }
    }
  }
  docs.length = 0;

  // PPMI in compressed rows, both halves of the symmetric counts.
  const marg = new Float64Array(V);
  const rowNnz = new Int32Array(V);
  for (let p = 0; p < pairs.keys.length; p++) {
    const key = pairs.keys[p];
    if (key === 0xffffffff) continue;
    const i = Math.floor(key / V);
    const j = key - i * V;
    const c = pairs.values[p];
    marg[i] += c;
    rowNnz[i]++;
    if (i !== j) {
      marg[j] += c;
      rowNnz[j]++;
    }
  }
  let smoothed = 0;
  const ctx = new Float64Array(V);
  for (let j = 0; j < V; j++) {
    ctx[j] = marg[j] ** o.alpha;
    smoothed += ctx[j];
  }
  const ptr = new Int32Array(V + 1);
  for (let i = 0; i < V; i++) ptr[i + 1] = ptr[i] + rowNnz[i];
  const fill = ptr.slice(0, V);
  const col = new Int32Array(ptr[V]);
  const val = new Float32Array(ptr[V]);
  const put = (i: number, j: number, c: number) => {
    const pmi = Math.log((c * smoothed) / (marg[i] * ctx[j]));
    const q = fill[i]++;
    col[q] = j;
    val[q] = Math.max(pmi, 0);
  };
  for (let p = 0; p < pairs.keys.length; p++) {
    const key = pairs.keys[p];
    if (key === 0xffffffff) continue;
    const i = Math.floor(key / V);
    const j = key - i * V;
    put(i, j, pairs.values[p]);
    if (i !== j) put(j, i, pairs.values[p]);
  }
  const m: Csr = { rows: V, ptr, col, val };

  // Randomized SVD: Q spans M's top range, B = Q^T M is small, B B^T = W S^2 W^T, U = Q W.
  const k = Math.min(V, o.dim + 10);
  let q = orthonormalize(csrTimes(m, normals(V * k, o.seed), k), V, k);
  for (let it = 0; it < o.powerIterations; it++) {
    const z = orthonormalize(csrTransposeTimes(m, q, k, V), V, k);
    q = orthonormalize(csrTimes(m, z, k), V, k);
  }
  const bt = csrTransposeTimes(m, q, k, V); // B^T: [V, k]
  const { values, vectors } = symmetricEigen(gram(bt, V, k), k);
  const dim = Math.min(o.dim, k);
  const w = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < dim; j++)
      w[i * k + j] = vectors[i * k + j] * Math.max(values[j], 0) ** (o.eigPower / 2);
  const u = timesSmall(q, V, k, w); // U S^eigPower in the first `dim` columns

  const out = new Float32Array(V * dim);
  for (let i = 0; i < V; i++) {
    let n = 0;
    for (let j = 0; j < dim; j++) n += u[i * k + j] ** 2;
    const s = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let j = 0; j < dim; j++) out[i * dim + j] = u[i * k + j] * s;
  }
  return new WordVectors(words, dim, out);
}
