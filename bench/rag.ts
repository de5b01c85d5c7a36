/**
 * `npm run bench -- rag [--collection all|shipped,installed,paraphrase,paraphrase-fresh,store] [--generated N]
 *                       [--ablation] [--store-n 100000] [--store-dim 384] [--queries 100] [--no-store]
 *                       [--encoder tiny|minilm] [--embedder DIR|random ...] [--threads 2]`
 *
 * `--collection` takes one name or several, comma-separated (default all: every part below);
 * `--collection paraphrase` runs part 3 alone.
 *
 * 1. Retrieval quality: recall@1/5/10 and MRR@10 (src/rag/eval.ts) of
 *      default   the offline hash embedder (src/rag/hash_embedder.ts), exact cosine in SQLite
 *      bm25      SQLite FTS5 (porter stemming)
 *      hybrid    default + bm25 by reciprocal rank fusion (k = 60)
 *      random    a randomly initialised BERT-style encoder (2 layers, d=128, mean pooling) with a
 *                WordPiece vocabulary trained on the collection: the floor. `--encoder minilm`
 *                shapes it as all-MiniLM-L6-v2 (6 layers, d=384, 12 heads, ffn 1536, max_seq_length
 *                256) for its indexing throughput, which is then also measured one chunk at a
 *                time (unpacked) on the first 32 chunks, beside the packed batch, in wall time
 *                and in CPU time (chunks per 2 CPU-seconds: 2 idle cores' rate on a busy host)
 *    on two collections of SQLite's documentation (public domain):
 *      shipped    17 pages committed in test/rag/fixtures/sqlite-docs, 69 hand-written,
 *                 paraphrased questions (test/rag/fixtures/sqlite-questions.json)
 *      installed  the whole Debian package sqlite3-doc (/usr/share/doc/sqlite3, ~770 HTML pages),
 *                 with `--generated` questions made by src/rag/eval.ts generateQuestions (sentences
 *                 asked with half their content words: lexical by construction). Not installed
 *                 by the bench: `apt-get install sqlite3-doc`; skipped when absent.
 *    All methods see the same chunks (the default embedder's: 200 words, 25 overlap), indexed
 *    from the files by `indexPaths` (the CLI's path); indexing throughput is reported per
 *    embedder. `--ablation` adds variants of the hash embedder, each changing one setting
 *    (features, IDF prior, length pivot, dimension), searched in memory.
 * 2. Vector search latency on `--store-n` synthetic unit vectors of dimension `--store-dim`:
 *    the SQLite store (sqlite-vec vec0 exact KNN, through SqliteStore.searchVector, top 10) against
 *    a plain in-memory scan (Float32Array dot products + top-k), p50/p99 over `--queries` queries;
 *    both must return the same top 10. Also the insert rate of the store (chunks/s, with FTS rows).
 *
 * 3. Held-out paraphrase retrieval (eval/paraphrase, src/rag/passage_set.ts): 402 passages of 54
 *    documents (manual pages, Python docstrings, license texts: never training data) and
 *    hand-written questions naming the passages that answer them, in two styles: paraphrase (the
 *    asker's words, not the document's) and keyword (the document's words). Each passage is one
 *    chunk. Recall@1/5/10 and MRR@10, by style and split (dev for tuning, test reported once), of
 *      bm25                 SQLite FTS5
 *      hash                 the hash embedder alone (vector)
 *      hybrid (hash+bm25)   retrieve()'s hybrid mode with its default fusion settings
 *      E, hybrid (E+bm25)   for each trained embedder E: `--embedder DIR` (repeatable; `random`
 *                           builds a random-weight encoder, the floor), default every
 *                           models/xfmr-embed* directory
 *    The default retrieval is hybrid with the default embedder (rag/embedder.ts defaultEmbedderSpec):
 *    its recall@5 over BM25's is printed, with issue 18's acceptance (paraphrase >= 1.5x BM25,
 *    keyword recall@5 >= 0.95; judged on test). Indexing throughput per embedder at `--threads`
 *    (default 2): chunks/s of embedding alone and of embedding + storing, and chunks per
 *    2 CPU-seconds (what 2 idle cores give, on a loaded host).
 *    `--collection paraphrase-fresh` runs the same on eval/paraphrase-fresh: a second held-out set
 *    (29 more documents, 110 questions, all test), written blind to every retrieval method after
 *    the first set's test split had been run several times while tuning the fusion.
 *
 * Last line: one JSON object with every figure.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { kernels } from '../src/kernels/index.ts';
import { Encoder } from '../src/models/encoder.ts';
import { saveModel } from '../src/models/load.ts';
import { bertConfig } from '../src/models/presets.ts';
import { createEmbedder, defaultEmbedderSpec, type Embedder, embedderSpecOf } from '../src/rag/embedder.ts';
import { EncoderEmbedder } from '../src/rag/encoder_embedder.ts';
import {
  firstRelevantRank,
  generateQuestions,
  type Metrics,
  metricsFromRanks,
  type Question,
} from '../src/rag/eval.ts';
import { HashEmbedder, type HashEmbedderOptions } from '../src/rag/hash_embedder.ts';
import { indexPaths } from '../src/rag/indexer.ts';
import {
  goldOverlap,
  goldRank,
  loadPassageSet,
  type PassageQuestion,
  type PassageSet,
  QUESTION_STYLES,
  type Split,
} from '../src/rag/passage_set.ts';
import { type RetrievalMode, retrieve } from '../src/rag/retriever.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';
import { WORDS_CONFIG } from '../src/rag/word_embedder.ts';
import { trainWordPiece } from '../src/tokenizers/wordpiece_trainer.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const PARTS = ['shipped', 'installed', 'paraphrase', 'paraphrase-fresh', 'store'] as const;
const COLLECTIONS = arg('collection', 'all').split(',');
for (const c of COLLECTIONS)
  if (c !== 'all' && !(PARTS as readonly string[]).includes(c))
    throw new Error(`--collection: "${c}" is not one of all, ${PARTS.join(', ')} (comma-separate several)`);
const runs = (part: (typeof PARTS)[number]) => COLLECTIONS.includes('all') || COLLECTIONS.includes(part);
/** Every value of a repeatable option. */
const args = (name: string): string[] =>
  argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const THREADS = Number(arg('threads', '2'));
