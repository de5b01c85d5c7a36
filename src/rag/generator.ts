/**
 * Generators for RAG answers: an xfmr model directory (run here), or any OpenAI-compatible HTTP
 * endpoint (llama.cpp server, vLLM, Ollama, `xfmr serve`, OpenAI...), so a bigger model elsewhere
 * can answer.
 *
 *   const g = LocalGenerator.load('models/tiny');               // decoder + tokenizer.json
 *   const g = await EndpointGenerator.connect({ url: 'http://localhost:8080/v1' });
 *   const text = await g.complete(prompt, { maxTokens: 256 });
 *
 * Both say how large their window is (`contextTokens`) and count tokens, so the prompt can be
 * trimmed to fit (prompt.ts). The local model's count is exact; an endpoint's is an estimate with
 * cl100k_base (the server's tokenizer is unknown), so its window should be given with a margin.
 *
 * The prompt goes in as one user message: through the model's chat template when the directory
 * has one (and `chat` is not false), as raw text otherwise; endpoints get /chat/completions.
 */
import { join } from 'node:path';
import { generate } from '../generate/index.ts';
import { searchQuote } from '../generate/quote_search.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { describeWeights, type LoadOptions, loadDecoder } from '../models/load.ts';
import { modelPathProblem } from '../models/load_gguf.ts';
import { encodeChat } from '../tokenizers/chat_encode.ts';
import { resolveEos } from '../tokenizers/eos.ts';
import { getEncoding } from '../tokenizers/tiktoken.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { type AbstainPolicy, readAbstainPolicy } from './abstain.ts';
import { type QuotedCompletion, quoteSources } from './quote.ts';

export interface CompleteOptions {
  /** Most tokens to generate. */
  maxTokens: number;
  /** Sampling temperature (default 0: greedy, reproducible answers). */
  temperature?: number;
  seed?: number;
  signal?: AbortSignal;
  /**
   * Grounded decoding (local models): the answer must be a span of this text (in practice the
   * retrieved context), then end (src/generate/span_constraint.ts).
   */
  quote?: string;
}

export interface Generator {
  /** What answers (a directory or a URL and model name), for reports. */
  readonly name: string;
  /** Most tokens of prompt and answer together. */
  readonly contextTokens: number;
  /** Tokens the generator adds around a prompt (chat template). */
  readonly promptOverhead: number;
  countTokens(text: string): number;
  /** The first n tokens of a text. */
  truncate(text: string, n: number): string;
  complete(prompt: string, options: CompleteOptions): Promise<string>;
  /**
   * Grounded decoding with the quote's place and scores (local models; an endpoint has none and
   * decodes freely): the answer is a span of one of `sources`. At temperature 0 it is the likeliest
   * whole quote (beam search: quote_search.ts, scored); with a temperature it is sampled (no score).
   * `options.quote` is ignored.
   */
  quote?(prompt: string, sources: readonly string[], options: CompleteOptions): Promise<QuotedCompletion>;
  /** The model's calibrated abstention (src/rag/abstain.ts); null or absent: never abstain. */
  readonly abstention?: AbstainPolicy | null;
}

export function truncateWith(tok: Tokenizer, text: string, n: number): string {
  const ids = tok.encode(text, { addSpecialTokens: false });
  if (ids.length <= n) return text;
  let out = tok.decode(ids.slice(0, n));
  // never end in half a character
  if (out.endsWith('\ufffd')) out = out.replace(/\ufffd+$/, '');
  return out;
}

export class LocalGenerator implements Generator {
  readonly name: string;
  readonly contextTokens: number;
  readonly promptOverhead: number;

  private constructor(
    readonly model: DecoderLM,
    readonly tokenizer: Tokenizer,
    private readonly eos: number[],
    private readonly chatTemplate: string | undefined,
    dir: string,
    readonly abstention: AbstainPolicy | null,
  ) {
    this.name = dir;
    this.contextTokens = model.config.contextLength;
    this.promptOverhead = this.encodeRendered('').length;
  }

  /** What the model's weights are in ("bf16 (weights 12.34 MiB)"). */
  get weights(): string {
    return describeWeights(this.model);
  }

