/**
 * `xfmr rag`: retrieval-augmented generation over a SQLite index (src/rag).
 *
 *   xfmr rag index --db FILE [options] PATHS...      files and folders (walked); re-running only
 *                                                    re-embeds what changed and drops what is gone
 *     --embedder hash|DIR   a sentence-transformers directory as downloaded (all-MiniLM-L6-v2,
 *                           bge-small-en-v1.5, e5-small-v2), a BERT-family model directory
 *                           (src/rag/encoder_embedder.ts), a word-vector embedder's directory
 *                           (src/rag/word_embedder.ts, made by `xfmr embedder words`), or hash
 *                           (hashed words and n-grams, no model). Default: for an existing index,
 *                           the embedder it was built with; for a new one, the shipped
 *                           models/xfmr-embed-words (hash where it is missing)
 *     --pooling MODE[,MODE]  --query-prefix S  --passage-prefix S  (encoder; defaults from the dir)
 *     --max-tokens N  --overlap N      chunk budget and overlap, in the embedder's tokens
 *     --max-bytes N                    larger files are skipped (default 16 MiB)
 *     --meta KEY=VALUE                 stored with every document of this run (repeatable)
 *     --no-prune                       keep documents whose files are gone
 *   xfmr rag query --db FILE "question" [--k N] [--mode hybrid|vector|bm25]
 *                  [--source PREFIX] [--where KEY=VALUE]... [--json]
 *   xfmr rag ask --db FILE (--model DIR | --endpoint URL [--endpoint-model NAME]
 *                [--context-tokens N]) "question" [--k N] [--mode M] [--template T]
 *                [--max-tokens N] [--temperature T] [--free] [--dtype auto|f32|bf16]
 *                [--kv-type f32|f16|q8_0] [--json]
 *     (default)             a local model's answer is grounded: the likeliest quote of one retrieved
 *                           chunk (src/rag/answer.ts), or where the model is not confident of it the
 *                           extractive reader's span (src/rag/extract.ts; --json: "reader"), printed
 *                           with its source and character offsets and the model's confidence; below
 *                           the model's calibrated threshold
 *                           (MODEL/xfmr_rag.json, `xfmr eval --calibrate`) the answer is "I could not
 *                           find the answer in the documents." with the sources
 *     --free                free decoding instead (an --endpoint always decodes freely);
 *                           --grounded, the old default's opposite, is still accepted
 *     --dtype               how --model's weights are held (default auto: what the checkpoint
 *                           holds; src/cli/dtype.ts), printed on stderr
 *     --kv-type             how --model's KV cache stores keys and values (default f32;
 *                           src/cli/kv_type.ts), printed on stderr with its largest size
 *   xfmr rag info --db FILE [--json]
 *
 * Queries are embedded with the embedder the index was built with (recorded in the database).
 * `query --json` prints {"results": [{"source", "text", "score"}, ...]}, best first; `source` is
 * the file's path as found from what was given to `index`. Indexing reports progress and skipped
 * files on stderr; a PATH that does not exist makes the exit code 1 after the rest is indexed.
 */
import { existsSync } from 'node:fs';
import { Progress } from '../train/progress.ts';
import {
  optInt,
  optNumber,
  optString,
  type ParsedArgs,
  parseArgs,
  takeRepeated,
  UsageError,
} from './args.ts';
import { DTYPE_HELP, DTYPE_USAGE, optDtype } from './dtype.ts';
import { KV_TYPE_HELP, KV_TYPE_USAGE, kvCacheLine, optKvType } from './kv_type.ts';

const USAGE = `usage:
  xfmr rag index --db FILE [--embedder hash|DIR] [--pooling cls|mean|max|...] [--query-prefix S] [--passage-prefix S]
                 [--max-tokens N] [--overlap N] [--max-bytes N] [--meta KEY=VALUE]... [--no-prune] PATHS...
  xfmr rag query --db FILE "question" [--k N] [--mode hybrid|vector|bm25] [--source PREFIX] [--where KEY=VALUE]... [--json]
  xfmr rag ask --db FILE (--model DIR | --endpoint URL [--endpoint-model NAME] [--context-tokens N]) "question"
               [--k N] [--mode M] [--template T] [--max-tokens N] [--temperature T] [--free] ${DTYPE_USAGE}
               ${KV_TYPE_USAGE} [--json]
  xfmr rag info --db FILE [--json]
ask ${DTYPE_HELP}
ask ${KV_TYPE_HELP}`;

