/**
 * `xfmr start` (npm start): the main job on its embedded defaults. Indexes a documents folder
 * into a RAG database (incrementally: unchanged files are skipped) and serves the project's own
 * small model — trained, fine-tuned and aligned by `npm run recipe` — with the playground at `/`.
 *
 *   xfmr start [--docs PATH] [--model DIR] [--db FILE] [--embedder hash|DIR] [--host 127.0.0.1]
 *              [--port 8080] [--dtype auto|f32|bf16] [--kv-type f32|f16|q8_0]
 *              [--api-key KEY | --no-auth] [--cors ORIGIN]
 *
 * Defaults: docs/ and models/xfmr-rag-tiny/ of this package; the database lives in
 * .xfmr-cache/ of this package, one per documents folder and embedder. --embedder is that of
 * `xfmr rag index` (default models/xfmr-embed-words, trained word vectors beside hashed words;
 * `hash`, the hashed bag of words alone; models/xfmr-embed-mini, the encoder xfmr trained; or a
 * sentence-transformers directory such as bge-small-en-v1.5). PORT in
 * the environment sets the port when --port is not given. Everything else is `xfmr rag index` and
 * `xfmr serve`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGgufPath } from '../models/load_gguf.ts';
import { optString, parseArgs, UsageError } from './args.ts';
import { DTYPE_HELP, DTYPE_USAGE, optDtype } from './dtype.ts';
import { KV_TYPE_HELP, KV_TYPE_USAGE, optKvType } from './kv_type.ts';
import {
  SECURITY_FLAGS,
  SECURITY_HELP,
  SECURITY_USAGE,
  SECURITY_VALUES,
  securityOptions,
} from './serve_security.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_DOCS = join(ROOT, 'docs');
export const DEFAULT_MODEL = join(ROOT, 'models', 'xfmr-rag-tiny');
/** Chunk size for the default index (hash-embedder words): ~3 chunks fit the small model's window. */
export const START_CHUNK_TOKENS = 64;

const USAGE =
  'usage: xfmr start [--docs PATH] [--model DIR] [--db FILE] [--embedder hash|DIR] [--host 127.0.0.1] [--port 8080] [--max-queue N] [--batch N] ' +
  `${DTYPE_USAGE} ${KV_TYPE_USAGE} ${SECURITY_USAGE}`;

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      'docs',
      'model',
      'db',
      'embedder',
      'host',
      'port',
      'max-queue',
      'batch',
      'dtype',
      'kv-type',
      ...SECURITY_VALUES,
    ],
    flags: [...SECURITY_FLAGS],
  });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n  ${DTYPE_HELP}\n  ${KV_TYPE_HELP}\n${SECURITY_HELP}`);
    return;
  }
  optDtype(a); // checked before indexing starts; xfmr serve reads them
  optKvType(a);
  securityOptions(a, optString(a, 'host') ?? '127.0.0.1');
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}" (${USAGE})`);
  const docs = resolve(optString(a, 'docs') ?? DEFAULT_DOCS);
  if (!existsSync(docs)) throw new UsageError(`--docs: ${docs}: no such file or directory`);
  const model = optString(a, 'model') ?? DEFAULT_MODEL;
  if (isGgufPath(model) ? !existsSync(model) : !existsSync(join(model, 'config.json')))
    throw new UsageError(
      `--model: ${model} has no config.json and is no .gguf file (run \`npm run recipe\` to train the default model, or give --model DIR|FILE.gguf)`,
    );
  let embedder = optString(a, 'embedder');
  if (embedder === undefined) {
    // The default embedder (rag/embedder.ts defaultEmbedderSpec: the shipped word-vector embedder).
    const d = (await import('../rag/embedder.ts')).defaultEmbedderSpec();
    if (d.fallback) process.stderr.write(`xfmr start: ${d.fallback}\n`);
    embedder = d.spec.type === 'hash' ? 'hash' : d.spec.dir;
  }
  let db = optString(a, 'db');
  if (db === undefined) {
    const cache = join(ROOT, '.xfmr-cache', 'rag');
    mkdirSync(cache, { recursive: true });
    // one index per documents folder and embedder (an index keeps the embedder it was built with)
    const h = createHash('sha256').update(docs);
    if (embedder !== 'hash') h.update(`\0${resolve(embedder)}`);
    const key = h.digest('hex').slice(0, 16);
    db = join(cache, `docs-${key}.sqlite`);
  }
  // Chunks of START_CHUNK_TOKENS, or fewer where an encoder takes fewer (a short max_seq_length).
  let chunkTokens = START_CHUNK_TOKENS;
  if (embedder !== 'hash') {
    const { createEmbedder, embedderSpecOf } = await import('../rag/embedder.ts');
    chunkTokens = Math.min(chunkTokens, createEmbedder(embedderSpecOf(embedder)).maxTokens);
  }
  process.stderr.write(`xfmr start: indexing ${docs}\n`);
  await (await import('./rag.ts')).run([
    'index',
    '--db',
    db,
    '--embedder',
    embedder,
    '--max-tokens',
    String(chunkTokens),
    docs,
  ]);
  if (process.exitCode) return;

  const serveArgs = ['--model', model, '--db', db];
  for (const k of ['host', 'port', 'max-queue', 'batch', 'dtype', 'kv-type', ...SECURITY_VALUES]) {
    const v = optString(a, k);
    if (v !== undefined) serveArgs.push(`--${k}`, v);
  }
  for (const k of SECURITY_FLAGS) if (a.options.has(k)) serveArgs.push(`--${k}`);
  // the dashboard shows the model's training curves: its own, or the default model's SFT run
  const metrics = [join(model, 'metrics.jsonl'), `${DEFAULT_MODEL}-sft/metrics.jsonl`].find(
    (f, i) => existsSync(f) && (i === 0 || model === DEFAULT_MODEL),
  );
  if (metrics !== undefined) serveArgs.push('--metrics', metrics);
  await (await import('./serve.ts')).run(serveArgs);
}
