/**
 * The OpenAI-compatible HTTP API on Hono: GET /v1/models, POST /v1/completions and
 * POST /v1/chat/completions (streamed as server-sent events with `stream: true`).
 *
 * Errors answer OpenAI-style JSON `{"error": {"message", "type", "param", "code"}}`: 400 for a bad
 * request (never 422), 404 for an unknown model, 413 for a prompt longer than the context, 429
 * when the request queue is full. Generations run one at a time (the model is shared); a client
 * that disconnects aborts its generation through an AbortSignal.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { type GenerateOptions, generateStream, validateGeneration } from '../generate/index.ts';
import type { CausalLM } from '../models/causal_lm.ts';
import { type ChatMessage, renderChat } from '../tokenizers/chat_template.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { playgroundRoutes } from './playground.ts';

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
  /** Requests that may wait for the running one; more answer 429 (default 16). */
  maxQueue?: number;
  /** A RAG database (xfmr rag index) for POST /v1/rag/ask and the playground's RAG view. */
  ragDb?: string;
  /** A training metrics JSONL file (xfmr pretrain/sft write them) for the playground's dashboard. */
  metrics?: string;
}

/** An error that answers with its status and OpenAI's error JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 413 | 429 | 500 | 503,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** One generation at a time; at most `maxQueue` waiting. */
export class RequestQueue {
  private running = false;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly maxQueue: number) {}
  get depth(): number {
    return this.waiting.length;
  }
  /** Resolves with a release function once it is this request's turn; throws 429 when full. */
  async acquire(): Promise<() => void> {
    if (this.running) {
      if (this.waiting.length >= this.maxQueue)
        throw new ApiError(
          429,
          'the server is busy: the request queue is full',
          'rate_limit_error',
          null,
          'queue_full',
        );
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running = false;
    };
  }
}

const stopSchema = z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish();

const samplingFields = {
  model: z.string(),
  max_tokens: z.number().int().min(0).nullish(),
  max_completion_tokens: z.number().int().min(0).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  stop: stopSchema,
  n: z.number().int().min(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stream: z.boolean().nullish(),
  user: z.string().nullish(),
};

const completionSchema = z.object({
  ...samplingFields,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int().min(0)).min(1),
    z.array(z.array(z.number().int().min(0)).min(1)).min(1),
  ]),
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
});

type SamplingRequest = z.infer<typeof completionSchema> | z.infer<typeof chatSchema>;

/** Parses a body against a schema, or throws 400 naming the first bad field. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  throw new ApiError(
    400,
    `${param ?? 'body'}: ${issue.message}`,
    'invalid_request_error',
    param,
    'invalid_value',
  );
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
}

/** OpenAI's finish_reason for ours. */
function finishReason(f: string | undefined): 'stop' | 'length' {
  return f === 'length' ? 'length' : 'stop';
}

interface Prepared {
  prompt: number[];
  options: GenerateOptions;
  maxTokens: number;
}

/** Counts of finished generations, by how they ended. */
export interface ServeStats {
  completed: number;
  aborted: number;
  /** Tokens generated by the aborted generations, all together. */
  abortedTokens: number;
}

