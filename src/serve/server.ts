/**
 * Loads a model directory and serves the API (src/serve/app.ts) with @hono/node-server.
 * `close()` stops accepting connections, ends in-flight generations (their streams get a 503 error
 * event and [DONE]), closes the RAG index and resolves once the server is down.
 *
 * Timeouts on the Node server, so that slow or idle clients cannot hold connections open
 * (SERVE_TIMEOUTS): a client must send its headers within `headersTimeoutMs` and its whole request
 * within `requestTimeoutMs` (else 408 and the connection closes; the response, a long generation,
 * is not limited), and an idle keep-alive connection closes after `keepAliveTimeoutMs`. Node checks
 * the first two every `checkIntervalMs`, so that is the slack of each.
 */
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { describeWeights, type LoadOptions, loadDecoder } from '../models/load.ts';
import { LoraSet } from '../models/lora_set.ts';
import { readAbstainPolicy } from '../rag/abstain.ts';
import { loadChatTemplate } from '../tokenizers/chat_template.ts';
import { resolveEos } from '../tokenizers/eos.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { type AppOptions, createApp, type ServeModel } from './app.ts';
import type { Scheduler, ServeStats } from './scheduler.ts';

export interface ServerOptions extends AppOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The model id clients name (default: the directory's name). */
  modelId?: string;
  /** Time for a client to send its request headers (default SERVE_TIMEOUTS.headersTimeoutMs). */
  headersTimeoutMs?: number;
  /** Time for a client to send its whole request, body included (default SERVE_TIMEOUTS.requestTimeoutMs). */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection closes after this (default SERVE_TIMEOUTS.keepAliveTimeoutMs). */
  keepAliveTimeoutMs?: number;
  /** How often Node checks the header and request timeouts (default SERVE_TIMEOUTS.checkIntervalMs). */
  checkIntervalMs?: number;
}

/**
 * Default timeouts: 10 s for headers (Node's 60 s lets a slow-header client hold a socket a minute),
 * 30 s for a request (the 4 MiB body limit at a slow 1 Mbit/s), Node's 5 s keep-alive, checked every
 * second (Node's 30 s would make the 10 s a 40 s one).
 */
export const SERVE_TIMEOUTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
} as const;

export interface RunningServer {
  url: string;
  port: number;
  stats: ServeStats;
  scheduler: Scheduler;
  /** The id of /v1/embeddings' model. */
  embedderId: string;
  close(): Promise<void>;
}

/** A LoRA adapter to serve: its PEFT directory and the model name requests give for it. */
export interface ServeAdapter {
  name: string;
  dir: string;
}

/**
 * The model of a directory, ready to serve; `options.dtype` picks how its weights are held
 * (load.ts), and `weights` says what they became ("bf16 (weights 12.34 MiB)"). Its calibrated
 * abstention threshold (DIR/xfmr_rag.json) is read when there is one (a .gguf file has none).
 * `adapters` are loaded onto the one base (models/lora_set.ts), each served under its name.
 */
export async function loadServeModel(
  dir: string,
  modelId?: string,
  options: LoadOptions = {},
  adapters: readonly ServeAdapter[] = [],
): Promise<ServeModel & { weights: string }> {
  const loaded = loadDecoder(dir, options);
  const id = modelId ?? basename(resolve(dir));
  let loras: LoraSet | undefined;
  if (adapters.length > 0) {
    loras = new LoraSet(loaded.model);
    for (const a of adapters) {
      if (a.name === id) throw new Error(`--lora ${a.name}=${a.dir}: "${a.name}" is the base model's id`);
      loras.load(a.name, a.dir);
    }
  }
  if (loaded.tokenizerJson === undefined) throw new Error(`${dir} has no tokenizer.json to serve text with`);
  const tokenizer = loadTokenizerJson(loaded.tokenizerJson as object);
  const eos = resolveEos({ dir, generationConfig: loaded.generationConfig });
  let chatTemplate: ServeModel['chatTemplate'];
  try {
    chatTemplate = loadChatTemplate(dir);
  } catch {
    chatTemplate = loaded.chatTemplate ? { template: loaded.chatTemplate } : undefined;
  }
  return {
    id,
    model: loaded.model,
    adapters: loras,
    tokenizer,
    eos,
    chatTemplate,
    abstention: readAbstainPolicy(dir),
    weights: describeWeights(loaded.model),
  };
}

/** Starts the HTTP server for a loaded model; rejects on a bad --db or a port in use. */
export async function startServer(m: ServeModel, o: ServerOptions = {}): Promise<RunningServer> {
  const served = createApp(m, o);
  const host = o.host ?? '127.0.0.1';
  const headersTimeout = o.headersTimeoutMs ?? SERVE_TIMEOUTS.headersTimeoutMs;
  // Node requires headersTimeout <= requestTimeout
  const requestTimeout = Math.max(o.requestTimeoutMs ?? SERVE_TIMEOUTS.requestTimeoutMs, headersTimeout);
  return new Promise((resolveStart, reject) => {
    const server = serve(
      {
        fetch: served.app.fetch,
        hostname: host,
        port: o.port ?? 8080,
        serverOptions: {
          headersTimeout,
          requestTimeout,
          connectionsCheckingInterval: o.checkIntervalMs ?? SERVE_TIMEOUTS.checkIntervalMs,
        },
      },
      (info: AddressInfo) => {
        const h = host.includes(':') ? `[${host}]` : host;
        let closing: Promise<void> | null = null;
        resolveStart({
          url: `http://${h}:${info.port}`,
          port: info.port,
          stats: served.stats,
          scheduler: served.scheduler,
          embedderId: served.embedder.id,
          close: () => {
            closing ??= new Promise<void>((done) => {
              // a socket left mid-upload (a 413 body) can hold close() open: force it after a while
              const force = setTimeout(() => {
                if ('closeAllConnections' in server) server.closeAllConnections();
                done();
              }, 1500);
              server.close(() => {
                clearTimeout(force);
                done();
              });
              // streams end at the next decode step; then their connections go idle
              void served.close();
              if ('closeIdleConnections' in server)
                setTimeout(() => server.closeIdleConnections(), 50).unref();
            });
            return closing;
          },
        });
      },
    );
    // a property, as Node 20's createServer options do not take it
    if ('keepAliveTimeout' in server)
      server.keepAliveTimeout = o.keepAliveTimeoutMs ?? SERVE_TIMEOUTS.keepAliveTimeoutMs;
    server.once('error', (e) => {
      void served.close();
      reject(e);
    });
  });
}
