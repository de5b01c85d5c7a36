/**
 * POST /v1/rag/ask: retrieval-augmented answers from the `--db` index, generated through the
 * server's scheduler (so they batch with the API's other requests).
 *
 *   body      { question, model (the base's id or a serve --lora adapter's), k = 3, mode = 'hybrid' | 'vector' | 'bm25', max_tokens, temperature = 0,
 *               top_p, top_k, seed, stream, grounded = true }
 *   answer    { id, object: 'rag.answer', model, answer, grounded, abstained, confidence, quote,
 *               reader, prompt, sources: [{ rank, source, chunk, score, text, truncated }],
 *               finish_reason, usage }
 *   quote     { index, source, chunk, start, end, text }: sources[index].text.slice(start, end) is
 *             the answer (UTF-16 offsets); null with free decoding or an abstention
 *   stream    data: { object: 'rag.sources', sources }, then { object: 'rag.answer.chunk', delta }
 *             pieces, then one with delta '', finish_reason, usage, grounded, abstained,
 *             confidence, quote and reader, then data: [DONE]
 *
 * Answers are grounded by default (src/rag/answer.ts): the likeliest quote of one chunk, whole,
 * with its place and confidence; below the model's calibrated threshold (MODEL/xfmr_rag.json,
 * src/rag/abstain.ts) the answer is "I could not find the answer in the documents." and
 * `abstained` is true. `reader` says who chose the span: 'model', or 'extractive' where the
 * model's quote was not confident and the extractive reader (src/rag/extract.ts) answered (null:
 * free decoding, or nothing to read). `grounded: false` decodes freely (streamed token by token).
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
import { NOT_FOUND_ANSWER } from '../../rag/abstain.ts';
import { chunkReads, readChunks } from '../../rag/answer.ts';
import { createEmbedder, type Embedder } from '../../rag/embedder.ts';
import { type CompleteOptions, type Generator, truncateWith } from '../../rag/generator.ts';
import { buildPrompt } from '../../rag/prompt.ts';
import { type QuotedCompletion, quoteSources } from '../../rag/quote.ts';
import { type RetrievalMode, retrieve } from '../../rag/retriever.ts';
import { SqliteStore } from '../../rag/sqlite_store.ts';
import type { ServeModel } from '../app.ts';
import { ApiError, bad, parse, readJson, submitError } from '../errors.ts';
import { resolveModel } from '../generation.ts';
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
  /** Set by complete() and quote(). */
  last: CompletionRecord | null = null;
  /** Every call's tokens added up (a grounded answer reads each chunk: one quote() per chunk). */
  total: CompletionRecord | null = null;
  readonly abstention: ServeModel['abstention'];

  constructor(
    private readonly m: ServeModel,
    private readonly scheduler: Scheduler,
    readonly extra: {
      topP?: number;
      topK?: number;
      signal?: AbortSignal;
      onText?: (text: string) => void;
      /** The LoRA adapter the request's `model` names (serve --lora); null or absent: the base. */
      adapter?: string | null;
    } = {},
  ) {
    this.name = extra.adapter ?? m.id;
    this.contextTokens = m.model.contextLength;
    // a raw prompt gets only what encode adds (a BOS)
    this.promptOverhead = m.tokenizer.encode('').length;
    this.abstention = m.abstention ?? null;
  }

  /** The prompt's ids and the room after them; 413 when there is none. */
  private encodePrompt(prompt: string): { ids: number[]; room: number } {
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
    return { ids, room };
  }

  /**
   * Grounded answers (src/rag/generator.ts's Generator.quote): at temperature 0 the likeliest whole
   * quote (a beam search with its own cache, beside the decode loop and under its limits; it yields
   * between steps, so other sequences go on); with a temperature, sampled through the scheduler.
   * The text is not streamed: the caller decides (abstention) before anything is sent.
   */
  async quote(
    prompt: string,
    sources: readonly string[],
    options: CompleteOptions,
  ): Promise<QuotedCompletion> {
    const { ids, room } = this.encodePrompt(prompt);
    const signal = options.signal ?? this.extra.signal;
    const maxTokens = Math.min(options.maxTokens, room);
    const q = await quoteSources(this.m.tokenizer, sources, async (source) => {
      if ((options.temperature ?? 0) === 0) {
        let r: Awaited<ReturnType<typeof searchQuote>>;
        try {
          r = await this.scheduler.beside(
            (model) =>
              searchQuote(model, ids, source, {
                eos: this.m.eos,
                maxTokens,
                decode: (x) => this.m.tokenizer.decode(x),
                signal,
              }),
            this.extra.adapter ?? null,
          );
        } catch (e) {
          throw submitError(e);
        }
        const score = {
          tokens: r.tokens.length,
          logprob: r.logprob,
          finishedLogprob: r.finishedLogprob,
          finished: r.finished,
        };
        return { tokens: r.tokens, finished: r.finished, score };
      }
      const out = await this.decode(ids, { ...options, maxTokens }, source, signal, false);
      return { tokens: out.tokens, finished: out.finish === 'stop', score: null };
    });
    this.record({
      promptTokens: ids.length,
      completionTokens: q.tokens,
      finishReason: q.finished ? 'stop' : 'length',
    });
    return q;
  }

  private record(r: CompletionRecord): void {
    this.last = r;
    this.total = {
      promptTokens: (this.total?.promptTokens ?? 0) + r.promptTokens,
      completionTokens: (this.total?.completionTokens ?? 0) + r.completionTokens,
      finishReason: r.finishReason,
    };
  }

  countTokens(text: string): number {
    return this.m.tokenizer.encode(text, { addSpecialTokens: false }).length;
  }

  truncate(text: string, n: number): string {
    return truncateWith(this.m.tokenizer, text, n);
  }

  async complete(prompt: string, options: CompleteOptions): Promise<string> {
    const { ids, room } = this.encodePrompt(prompt);
    const signal = options.signal ?? this.extra.signal;
    const source = options.quote
      ? this.m.tokenizer.encode(options.quote, { addSpecialTokens: false })
      : undefined;
    if (source && (options.temperature ?? 0) === 0) {
      const q = await this.quote(prompt, [options.quote as string], options);
      if (q.text) this.extra.onText?.(q.text);
      return q.text;
    }
    const out = await this.decode(
      ids,
      { ...options, maxTokens: Math.min(options.maxTokens, room) },
      source,
      signal,
      true,
    );
    this.record({
      promptTokens: ids.length,
      completionTokens: out.completionTokens,
      finishReason: out.finish === 'length' ? 'length' : 'stop',
    });
    return out.text;
  }

  /** Decodes through the scheduler (sampling options of the request), streaming text when `stream`. */
  private async decode(
    ids: number[],
    options: CompleteOptions,
    quoteFrom: ArrayLike<number> | undefined,
    signal: AbortSignal | undefined,
    stream: boolean,
  ): Promise<{ text: string; tokens: number[]; completionTokens: number; finish: string | undefined }> {
    const o: GenerateOptions = {
      maxNewTokens: options.maxTokens,
      temperature: options.temperature ?? 0,
      eos: this.m.eos,
      decode: (x) => this.m.tokenizer.decode(x),
    };
    if (options.seed !== undefined) o.seed = options.seed;
    if (quoteFrom) o.quoteFrom = quoteFrom;
    if (this.extra.topP !== undefined) o.topP = this.extra.topP;
    if (this.extra.topK !== undefined) o.topK = this.extra.topK;
    let text = '';
    const tokens: number[] = [];
    let completionTokens = 0;
    let finish: string | undefined;
    let pieces: ReturnType<Scheduler['submit']>;
    try {
      pieces = this.scheduler.submit([{ prompt: ids, index: 0 }], o, signal, this.extra.adapter ?? null);
    } catch (e) {
      throw submitError(e);
    }
    for await (const p of pieces) {
      if (p.tokenId !== null) {
        completionTokens++;
        if (!this.m.eos.includes(p.tokenId)) tokens.push(p.tokenId);
      }
      if (p.text) {
        text += p.text;
        if (stream) this.extra.onText?.(p.text);
      }
      if (p.finishReason) finish = p.finishReason;
    }
    if (finish === 'abort' && !signal?.aborted)
      throw new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
    return { text, tokens, completionTokens, finish };
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
  /** Grounded decoding (default true): the answer quotes a span of one retrieved chunk. */
  grounded: z.boolean().nullish(),
});

