/**
 * POST /v1/rag/ask: retrieval-augmented answers from the `--db` index, generated through the
 * server's scheduler (so they batch with the API's other requests).
 *
 *   body      { question, k = 3, mode = 'hybrid' | 'vector' | 'bm25', max_tokens, temperature = 0,
 *               top_p, top_k, seed, stream }
 *   answer    { id, object: 'rag.answer', model, answer, prompt, sources: [{ rank, source, chunk,
 *               score, text, truncated }], finish_reason, usage }
 *   stream    data: { object: 'rag.sources', sources }, then { object: 'rag.answer.chunk', delta }
 *             pieces, then one with delta '', finish_reason and usage, then data: [DONE]
 *
 * The steps are those of src/rag/answer.ts (retrieve, buildPrompt trimmed to the window, complete),
 * taken one by one so that the sources can be sent before the answer. The prompt is the template
 * of src/rag/prompt.ts as a raw completion, no chat template: the project's small models are
 * trained on that raw format.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { GenerateOptions } from '../../generate/generate.ts';
import { searchQuote } from '../../generate/quote_search.ts';
import { createEmbedder, type Embedder } from '../../rag/embedder.ts';
import { type CompleteOptions, type Generator, truncateWith } from '../../rag/generator.ts';
import { buildPrompt } from '../../rag/prompt.ts';
import { type RetrievalMode, retrieve } from '../../rag/retriever.ts';
import { SqliteStore } from '../../rag/sqlite_store.ts';
import type { ServeModel } from '../app.ts';
import { ApiError, bad, parse, readJson, submitError, unknownModel } from '../errors.ts';
import type { Scheduler } from '../scheduler.ts';
import { sse } from '../sse.ts';

/** An opened index and the embedder its vectors came from. */
export interface RagIndex {
  path: string;
  store: SqliteStore;
  embedder: Embedder;
}

/** Opens an index read-only with its recorded embedder; errors name --db. */
export function openRagIndex(path: string): RagIndex {
  let store: SqliteStore;
  try {
    store = SqliteStore.open(path);
  } catch (e) {
    throw new Error(`--db: ${(e as Error).message}`);
  }
  try {
    const embedder = createEmbedder(store.embedderSpec);
    if (embedder.id !== store.embedderId)
      throw new Error(
        `the index was built with embedder ${store.embedderId}, which now loads as ${embedder.id}`,
      );
    return { path, store, embedder };
  } catch (e) {
    store.db.close();
    throw new Error(`--db ${path}: cannot load the index's embedder: ${(e as Error).message}`);
  }
}

/** What one generation did, beyond its text. */
export interface CompletionRecord {
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length';
}

/**
 * The rag Generator interface on the scheduler, for one request: the sampling options the interface
 * does not carry (top_p, top_k), the text pieces as they come (`onText`) and the request's signal.
 */
export class SchedulerGenerator implements Generator {
  readonly name: string;
  readonly contextTokens: number;
  readonly promptOverhead: number;
  /** Set by complete(). */
  last: CompletionRecord | null = null;

  constructor(
    private readonly m: ServeModel,
    private readonly scheduler: Scheduler,
    private readonly extra: {
      topP?: number;
      topK?: number;
      signal?: AbortSignal;
      onText?: (text: string) => void;
    } = {},
  ) {
    this.name = m.id;
    this.contextTokens = m.model.contextLength;
    // a raw prompt gets only what encode adds (a BOS)
    this.promptOverhead = m.tokenizer.encode('').length;
  }

  countTokens(text: string): number {
    return this.m.tokenizer.encode(text, { addSpecialTokens: false }).length;
  }

  truncate(text: string, n: number): string {
    return truncateWith(this.m.tokenizer, text, n);
  }

  async complete(prompt: string, options: CompleteOptions): Promise<string> {
    const ids = this.m.tokenizer.encode(prompt);
    const room = this.contextTokens - ids.length;
    if (room < 1)
      throw new ApiError(
        413,
        `the prompt has ${ids.length} tokens; the model's context length is ${this.contextTokens}`,
        'invalid_request_error',
        null,
        'context_length_exceeded',
      );
    const signal = options.signal ?? this.extra.signal;
    if (options.quote && (options.temperature ?? 0) === 0) {
      // Greedy grounded answers: the likeliest whole quote (a beam search with its own cache, beside
      // the decode loop and under its limits; it yields between steps, so other sequences go on).
      const source = this.m.tokenizer.encode(options.quote, { addSpecialTokens: false });
      let q: Awaited<ReturnType<typeof searchQuote>>;
      try {
        q = await this.scheduler.beside(() =>
          searchQuote(this.m.model, ids, source, {
            eos: this.m.eos,
            maxTokens: Math.min(options.maxTokens, room),
            decode: (x) => this.m.tokenizer.decode(x),
            signal,
          }),
        );
      } catch (e) {
        throw submitError(e);
      }
      const text = this.m.tokenizer.decode(q.tokens);
      if (text) this.extra.onText?.(text);
      this.last = {
        promptTokens: ids.length,
        completionTokens: q.tokens.length,
        finishReason: q.finished ? 'stop' : 'length',
      };
      return text;
    }
    const o: GenerateOptions = {
      maxNewTokens: Math.min(options.maxTokens, room),
      temperature: options.temperature ?? 0,
      eos: this.m.eos,
      decode: (x) => this.m.tokenizer.decode(x),
    };
    if (options.seed !== undefined) o.seed = options.seed;
    if (options.quote) o.quoteFrom = this.m.tokenizer.encode(options.quote, { addSpecialTokens: false });
    if (this.extra.topP !== undefined) o.topP = this.extra.topP;
    if (this.extra.topK !== undefined) o.topK = this.extra.topK;
    let text = '';
    let tokens = 0;
    let finish: string | undefined;
    let pieces: ReturnType<Scheduler['submit']>;
    try {
      pieces = this.scheduler.submit([{ prompt: ids, index: 0 }], o, signal);
    } catch (e) {
      throw submitError(e);
    }
    for await (const p of pieces) {
      if (p.tokenId !== null) tokens++;
      if (p.text) {
        text += p.text;
        this.extra.onText?.(p.text);
      }
      if (p.finishReason) finish = p.finishReason;
    }
    if (finish === 'abort' && !signal?.aborted)
      throw new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
    this.last = {
      promptTokens: ids.length,
      completionTokens: tokens,
      finishReason: finish === 'length' ? 'length' : 'stop',
    };
    return text;
  }
}