if (!Number.isInteger(THREADS) || THREADS < 1) throw new Error(`--threads must be a positive integer`);
const GENERATED = Number(arg('generated', '300'));
const STORE_N = Number(arg('store-n', '100000'));
const STORE_DIM = Number(arg('store-dim', '384'));
const QUERIES = Number(arg('queries', '100'));
const ABLATION = argv.includes('--ablation');
const NO_STORE = argv.includes('--no-store');
const ENCODER = arg('encoder', 'tiny');
if (ENCODER !== 'tiny' && ENCODER !== 'minilm')
  throw new Error(`--encoder must be tiny or minilm, got ${ENCODER}`);

const ROOT = new URL('../', import.meta.url).pathname;
const SHIPPED = join(ROOT, 'test/rag/fixtures/sqlite-docs');
const SHIPPED_QUESTIONS = join(ROOT, 'test/rag/fixtures/sqlite-questions.json');
const INSTALLED = '/usr/share/doc/sqlite3';
const PARAPHRASE = join(ROOT, 'eval/paraphrase');
const PARAPHRASE_FRESH = join(ROOT, 'eval/paraphrase-fresh');
const K = 10;
const log = (s: string) => process.stdout.write(`${s}\n`);
const tmp = mkdtempSync(join(tmpdir(), 'xfmr-bench-rag-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const round2 = (x: number) => Math.round(x * 100) / 100;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** Exact top-k by dot product over unit vectors held in memory. */
function topK(
  matrix: Float32Array,
  dim: number,
  q: Float32Array,
  k: number,
): { index: number; score: number }[] {
  const n = matrix.length / dim;
  const best: { index: number; score: number }[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) s += matrix[o + d] * q[d];
    if (best.length < k || s > best[best.length - 1].score) {
      let j = best.length < k ? best.length : k - 1;
      if (best.length < k) best.push({ index: i, score: s });
      while (j > 0 && best[j - 1].score < s) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = { index: i, score: s };
    }
  }
  return best;
}

interface Row {
  method: string;
  metrics: Metrics;
  /** Median query time, ms. */
  queryMs: number;
  /** Indexing throughput, chunks/s (for methods that embed). */
  chunksPerS?: number;
}

async function evaluate(
  method: string,
  questions: readonly Question[],
  search: (q: string) => Promise<{ text: string }[]>,
): Promise<Row> {
  const ranks: number[] = [];
  const times: number[] = [];
  for (const q of questions) {
    const t0 = performance.now();
    const results = await search(q.q);
    times.push(performance.now() - t0);
    ranks.push(firstRelevantRank(q.answer, results.slice(0, K)));
  }
  return { method, metrics: metricsFromRanks(ranks), queryMs: percentile(times, 0.5) };
}

/** Embeds every chunk text in memory; returns a search over them and the throughput. */
async function denseIndex(
  embedder: Embedder,
  texts: readonly string[],
): Promise<{ search: (q: string) => Promise<{ text: string }[]>; chunksPerS: number }> {
  const dim = embedder.dim;
  const matrix = new Float32Array(texts.length * dim);
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += 64) {
    const vs = await embedder.embed(texts.slice(i, i + 64), 'passage');
    vs.forEach((v, j) => {
      matrix.set(v, (i + j) * dim);
    });
  }
  const chunksPerS = texts.length / ((performance.now() - t0) / 1000);
  const search = async (q: string) => {
    const [v] = await embedder.embed([q], 'query');
    return topK(matrix, dim, v, K).map((h) => ({ text: texts[h.index] }));
  };
  return { search, chunksPerS };
}