/** The decision fields of a free answer and of one with nothing retrieved. */
const FREE = { grounded: false, abstained: false, confidence: null, quote: null, reader: null } as const;
const ABSTAINED = { grounded: true, abstained: true, confidence: null, quote: null, reader: null } as const;

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
    // the base's id or a LoRA adapter's (serve --lora), as on the completion routes
    const model = r.model ?? m.id;
    const adapter = resolveModel(m, model);
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
      const fit = {
        budget,
        countTokens: (t: string) => gen.countTokens(t),
        truncate: (t: string, n: number) => gen.truncate(t, n),
      };
      /** buildPrompt's error (the question alone does not fit) as a 413. */
      const fitting = <T>(build: () => T): T => {
        try {
          return build();
        } catch (e) {
          throw new ApiError(
            413,
            (e as Error).message,
            'invalid_request_error',
            'question',
            'context_length_exceeded',
          );
        }
      };
      const decoding = { maxTokens, temperature: r.temperature ?? 0, seed: r.seed ?? undefined };
      const listed = (truncated: (i: number) => boolean) =>
        hits.map((h, i) => ({
          rank: i + 1,
          source: h.source,
          chunk: h.chunkId,
          score: h.score,
          text: h.text,
          truncated: truncated(i),
        }));
      if (r.grounded === false) {
        const built = fitting(() => buildPrompt(r.question, hits, fit));
        const sources = listed((i) => built.used[i]?.truncated ?? true).slice(0, built.used.length);
        onSources(sources);
        const answer = await gen.complete(built.prompt, decoding);
        const rec = gen.last as CompletionRecord;
        return { answer, prompt: built.prompt, sources, rec, ...FREE };
      }
      // grounded: each retrieved chunk read alone (src/rag/answer.ts readChunks)
      const reads = fitting(() => chunkReads(r.question, hits, fit));
      const sources = listed((i) => reads[i].truncated);
      onSources(sources);
      if (reads.every((x) => x.text.trim() === '')) {
        // nothing retrieved: nothing to quote, whatever the threshold
        gen.extra.onText?.(NOT_FOUND_ANSWER);
        const prompt = fitting(() => buildPrompt(r.question, [], fit));
        const rec: CompletionRecord = {
          promptTokens: prompt.tokens,
          completionTokens: 0,
          finishReason: 'stop',
        };
        return { answer: NOT_FOUND_ANSWER, prompt: prompt.prompt, sources, rec, ...ABSTAINED };
      }
      const g = await readChunks(gen, reads, decoding);
      if (g.answer) gen.extra.onText?.(g.answer);
      const quote = g.quote && {
        index: g.read,
        source: sources[g.read].source,
        chunk: sources[g.read].chunk,
        start: g.quote.start,
        end: g.quote.end,
        text: g.quote.text,
      };
      // usage: every read's prompt and quote
      const rec: CompletionRecord = {
        ...(gen.total as CompletionRecord),
        finishReason: g.finished ? 'stop' : 'length',
      };
      return {
        answer: g.answer,
        prompt: reads[g.read].prompt,
        sources,
        rec,
        grounded: true,
        abstained: g.abstained,
        // -Infinity (no quote finished) is not JSON
        confidence: g.confidence !== null && Number.isFinite(g.confidence) ? g.confidence : null,
        quote,
        reader: g.reader,
      };
    };
    const decision = (out: Awaited<ReturnType<typeof run>>) => ({
      grounded: out.grounded,
      abstained: out.abstained,
      confidence: out.confidence,
      quote: out.quote,
      reader: out.reader,
    });
    const usage = (rec: CompletionRecord) => ({
      prompt_tokens: rec.promptTokens,
      completion_tokens: rec.completionTokens,
      total_tokens: rec.promptTokens + rec.completionTokens,
    });
    const extra = { topP: r.top_p ?? undefined, topK: r.top_k ?? undefined, adapter };

    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        const gen = new SchedulerGenerator(m, scheduler, {
          ...extra,
          signal,
          onText: (delta) => send({ id, object: 'rag.answer.chunk', delta }),
        });
        const out = await run(gen, (sources) => send({ id, object: 'rag.sources', model, sources }));
        send({
          id,
          object: 'rag.answer.chunk',
          delta: '',
          finish_reason: out.rec.finishReason,
          usage: usage(out.rec),
          ...decision(out),
        });
      });
    }
    const gen = new SchedulerGenerator(m, scheduler, { ...extra, signal: c.req.raw.signal });
    const out = await run(gen, () => undefined);
    return c.json({
      id,
      object: 'rag.answer',
      model,
      answer: out.answer,
      ...decision(out),
      prompt: out.prompt,
      sources: out.sources,
      finish_reason: out.rec.finishReason,
      usage: usage(out.rec),
    });
  });
}
