/**
 * Loads a model directory and serves the API (src/serve/app.ts) with @hono/node-server.
 * `close()` stops accepting connections, ends in-flight generations (their streams get a 503 error
 * event and [DONE]), closes the RAG index and resolves once the server is down.
 */
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { describeWeights, type LoadOptions, loadDecoder } from '../models/load.ts';
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
}

export interface RunningServer {
  url: string;
  port: number;
  stats: ServeStats;
  scheduler: Scheduler;
  /** The id of /v1/embeddings' model. */
  embedderId: string;
  close(): Promise<void>;
}

/**
 * The model of a directory, ready to serve; `options.dtype` picks how its weights are held
 * (load.ts), and `weights` says what they became ("bf16 (weights 12.34 MiB)"). Its calibrated
 * abstention threshold (DIR/xfmr_rag.json) is read when there is one (a .gguf file has none).
 */
export async function loadServeModel(
  dir: string,
  modelId?: string,
  options: LoadOptions = {},
): Promise<ServeModel & { weights: string }> {
  const loaded = loadDecoder(dir, options);
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
    id: modelId ?? basename(resolve(dir)),
    model: loaded.model,
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
  return new Promise((resolveStart, reject) => {
    const server = serve(
      { fetch: served.app.fetch, hostname: host, port: o.port ?? 8080 },
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
    server.once('error', (e) => {
      void served.close();
      reject(e);
    });
  });
}
