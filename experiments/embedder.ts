/**
 * `npm run experiment -- embedder [--model DIR] [--out FILE]`: the trained embedder
 * (models/xfmr-embed-mini, `xfmr embedder train`) against the hash embedder and BM25, each indexed
 * as `xfmr rag index` builds it (its own chunking: the hash embedder's 200 words, the encoder's
 * 254 WordPiece tokens), on the shipped SQLite documentation set (17 pages,
 * test/rag/fixtures/sqlite-questions.json: 69 hand-written, paraphrased questions).
 *
 *   hash / hash+bm25 hybrid   the former default (RRF k 60, 1:1)
 *   bm25                      SQLite FTS5 over each index's chunks
 *   trained                   exact cosine with the trained embedder
 *   trained hybrid            RRF with the model's tuned constants (xfmr_retrieval.json)
 *
 * Indexing throughput of the trained embedder: chunks of ~200 words (its chunker's own chunks of
 * the installed corpus where present, else the shipped set's), encoded in packed batches, in wall
 * time and in chunks per 2 CPU-seconds (what 2 idle cores give, on a shared host), beside the hash
 * embedder on the same chunks in the same run. Last line: one JSON object.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbedder, type Embedder, embedderSpecOf, SHIPPED_EMBEDDER_DIR } from '../src/rag/embedder.ts';
import { firstRelevantRank, type Metrics, metricsFromRanks, type Question } from '../src/rag/eval.ts';
import { HashEmbedder } from '../src/rag/hash_embedder.ts';
import { indexPaths } from '../src/rag/indexer.ts';
import { type RetrievalMode, retrieve } from '../src/rag/retriever.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const MODEL = arg('model', SHIPPED_EMBEDDER_DIR);
const OUT = arg('out', '');
const ROOT = new URL('../', import.meta.url).pathname;
const DOCS = join(ROOT, 'test/rag/fixtures/sqlite-docs');
const QUESTIONS = JSON.parse(readFileSync(join(ROOT, 'test/rag/fixtures/sqlite-questions.json'), 'utf8')) as
  | Question[]
  | { questions: Question[] };
const questions = Array.isArray(QUESTIONS) ? QUESTIONS : QUESTIONS.questions;
const K = 10;
const tmp = mkdtempSync(join(tmpdir(), 'xfmr-exp-embedder-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const log = (s: string) => process.stdout.write(`${s}\n`);
const r3 = (x: number) => Math.round(x * 1000) / 1000;

async function indexWith(name: string, embedder: Embedder): Promise<{ store: SqliteStore; texts: string[] }> {
  const store = SqliteStore.openOrCreate(join(tmp, `${name}.db`), {
    id: embedder.id,
    dim: embedder.dim,
    spec: embedder.spec,
  });
  const rep = await indexPaths([DOCS], store, embedder);
  const texts = (store.db.prepare('SELECT text FROM chunks ORDER BY id').all() as { text: string }[]).map(
    (r) => r.text,
  );
  log(`${name}: ${rep.chunks} chunks of the ${rep.added} shipped pages`);
  return { store, texts };
}

async function evaluate(store: SqliteStore, embedder: Embedder, mode: RetrievalMode): Promise<Metrics> {
  const ranks: number[] = [];
  for (const q of questions)
    ranks.push(firstRelevantRank(q.answer, await retrieve(store, embedder, q.q, { k: K, mode })));
  return metricsFromRanks(ranks);
}

/** Chunks per second of wall time and per 2 CPU-seconds, embedding `texts` in batches of 64. */
async function throughput(e: Embedder, texts: readonly string[]): Promise<{ wall: number; cpu2: number }> {
  await e.embed(texts.slice(0, 8), 'passage'); // warm up
  const [t, c] = [performance.now(), process.cpuUsage()];
  for (let i = 0; i < texts.length; i += 64) await e.embed(texts.slice(i, i + 64), 'passage');
  const cpu = process.cpuUsage(c);
  return {
    wall: texts.length / ((performance.now() - t) / 1000),
    cpu2: (2 * texts.length) / ((cpu.user + cpu.system) / 1e6),
  };
}

const hash = new HashEmbedder();
const trained = createEmbedder(embedderSpecOf(MODEL));
log(`trained embedder: ${MODEL} (${trained.id}); fusion ${JSON.stringify(trained.fusion ?? 'k 60, 1:1')}`);
log(`${questions.length} questions; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`);
const h = await indexWith('hash', hash);
const t = await indexWith('trained', trained);
const rows: [string, Metrics][] = [
  ['hash', await evaluate(h.store, hash, 'vector')],
  ['bm25 (hash chunks)', await evaluate(h.store, hash, 'bm25')],
  ['hybrid hash+bm25 (k 60)', await evaluate(h.store, hash, 'hybrid')],
  ['trained', await evaluate(t.store, trained, 'vector')],
  ['bm25 (trained chunks)', await evaluate(t.store, trained, 'bm25')],
  ['hybrid trained+bm25 (tuned)', await evaluate(t.store, trained, 'hybrid')],
];
log('\n| method | recall@1 | recall@5 | recall@10 | MRR@10 |');
log('|---|---|---|---|---|');
for (const [name, m] of rows)
  log(
    `| ${name} | ${m.recallAt1.toFixed(3)} | ${m.recallAt5.toFixed(3)} | ${m.recallAt10.toFixed(3)} | ${m.mrrAt10.toFixed(3)} |`,
  );

// ~200-word chunks: the shipped pages' text cut into 200-word pieces (repeated to 256 chunks).
const words = h.texts.join(' ').split(/\s+/).filter(Boolean);
const chunks: string[] = [];
for (let i = 0; chunks.length < 256; i = (i + 200) % Math.max(1, words.length - 200))
  chunks.push(words.slice(i, i + 200).join(' '));
const tp = await throughput(trained, chunks);
const hp = await throughput(hash, chunks);
log(
  `\nindexing throughput, ${chunks.length} chunks of 200 words (${trained.countTokens(chunks[0])} tokens, ` +
    `truncated to the model's limit where longer):\n` +
    `  trained ${tp.wall.toFixed(0)} chunks/s wall, ${tp.cpu2.toFixed(0)} per 2 CPU-seconds\n` +
    `  hash    ${hp.wall.toFixed(0)} chunks/s wall, ${hp.cpu2.toFixed(0)} per 2 CPU-seconds ` +
    `(trained/hash ${(tp.cpu2 / hp.cpu2).toFixed(3)} by CPU time)`,
);
await h.store.close();
await t.store.close();
const result = {
  experiment: 'embedder',
  date: new Date().toISOString(),
  model: MODEL,
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? '',
  questions: questions.length,
  retrieval: Object.fromEntries(
    rows.map(([n, m]) => [n, { recallAt5: r3(m.recallAt5), mrrAt10: r3(m.mrrAt10) }]),
  ),
  throughput: {
    trainedChunksPerS: Math.round(tp.wall),
    trainedChunksPer2CpuS: Math.round(tp.cpu2),
    hashChunksPerS: Math.round(hp.wall),
    hashChunksPer2CpuS: Math.round(hp.cpu2),
  },
};
if (OUT) writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
log(JSON.stringify(result));
