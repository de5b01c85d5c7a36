/**
 * Retrieval-augmented generation, end to end: retrieve the chunks for a question, put them in the
 * prompt template trimmed to the generator's window, generate, and return the answer with the
 * sources it was given.
 *
 *   const a = await answer('How do I ...?', { store, embedder, generator, k: 5 });
 *   a.answer; a.sources  // [{ source, text, score, truncated }, ...] in prompt order
 *   a.quote              // { index, source, start, end, text }: a.sources[index].text.slice(start, end)
 *   a.confidence; a.abstained
 *
 * Answers are grounded by default where the generator can (local models: `generator.quote`): the
 * answer is the likeliest quote of one retrieved chunk, and comes with its place. When the model
 * has a calibrated threshold (src/rag/abstain.ts) and the quote's confidence is below it, the
 * answer is NOT_FOUND_ANSWER, with the sources; so it is when nothing was retrieved (nothing to
 * quote). `grounded: false` decodes freely (an endpoint always does).
 *
 * The window is split as: prompt (template + question + chunks) + answer (`maxTokens`) +
 * the generator's own overhead (chat template) <= generator.contextTokens.
 */
import { decide, NOT_FOUND_ANSWER } from './abstain.ts';
import type { Embedder } from './embedder.ts';
import type { CompleteOptions, Generator } from './generator.ts';
import { buildPrompt } from './prompt.ts';
import { type RetrievedChunk, type RetrieveOptions, retrieve } from './retriever.ts';
import type { VectorStore } from './store.ts';

export interface AnswerOptions extends RetrieveOptions {
  store: VectorStore;
  embedder: Embedder;
  generator: Generator;
  /** The prompt template (default DEFAULT_TEMPLATE: "[ctx: {docs}] Answer the question: {query}"). */
  template?: string;
  /** Most answer tokens (default min(256, a quarter of the window)). */
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  /**
   * Grounded decoding: the answer quotes a span of one chunk in the prompt (default: true where the
   * generator can, local models; true with an endpoint is an error).
   */
  grounded?: boolean;
}

/** Where the answer came from: sources[index].text.slice(start, end) is the answer. */
export interface AnswerQuote {
  index: number;
  source: string;
  /** UTF-16 offsets in the source chunk's text, end exclusive. */
  start: number;
  end: number;
  text: string;
}

/** A grounded answer and the abstention decision. */
export interface GroundedAnswer {
  /** The quote, or NOT_FOUND_ANSWER when abstained. */
  answer: string;
  /** null when abstained, or when the quote is empty or could not be located. */
  quote: Omit<AnswerQuote, 'source'> | null;
  /** The quote's confidence (the model's policy's kind); null for a sampled quote. */
  confidence: number | null;
  abstained: boolean;
  /** Quote tokens generated, and whether the quote ended before the budget. */
  tokens: number;
  finished: boolean;
}

/**
 * The grounded answer of a prompt over its sources: the quote (generator.quote), where it is, and
 * whether the model's policy (generator.abstention) abstains.
 */
export async function groundedAnswer(
  g: Generator,
  prompt: string,
  sources: readonly string[],
  options: CompleteOptions,
): Promise<GroundedAnswer> {
  if (!g.quote) throw new Error(`grounded decoding needs a local model; ${g.name} decodes freely`);
  const q = await g.quote(prompt, sources, options);
  const { confidence, abstained } = decide(g.abstention, q.score);
  const quote =
    abstained || q.at === null ? null : { ...q.at, text: sources[q.at.index].slice(q.at.start, q.at.end) };
  return {
    answer: abstained ? NOT_FOUND_ANSWER : q.text,
    quote,
    confidence,
    abstained,
    tokens: q.tokens,
    finished: q.finished,
  };
}

export interface AnswerSource extends RetrievedChunk {
  /** Only the start of the chunk fitted in the window. */
  truncated: boolean;
}

export interface Answer {
  answer: string;
  prompt: string;
  promptTokens: number;
  /** The chunks that went into the prompt, in prompt order (best first). */
  sources: AnswerSource[];
  /** Retrieved chunks left out because the window was full. */
  dropped: number;
  /** Whether the answer was decoded as a quote of the sources. */
  grounded: boolean;
  /** Where a grounded answer came from (null: free decoding, abstained, or not located). */
  quote: AnswerQuote | null;
  /** A grounded greedy answer's confidence (src/rag/abstain.ts); null otherwise. */
  confidence: number | null;
  /** The model's calibrated threshold said the documents do not hold the answer. */
  abstained: boolean;
}

export async function answer(question: string, o: AnswerOptions): Promise<Answer> {
  const g = o.generator;
  const maxTokens = o.maxTokens ?? Math.min(256, Math.floor(g.contextTokens / 4));
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new Error(`max tokens must be a positive integer, got ${maxTokens}`);
  const budget = g.contextTokens - maxTokens - g.promptOverhead;
  if (budget < 1)
    throw new Error(
      `the model's window (${g.contextTokens} tokens) leaves no room for a prompt with ${maxTokens} answer tokens`,
    );
  const hits = await retrieve(o.store, o.embedder, question, o);
  const built = buildPrompt(question, hits, {
    template: o.template,
    budget,
    countTokens: (t) => g.countTokens(t),
    truncate: (t, n) => g.truncate(t, n),
  });
  const grounded = o.grounded ?? g.quote !== undefined;
  if (grounded && !g.quote)
    throw new Error(`grounded decoding needs a local model (--model); ${g.name} decodes freely`);
  const sources = built.used.map((u) => ({ ...hits[u.index], truncated: u.truncated }));
  const decoding = { maxTokens, temperature: o.temperature, seed: o.seed };
  const base = {
    prompt: built.prompt,
    promptTokens: built.tokens,
    sources,
    dropped: hits.length - built.used.length,
  };
  if (!grounded) {
    const text = await g.complete(built.prompt, decoding);
    return { ...base, answer: text, grounded: false, quote: null, confidence: null, abstained: false };
  }
  // nothing retrieved: there is nothing to quote, whatever the threshold
  if (sources.length === 0)
    return {
      ...base,
      answer: NOT_FOUND_ANSWER,
      grounded: true,
      quote: null,
      confidence: null,
      abstained: true,
    };
  const r = await groundedAnswer(
    g,
    built.prompt,
    sources.map((s) => s.text),
    decoding,
  );
  return {
    ...base,
    answer: r.answer,
    grounded: true,
    quote: r.quote && {
      index: r.quote.index,
      source: sources[r.quote.index].source,
      start: r.quote.start,
      end: r.quote.end,
      text: r.quote.text,
    },
    confidence: r.confidence,
    abstained: r.abstained,
  };
}
