/**
 * The generation loop: prefill every prompt of a batch in one model call, then one token per step
 * for every sequence still running (finished ones are fed nothing), until each stops on EOS, a stop
 * string, max new tokens or an abort signal.
 *
 *   prompts [B][T_b] -> model.extend (prefill) -> logits [B][V]
 *   loop: per live b: Sampler (penalties -> temperature -> top-k -> top-p -> min-p -> draw)
 *                     -> TextStreamer (complete UTF-8 characters) -> StopStringMatcher -> piece
 *         model.extend([next token] per live b, [] per finished b) -> logits
 *
 * Each sequence b has its own Sampler seeded with seedFor(seed, b) (sequence 0 uses `seed` itself),
 * so its tokens depend only on its prompt, the options and its index: never on when the other
 * sequences of the batch finish. A prompt run alone as sequence 0 gives the same output as in a batch.
 * The per-sequence step (SequenceRun) is exported: the server's continuous-batching scheduler
 * (src/serve/scheduler.ts) drives sequences that join and leave a running batch with it.
 */
import type { CausalLM } from '../models/causal_lm.ts';
import { TokenHistory } from './logits_processors.ts';
import { randomSeed, type SampleResult, Sampler, type SamplerOptions, type TopLogprob } from './sampler.ts';
import { SpanConstraint } from './span_constraint.ts';
import {
  EosCriterion,
  type FinishReason,
  MaxNewTokensCriterion,
  type StopMatch,
  StopStringMatcher,
} from './stopping.ts';
import { createStreamer, type TextStreamer, type TokenBytes } from './streamer.ts';

export interface GenerateOptions extends SamplerOptions {
  /** Tokens to generate per sequence (OpenAI `max_tokens`): exactly this many unless a stop comes first. */
  maxNewTokens: number;
  /** End-of-sequence id(s): generating one ends the sequence (its text is not emitted). */
  eos?: number | readonly number[];
  /** Stop strings, matched on the decoded text (needs tokenBytes or decode). */
  stop?: readonly string[];
  /** The bytes of each token, for the text (preferred: exact and O(1) per token). */
  tokenBytes?: TokenBytes;
  /** Or a tokenizer's decode, ids -> string (used when tokenBytes is absent). */
  decode?: (ids: readonly number[]) => string;
  /** Return the log-probability of each generated token (raw model distribution). */
  logprobs?: boolean;
  /** Also return this many most likely alternatives per token (OpenAI `top_logprobs`). */
  topLogprobs?: number;
  /** Aborting ends every running sequence with finishReason 'abort' before the next step. */
  signal?: AbortSignal;
  /** Grounded decoding: the output must be a span of these tokens, then EOS (span_constraint.ts). */
  quoteFrom?: ArrayLike<number>;
}

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
  topLogprobs?: TopLogprob[];
}

export interface GenerationResult {
  /** The generated ids (not the prompt), including an EOS or the token that completed a stop string. */
  ids: number[];
  /** Their text, ending before any stop string; '' without tokenBytes or decode. */
  text: string;
  finishReason: FinishReason;
  /** One entry per id, when `logprobs` or `topLogprobs` was asked for. */
  logprobs?: TokenLogprob[];
}

/** One step of one sequence. Every sequence's last piece carries its finishReason. */
export interface StreamPiece {
  /** The sequence (index into the prompts). */
  index: number;
  /** Text that became final with this token; '' while held back (half a character, maybe a stop string). */
  text: string;
  /** The token generated; null on a closing piece without a token (abort, or maxNewTokens 0). */
  tokenId: number | null;
  /** log p(tokenId) under the raw model distribution; null when tokenId is null. */
  logprob: number | null;
  topLogprobs?: TopLogprob[];
  finishReason?: FinishReason;
}

type Prompt = Int32Array | readonly number[];

/** The seed of sequence b's sampler: `seed` for b = 0, decorrelated for the others. */
export function seedFor(seed: number, b: number): number {
  return (seed + Math.imul(b, 0x9e3779b9)) >>> 0;
}

/**
 * Checks prompts and options against the model; throws an Error naming the argument at fault.
 * generateStream and generate call it before starting (so a server can answer 400 up front).
 */