/** A random-weight BERT-style encoder directory with a WordPiece vocabulary learned from `texts`. */
function randomEncoderDir(texts: readonly string[]): string {
  const dir = join(tmp, `random-encoder-${Date.now()}`);
  const tokenizerJson = trainWordPiece(texts, { vocabSize: 8000 });
  const vocab = Object.keys((tokenizerJson.model as { vocab: Record<string, number> }).vocab).length;
  const shape =
    ENCODER === 'minilm'
      ? { dModel: 384, nHeads: 12, nLayers: 6, ffnDim: 1536 }
      : { dModel: 128, nHeads: 4, nLayers: 2, ffnDim: 512 };
  const config = bertConfig({ vocabSize: vocab, ...shape, contextLength: 512 });
  saveModel(dir, new Encoder(config, 1234), { tokenizerJson });
  // all-MiniLM-L6-v2 embeds at most 256 tokens (sentence_bert_config.json)
  if (ENCODER === 'minilm') writeFileSync(join(dir, 'sentence_bert_config.json'), '{"max_seq_length": 256}');
  return dir;
}

async function collectionRows(
  name: string,
  dir: string,
  questions: readonly Question[],
): Promise<Record<string, unknown>> {
  log(`\n## ${name}: ${dir}, ${questions.length} questions`);
  const hash = new HashEmbedder();
  const dbPath = join(tmp, `${name}.db`);
  const store = SqliteStore.openOrCreate(dbPath, { id: hash.id, dim: hash.dim, spec: hash.spec });
  const report = await indexPaths([dir], store, hash);
  const indexRate = report.chunks / report.seconds;
  log(
    `indexed ${report.added} files (${report.skipped.length} skipped) into ${report.chunks} chunks in ` +
      `${report.seconds.toFixed(1)} s: ${indexRate.toFixed(0)} chunks/s (load, chunk, embed, store)`,
  );
  const texts = (store.db.prepare('SELECT text FROM chunks ORDER BY id').all() as { text: string }[]).map(
    (r) => r.text,
  );
  const answerable = questions.filter(
    (q) =>
      firstRelevantRank(
        q.answer,
        texts.map((text) => ({ text })),
      ) > 0,
  ).length;
  log(`${answerable}/${questions.length} answers lie whole in some chunk`);

  const rows: Row[] = [];
  rows.push({
    ...(await evaluate('default (hash)', questions, (q) =>
      retrieve(store, hash, q, { k: K, mode: 'vector' }),
    )),
    chunksPerS: indexRate,
  });
  rows.push(
    await evaluate('bm25 (fts5)', questions, (q) => retrieve(store, hash, q, { k: K, mode: 'bm25' })),
  );
  rows.push(
    await evaluate('hybrid (rrf)', questions, (q) => retrieve(store, hash, q, { k: K, mode: 'hybrid' })),
  );

  let packing: Record<string, number> | undefined;
  const t0 = performance.now();
  const encDir = randomEncoderDir(texts);
  const trainS = (performance.now() - t0) / 1000;
  const enc = EncoderEmbedder.load({ dir: encDir, pooling: 'mean' });
  const floor = await denseIndex(enc, texts);
  rows.push({ ...(await evaluate('random encoder', questions, floor.search)), chunksPerS: floor.chunksPerS });
  log(`(random encoder: WordPiece vocabulary trained in ${trainS.toFixed(1)} s)`);
  if (ENCODER === 'minilm') {
    // Packing against its peer, one sequence per forward pass, on the same 32 chunks. Beside
    // wall time, chunks per CPU-second x 2 (threads): what 2 idle cores would give, on a loaded host.
    const some = texts.slice(0, 32);
    const measure = async (fn: () => Promise<unknown>) => {
      const [t, c] = [performance.now(), process.cpuUsage()];
      await fn();
      const cpu = process.cpuUsage(c);
      return {
        wall: some.length / ((performance.now() - t) / 1000),
        cpu2: (2 * some.length) / ((cpu.user + cpu.system) / 1e6),
      };
    };
    const packed = await measure(() => enc.embed(some, 'passage'));
    const single = await measure(async () => {
      for (const text of some) await enc.embed([text], 'passage');
    });
    log(
      `minilm-shaped encoder (${enc.maxSeqLength} tokens, ${enc.truncated} chunks truncated): ` +
        `packed ${packed.wall.toFixed(1)} chunks/s wall, ${packed.cpu2.toFixed(1)} per 2 CPU-seconds; ` +
        `one at a time ${single.wall.toFixed(1)} wall, ${single.cpu2.toFixed(1)} per 2 CPU-seconds ` +
        `(packed/single ${(packed.cpu2 / single.cpu2).toFixed(2)}x by CPU time)`,
    );
    packing = {
      packedChunksPerS: round2(packed.wall),
      packedChunksPer2CpuS: round2(packed.cpu2),
      singleChunksPerS: round2(single.wall),
      singleChunksPer2CpuS: round2(single.cpu2),
      ratioCpu: round2(packed.cpu2 / single.cpu2),
    };
  }

  if (ABLATION) {
    // Each changes one thing of the default (dim 2048, bigrams 0.5, chars 0.5, idf prior^0.3,
    // pivot 20 = about the median norm of a full chunk; with power 1 norms are ~3x larger).
    const variants: [string, HashEmbedderOptions][] = [
      ['hash: words only', { bigrams: 0, chars: 0 }],
      ['hash: no bigrams', { bigrams: 0 }],
      ['hash: no char n-grams', { chars: 0 }],
      ['hash: no idf prior (^0)', { idfPower: 0, pivot: 16 }],
      ['hash: raw idf prior (^1)', { idfPower: 1, pivot: 60 }],
      ['hash: no pivot', { pivot: 0 }],
      ['hash: dim 512', { dim: 512 }],
      ['hash: dim 1024', { dim: 1024 }],
      ['hash: dim 4096', { dim: 4096 }],
    ];
    for (const [label, o] of variants) {
      const d = await denseIndex(new HashEmbedder(o), texts);
      rows.push({ ...(await evaluate(label, questions, d.search)), chunksPerS: d.chunksPerS });
    }
  }
  await store.close();

  log('');
  log(`| method | recall@1 | recall@5 | recall@10 | MRR@10 | query p50 ms | index chunks/s |`);
  log(`|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    const m = r.metrics;
    log(
      `| ${r.method} | ${m.recallAt1.toFixed(3)} | ${m.recallAt5.toFixed(3)} | ${m.recallAt10.toFixed(3)} | ` +
        `${m.mrrAt10.toFixed(3)} | ${r.queryMs.toFixed(2)} | ${r.chunksPerS ? r.chunksPerS.toFixed(0) : ''} |`,
    );
  }
  return {
    documents: report.added,
    chunks: report.chunks,
    questions: questions.length,
    answerable,
    indexChunksPerS: Math.round(indexRate),
    ...(packing ? { encoder: ENCODER, packing } : {}),
    methods: Object.fromEntries(
      rows.map((r) => [
        r.method,
        {
          ...Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
          queryMsP50: Math.round(r.queryMs * 100) / 100,
          ...(r.chunksPerS ? { chunksPerS: Math.round(r.chunksPerS) } : {}),
        },
      ]),
    ),
  };
}

/** Deterministic unit vectors (xorshift + Box-Muller-free sum of uniforms is enough for a bench). */
function syntheticVectors(n: number, dim: number, seed: number): Float32Array {
  const out = new Float32Array(n * dim);
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296 - 0.5;
  };
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const v = next() + next() + next();
      out[i * dim + d] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) out[i * dim + d] *= inv;
  }
  return out;
}

async function storeBench(): Promise<Record<string, unknown>> {
  const n = STORE_N;
  const dim = STORE_DIM;
  log(`\n## vector search: ${n} synthetic vectors, dimension ${dim}, top ${K}, ${QUERIES} queries`);
  const vectors = syntheticVectors(n, dim, 42);
  const spec = { type: 'hash' as const, dim };
  const store = SqliteStore.openOrCreate(join(tmp, 'synthetic.db'), { id: `synthetic:${dim}`, dim, spec });
  const perDoc = 100;
  const t0 = performance.now();
  for (let d = 0; d * perDoc < n; d++) {
    const chunks = [];
    for (let i = d * perDoc; i < Math.min(n, (d + 1) * perDoc); i++) {
      chunks.push({
        text: `synthetic chunk ${i}`,
        start: 0,
        end: 0,
        line: 1,
        tokens: 3,
        textHash: String(i),
        vector: vectors.subarray(i * dim, (i + 1) * dim),
      });
    }
    await store.putDocument(
      { source: `doc${d}`, hash: String(d), kind: 'text', bytes: 0, metadata: {} },
      chunks,
    );
  }
  const insertS = (performance.now() - t0) / 1000;
  log(
    `store insert: ${(n / insertS).toFixed(0)} chunks/s (${insertS.toFixed(1)} s; vec0 + FTS5 + rows, 100 per transaction)`,
  );

  const queries = syntheticVectors(QUERIES, dim, 7);
  const sqliteMs: number[] = [];
  const memMs: number[] = [];
  let mismatches = 0;
  for (let qi = 0; qi < QUERIES; qi++) {
    const q = queries.subarray(qi * dim, (qi + 1) * dim);
    let t = performance.now();
    const hits = await store.searchVector(q, K);
    sqliteMs.push(performance.now() - t);
    t = performance.now();
    const mem = topK(vectors, dim, q, K);
    memMs.push(performance.now() - t);
    const a = hits.map((h) => Number(h.text.slice('synthetic chunk '.length)));
    const b = mem.map((h) => h.index);
    if (a.join() !== b.join()) mismatches++;
  }
  await store.close();
  const r = {
    vectors: n,
    dim,
    insertChunksPerS: Math.round(n / insertS),
    sqliteVecMsP50: round2(percentile(sqliteMs, 0.5)),
    sqliteVecMsP99: round2(percentile(sqliteMs, 0.99)),
    memoryScanMsP50: round2(percentile(memMs, 0.5)),
    memoryScanMsP99: round2(percentile(memMs, 0.99)),
    topKMismatches: mismatches,
  };
  log(`| search | p50 ms | p99 ms |`);
  log(`|---|---|---|`);
  log(
    `| sqlite-vec (SqliteStore.searchVector) | ${r.sqliteVecMsP50.toFixed(1)} | ${r.sqliteVecMsP99.toFixed(1)} |`,
  );
  log(`| in-memory scan (JS) | ${r.memoryScanMsP50.toFixed(1)} | ${r.memoryScanMsP99.toFixed(1)} |`);
  log(`top-${K} lists that differ between the two: ${mismatches} of ${QUERIES}`);
  return r;
}

/** The trained embedders to measure: `--embedder` values, else every models/xfmr-embed* directory. */
function trainedEmbedderDirs(): string[] {
  const given = args('embedder');
  if (given.length > 0) return given;
  const models = join(ROOT, 'models');
  if (!existsSync(models)) return [];
  return readdirSync(models, { withFileTypes: true })
    .filter(
      (e) =>
        e.isDirectory() &&
        e.name.startsWith('xfmr-embed') &&
        (existsSync(join(models, e.name, 'config.json')) || existsSync(join(models, e.name, WORDS_CONFIG))),
    )
    .map((e) => join(models, e.name))
    .sort();
}

/** Each passage's offset in its document's text (passages joined by two blank lines), by id. */
function passageStarts(set: PassageSet): Map<string, number> {
  const out = new Map<string, number>();
  const next = new Map<string, number>();
  for (const p of set.passages) {
    const start = next.get(p.doc) ?? 0;
    out.set(p.id, start);
    next.set(p.doc, start + p.text.length + 3);
  }
  return out;
}

interface IndexedEmbedder {
  name: string;
  embedder: Embedder;
  store: SqliteStore;
  /** Embedding alone, chunks/s (wall) and chunks per 2 CPU-seconds. */
  embedChunksPerS: number;
  embedChunksPer2CpuS: number;
  /** Embedding + storing (vec0, FTS5 and rows), chunks/s (wall). */
  indexChunksPerS: number;
  /** Passages cut to the embedder's sequence limit. */
  truncated: number;
}

/** Embeds every passage (one chunk each), timed, and stores them under their document's id. */
async function indexPassages(
  collection: string,
  name: string,
  embedder: Embedder,
  set: PassageSet,
): Promise<IndexedEmbedder> {
  const texts = set.passages.map((p) => p.text);
  const before = embedder.truncated ?? 0;
  const [t0, c0] = [performance.now(), process.cpuUsage()];
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += 64)
    vectors.push(...(await embedder.embed(texts.slice(i, i + 64), 'passage')));
  const cpu = process.cpuUsage(c0);
  const embedS = (performance.now() - t0) / 1000;
  const store = SqliteStore.openOrCreate(join(tmp, `${collection}-${name.replace(/[^\w.-]/g, '_')}.db`), {
    id: embedder.id,
    dim: embedder.dim,
    spec: embedder.spec,
  });
  const t1 = performance.now();
  const starts = passageStarts(set);
  for (const d of set.docs) {
    const chunks = set.passages.flatMap((p, i) => {
      if (p.doc !== d.id) return [];
      const start = starts.get(p.id) as number;
      return [
        {
          text: p.text,
          start,
          end: start + p.text.length,
          line: 1,
          tokens: embedder.countTokens(p.text),
          textHash: p.id,
          vector: vectors[i],
        },
      ];
    });
    const bytes = chunks.length ? chunks[chunks.length - 1].end : 0;
    await store.putDocument({ source: d.id, hash: d.id, kind: 'text', bytes, metadata: {} }, chunks);
  }
  const storeS = (performance.now() - t1) / 1000;
  return {
    name,
    embedder,
    store,
    embedChunksPerS: texts.length / embedS,
    embedChunksPer2CpuS: (2 * texts.length) / ((cpu.user + cpu.system) / 1e6),
    indexChunksPerS: texts.length / (embedS + storeS),
    truncated: (embedder.truncated ?? 0) - before,
  };
}