/** Writes to stdout and resolves once the data is handed to the OS. */
function writeStdout(s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(s, (err) => (err ? reject(err) : resolve()));
  });
}

/** KEY=VALUE pairs -> metadata; numbers and true/false are typed. */
function parsePairs(pairs: readonly string[], option: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${option}: expected KEY=VALUE, got "${p}"`);
    const v = p.slice(eq + 1);
    out[p.slice(0, eq)] =
      v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

function requireDb(a: ParsedArgs): string {
  const db = optString(a, 'db');
  if (!db) throw new UsageError(`--db FILE is required\n${USAGE}`);
  return db;
}

function positiveInt(a: ParsedArgs, name: string, fallback: number): number {
  const n = optInt(a, name, fallback);
  if (n < 1) throw new UsageError(`--${name} must be at least 1, got ${n}`);
  return n;
}

async function runIndex(argv: string[]): Promise<void> {
  const VALUES = [
    'db',
    'embedder',
    'pooling',
    'query-prefix',
    'passage-prefix',
    'max-tokens',
    'overlap',
    'max-bytes',
  ];
  const { taken: metaPairs, rest } = takeRepeated(argv, 'meta', VALUES);
  const a = parseArgs(rest, { values: VALUES, flags: ['no-prune'] });
  const db = requireDb(a);
  if (a.positionals.length === 0) throw new UsageError(`give at least one file or folder to index\n${USAGE}`);
  const metadata = parsePairs(metaPairs, 'meta');
  const { createEmbedder } = await import('../rag/embedder.ts');
  const { indexPaths } = await import('../rag/indexer.ts');
  const { SqliteStore } = await import('../rag/sqlite_store.ts');
  const { DEFAULT_MAX_BYTES } = await import('../rag/loaders.ts');

  // No --embedder: an existing index goes on with the embedder it was built with (as recorded,
  // unless encoder options are given); a new one gets the default (rag/embedder.ts
  // defaultEmbedderSpec: the shipped word-vector embedder, or the hash embedder without it).
  let which = optString(a, 'embedder');
  const { defaultEmbedderSpec } = await import('../rag/embedder.ts');
  const encoderOptions = ['pooling', 'query-prefix', 'passage-prefix'].some((o) => a.options.has(o));
  let recorded: import('../rag/embedder.ts').EmbedderSpec | undefined;
  if (which === undefined) {
    recorded = existsSync(db) ? recordedSpec(SqliteStore, db) : undefined;
    if (recorded) which = recorded.type === 'hash' ? 'hash' : recorded.dir;
    else {
      const d = defaultEmbedderSpec();
      if (d.fallback) process.stderr.write(`xfmr rag: ${d.fallback}\n`);
      which = d.spec.type === 'hash' ? 'hash' : d.spec.dir;
    }
  }
  const { POOLINGS } = await import('../models/encoder.ts');
  type Pooling = (typeof POOLINGS)[number];
  const poolingArg = optString(a, 'pooling');
  const pooling = poolingArg?.split(',').map((m) => {
    if (!(POOLINGS as readonly string[]).includes(m))
      throw new UsageError(`--pooling: "${m}" is not one of ${POOLINGS.join(', ')} (comma-separate several)`);
    return m as Pooling;
  });
  const { embedderSpecOf } = await import('../rag/embedder.ts');
  const named = embedderSpecOf(which);
  const embedder =
    recorded && !encoderOptions
      ? createEmbedder(recorded)
      : named.type !== 'encoder'
        ? (() => {
            for (const o of ['pooling', 'query-prefix', 'passage-prefix'])
              if (a.options.has(o))
                throw new UsageError(
                  `--${o} applies to an encoder (--embedder DIR), not the ${named.type === 'hash' ? 'hash' : 'word-vector'} embedder`,
                );
            return createEmbedder(named);
          })()
        : createEmbedder({
            type: 'encoder',
            dir: which,
            pooling: pooling?.length === 1 ? pooling[0] : pooling,
            queryPrefix: optString(a, 'query-prefix'),
            passagePrefix: optString(a, 'passage-prefix'),
          });
  const maxTokens = a.options.has('max-tokens') ? positiveInt(a, 'max-tokens', 1) : undefined;
  if (maxTokens !== undefined && maxTokens > embedder.maxTokens)
    throw new UsageError(`--max-tokens ${maxTokens} exceeds what the embedder takes (${embedder.maxTokens})`);
  const chunkMax = maxTokens ?? embedder.maxTokens;
  let overlapTokens: number | undefined;
  if (a.options.has('overlap')) {
    overlapTokens = optInt(a, 'overlap', 0);
    if (overlapTokens < 0 || overlapTokens >= chunkMax)
      throw new UsageError(`--overlap must be in [0, ${chunkMax}), got ${overlapTokens}`);
  }
  const maxBytes = a.options.has('max-bytes') ? positiveInt(a, 'max-bytes', 1) : DEFAULT_MAX_BYTES;

  const store = SqliteStore.openOrCreate(db, { id: embedder.id, dim: embedder.dim, spec: embedder.spec });
  const tty = Boolean(process.stderr.isTTY);
  let progress: InstanceType<typeof Progress> | null = null;
  try {
    const report = await indexPaths(a.positionals, store, embedder, {
      maxTokens,
      overlapTokens,
      maxBytes,
      metadata,
      prune: !a.options.has('no-prune'),
      onSkip: (s) =>
        process.stderr.write(`${tty ? '\r\x1b[K' : ''}xfmr rag: skipped ${s.source}: ${s.reason}\n`),
      onProgress: (done, total, r) => {
        progress ??= new Progress('xfmr rag: indexing', total, 3000);
        const rate = r.seconds > 0 ? (r.chunks / r.seconds).toFixed(0) : '0';
        progress.update(done, `files, ${r.chunks} chunks, ${rate} chunks/s`);
      },
    });
    const rate = report.seconds > 0 ? (report.chunks / report.seconds).toFixed(0) : '0';
    process.stderr.write(
      `xfmr rag: ${db}: ${report.files} files: ${report.added} added, ${report.updated} updated, ` +
        `${report.unchanged} unchanged, ${report.removed} removed, ${report.skipped.length} skipped; ` +
        `${report.chunks} chunks written (${report.embedded} embedded) in ${report.seconds.toFixed(1)} s (${rate} chunks/s)\n`,
    );
    if (embedder.truncated)
      process.stderr.write(
        `xfmr rag: ${embedder.truncated} texts were longer than the embedder's sequence limit and were truncated\n`,
      );
    const missing = a.positionals.filter((p) =>
      report.skipped.some((s) => s.source === p && /no such file/.test(s.reason)),
    );
    if (missing.length > 0) {
      process.stderr.write(`xfmr rag: ${missing[0]}: no such file or directory\n`);
      process.exitCode = 1;
    }
  } finally {
    await store.close();
  }
}