  /**
   * Loads a decoder model directory; it must have a tokenizer.json. `dtype`: how the weights are
   * held, `kvType`: how the KV cache stores keys and values (models/load.ts; default f32 both).
   * Its abstention threshold (xfmr_rag.json) is read unless `abstention` is false.
   */
  static load(
    dir: string,
    options: { chat?: boolean; abstention?: boolean } & LoadOptions = {},
  ): LocalGenerator {
    const problem = modelPathProblem(dir);
    if (problem) throw new Error(`--model: ${problem}`);
    const loaded = loadDecoder(dir, { dtype: options.dtype, kvType: options.kvType });
    if (loaded.tokenizerJson === undefined) throw new Error(`--model: ${dir} has no tokenizer.json`);
    let tok: Tokenizer;
    try {
      tok = loadTokenizerJson(loaded.tokenizerJson as object);
    } catch (e) {
      throw new Error(`${join(dir, 'tokenizer.json')}: ${(e as Error).message}`);
    }
    const chat = options.chat === false ? undefined : loaded.chatTemplate;
    const eos = resolveEos({ dir, generationConfig: loaded.generationConfig });
    const policy = options.abstention === false ? null : readAbstainPolicy(dir);
    return new LocalGenerator(loaded.model, tok, eos, chat, dir, policy);
  }

  /**
   * The prompt's ids: through the chat template as one user message (the template's special
   * tokens as control tokens, the prompt's text always as text: src/tokenizers/chat_encode.ts), or
   * plain with the tokenizer's post-processor specials.
   */
  private encodeRendered(prompt: string): number[] {
    return this.chatTemplate
      ? encodeChat(this.tokenizer, this.chatTemplate, [{ role: 'user', content: prompt }], {
          addGenerationPrompt: true,
        })
      : this.tokenizer.encode(prompt);
  }

  countTokens(text: string): number {
    return this.tokenizer.encode(text, { addSpecialTokens: false }).length;
  }

  truncate(text: string, n: number): string {
    return truncateWith(this.tokenizer, text, n);
  }

  /** The rendered prompt's ids and the most tokens that fit after them. */
  private encodePrompt(prompt: string, maxTokens: number): { ids: number[]; maxNewTokens: number } {
    const ids = this.encodeRendered(prompt);
    const room = this.contextTokens - ids.length;
    if (room < 1)
      throw new Error(`the prompt has ${ids.length} tokens, the model's window ${this.contextTokens}`);
    return { ids, maxNewTokens: Math.min(maxTokens, room) };
  }

  async quote(
    prompt: string,
    sources: readonly string[],
    options: CompleteOptions,
  ): Promise<QuotedCompletion> {
    const { ids, maxNewTokens } = this.encodePrompt(prompt, options.maxTokens);
    const decode = (x: readonly number[]) => this.tokenizer.decode(x);
    return quoteSources(this.tokenizer, sources, async (source) => {
      if ((options.temperature ?? 0) === 0) {
        const q = await searchQuote(this.model, ids, source, {
          eos: this.eos,
          maxTokens: maxNewTokens,
          decode,
          signal: options.signal,
        });
        return {
          tokens: q.tokens,
          finished: q.finished,
          score: {
            tokens: q.tokens.length,
            logprob: q.logprob,
            finishedLogprob: q.finishedLogprob,
            finished: q.finished,
          },
        };
      }
      const [r] = await generate(this.model, [ids], {
        maxNewTokens,
        temperature: options.temperature,
        seed: options.seed ?? 0,
        eos: this.eos,
        decode,
        signal: options.signal,
        quoteFrom: source,
      });
      // r.ids ends with the EOS when the quote finished
      const tokens = r.ids.filter((t) => !this.eos.includes(t));
      return { tokens, finished: r.finishReason === 'stop', score: null };
    });
  }

  async complete(prompt: string, options: CompleteOptions): Promise<string> {
    const { ids, maxNewTokens } = this.encodePrompt(prompt, options.maxTokens);
    const temperature = options.temperature ?? 0;
    if (options.quote && temperature === 0) {
      // Greedy grounded answers: the likeliest whole quote (beam search), not greedy token by token.
      const q = await searchQuote(
        this.model,
        ids,
        this.tokenizer.encode(options.quote, { addSpecialTokens: false }),
        {
          eos: this.eos,
          maxTokens: maxNewTokens,
          decode: (x) => this.tokenizer.decode(x),
          signal: options.signal,
        },
      );
      return this.tokenizer.decode(q.tokens);
    }
    const [r] = await generate(this.model, [ids], {
      maxNewTokens,
      temperature,
      seed: options.seed ?? 0,
      eos: this.eos,
      decode: (x) => this.tokenizer.decode(x),
      signal: options.signal,
      quoteFrom: options.quote
        ? this.tokenizer.encode(options.quote, { addSpecialTokens: false })
        : undefined,
    });
    return r.text;
  }
}