const askSchema = z.object({
  question: z.string().min(1),
  model: z.string().nullish(),
  k: z.number().int().min(1).max(50).nullish(),
  mode: z.enum(['hybrid', 'vector', 'bm25'] satisfies RetrievalMode[]).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  /** Grounded decoding: the answer must quote a span of the retrieved chunks. */
  grounded: z.boolean().nullish(),
});

export interface RagRouteDeps {
  m: ServeModel;
  scheduler: Scheduler;
  /** null: the server was started without --db. */
  rag: RagIndex | null;
  newId: (prefix: string) => string;
}

export function registerRag(app: Hono, d: RagRouteDeps): void {
  const { m, scheduler, rag } = d;
  app.post('/v1/rag/ask', async (c) => {
    if (!rag)
      throw bad(
        'RAG is not available: the server was started without --db (xfmr serve --db RAG.sqlite)',
        null,
        'rag_not_configured',
      );
    const r = parse(askSchema, await readJson(c.req.raw));
    if (r.model != null && r.model !== m.id) throw unknownModel(r.model);
    if (r.question.trim() === '') throw bad('question: the question is empty', 'question');
    const ctx = m.model.contextLength;
    const maxTokens = r.max_tokens ?? Math.min(256, Math.floor(ctx / 4));
    const id = d.newId('rag');

    /** Retrieves and builds the prompt; the generator's own errors pass through. */
    const run = async (gen: SchedulerGenerator, onSources: (s: unknown[]) => void) => {
      const budget = ctx - maxTokens - gen.promptOverhead;
      if (budget < 1)
        throw bad(
          `max_tokens: ${maxTokens} answer tokens leave no room for a prompt in the context of ${ctx}`,
          'max_tokens',
        );
      const hits = await retrieve(rag.store, rag.embedder, r.question, {
        k: r.k ?? 3,
        mode: r.mode ?? 'hybrid',
      });
      let built: ReturnType<typeof buildPrompt>;
      try {
        built = buildPrompt(r.question, hits, {
          budget,
          countTokens: (t) => gen.countTokens(t),
          truncate: (t, n) => gen.truncate(t, n),
        });
      } catch (e) {
        throw new ApiError(
          413,
          (e as Error).message,
          'invalid_request_error',
          'question',
          'context_length_exceeded',
        );
      }
      const sources = built.used.map((u, i) => {
        const h = hits[u.index];
        return {
          rank: i + 1,
          source: h.source,
          chunk: h.chunkId,
          score: h.score,
          text: h.text,
          truncated: u.truncated,
        };
      });
      onSources(sources);
      const answer = await gen.complete(built.prompt, {
        maxTokens,
        temperature: r.temperature ?? 0,
        seed: r.seed ?? undefined,
        quote: r.grounded && sources.length > 0 ? sources.map((s) => s.text).join('\n\n') : undefined,
      });
      const rec = gen.last as CompletionRecord;
      return { answer, prompt: built.prompt, sources, rec };
    };
    const usage = (rec: CompletionRecord) => ({
      prompt_tokens: rec.promptTokens,
      completion_tokens: rec.completionTokens,
      total_tokens: rec.promptTokens + rec.completionTokens,
    });
    const extra = { topP: r.top_p ?? undefined, topK: r.top_k ?? undefined };

    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        const gen = new SchedulerGenerator(m, scheduler, {
          ...extra,
          signal,
          onText: (delta) => send({ id, object: 'rag.answer.chunk', delta }),
        });
        const out = await run(gen, (sources) => send({ id, object: 'rag.sources', model: m.id, sources }));
        send({
          id,
          object: 'rag.answer.chunk',
          delta: '',
          finish_reason: out.rec.finishReason,
          usage: usage(out.rec),
        });
      });
    }
    const gen = new SchedulerGenerator(m, scheduler, { ...extra, signal: c.req.raw.signal });
    const out = await run(gen, () => undefined);
    return c.json({
      id,
      object: 'rag.answer',
      model: m.id,
      answer: out.answer,
      prompt: out.prompt,
      sources: out.sources,
      finish_reason: out.rec.finishReason,
      usage: usage(out.rec),
    });
  });
}