/** The embedder spec an existing index records, or undefined when it is no index (yet). */
function recordedSpec(
  Store: typeof import('../rag/sqlite_store.ts').SqliteStore,
  db: string,
): import('../rag/embedder.ts').EmbedderSpec | undefined {
  let store: import('../rag/sqlite_store.ts').SqliteStore;
  try {
    store = Store.open(db);
  } catch {
    return undefined; // openOrCreate reports what is wrong with the file
  }
  const spec = store.embedderSpec;
  void store.close();
  return spec;
}

/** Opens an index read-only and the embedder it was built with. */
async function openIndex(db: string) {
  const { SqliteStore } = await import('../rag/sqlite_store.ts');
  const { createEmbedder } = await import('../rag/embedder.ts');
  const store = SqliteStore.open(db);
  try {
    let embedder: import('../rag/embedder.ts').Embedder;
    try {
      embedder = createEmbedder(store.embedderSpec);
    } catch (e) {
      throw new Error(`${db}: cannot load the embedder the index was built with: ${(e as Error).message}`);
    }
    if (embedder.id !== store.embedderId)
      throw new Error(
        `${db}: the index was built with embedder ${store.embedderId}, which now loads as ${embedder.id}`,
      );
    return { store, embedder };
  } catch (e) {
    await store.close();
    throw e;
  }
}

function retrieveOptions(a: ParsedArgs, where: Record<string, string | number | boolean>) {
  const mode = optString(a, 'mode') ?? 'hybrid';
  if (mode !== 'hybrid' && mode !== 'vector' && mode !== 'bm25')
    throw new UsageError(`--mode must be hybrid, vector or bm25, got "${mode}"`);
  const filter: import('../rag/store.ts').MetadataFilter = {};
  const source = optString(a, 'source');
  if (source !== undefined) filter.sourcePrefix = source;
  if (Object.keys(where).length > 0) filter.metadata = where;
  return { k: positiveInt(a, 'k', 5), mode, filter } as const;
}

