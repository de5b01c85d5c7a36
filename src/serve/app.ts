/**
 * The OpenAI-compatible HTTP API on Hono:
 *
 *   GET  /v1/models                the language model and the embedder
 *   POST /v1/completions           prompt: string | string[] | ids | ids[]; logprobs: K (legacy format)
 *   POST /v1/chat/completions      logprobs: true, top_logprobs: K
 *   POST /v1/embeddings            embeddings.ts
 *   POST /v1/rag/ask               rag.ts (with --db)
 *
 * `stream: true` answers server-sent events ending with a chunk that carries finish_reason (the last
 * one also carries usage), then `data: [DONE]`. `n` > 1 gives n sequences of one prompt, sequence i
 * seeded seedFor(seed, i) (choices[].index = prompt index x n + i; usage sums them).
 *
 * Every generation goes through one Scheduler (scheduler.ts): continuous batching over `batch` KV
 * cache slots, at most `maxQueue` requests waiting. Errors answer OpenAI-style JSON (errors.ts): 400
 * for a bad request (never 422), 404 for an unknown model, 413 for a body over `maxBodyBytes` or a
 * prompt longer than the context, 429 when the queue is full, 503 while shutting down. A client that
 * disconnects aborts its sequences before the next decode step.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { GenerateOptions, StreamPiece } from '../generate/generate.ts';
import type { FinishReason } from '../generate/stopping.ts';
import type { CausalLM } from '../models/causal_lm.ts';
import type { Embedder } from '../rag/embedder.ts';
import { HashEmbedder } from '../rag/hash_embedder.ts';
import { type ChatMessage, renderChat } from '../tokenizers/chat_template.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { registerEmbeddings } from './embeddings.ts';
import { ApiError, bad, parse, readJson, submitError, toApiError, unknownModel } from './errors.ts';
import { type TokenInfo, TokenText } from './logprobs.ts';
import { playgroundRoutes } from './playground.ts';
import { openRagIndex, type RagIndex, registerRag } from './rag.ts';
import { Scheduler, type SequenceSpec, type ServeStats } from './scheduler.ts';
import { sse } from './sse.ts';

export { ApiError } from './errors.ts';
export type { ServeStats } from './scheduler.ts';

export interface ServeModel {
  /** The id clients name in `model`. */
  id: string;
  model: CausalLM;
  tokenizer: Tokenizer;
  /** End-of-sequence ids. */
  eos: number[];
  chatTemplate?: { template: string; bosToken?: string; eosToken?: string };
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

/** Sequences of one request (prompts x n), an upper bound on its work. */
const MAX_N = 16;
const MAX_PROMPTS = 16;
/** OpenAI's limit on top_logprobs. */
const MAX_TOP_LOGPROBS = 20;

const stopSchema = z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish();

const samplingFields = {
  model: z.string(),
  // OpenAI refuses max_tokens < 1
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  stop: stopSchema,
  n: z.number().int().min(1).max(MAX_N).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stream: z.boolean().nullish(),
  user: z.string().nullish(),
};

const completionSchema = z.object({
  ...samplingFields,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_PROMPTS),
    z.array(z.number().int().min(0)).min(1),
    z
      .array(z.array(z.number().int().min(0)).min(1))
      .min(1)
      .max(MAX_PROMPTS),
  ]),
  logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
});

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const chatSchema = z.object({
  ...samplingFields,
  messages: z
    .array(
      z
        .object({
          role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
          content: z.union([z.string(), z.array(contentPart)]).nullish(),
          name: z.string().optional(),
        })
        .passthrough(),
    )
    .min(1),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
});

type SamplingRequest = z.infer<typeof completionSchema> | z.infer<typeof chatSchema>;

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
}

/** OpenAI's finish_reason for ours. */
function finishReason(f: FinishReason | null): 'stop' | 'length' {
  return f === 'length' ? 'length' : 'stop';
}

/** A checked request: its sequences and their shared options. */
interface Prepared {
  specs: SequenceSpec[];
  options: GenerateOptions;
  /** Tokens of the prompts, each counted once (not n times). */
  promptTokens: number;
  /** Characters of each sequence's prompt text (legacy text_offset starts there). */
  promptChars: number[];
  wantLogprobs: boolean;
}

/** What one sequence (one choice) has produced so far. */
interface Choice {
  index: number;
  text: string;
  tokens: number;
  finish: FinishReason | null;
  logprobs: TokenInfo[];
  /** Legacy text_offset of the next token. */
  offset: number;
}