interface MethodResult {
  method: string;
  /** By split, then style. */
  metrics: Record<Split, Record<string, Metrics>>;
  queryMs: number;
}

async function paraphraseBench(name: string, dir: string): Promise<Record<string, unknown>> {
  const set = loadPassageSet(dir);
  kernels().setThreads(THREADS);
  const count = (style: string, split: Split) =>
    set.questions.filter((q) => q.style === style && q.split === split).length;
  // the splits the set asks questions in (eval/paraphrase-fresh has only test)
  const splits = (['dev', 'test'] as const).filter((split) => set.questions.some((q) => q.split === split));
  if (!splits.includes('test')) throw new Error(`${dir}: no test questions`);
  log(
    `\n## ${name}: ${dir}, ${set.passages.length} passages of ${set.docs.length} documents; questions ` +
      QUESTION_STYLES.map((s) => splits.map((split) => `${s} ${count(s, split)} ${split}`).join(' + ')).join(
        ', ',
      ) +
      `; ${THREADS} threads`,
  );
  const byQuestion = goldOverlap(set);
  const overlap = Object.fromEntries(
    QUESTION_STYLES.map((style) => {
      const o = set.questions.filter((q) => q.style === style).map((q) => byQuestion.get(q.id) as number);
      return [style, o.reduce((a, b) => a + b, 0) / Math.max(o.length, 1)];
    }),
  );
  log(
    `lexical overlap (share of a question's stemmed content words found in its gold passage), mean: ` +
      QUESTION_STYLES.map((s) => `${s} ${overlap[s].toFixed(3)}`).join(', '),
  );

  const indexed: IndexedEmbedder[] = [await indexPassages(name, 'hash', new HashEmbedder(), set)];
  for (const dir of trainedEmbedderDirs()) {
    const embedder =
      dir === 'random'
        ? EncoderEmbedder.load({ dir: randomEncoderDir(set.passages.map((p) => p.text)), pooling: 'mean' })
        : createEmbedder(embedderSpecOf(dir));
    indexed.push(
      await indexPassages(name, dir === 'random' ? 'random encoder' : basename(dir), embedder, set),
    );
  }
  const ids = new Map([...passageStarts(set)].map(([id, start]) => [`${id.split('#')[0]}:${start}`, id]));
  const passageOf = (source: string, start: number) => {
    const id = ids.get(`${source}:${start}`);
    if (!id) throw new Error(`no passage of ${source} starts at ${start}`);
    return id;
  };

  const run = async (method: string, e: IndexedEmbedder, mode: RetrievalMode): Promise<MethodResult> => {
    const metrics = { dev: {}, test: {} } as Record<Split, Record<string, Metrics>>;
    const times: number[] = [];
    for (const split of splits)
      for (const style of QUESTION_STYLES) {
        const ranks: number[] = [];
        for (const q of set.questions.filter(
          (x: PassageQuestion) => x.style === style && x.split === split,
        )) {
          const t = performance.now();
          const hits = await retrieve(e.store, e.embedder, q.question, { k: K, mode });
          times.push(performance.now() - t);
          ranks.push(
            goldRank(
              q.gold,
              hits.map((h) => passageOf(h.source, h.start)),
            ),
          );
        }
        metrics[split][style] = metricsFromRanks(ranks);
      }
    return { method, metrics, queryMs: percentile(times, 0.5) };
  };
  const [hash, ...trained] = indexed;
  const rows: MethodResult[] = [await run('bm25', hash, 'bm25'), await run('hash', hash, 'vector')];
  rows.push(await run('hybrid (hash+bm25)', hash, 'hybrid'));
  for (const e of trained) {
    rows.push(await run(e.name, e, 'vector'));
    rows.push(await run(`hybrid (${e.name}+bm25)`, e, 'hybrid'));
  }
  // A trained embedder may carry hybrid fusion constants tuned on its dev split (issue 18), which
  // retrieve() then applies; shown when present. Read untyped: older embedders have none.
  const fusionOf = (e: IndexedEmbedder) => (e.embedder as { fusion?: Record<string, number> }).fusion;
  for (const e of indexed)
    log(
      `${e.name}: dim ${e.embedder.dim}, embed ${e.embedChunksPerS.toFixed(0)} chunks/s ` +
        `(${e.embedChunksPer2CpuS.toFixed(0)} per 2 CPU-seconds), embed + store ${e.indexChunksPerS.toFixed(0)} chunks/s` +
        (e.truncated ? `, ${e.truncated} of ${set.passages.length} passages truncated` : '') +
        (fusionOf(e) ? `; hybrid fusion ${JSON.stringify(fusionOf(e))}` : '; hybrid fusion: RRF defaults'),
    );

  const d = defaultEmbedderSpec().spec;
  const defaultMethod = d.type === 'hash' ? 'hybrid (hash+bm25)' : `hybrid (${basename(d.dir)}+bm25)`;
  const row = (m: string) => rows.find((r) => r.method === m) as MethodResult;
  const ratio = (split: Split) =>
    row(defaultMethod).metrics[split].paraphrase.recallAt5 /
    Math.max(row('bm25').metrics[split].paraphrase.recallAt5, 1e-9);
  for (const split of splits) {
    log('');
    log(
      `| ${split} | paraphrase recall@5 | paraphrase MRR@10 | keyword recall@5 | keyword MRR@10 | query p50 ms |`,
    );
    log(`|---|---|---|---|---|---|`);
    for (const r of rows) {
      const [p, k] = [r.metrics[split].paraphrase, r.metrics[split].keyword];
      log(
        `| ${r.method}${r.method === defaultMethod ? ' (default)' : ''} | ${p.recallAt5.toFixed(3)} | ${p.mrrAt10.toFixed(3)} | ` +
          `${k.recallAt5.toFixed(3)} | ${k.mrrAt10.toFixed(3)} | ${r.queryMs.toFixed(2)} |`,
      );
    }
  }
  const paraphraseOk = ratio('test') >= 1.5;
  const keywordOk = row(defaultMethod).metrics.test.keyword.recallAt5 >= 0.95;
  log('');
  log(
    `default retrieval ${defaultMethod}: paraphrase recall@5 / BM25's = ` +
      `${splits.map((split) => `${ratio(split).toFixed(2)}x ${split}`).join(', ')} (goal >= 1.5x: ${paraphraseOk ? 'holds' : 'does not hold'}); keyword recall@5 ` +
      `${splits.map((split) => `${row(defaultMethod).metrics[split].keyword.recallAt5.toFixed(3)} ${split}`).join(', ')} ` +
      `(goal >= 0.95: ${keywordOk ? 'holds' : 'does not hold'}); issue 18 acceptance on test: ${paraphraseOk && keywordOk ? 'holds' : 'does not hold'}`,
  );
  for (const e of indexed) await e.store.close();
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    documents: set.docs.length,
    passages: set.passages.length,
    threads: THREADS,
    questions: Object.fromEntries(
      QUESTION_STYLES.map((s) => [s, Object.fromEntries(splits.map((split) => [split, count(s, split)]))]),
    ),
    lexicalOverlapMean: Object.fromEntries(QUESTION_STYLES.map((s) => [s, r3(overlap[s])])),
    embedders: Object.fromEntries(
      indexed.map((e) => [
        e.name,
        {
          dim: e.embedder.dim,
          embedChunksPerS: Math.round(e.embedChunksPerS),
          embedChunksPer2CpuS: Math.round(e.embedChunksPer2CpuS),
          indexChunksPerS: Math.round(e.indexChunksPerS),
          truncated: e.truncated,
          ...(fusionOf(e) ? { fusion: fusionOf(e) } : {}),
        },
      ]),
    ),
    methods: Object.fromEntries(
      rows.map((r) => [
        r.method,
        {
          queryMsP50: round2(r.queryMs),
          ...Object.fromEntries(
            splits.map((split) => [
              split,
              Object.fromEntries(
                QUESTION_STYLES.map((s) => [
                  s,
                  Object.fromEntries(Object.entries(r.metrics[split][s]).map(([k, v]) => [k, r3(v)])),
                ]),
              ),
            ]),
          ),
        },
      ]),
    ),
    default: defaultMethod,
    ratioRecallAt5VsBm25: Object.fromEntries(splits.map((split) => [split, round2(ratio(split))])),
    acceptance: {
      paraphraseRatioAtLeast1_5: paraphraseOk,
      keywordRecallAt5AtLeast0_95: keywordOk,
      holds: paraphraseOk && keywordOk,
    },
  };
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {};
  if (runs('shipped')) {
    const qs = (JSON.parse(readFileSync(SHIPPED_QUESTIONS, 'utf8')) as { questions: Question[] }).questions;
    result.shipped = await collectionRows('shipped', SHIPPED, qs);
  }
  if (runs('installed')) {
    if (!existsSync(INSTALLED)) {
      log(`\n## installed: ${INSTALLED} is absent; install it with: apt-get install sqlite3-doc (skipped)`);
      result.installed = null;
    } else {
      const { loadDocument, walkPaths } = await import('../src/rag/loaders.ts');
      const texts = walkPaths([INSTALLED]).files.flatMap((f) => {
        const r = loadDocument(f.source);
        return 'doc' in r ? [r.doc.text] : [];
      });
      if (texts.length === 0) {
        // The sqlite3 package alone leaves the folder with changelogs and no pages.
        log(
          `\n## installed: ${INSTALLED} holds no pages; install them with: apt-get install sqlite3-doc (skipped)`,
        );
        result.installed = null;
      } else {
        const qs = generateQuestions(texts, { count: GENERATED, seed: 7 });
        result.installed = await collectionRows('installed', INSTALLED, qs);
      }
    }
  }
  if (runs('paraphrase')) result.paraphrase = await paraphraseBench('paraphrase', PARAPHRASE);
  if (runs('paraphrase-fresh'))
    result.paraphraseFresh = await paraphraseBench('paraphrase-fresh', PARAPHRASE_FRESH);
  if (runs('store') && !NO_STORE) result.store = await storeBench();
  log(JSON.stringify(result));
}

await main();