function question(a: ParsedArgs): string {
  if (a.positionals.length !== 1)
    throw new UsageError(
      a.positionals.length === 0
        ? `give the question as one argument\n${USAGE}`
        : `give the question as one (quoted) argument; got ${a.positionals.length}`,
    );
  const q = a.positionals[0];
  if (q.trim() === '') throw new UsageError('the question is empty');
  return q;
}

async function runQuery(argv: string[]): Promise<void> {
  const VALUES = ['db', 'k', 'mode', 'source'];
  const { taken, rest } = takeRepeated(argv, 'where', VALUES);
  const a = parseArgs(rest, { values: VALUES, flags: ['json'] });
  const db = requireDb(a);
  const q = question(a);
  const opts = retrieveOptions(a, parsePairs(taken, 'where'));
  const { retrieve } = await import('../rag/retriever.ts');
  const { store, embedder } = await openIndex(db);
  try {
    const hits = await retrieve(store, embedder, q, opts);
    if (a.options.has('json')) {
      await writeStdout(
        `${JSON.stringify({ results: hits.map((h) => ({ source: h.source, text: h.text, score: h.score })) })}\n`,
      );
      return;
    }
    if (hits.length === 0) {
      await writeStdout('no results\n');
      return;
    }
    const lines = hits.map((h, i) => {
      const where = `${h.source}:${h.line}${h.heading ? `  (${h.heading})` : ''}`;
      const body = h.text.replace(/\n/g, '\n   ');
      return `${i + 1}. ${h.score.toFixed(4)}  ${where}\n   ${body}\n`;
    });
    await writeStdout(`${lines.join('\n')}`);
  } finally {
    await store.close();
  }
}