export interface EndpointOptions {
  /** Base URL (`http://host:8080`, `.../v1`) or the full `.../chat/completions` URL. */
  url: string;
  /** Model name sent to the server (default: the first of GET /models, else "default"). */
  model?: string;
  /** The server model's window in tokens (default 4096). */
  contextTokens?: number;
  /** Bearer token (default: the OPENAI_API_KEY environment variable, if set). */
  apiKey?: string;
  /** Per-request timeout (default 300 s). */
  timeoutMs?: number;
}

/** `http://h:8080` -> `http://h:8080/v1/chat/completions`; `.../v1` -> `.../v1/chat/completions`. */
export function chatCompletionsUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--endpoint: "${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`--endpoint: "${url}" is not an http(s) URL`);
  const path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith('/chat/completions')) return u.toString();
  u.pathname = /\/v\d+$/.test(path) ? `${path}/chat/completions` : `${path}/v1/chat/completions`;
  return u.toString();
}

export class EndpointGenerator implements Generator {
  readonly name: string;
  readonly contextTokens: number;
  /** Chat formatting on the server side: a few tokens per message. */
  readonly promptOverhead = 8;
  private readonly tok = getEncoding('cl100k_base');

  private constructor(
    readonly url: string,
    readonly model: string,
    private readonly options: EndpointOptions,
  ) {
    this.contextTokens = options.contextTokens ?? 4096;
    this.name = `${url} (${model})`;
  }

  /** Resolves the model name (asking the server's /models when not given). */
  static async connect(options: EndpointOptions): Promise<EndpointGenerator> {
    const url = chatCompletionsUrl(options.url);
    let model = options.model;
    if (model === undefined) {
      model = 'default';
      try {
        const res = await fetch(url.replace(/\/chat\/completions$/, '/models'), {
          headers: EndpointGenerator.headers(options),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.ok) {
          const j = (await res.json()) as { data?: { id?: unknown }[] };
          const id = j.data?.[0]?.id;
          if (typeof id === 'string') model = id;
        }
      } catch {
        // servers without /models: use "default"
      }
    }
    return new EndpointGenerator(url, model, options);
  }

  private static headers(o: EndpointOptions): Record<string, string> {
    const key = o.apiKey ?? process.env.OPENAI_API_KEY;
    const h: Record<string, string> = { 'content-type': 'application/json' };
    if (key) h.authorization = `Bearer ${key}`;
    return h;
  }

  countTokens(text: string): number {
    return this.tok.encode(text).length;
  }

  truncate(text: string, n: number): string {
    return truncateWith(this.tok, text, n);
  }

  async complete(prompt: string, options: CompleteOptions): Promise<string> {
    const body: Record<string, unknown> = {
      model: this.model,
      messages: [{ role: 'user', content: prompt }],
      max_tokens: options.maxTokens,
      temperature: options.temperature ?? 0,
    };
    if (options.seed !== undefined) body.seed = options.seed;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 300_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: EndpointGenerator.headers(this.options),
        body: JSON.stringify(body),
        signal,
      });
    } catch (e) {
      const err = e as Error & { cause?: { message?: string } };
      throw new Error(`--endpoint ${this.url}: cannot connect: ${err.cause?.message ?? err.message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let msg = text.slice(0, 300);
      try {
        const j = JSON.parse(text) as { error?: { message?: string } | string };
        msg = typeof j.error === 'string' ? j.error : (j.error?.message ?? msg);
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`--endpoint ${this.url}: HTTP ${res.status}: ${msg}`);
    }
    let content: unknown;
    try {
      const j = JSON.parse(text) as { choices?: { message?: { content?: unknown }; text?: unknown }[] };
      content = j.choices?.[0]?.message?.content ?? j.choices?.[0]?.text;
    } catch {
      throw new Error(`--endpoint ${this.url}: the response is not JSON`);
    }
    if (typeof content !== 'string')
      throw new Error(`--endpoint ${this.url}: the response has no choices[0].message.content`);
    return content;
  }
}