export function validateGeneration(
  model: CausalLM,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): void {
  new MaxNewTokensCriterion(options.maxNewTokens);
  new EosCriterion(options.eos);
  new StopStringMatcher(options.stop);
  new Sampler({ ...options, seed: options.seed ?? 0 });
  const tl = options.topLogprobs;
  if (tl !== undefined && !(Number.isInteger(tl) && tl >= 0)) {
    throw new Error(`topLogprobs must be an integer >= 0 (got ${tl})`);
  }
  if ((options.stop?.length ?? 0) > 0 && !options.tokenBytes && !options.decode) {
    throw new Error('stop strings need the text: give tokenBytes or decode');
  }
  if (prompts.length === 0) throw new Error('prompts: give at least one prompt');
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new Error(`prompt ${b} is empty: give at least one token id (e.g. BOS)`);
    for (let t = 0; t < p.length; t++) {
      const id = p[t];
      if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) {
        throw new Error(`prompt ${b}: token id ${id} at position ${t} is not in [0, ${model.vocabSize})`);
      }
    }
    const total = p.length + options.maxNewTokens;
    if (total > model.contextLength) {
      const room = model.contextLength - p.length;
      throw new Error(
        `prompt ${b} has ${p.length} tokens and max_tokens is ${options.maxNewTokens}: ${total} exceeds ` +
          `the model's context length ${model.contextLength}; ` +
          (room > 0 ? `lower max_tokens to at most ${room}` : 'shorten the prompt'),
      );
    }
  });
}

/**
 * The state of one generating sequence: its sampler (seeded seedFor(seed, index)), token history,
 * streamer and stop matcher. generate's loop and the server's scheduler (src/serve/scheduler.ts)
 * both drive sequences through `step`, so a sequence behaves the same whatever else is batched.
 */
export class SequenceRun {
  readonly ids: number[] = [];
  finish: FinishReason | null = null;
  readonly history: TokenHistory;
  readonly sampler: Sampler;
  private readonly streamer: TextStreamer | null;
  private readonly matcher: StopStringMatcher;
  private readonly topLogprobs: number;
  private readonly quote: SpanConstraint | null;

  constructor(
    readonly index: number,
    prompt: Prompt,
    options: GenerateOptions,
    seed: number,
    private readonly eos: EosCriterion = new EosCriterion(options.eos),
    private readonly maxNew: MaxNewTokensCriterion = new MaxNewTokensCriterion(options.maxNewTokens),
  ) {
    this.history = new TokenHistory(prompt);
    this.sampler = new Sampler({ ...options, seed: seedFor(seed, index) });
    this.streamer = options.tokenBytes
      ? createStreamer({ tokenBytes: options.tokenBytes })
      : options.decode
        ? createStreamer({ decode: options.decode })
        : null;
    this.matcher = new StopStringMatcher(options.stop);
    this.topLogprobs = options.topLogprobs ?? 0;
    this.quote = options.quoteFrom
      ? new SpanConstraint(options.quoteFrom, this.eos.ids, options.decode)
      : null;
  }

  /** The last generated token (the next one to feed the model); -1 before the first. */
  get lastToken(): number {
    return this.ids.length > 0 ? this.ids[this.ids.length - 1] : -1;
  }

  /** Samples from the logits [V] after the sequence's last fed token and takes the token. */
  step(logits: Float32Array | null | undefined, vocabSize: number): StreamPiece {
    if (!logits || logits.length !== vocabSize) {
      throw new Error(
        `model.extend returned ${logits ? logits.length : 'no'} logits for sequence ${this.index}`,
      );
    }
    // a quote that reached the end of its source, with no EOS to end it, ends here
    if (this.quote && !this.quote.apply(logits)) return this.close('stop');
    return this.accept(this.sampler.sample(logits, this.history, this.topLogprobs));
  }

  /** Takes the sampled token; returns its piece (with finishReason if the sequence ended). */
  accept(r: SampleResult): StreamPiece {
    const id = r.tokenId;
    this.quote?.push(id);
    this.ids.push(id);
    this.history.push(id);
    let text: string;
    if (this.eos.isEos(id)) {
      text = this.end().text;
      this.finish = 'stop';
    } else {
      const m = this.matcher.push(this.streamer ? this.streamer.push(id) : '');
      text = m.text;
      if (m.stopped) {
        this.finish = 'stop';
      } else if (this.maxNew.isDone(this.ids.length)) {
        const e = this.end();
        text += e.text;
        this.finish = e.stopped ? 'stop' : 'length';
      }
    }
    return this.piece(text, id, r);
  }

