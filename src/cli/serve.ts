/**
 * `xfmr serve --model DIR [--db RAG.sqlite] [--metrics FILE.jsonl] [--host 127.0.0.1] [--port 8080]
 *  [--batch 8] [--max-queue 16]`: an OpenAI-compatible HTTP API (GET /v1/models, POST
 * /v1/completions, /v1/chat/completions, /v1/embeddings; POST /v1/rag/ask with --db) and the
 * playground. Generations are batched continuously over --batch KV cache slots (each as long as the
 * model's context: memory grows with both); --max-queue requests may wait for a slot, more get 429.
 * `PORT` in the environment sets the port when --port is not given. SIGTERM / SIGINT stop accepting
 * connections, end in-flight streams and exit 0. --dtype auto|f32|bf16 picks how the weights are held
 * (default auto: what the checkpoint holds; src/cli/dtype.ts), --kv-type f32|f16|q8_0 how the KV
 * cache stores keys and values (default f32; src/cli/kv_type.ts); both are printed on stderr.
 *
 * --lora NAME=DIR (repeatable; DIR alone is named after its folder) serves a PEFT adapter directory
 * on the one base under the model name NAME, as vLLM does: /v1/models lists the base and each
 * adapter, and a completion or chat request runs with the adapter its `model` names (the base's id:
 * none; another name: 404 model_not_found). One base stays in memory; src/serve/scheduler.ts
 * switches adapters per model call.
 *
 * Security (src/serve/auth.ts): --api-key KEY (or XFMR_API_KEY) requires `Authorization: Bearer KEY`
 * on /v1/* and /api/*. The server binds 127.0.0.1 by default; another --host without a key is
 * refused unless --no-auth says so. No CORS headers unless --cors ORIGIN names the one web origin
 * allowed. --headers-timeout, --request-timeout and --keep-alive-timeout (seconds) bound slow and
 * idle clients (src/serve/server.ts).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { optInt, optString, parseArgs, requireModelPath, takeRepeated, UsageError } from './args.ts';
import { DTYPE_HELP, DTYPE_USAGE, optDtype } from './dtype.ts';
import { KV_TYPE_HELP, KV_TYPE_USAGE, kvCacheLine, optKvType } from './kv_type.ts';
import {
  SECURITY_FLAGS,
  SECURITY_HELP,
  SECURITY_USAGE,
  SECURITY_VALUES,
  securityLine,
  securityOptions,
} from './serve_security.ts';

const USAGE =
  'usage: xfmr serve --model DIR|FILE.gguf [--db RAG.sqlite] [--metrics FILE.jsonl] [--host 127.0.0.1] [--port 8080] ' +
  `[--batch 8] [--max-queue 16] [--model-id NAME] [--lora NAME=ADAPTER_DIR]... ${DTYPE_USAGE} ${KV_TYPE_USAGE} ${SECURITY_USAGE}`;

const VALUES = [
  'model',
  'db',
  'metrics',
  'host',
  'port',
  'batch',
  'max-queue',
  'model-id',
  'dtype',
  'kv-type',
  ...SECURITY_VALUES,
];

/** `--lora NAME=DIR` (or DIR, named after its folder) -> the adapters to serve, each DIR checked. */
function loraAdapters(specs: readonly string[]): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const dir = eq >= 0 ? spec.slice(eq + 1) : spec;
    const name = eq >= 0 ? spec.slice(0, eq) : basename(resolve(dir));
    if (name === '' || dir === '') throw new UsageError(`--lora: expected NAME=ADAPTER_DIR, got "${spec}"`);
    if (!existsSync(dir)) throw new UsageError(`--lora ${spec}: ${dir}: no such directory`);
    if (out.some((o) => o.name === name)) throw new UsageError(`--lora: two adapters named "${name}"`);
    out.push({ name, dir });
  }
  return out;
}

export async function run(argv: string[]): Promise<void> {
  const { taken: loraSpecs, rest } = takeRepeated(argv, 'lora', VALUES);
  const a = parseArgs(rest, { values: VALUES, flags: [...SECURITY_FLAGS] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n  ${DTYPE_HELP}\n  ${KV_TYPE_HELP}\n${SECURITY_HELP}`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const dir = optString(a, 'model');
  if (!dir) throw new UsageError(`--model is required (${USAGE})`);
  requireModelPath(dir);
  const db = optString(a, 'db');
  if (db !== undefined && !existsSync(db)) throw new UsageError(`--db: ${db}: no such file`);
  const metrics = optString(a, 'metrics');
  // the file may not exist yet (a training run about to write it), but its folder must
  if (metrics !== undefined && !existsSync(metrics) && !existsSync(dirname(resolve(metrics))))
    throw new UsageError(`--metrics: ${metrics}: no such file, and no folder ${dirname(resolve(metrics))}`);
  const envPort = process.env.PORT;
  let port = optInt(a, 'port', 8080);
  if (!a.options.has('port') && envPort !== undefined && envPort !== '') {
    port = Number(envPort);
    if (!Number.isInteger(port)) throw new UsageError(`PORT must be an integer, got "${envPort}"`);
  }
  if (port < 0 || port > 65535) throw new UsageError(`the port must be in [0, 65535], got ${port}`);
  const batch = optInt(a, 'batch', 8);
  if (batch < 1) throw new UsageError(`--batch must be >= 1, got ${batch}`);
  const maxQueue = optInt(a, 'max-queue', 16);
  if (maxQueue < 0) throw new UsageError(`--max-queue must be >= 0, got ${maxQueue}`);
  const dtype = optDtype(a);
  const kvType = optKvType(a);
  const host = optString(a, 'host') ?? '127.0.0.1';
  const security = securityOptions(a, host);
  const adapters = loraAdapters(loraSpecs);
  const { loadServeModel, startServer } = await import('../serve/server.ts');
  const m = await loadServeModel(dir, optString(a, 'model-id'), { dtype, kvType }, adapters);
  process.stderr.write(`xfmr serve: dtype ${m.weights}\n`);
  const server = await startServer(m, {
    host,
    port,
    ...security,
    batch,
    maxQueue,
    ragDb: db,
    metrics,
  });
  const ctx = server.scheduler.model.contextLength;
  process.stderr.write(kvCacheLine('serve', kvType, ctx, batch, server.scheduler.cacheBytes));
  const mib = (server.scheduler.cacheBytes / 2 ** 20).toFixed(1);
  process.stderr.write(
    `xfmr serve: model "${m.id}" at ${server.url}/v1 (batch ${batch}, KV cache ${mib} MiB` +
      `${db !== undefined ? `, RAG ${db}` : ''})\n`,
  );
  for (const ad of adapters) process.stderr.write(`xfmr serve: LoRA adapter "${ad.name}" from ${ad.dir}\n`);
  process.stderr.write(`xfmr serve: ${securityLine(security)}\n`);
  process.stdout.write(`playground: ${server.url}/\n`);
  await new Promise<void>((done) => {
    const stop = (sig: string): void => {
      process.stderr.write(`xfmr serve: ${sig}, shutting down\n`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      server.close().then(done, done);
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