export function createApp(
  m: ServeModel,
  opts: AppOptions = {},
): { app: Hono; queue: RequestQueue; stats: ServeStats } {
  const queue = new RequestQueue(opts.maxQueue ?? 16);
  const stats: ServeStats = { completed: 0, aborted: 0, abortedTokens: 0 };
  const app = new Hono();
  const created = Math.floor(Date.now() / 1000);
  const ctx = m.model.contextLength;
  let nextId = 0;
  const newId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}${(nextId++).toString(36)}`;

  app.onError((err, c) => {
    const e =
      err instanceof ApiError
        ? err
        : new ApiError(500, err.message || 'internal error', 'server_error', null, null);
    return c.json(e.body(), e.status);
  });
  app.notFound((c) =>
    c.json(new ApiError(404, `no route ${c.req.method} ${c.req.path}`, 'invalid_request_error').body(), 404),
  );

  const modelObject = { id: m.id, object: 'model', created, owned_by: 'xfmr' };
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [modelObject] }));
  app.get('/v1/models/:id', (c) => {
    if (c.req.param('id') !== m.id) throw unknownModel(c.req.param('id'));
    return c.json(modelObject);
  });

  function unknownModel(id: string): ApiError {
    return new ApiError(
      404,
      `The model '${id}' does not exist`,
      'invalid_request_error',
      'model',
      'model_not_found',
    );
  }

  async function readBody(req: Request): Promise<unknown> {
    const text = await req.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(
        400,
        `the body is not valid JSON: ${(e as Error).message}`,
        'invalid_request_error',
        null,
        'invalid_json',
      );
    }
  }

  /** Checks the shared parameters and builds the generation options for an encoded prompt. */
  function prepare(r: SamplingRequest, prompt: number[]): Prepared {
    if (r.model !== m.id) throw unknownModel(r.model);
    if ((r.n ?? 1) > 1)
      throw new ApiError(400, 'n > 1 not supported', 'invalid_request_error', 'n', 'unsupported_value');
    if (prompt.length === 0)
      throw new ApiError(400, 'the prompt encodes to no tokens', 'invalid_request_error', 'prompt');
    const bad = prompt.find((id) => id >= m.model.vocabSize);
    if (bad !== undefined)
      throw new ApiError(
        400,
        `token id ${bad} is not in [0, ${m.model.vocabSize})`,
        'invalid_request_error',
        'prompt',
      );
    if (prompt.length >= ctx)
      throw new ApiError(
        413,
        `the prompt has ${prompt.length} tokens; the model's context length is ${ctx}`,
        'invalid_request_error',
        'prompt',
        'context_length_exceeded',
      );
    const room = ctx - prompt.length;
    const limits = [r.max_tokens, r.max_completion_tokens].filter((x): x is number => typeof x === 'number');
    const asked = limits.length > 0 ? Math.min(...limits) : undefined;
    if (asked !== undefined && asked > room) {
      const param = r.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
      throw new ApiError(
        400,
        `the prompt has ${prompt.length} tokens and ${asked} more exceed the context length ${ctx}; use at most ${room}`,
        'invalid_request_error',
        param,
        'context_length_exceeded',
      );
    }
    const maxTokens = asked ?? room;
    const stop = r.stop == null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
    const tok = m.tokenizer;
    const options: GenerateOptions = {
      maxNewTokens: maxTokens,
      eos: m.eos,
      stop,
      decode: (ids) => tok.decode(ids),
    };
    if (r.temperature != null) options.temperature = r.temperature;
    if (r.top_p != null) options.topP = r.top_p;
    if (r.top_k != null) options.topK = r.top_k;
    if (r.seed != null) options.seed = r.seed;
    if (r.presence_penalty != null) options.presencePenalty = r.presence_penalty;
    if (r.frequency_penalty != null) options.frequencyPenalty = r.frequency_penalty;
    try {
      validateGeneration(m.model, [prompt], options);
    } catch (e) {
      throw new ApiError(400, (e as Error).message, 'invalid_request_error', null, 'invalid_value');
    }
    return { prompt, options, maxTokens };
  }

  /** Runs one generation in its queue turn; `onPiece` sees each text piece. */
  async function run(
    p: Prepared,
    signal: AbortSignal,
    onPiece?: (text: string) => Promise<void> | void,
  ): Promise<{ text: string; tokens: number; finish: 'stop' | 'length' }> {
    const release = await queue.acquire();
    try {
      let text = '';
      let tokens = 0;
      let finish: string | undefined;
      for await (const piece of generateStream(m.model, [p.prompt], { ...p.options, signal })) {
        if (piece.tokenId !== null) tokens++;
        if (piece.text) {
          text += piece.text;
          if (onPiece) await onPiece(piece.text);
        }
        if (piece.finishReason) finish = piece.finishReason;
        // let the event loop see disconnects and flush writes between decode steps
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (finish === 'abort' || signal.aborted) {
        stats.aborted++;
        stats.abortedTokens += tokens;
      } else stats.completed++;
      return { text, tokens: Math.min(tokens, p.maxTokens), finish: finishReason(finish) };
    } finally {
      release();
    }
  }

  /** An SSE response: `produce` writes chunks; a cancelled stream or closed request aborts it. */
  function sse(
    reqSignal: AbortSignal,
    produce: (send: (obj: unknown) => Promise<void>, signal: AbortSignal) => Promise<void>,
  ): Response {
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    reqSignal.addEventListener('abort', onAbort);
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = async (obj: unknown): Promise<void> => {
          if (abort.signal.aborted) return;
          controller.enqueue(enc.encode(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`));
        };
        try {
          await produce(send, abort.signal);
          await send('[DONE]');
        } catch (e) {
          const err = e instanceof ApiError ? e : new ApiError(500, (e as Error).message, 'server_error');
          await send(err.body());
        } finally {
          reqSignal.removeEventListener('abort', onAbort);
          try {
            controller.close();
          } catch {
            // already closed by a cancel
          }
        }
      },
      cancel() {
        abort.abort();
      },
    });
    return new Response(stream, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' },
    });
  }

  const usage = (prompt: number, completion: number) => ({
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  });

  app.post('/v1/completions', async (c) => {
    const r = parse(completionSchema, await readBody(c.req.raw));
    let prompt: number[];
    const pr = r.prompt;
    if (typeof pr === 'string') prompt = m.tokenizer.encode(pr);
    else if (pr.every((x) => typeof x === 'number')) prompt = pr as number[];
    else if (pr.length > 1)
      throw new ApiError(400, 'only one prompt per request is supported', 'invalid_request_error', 'prompt');
    else prompt = typeof pr[0] === 'string' ? m.tokenizer.encode(pr[0]) : (pr[0] as number[]);
    const p = prepare(r, prompt);
    const id = newId('cmpl');
    const now = Math.floor(Date.now() / 1000);
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        const out = await run(p, signal, (text) =>
          send({
            id,
            object: 'text_completion',
            created: now,
            model: m.id,
            choices: [{ index: 0, text, logprobs: null, finish_reason: null }],
          }),
        );
        await send({
          id,
          object: 'text_completion',
          created: now,
          model: m.id,
          choices: [{ index: 0, text: '', logprobs: null, finish_reason: out.finish }],
          usage: usage(p.prompt.length, out.tokens),
        });
      });
    }
    const out = await run(p, c.req.raw.signal);
    return c.json({
      id,
      object: 'text_completion',
      created: now,
      model: m.id,
      choices: [{ index: 0, text: out.text, logprobs: null, finish_reason: out.finish }],
      usage: usage(p.prompt.length, out.tokens),
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
        throw new ApiError(
          400,
          `chat template: ${(e as Error).message}`,
          'invalid_request_error',
          'messages',
        );
      }
    }
    return `${messages.map((msg) => `${msg.role}: ${textOf(msg.content)}`).join('\n')}\nassistant:`;
  }

  app.post('/v1/chat/completions', async (c) => {
    const r = parse(chatSchema, await readBody(c.req.raw));
    if (r.model !== m.id) throw unknownModel(r.model);
    const messages = r.messages as ChatMessage[];
    const p = prepare(r, m.tokenizer.encode(renderMessages(messages)));
    const id = newId('chatcmpl');
    const now = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created: now,
      model: m.id,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        await send(chunk({ role: 'assistant', content: '' }, null));
        const out = await run(p, signal, (text) => send(chunk({ content: text }, null)));
        await send({ ...chunk({}, out.finish), usage: usage(p.prompt.length, out.tokens) });
      });
    }
    const out = await run(p, c.req.raw.signal);
    return c.json({
      id,
      object: 'chat.completion',
      created: now,
      model: m.id,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: out.text },
          logprobs: null,
          finish_reason: out.finish,
        },
      ],
      usage: usage(p.prompt.length, out.tokens),
    });
  });

  app.route('/', playgroundRoutes(m, opts));
  return { app, queue, stats };
}
