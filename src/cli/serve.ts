/**
 * `xfmr serve --model DIR [--db RAG.sqlite] [--host 127.0.0.1] [--port 8080] [--max-queue N]`:
 * an OpenAI-compatible HTTP API (GET /v1/models, POST /v1/completions, POST /v1/chat/completions).
 * `PORT` in the environment sets the port when --port is not given. SIGTERM / SIGINT stop
 * accepting connections, end in-flight streams and exit.
 */
import { existsSync, statSync } from 'node:fs';
import { optInt, optString, parseArgs, UsageError } from './args.ts';

const USAGE =
  'usage: xfmr serve --model DIR [--db RAG.sqlite] [--host 127.0.0.1] [--port 8080] [--max-queue 16]';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['model', 'db', 'host', 'port', 'max-queue', 'model-id'] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const dir = optString(a, 'model');
  if (!dir) throw new UsageError(`--model is required (${USAGE})`);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--model: ${dir}: no such directory`);
  const db = optString(a, 'db');
  if (db !== undefined && !existsSync(db)) throw new UsageError(`--db: ${db}: no such file`);
  const envPort = process.env.PORT;
  let port = optInt(a, 'port', 8080);
  if (!a.options.has('port') && envPort !== undefined && envPort !== '') {
    port = Number(envPort);
    if (!Number.isInteger(port)) throw new UsageError(`PORT must be an integer, got "${envPort}"`);
  }
  if (port < 0 || port > 65535) throw new UsageError(`the port must be in [0, 65535], got ${port}`);
  const maxQueue = optInt(a, 'max-queue', 16);
  if (maxQueue < 0) throw new UsageError(`--max-queue must be >= 0, got ${maxQueue}`);
  const { loadServeModel, startServer } = await import('../serve/server.ts');
  const m = await loadServeModel(dir, optString(a, 'model-id'));
  const server = await startServer(m, { host: optString(a, 'host') ?? '127.0.0.1', port, maxQueue });
  process.stderr.write(`xfmr serve: model "${m.id}" at ${server.url}/v1\n`);
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
