/**
 * What /v1/completions and /v1/chat/completions share: the sampling fields of a request, their
 * checks against the model, and running the request's sequences through the scheduler.
 *
 * A request is prompts x n sequences; sequence i of prompt p has choices[].index = p x n + i.
 * max_tokens and max_completion_tokens both apply (the smaller wins); without either, a sequence
 * may fill the context. Without an explicit seed the scheduler draws one per request, so the n
 * sequences of a prompt still differ.
 */
import { z } from 'zod';
import type { GenerateOptions, StreamPiece } from '../generate/generate.ts';
import type { FinishReason } from '../generate/stopping.ts';
import type { ServeModel } from './app.ts';
import { ApiError, bad, submitError, unknownModel } from './errors.ts';
import type { TokenInfo, TokenText } from './logprobs.ts';
import type { Scheduler, SequenceSpec } from './scheduler.ts';

/** Sequences of one request (prompts x n), an upper bound on its work. */
export const MAX_N = 16;
export const MAX_PROMPTS = 16;
/** OpenAI's limit on top_logprobs. */
export const MAX_TOP_LOGPROBS = 20;

const stopSchema = z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish();

export const samplingFields = {
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

const samplingSchema = z.object(samplingFields);
type SamplingRequest = z.infer<typeof samplingSchema>;

/** What the completion and chat routes need from createApp. */
export interface GenerationRouteDeps {
  m: ServeModel;
  scheduler: Scheduler;
  tokenText: TokenText;
  newId: (prefix: string) => string;
}

/**
 * The LoRA adapter a request's `model` names: null for the base model's id, the adapter's name for
 * one of ServeModel.adapters; any other name is 404 model_not_found.
 */
export function resolveModel(m: ServeModel, name: string): string | null {
  if (name === m.id) return null;
  if (m.adapters?.has(name)) return name;
  throw unknownModel(name);
}

/** A checked request: its sequences and their shared options. */
export interface Prepared {
  /** The LoRA adapter to run with (null: the base). */
  adapter: string | null;
  specs: SequenceSpec[];
  options: GenerateOptions;
  /** Tokens of the prompts, each counted once (not n times). */
  promptTokens: number;
  /** Characters of each sequence's prompt text (legacy text_offset starts there). */
  promptChars: number[];
  wantLogprobs: boolean;
}

/** What one sequence (one choice) has produced so far. */
export interface Choice {
  index: number;
  text: string;
  tokens: number;
  finish: FinishReason | null;
  logprobs: TokenInfo[];
  /** Legacy text_offset of the next token. */
  offset: number;
}

/** OpenAI's finish_reason for ours. */
export function finishReason(f: FinishReason | null): 'stop' | 'length' {
  return f === 'length' ? 'length' : 'stop';
}

/** Checks the shared parameters and builds the sequences of encoded prompts; `top`: logprobs asked (null: none). */
export function prepare(
  m: ServeModel,
  r: SamplingRequest,
  prompts: number[][],
  top: number | null,
): Prepared {
  const adapter = resolveModel(m, r.model);
  const ctx = m.model.contextLength;
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
  return {
    adapter,
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
export async function generateChoices(
  d: Pick<GenerationRouteDeps, 'scheduler' | 'tokenText'>,
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
    pieces = d.scheduler.submit(p.specs, p.options, signal, p.adapter);
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
    if (t) ch.offset += d.tokenText.token(t.id).length;
  }
  if (choices.some((c) => c.finish === 'abort') && !signal.aborted)
    throw new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
  return choices;
}

export function usage(
  p: Prepared,
  choices: Choice[],
): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const completion = choices.reduce((s, c) => s + c.tokens, 0);
  return {
    prompt_tokens: p.promptTokens,
    completion_tokens: completion,
    total_tokens: p.promptTokens + completion,
  };
}

/** Whether every choice has finished (the finishing chunk that makes it so carries usage). */
export function allDone(choices: Choice[]): boolean {
  return choices.every((c) => c.finish !== null);
}
