/**
 * Loads a model directory and serves the API (src/serve/app.ts) with @hono/node-server.
 * `close()` stops accepting connections, aborts in-flight generations and resolves when done.
 */
import type { AddressInfo } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { loadDecoder } from '../models/load.ts';
import { loadChatTemplate } from '../tokenizers/chat_template.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { type AppOptions, createApp, type ServeModel, type ServeStats } from './app.ts';

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
  close(): Promise<void>;
}

/** EOS ids: generation_config.json eos_token_id, else config.json's (as `xfmr generate` does). */
function eosIds(v: unknown): number[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is number => Number.isInteger(x));
}

/** The model of a directory, ready to serve. */
export async function loadServeModel(dir: string, modelId?: string): Promise<ServeModel> {
  const loaded = loadDecoder(dir);
  if (loaded.tokenizerJson === undefined) throw new Error(`${dir} has no tokenizer.json to serve text with`);
  const tokenizer = loadTokenizerJson(loaded.tokenizerJson as object);
  const gc = loaded.generationConfig as Record<string, unknown> | undefined;
  let eos = eosIds(gc?.eos_token_id);
  if (gc === undefined) {
    const { readFileSync } = await import('node:fs');
    try {
      eos = eosIds(
        (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>).eos_token_id,
      );
    } catch {
      eos = [];
    }
  }
  let chatTemplate: ServeModel['chatTemplate'];
  try {
    chatTemplate = loadChatTemplate(dir);
  } catch {
    chatTemplate = loaded.chatTemplate ? { template: loaded.chatTemplate } : undefined;
  }
  return { id: modelId ?? basename(resolve(dir)), model: loaded.model, tokenizer, eos, chatTemplate };
}

/** Starts the HTTP server for a loaded model. */
export function startServer(m: ServeModel, o: ServerOptions = {}): Promise<RunningServer> {
  const { app, stats } = createApp(m, o);
  const host = o.host ?? '127.0.0.1';
  return new Promise((resolveStart, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 8080 }, (info: AddressInfo) => {
      const h = host.includes(':') ? `[${host}]` : host;
      resolveStart({
        url: `http://${h}:${info.port}`,
        port: info.port,
        stats,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // in-flight streams see their sockets close and abort their generations
            if ('closeAllConnections' in server) setTimeout(() => server.closeAllConnections(), 2000).unref();
          }),
      });
    });
    server.once('error', reject);
  });
}
