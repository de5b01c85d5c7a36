/**
 * Retrieval-augmented generation, end to end: retrieve the chunks for a question, put them in the
 * prompt template trimmed to the generator's window, generate, and return the answer with the
 * sources it was given.
 *
 *   const a = await answer('How do I ...?', { store, embedder, generator, k: 5 });
 *   a.answer; a.sources  // [{ source, text, score, truncated }, ...] in prompt order
 *
 * The window is split as: prompt (template + question + chunks) + answer (`maxTokens`) +
 * the generator's own overhead (chat template) <= generator.contextTokens.
 */
import type { Embedder } from './embedder.ts';
import type { Generator } from './generator.ts';
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
  /** Grounded decoding: the answer must quote a span of the chunks in the prompt (local models). */
  grounded?: boolean;
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
  const quote = o.grounded ? built.used.map((u) => hits[u.index].text).join('\n\n') : undefined;
  const text = await g.complete(built.prompt, {
    maxTokens,
    temperature: o.temperature,
    seed: o.seed,
    quote: quote || undefined,
  });
  return {
    answer: text,
    prompt: built.prompt,
    promptTokens: built.tokens,
    sources: built.used.map((u) => ({ ...hits[u.index], truncated: u.truncated })),
    dropped: hits.length - built.used.length,
  };
}