  /** Ends the sequence without a token (abort, or nothing to generate). */
  close(reason: FinishReason): StreamPiece {
    const text = this.end().text;
    this.finish = reason;
    return this.piece(text, null, null);
  }

  /** Flushes the streamer and the matcher: the flushed bytes may still complete a stop string. */
  private end(): StopMatch {
    const m = this.matcher.push(this.streamer ? this.streamer.flush() : '');
    return m.stopped ? m : { text: m.text + this.matcher.flush(), stopped: false };
  }

  private piece(text: string, tokenId: number | null, r: SampleResult | null): StreamPiece {
    const p: StreamPiece = { index: this.index, text, tokenId, logprob: r ? r.logprob : null };
    if (r?.topLogprobs) p.topLogprobs = r.topLogprobs;
    if (this.finish) p.finishReason = this.finish;
    return p;
  }
}

const EMPTY = new Int32Array(0);

async function* run(
  model: CausalLM,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): AsyncGenerator<StreamPiece, void, undefined> {
  const eos = new EosCriterion(options.eos);
  const maxNew = new MaxNewTokensCriterion(options.maxNewTokens);
  const seed = options.seed ?? randomSeed();
  const seqs = prompts.map((p, b) => new SequenceRun(b, p, options, seed, eos, maxNew));
  const { signal } = options;
  if (maxNew.maxNewTokens === 0 || signal?.aborted) {
    for (const s of seqs) yield s.close(signal?.aborted ? 'abort' : 'length');
    return;
  }
  const maxLen = Math.max(...prompts.map((p) => p.length)) + maxNew.maxNewTokens;
  const cache = model.createCache(prompts.length, maxLen);
  try {
    // Prefill: every prompt in one call -> logits after each prompt's last token.
    let logits = model.extend(
      prompts.map((p) => (p instanceof Int32Array ? p : Int32Array.from(p))),
      cache,
    );
    for (;;) {
      for (const s of seqs) if (!s.finish) yield s.step(logits[s.index], model.vocabSize);
      if (seqs.every((s) => s.finish)) return;
      await new Promise(setImmediate); // let a server handle other requests between steps
      if (signal?.aborted) {
        for (const s of seqs) if (!s.finish) yield s.close('abort');
        return;
      }
      // Decode: one token per live sequence, nothing for finished ones.
      const feed = seqs.map((s) => (s.finish ? EMPTY : Int32Array.of(s.lastToken)));
      logits = model.extend(feed, cache);
    }
  } finally {
    cache.dispose(); // also when the consumer stops early (return() on the generator)
  }
}

/**
 * Streams the generation of a batch of prompts: one piece per generated token per sequence, in
 * step order, yielding to the event loop between steps. Throws at once on invalid arguments.
 * Prompt ids are used exactly as given (no BOS is added).
 */
export function generateStream(
  model: CausalLM,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): AsyncGenerator<StreamPiece, void, undefined> {
  validateGeneration(model, prompts, options);
  return run(model, prompts, options);
}

/** Generates for a batch of prompts (of any lengths) and returns one result per prompt. */
export async function generate(
  model: CausalLM,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): Promise<GenerationResult[]> {
  const seqs: { ids: number[]; text: string; finishReason: FinishReason; logprobs: TokenLogprob[] }[] =
    prompts.map(() => ({ ids: [], text: '', finishReason: 'length', logprobs: [] }));
  for await (const p of generateStream(model, prompts, options)) {
    const s = seqs[p.index];
    s.text += p.text;
    if (p.tokenId !== null && p.logprob !== null) {
      s.ids.push(p.tokenId);
      s.logprobs.push(
        p.topLogprobs
          ? { tokenId: p.tokenId, logprob: p.logprob, topLogprobs: p.topLogprobs }
          : { tokenId: p.tokenId, logprob: p.logprob },
      );
    }
    if (p.finishReason) s.finishReason = p.finishReason;
  }
  const wantLogprobs = options.logprobs === true || (options.topLogprobs ?? 0) > 0;
  return seqs.map(({ ids, text, finishReason, logprobs }) =>
    wantLogprobs ? { ids, text, finishReason, logprobs } : { ids, text, finishReason },
  );
}