export function createApp(m: ServeModel, opts: AppOptions = {}): ServeApp {
  const scheduler = new Scheduler(m.model, { batch: opts.batch ?? 8, maxQueue: opts.maxQueue ?? 16 });
  const rag: RagIndex | null = opts.ragDb !== undefined ? openRagIndex(opts.ragDb) : null;
  const embedder = rag?.embedder ?? new HashEmbedder();
  const tokenText = new TokenText(m.tokenizer);
  const app = new Hono();
  const created = Math.floor(Date.now() / 1000);
  const ctx = m.model.contextLength;
  let nextId = 0;
  const newId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}${(nextId++).toString(36)}`;

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

  const models = [
    { id: m.id, object: 'model', created, owned_by: 'xfmr' },
    { id: embedder.id, object: 'model', created, owned_by: 'xfmr' },
  ];
  app.get('/v1/models', (c) => c.json({ object: 'list', data: models }));
  app.get('/v1/models/:id', (c) => {
    const found = models.find((x) => x.id === c.req.param('id'));
    if (!found) throw unknownModel(c.req.param('id'));
    return c.json(found);
  });

  /** Checks the shared parameters and builds the sequences of encoded prompts. */
  function prepare(r: SamplingRequest, prompts: number[][], top: number | null): Prepared {
    if (r.model !== m.id) throw unknownModel(r.model);
    for (const prompt of prompts) {
      if (prompt.length === 0) throw bad('the prompt encodes to no tokens', 'prompt');
      const badId = prompt.find((id) => id >= m.model.vocabSize);
      if (badId !== undefined) throw bad(`token id ${badId} is not in [0, ${m.model.vocabSize})`, 'prompt');
      if (prompt.length >= ctx)
        throw new ApiError(
          413,
          `the prompt has ${prompt.length} tokens; the model's context length is ${ctx}`,
          'invalid_request_error',
          'prompt',
          'context_length_exceeded',
        );
    }
    const longest = Math.max(...prompts.map((p) => p.length));
    const room = ctx - longest;
    const limits = [r.max_tokens, r.max_completion_tokens].filter((x): x is number => typeof x === 'number');
    const asked = limits.length > 0 ? Math.min(...limits) : undefined;
    if (asked !== undefined && asked > room) {
      const param = r.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
      throw bad(
        `the prompt has ${longest} tokens and ${asked} more exceed the context length ${ctx}; use at most ${room}`,
        param,
        'context_length_exceeded',
      );
    }
    const stop = r.stop == null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
    const options: GenerateOptions = {
      maxNewTokens: asked ?? room,
      eos: m.eos,
      stop,
      decode: (ids) => m.tokenizer.decode(ids),
    };
    if (r.temperature != null) options.temperature = r.temperature;
    if (r.top_p != null) options.topP = r.top_p;
    if (r.top_k != null) options.topK = r.top_k;
    if (r.seed != null) options.seed = r.seed;
    if (r.presence_penalty != null) options.presencePenalty = r.presence_penalty;
    if (r.frequency_penalty != null) options.frequencyPenalty = r.frequency_penalty;
    if (top !== null) {
      options.logprobs = true;
      options.topLogprobs = top;
    }
    const n = r.n ?? 1;
    const specs: SequenceSpec[] = [];
    const promptChars: number[] = [];
    prompts.forEach((prompt, pi) => {
      const chars = top !== null ? m.tokenizer.decode(prompt).length : 0;
      for (let i = 0; i < n; i++) {
        specs.push({ prompt, index: pi * n + i });
        promptChars.push(chars);
      }
    });
    // without an explicit seed the scheduler draws one per request: the n sequences still differ
    return {
      specs,
      options,
      promptTokens: prompts.reduce((s, p) => s + p.length, 0),
      promptChars,
      wantLogprobs: top !== null,
    };
  }

  /**
   * Runs a prepared request through the scheduler; `onPiece` sees each piece with its choice and,
   * when logprobs were asked for, its token's values.
   */
  async function generateChoices(
    p: Prepared,
    signal: AbortSignal,
    onPiece?: (piece: StreamPiece, choice: Choice, t: TokenInfo | null, choices: Choice[]) => void,
  ): Promise<Choice[]> {
    const choices: Choice[] = p.specs.map((s, i) => ({
      index: s.index,
      text: '',
      tokens: 0,
      finish: null,
      logprobs: [],
      offset: p.promptChars[i],
    }));
    const byIndex = new Map(choices.map((c) => [c.index, c]));
    let pieces: ReturnType<Scheduler['submit']>;
    try {
      pieces = scheduler.submit(p.specs, p.options, signal);
    } catch (e) {
      throw submitError(e);
    }
    for await (const piece of pieces) {
      const ch = byIndex.get(piece.index) as Choice;
      let t: TokenInfo | null = null;
      if (piece.tokenId !== null && piece.logprob !== null) {
        ch.tokens++;
        if (p.wantLogprobs) {
          t = { id: piece.tokenId, logprob: piece.logprob, top: piece.topLogprobs ?? [] };
          ch.logprobs.push(t);
        }
      }
      ch.text += piece.text;
      if (piece.finishReason) ch.finish = piece.finishReason;
      onPiece?.(piece, ch, t, choices);
      if (t) ch.offset += tokenText.token(t.id).length;
    }
    if (choices.some((c) => c.finish === 'abort') && !signal.aborted)
      throw new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
    return choices;
  }

  const usage = (p: Prepared, choices: Choice[]) => {
    const completion = choices.reduce((s, c) => s + c.tokens, 0);
    return {
      prompt_tokens: p.promptTokens,
      completion_tokens: completion,
      total_tokens: p.promptTokens + completion,
    };
  };
  /** Whether this finishing piece is the request's last (its chunk carries usage). */
  const allDone = (choices: Choice[]) => choices.every((c) => c.finish !== null);

  app.post('/v1/completions', async (c) => {
    const r = parse(completionSchema, await readJson(c.req.raw));
    if (r.echo) throw bad('echo is not supported', 'echo', 'unsupported_value');
    const pr = r.prompt;
    let prompts: number[][];
    if (typeof pr === 'string') prompts = [m.tokenizer.encode(pr)];
    else if (pr.every((x) => typeof x === 'number')) prompts = [pr as number[]];
    else if (pr.every((x) => typeof x === 'string'))
      prompts = (pr as string[]).map((s) => m.tokenizer.encode(s));
    else prompts = pr as number[][];
    const p = prepare(r, prompts, r.logprobs ?? null);
    const id = newId('cmpl');
    const now = Math.floor(Date.now() / 1000);
    const head = { id, object: 'text_completion', created: now, model: m.id };
    const legacy = (tokens: TokenInfo[], offset: number) =>
      p.wantLogprobs ? tokenText.legacy(tokens, offset) : null;
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        await generateChoices(p, signal, (piece, ch, t, choices) => {
          if (piece.text !== '' || t)
            send({
              ...head,
              choices: [
                {
                  index: ch.index,
                  text: piece.text,
                  logprobs: legacy(t ? [t] : [], ch.offset),
                  finish_reason: null,
                },
              ],
            });
          if (piece.finishReason && piece.finishReason !== 'abort') {
            const last = allDone(choices);
            send({
              ...head,
              choices: [
                { index: ch.index, text: '', logprobs: null, finish_reason: finishReason(ch.finish) },
              ],
              ...(last ? { usage: usage(p, choices) } : {}),
            });
          }
        });
      });
    }
    const choices = await generateChoices(p, c.req.raw.signal);
    return c.json({
      ...head,
      choices: choices.map((ch, i) => ({
        index: ch.index,
        text: ch.text,
        logprobs: legacy(ch.logprobs, p.promptChars[i]),
        finish_reason: finishReason(ch.finish),
      })),
      usage: usage(p, choices),
    });
  });

  /** The prompt text of a chat: the model's template, else "role: content" lines. */
  function renderMessages(messages: ChatMessage[]): string {
    const t = m.chatTemplate;
    if (t) {
      try {
        return renderChat(t.template, messages, {
          addGenerationPrompt: true,
          bosToken: t.bosToken,
          eosToken: t.eosToken,
        });
      } catch (e) {
        throw bad(`chat template: ${(e as Error).message}`, 'messages', null);
      }
    }
    return `${messages.map((msg) => `${msg.role}: ${textOf(msg.content)}`).join('\n')}\nassistant:`;
  }

  app.post('/v1/chat/completions', async (c) => {
    const r = parse(chatSchema, await readJson(c.req.raw));
    if (r.model !== m.id) throw unknownModel(r.model);
    if (r.top_logprobs != null && !r.logprobs)
      throw bad('top_logprobs needs logprobs: true', 'top_logprobs', 'invalid_value');
    const messages = r.messages as ChatMessage[];
    const p = prepare(
      r,
      [m.tokenizer.encode(renderMessages(messages))],
      r.logprobs ? (r.top_logprobs ?? 0) : null,
    );
    const id = newId('chatcmpl');
    const now = Math.floor(Date.now() / 1000);
    const head = { id, object: 'chat.completion.chunk', created: now, model: m.id };
    const logprobsOf = (tokens: TokenInfo[]) =>
      p.wantLogprobs ? { content: tokens.map((t) => tokenText.chat(t)), refusal: null } : null;
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        for (const s of p.specs)
          send({
            ...head,
            choices: [
              {
                index: s.index,
                delta: { role: 'assistant', content: '' },
                logprobs: null,
                finish_reason: null,
              },
            ],
          });
        await generateChoices(p, signal, (piece, ch, t, choices) => {
          if (piece.text !== '' || t)
            send({
              ...head,
              choices: [
                {
                  index: ch.index,
                  delta: { content: piece.text },
                  logprobs: logprobsOf(t ? [t] : []),
                  finish_reason: null,
                },
              ],
            });
          if (piece.finishReason && piece.finishReason !== 'abort') {
            const last = allDone(choices);
            send({
              ...head,
              choices: [
                { index: ch.index, delta: {}, logprobs: null, finish_reason: finishReason(ch.finish) },
              ],
              ...(last ? { usage: usage(p, choices) } : {}),
            });
          }
        });
      });
    }
    const choices = await generateChoices(p, c.req.raw.signal);
    return c.json({
      id,
      object: 'chat.completion',
      created: now,
      model: m.id,
      choices: choices.map((ch) => ({
        index: ch.index,
        message: { role: 'assistant', content: ch.text },
        logprobs: logprobsOf(ch.logprobs),
        finish_reason: finishReason(ch.finish),
      })),
      usage: usage(p, choices),
    });
  });

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