async function runAsk(argv: string[]): Promise<void> {
  const VALUES = [
    'db',
    'k',
    'mode',
    'source',
    'model',
    'endpoint',
    'endpoint-model',
    'context-tokens',
    'template',
    'max-tokens',
    'temperature',
    'seed',
    'dtype',
    'kv-type',
  ];
  const { taken, rest } = takeRepeated(argv, 'where', VALUES);
  const a = parseArgs(rest, { values: VALUES, flags: ['json', 'no-chat-template', 'grounded', 'free'] });
  const db = requireDb(a);
  const q = question(a);
  const opts = retrieveOptions(a, parsePairs(taken, 'where'));
  const modelDir = optString(a, 'model');
  const endpoint = optString(a, 'endpoint');
  if ((modelDir === undefined) === (endpoint === undefined))
    throw new UsageError(`give --model DIR or --endpoint URL (one of them)\n${USAGE}`);
  if (modelDir !== undefined)
    for (const o of ['endpoint-model', 'context-tokens'])
      if (a.options.has(o)) throw new UsageError(`--${o} applies to --endpoint, not --model`);
  for (const o of ['dtype', 'kv-type', 'grounded'])
    if (endpoint !== undefined && a.options.has(o))
      throw new UsageError(
        `--${o} applies to --model, not --endpoint${o === 'grounded' ? ' (an endpoint decodes freely)' : ''}`,
      );
  if (a.options.has('grounded') && a.options.has('free'))
    throw new UsageError('give --free or --grounded, not both');
  const dtype = optDtype(a);
  const kvType = optKvType(a);
  const template = optString(a, 'template');
  const { checkTemplate } = await import('../rag/prompt.ts');
  if (template !== undefined) {
    try {
      checkTemplate(template);
    } catch (e) {
      throw new UsageError(`--template: ${(e as Error).message}`);
    }
  }
  const maxTokens = a.options.has('max-tokens') ? positiveInt(a, 'max-tokens', 1) : undefined;
  const temperature = a.options.has('temperature') ? optNumber(a, 'temperature', 0) : undefined;
  if (temperature !== undefined && temperature < 0)
    throw new UsageError(`--temperature must be >= 0, got ${temperature}`);
  const seed = a.options.has('seed') ? optInt(a, 'seed', 0) : undefined;

  const { answer } = await import('../rag/answer.ts');
  const { EndpointGenerator, LocalGenerator } = await import('../rag/generator.ts');
  const generator =
    modelDir !== undefined
      ? LocalGenerator.load(modelDir, { chat: !a.options.has('no-chat-template'), dtype, kvType })
      : await EndpointGenerator.connect({
          url: endpoint as string,
          model: optString(a, 'endpoint-model'),
          contextTokens: a.options.has('context-tokens') ? positiveInt(a, 'context-tokens', 4096) : undefined,
        });
  if (generator instanceof LocalGenerator) {
    process.stderr.write(`xfmr rag: dtype ${generator.weights}\n`);
    const { kvCacheBytes } = await import('../nn/kv_cache.ts');
    const bytes = kvCacheBytes(generator.model.config, kvType, generator.contextTokens, 1);
    process.stderr.write(kvCacheLine('rag', kvType, generator.contextTokens, 1, bytes, true));
  }
  const { store, embedder } = await openIndex(db);
  try {
    const r = await answer(q, {
      ...opts,
      store,
      embedder,
      generator,
      template,
      maxTokens,
      temperature,
      grounded: endpoint !== undefined ? false : !a.options.has('free'),
      seed,
    });
    if (a.options.has('json')) {
      const sources = r.sources.map((s) => ({
        source: s.source,
        text: s.text,
        score: s.score,
        truncated: s.truncated,
      }));
      const { answer: text, grounded, abstained, confidence, quote, reader } = r;
      await writeStdout(
        `${JSON.stringify({ answer: text, grounded, abstained, confidence, quote, reader, sources })}\n`,
      );
      return;
    }
    const src = r.sources.map(
      (s, i) => `[${i + 1}] ${s.source}:${s.line} (${s.score.toFixed(4)}${s.truncated ? ', truncated' : ''})`,
    );
    const lines = [r.answer.trim(), ''];
    if (r.quote) {
      const q = r.quote;
      const t = r.sources[q.index].text;
      const before = t.slice(Math.max(0, q.start - 40), q.start).replace(/\s+/g, ' ');
      const after = t.slice(q.end, q.end + 40).replace(/\s+/g, ' ');
      lines.push(
        `Quote: [${q.index + 1}] ${q.source}, characters ${q.start}-${q.end}: "…${before}[${q.text}]${after}…"`,
      );
      if (r.reader === 'extractive')
        lines.push("Read by: the extractive reader (the model's own quote was not confident)");
    }
    if (r.grounded) {
      const policy = generator instanceof LocalGenerator ? generator.abstention : null;
      const { DEFAULT_CONFIDENCE } = await import('../rag/abstain.ts');
      const c = r.confidence === null ? 'none (sampled)' : r.confidence.toFixed(4);
      lines.push(
        `Confidence: ${c}${policy ? ` (${policy.confidence}; abstains below ${policy.abstainBelow.toFixed(4)})` : ` (${DEFAULT_CONFIDENCE}; no calibrated threshold: never abstains)`}`,
      );
    }
    lines.push(`Sources:\n${src.join('\n')}`);
    await writeStdout(`${lines.join('\n')}\n`);
    if (r.dropped > 0)
      process.stderr.write(`xfmr rag: ${r.dropped} retrieved chunks did not fit in the model's window\n`);
  } finally {
    await store.close();
  }
}

async function runInfo(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['db'], flags: ['json'] });
  const db = requireDb(a);
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const { SqliteStore } = await import('../rag/sqlite_store.ts');
  const store = SqliteStore.open(db);
  try {
    const info = await store.info();
    if (a.options.has('json')) await writeStdout(`${JSON.stringify(info)}\n`);
    else
      await writeStdout(
        `${db}: ${info.documents} documents, ${info.chunks} chunks, dimension ${info.dim}\nembedder: ${info.embedderId}\n`,
      );
  } finally {
    await store.close();
  }
}

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === 'help') {
    await writeStdout(`${USAGE}\n`);
    return;
  }
  if (rest.includes('--help')) {
    await writeStdout(`${USAGE}\n`);
    return;
  }
  switch (sub) {
    case 'index':
      return runIndex(rest);
    case 'query':
      return runQuery(rest);
    case 'ask':
      return runAsk(rest);
    case 'info':
      return runInfo(rest);
    default:
      throw new UsageError(`unknown rag command "${sub}" (index, query, ask, info)`);
  }
}
