/**
 * The OpenAI-compatible HTTP API on Hono:
 *
 *   GET  /v1/models                routes/models.ts: the language model, its LoRA adapters, the embedder
 *   POST /v1/completions           routes/completions.ts: prompt: string | string[] | ids | ids[]
 *   POST /v1/chat/completions      routes/chat.ts
 *   POST /v1/embeddings            routes/embeddings.ts
 *   POST /v1/rag/ask               routes/rag.ts (with --db)
 *   GET  /, /api/*                 routes/playground.ts: the web playground and dashboard
 *
 * With `apiKey`, /v1/* and /api/* need `Authorization: Bearer KEY` (401 otherwise); with
 * `corsOrigin`, that one web origin may call the API from a browser; without it no CORS headers are
 * sent (auth.ts). The playground's page is served to anyone, and asks for the key when it needs one.
 *
 * `stream: true` answers server-sent events ending with a chunk that carries finish_reason (the last
 * one also carries usage), then `data: [DONE]`. `n` > 1 gives n sequences of one prompt, sequence i
 * seeded seedFor(seed, i) (choices[].index = prompt index x n + i; usage sums them); what
 * completions and chat share is generation.ts.
 *
 * Every generation goes through one Scheduler (scheduler.ts): continuous batching over `batch` KV
 * cache slots, at most `maxQueue` requests waiting. Errors answer OpenAI-style JSON (errors.ts): 400
 * for a bad request (never 422), 404 for an unknown model, 413 for a body over `maxBodyBytes` or a
 * prompt longer than the context, 429 when the queue is full, 503 while shutting down. A client that
 * disconnects aborts its sequences before the next decode step.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { CausalLM } from '../models/causal_lm.ts';
import type { LoraSet } from '../models/lora_set.ts';
import type { AbstainPolicy } from '../rag/abstain.ts';
import type { Embedder } from '../rag/embedder.ts';
import { HashEmbedder } from '../rag/hash_embedder.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { apiKeyAuth, corsFor, GUARDED_PATHS } from './auth.ts';
import { ApiError, toApiError } from './errors.ts';
import { TokenText } from './logprobs.ts';
import { registerChat } from './routes/chat.ts';
import { registerCompletions } from './routes/completions.ts';
import { registerEmbeddings } from './routes/embeddings.ts';
import { registerModels } from './routes/models.ts';
import { playgroundRoutes } from './routes/playground.ts';
import { openRagIndex, type RagIndex, registerRag } from './routes/rag.ts';
import { Scheduler, type ServeStats } from './scheduler.ts';

export interface ServeModel {
  /** The id clients name in `model`. */
  id: string;
  model: CausalLM;
  tokenizer: Tokenizer;
  /** End-of-sequence ids. */
  eos: number[];
  chatTemplate?: { template: string; bosToken?: string; eosToken?: string };
  /** The model's calibrated abstention for /v1/rag/ask (src/rag/abstain.ts); none: never abstains. */
  abstention?: AbstainPolicy | null;
  /**
   * LoRA adapters on the model (serve --lora NAME=DIR), each served under its name: completions
   * and chat requests naming one run with it (scheduler.ts); RAG and the playground use the base.
   */
  adapters?: LoraSet;
}

export interface AppOptions {
  /** Requests that may wait for a free slot; more answer 429 (default 16). */
  maxQueue?: number;
  /** KV cache slots: sequences decoded together (default 8). */
  batch?: number;
  /** Largest request body in bytes (default 4 MiB: a long prompt is far less); larger answer 413. */
  maxBodyBytes?: number;
  /** A RAG database (xfmr rag index) for POST /v1/rag/ask and the playground's RAG view. */
  ragDb?: string;
  /** A training metrics JSONL file (xfmr pretrain/sft write them) for the playground's dashboard. */
  metrics?: string;
  /** Require `Authorization: Bearer apiKey` on /v1/* and /api/* (default: no key). */
  apiKey?: string;
  /** The one web origin allowed to call the API from a browser (default none: no CORS headers). */
  corsOrigin?: string;
}

export interface ServeApp {
  app: Hono;
  scheduler: Scheduler;
  stats: ServeStats;
  /** The embedder of /v1/embeddings (the RAG index's, else the default hash embedder). */
  embedder: Embedder;
  /** Ends every generation (streams get a 503 error event) and closes the RAG index. */
  close(): Promise<void>;
}

export function createApp(m: ServeModel, opts: AppOptions = {}): ServeApp {
  const scheduler = new Scheduler(m.model, {
    batch: opts.batch ?? 8,
    maxQueue: opts.maxQueue ?? 16,
    adapters: m.adapters,
  });
  const rag: RagIndex | null = opts.ragDb !== undefined ? openRagIndex(opts.ragDb) : null;
  const embedder = rag?.embedder ?? new HashEmbedder();
  const app = new Hono();
  let nextId = 0;
  const newId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}${(nextId++).toString(36)}`;

  // CORS first, so that preflights (which carry no key) are answered; then the key, before any body is read
  if (opts.corsOrigin !== undefined) app.use('*', corsFor(opts.corsOrigin));
  if (opts.apiKey !== undefined) {
    const auth = apiKeyAuth(opts.apiKey);
    for (const path of GUARDED_PATHS) app.use(path, auth);
  }
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBody,
      onError: (c) =>
        c.json(
          new ApiError(
            413,
            `the request body exceeds ${maxBody} bytes`,
            'invalid_request_error',
            null,
            'body_too_large',
          ).body(),
          413,
        ),
    }),
  );
  app.onError((err, c) => {
    const e = toApiError(err);
    return c.json(e.body(), e.status);
  });
  app.notFound((c) => c.json(new ApiError(404, `no route ${c.req.method} ${c.req.path}`).body(), 404));

  registerModels(app, [m.id, ...(m.adapters?.names ?? []), embedder.id]);
  const generation = { m, scheduler, tokenText: new TokenText(m.tokenizer), newId };
  registerCompletions(app, generation);
  registerChat(app, generation);
  registerEmbeddings(app, embedder);
  registerRag(app, { m, scheduler, rag, newId });
  app.route('/', playgroundRoutes(m, opts));
  return {
    app,
    scheduler,
    stats: scheduler.stats,
    embedder,
    close: async () => {
      scheduler.close();
      if (rag) await rag.store.close();
    },
  };
}
