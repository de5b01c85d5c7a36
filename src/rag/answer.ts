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
 * answer is a quote of one retrieved chunk, and comes with its place. Each chunk is read alone, as
 * a retrieve-then-read system does (`readChunks`): the chunk and the question fill the window, the
 * model's likeliest quote of it is found, and the answer is the quote with the best mean
 * log-probability per token less RANK_PRIOR x ln(1 + the chunk's retrieval rank); where that quote
 * is below EXTRACT_BELOW, the extractive reader (extract.ts) picks the span instead. When the model
 * has a calibrated threshold (src/rag/abstain.ts) and the quote's confidence is below it, the
 * answer is NOT_FOUND_ANSWER, with the sources; so it is when nothing was retrieved (nothing to
 * quote). `grounded: false` decodes freely (an endpoint always does).
 *
 * The window is split as: prompt (template + question + chunks) + answer (`maxTokens`) +
 * the generator's own overhead (chat template) <= generator.contextTokens; a grounded answer's
 * prompts hold one chunk each.
 */
import { confidenceOf, DEFAULT_CONFIDENCE, decide, NOT_FOUND_ANSWER, type QuoteScore } from './abstain.ts';
import type { Embedder } from './embedder.ts';
import { type Extracted, extractSpan, SPAN_WEIGHTS, type SpanWeights } from './extract.ts';
import type { CompleteOptions, Generator } from './generator.ts';
import { buildPrompt, type PromptChunk, type PromptOptions } from './prompt.ts';
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
  /** The search's scores of the quote; null for a sampled quote. */
  score: QuoteScore | null;
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
    score: q.score,
  };
}

/**
 * How much a step down the retrieval ranking costs a chunk's quote, in mean log-probability per
 * token: a quote of the chunk at rank r (0 first) scores its mean log-probability less
 * RANK_PRIOR x ln(1 + r). Chosen on tuning sets only (`npm run experiment -- reader`,
 * experiments/results/reader.json: the synthetic set under another seed than eval's, the
 * real-prose dev split, docs/): 0 lets a distractor's fluent quote win, and a large value
 * never looks past the first chunk.
 */
export const RANK_PRIOR = 2;

/**
 * The model's quote is trusted down to this mean log-probability per token; below it, the
 * extractive reader (extract.ts) answers from the same chunks. The shipped model quotes its own
 * training distribution confidently (synthetic lookups: median -1.4 when right) and real prose
 * not (median -3.4, nearly always wrong). Chosen on tuning sets only (`npm run experiment --
 * extractive`, experiments/results/extractive.txt).
 */
export const EXTRACT_BELOW = -1.5;

/**
 * How much a step down the retrieval ranking costs an extractive answer, in its score's units
 * (extract.ts): the span of the chunk at rank r (0 first) scores less EXTRACT_RANK_PRIOR x ln(1 + r).
 */
export const EXTRACT_RANK_PRIOR = 1;

/**
 * The index whose value less prior x ln(1 + index) is largest (the first of equals), skipping
 * nulls (nothing read there); -1 when every value is null. Both readers weigh ranks this way.
 */
export function bestByRank(values: readonly (number | null)[], prior: number): number {
  let best = -1;
  let bestValue = 0;
  for (const [i, v] of values.entries()) {
    if (v === null) continue;
    const x = v - prior * Math.log(1 + i);
    if (best < 0 || x > bestValue) [best, bestValue] = [i, x];
  }
  return best;
}

/** One chunk as the model reads it: alone in the prompt with the question. */
export interface ChunkRead {
  /** The question asked (the extractive reader reads it). */
  question: string;
  prompt: string;
  /** The prompt's tokens (without the generator's overhead). */
  tokens: number;
  /** The chunk's text as it is in the prompt: all of it, or its start when it did not fit. */
  text: string;
  truncated: boolean;
}

/**
 * The prompt of each chunk alone with the question (buildPrompt's trimming: a chunk longer than
 * the window is cut); a chunk of which not even `minPartialTokens` fit is read as empty text.
 */
export function chunkReads(question: string, chunks: readonly PromptChunk[], o: PromptOptions): ChunkRead[] {
  return chunks.map((chunk) => {
    const built = buildPrompt(question, [chunk], o);
    const used = built.used[0];
    return {
      question,
      prompt: built.prompt,
      tokens: built.tokens,
      text: used?.text ?? '',
      truncated: used?.truncated ?? true,
    };
  });
}

/** Who chose a grounded answer's span: the model's quote, or the extractive reader (extract.ts). */
export type Reader = 'model' | 'extractive';

/** A grounded answer chosen among chunk reads: which read it came from, and every read's quote. */
export interface ReadAnswer extends GroundedAnswer {
  /** The read the answer came from (reads[read]); its quote offsets are in that read's chunk. */
  read: number;
  /** Each read's quote confidence (mean log-probability per token; -Infinity: no quote finished). */
  scores: number[];
  /**
   * 'extractive' when the model's best quote was below EXTRACT_BELOW and the extractive reader
   * answered; `confidence` and `score` stay the model's (the abstention decision is made on them).
   */
  reader: Reader;
}

/**
 * The grounded answer over chunk reads (chunkReads): each read's likeliest quote of its chunk, the
 * best by mean log-probability less RANK_PRIOR x ln(1 + rank), then the model's abstention
 * decision on that quote. When the model does not abstain but its quote's confidence is below
 * EXTRACT_BELOW, the extractive reader's best span over the same reads answers instead (its score
 * less EXTRACT_RANK_PRIOR x ln(1 + rank)). Reads run one after another; a read with no text is
 * skipped. A sampled quote (temperature > 0) has no score: the first chunk with text is the only
 * one read, and the model's quote is the answer.
 */
export async function readChunks(
  g: Generator,
  reads: readonly ChunkRead[],
  options: CompleteOptions,
): Promise<ReadAnswer> {
  const answers: (GroundedAnswer | null)[] = [];
  const means: (number | null)[] = [];
  for (const r of reads) {
    if (r.text.trim() === '') {
      answers.push(null);
      means.push(null);
      continue;
    }
    const a = await groundedAnswer(g, r.prompt, [r.text], options);
    answers.push(a);
    if (!a.score) {
      // a sampled quote (temperature > 0) has no score to compare: the first chunk read answers
      const scores = answers.map(() => Number.NEGATIVE_INFINITY);
      return { ...a, read: answers.length - 1, scores, reader: 'model' };
    }
    means.push(confidenceOf(DEFAULT_CONFIDENCE, a.score));
  }
  const i = bestByRank(means, RANK_PRIOR);
  if (i < 0) throw new Error('grounded decoding needs a non-empty source to quote');
  const scores = means.map((m) => m ?? Number.NEGATIVE_INFINITY);
  const model: ReadAnswer = { ...(answers[i] as GroundedAnswer), read: i, scores, reader: 'model' };
  // the model's own quote, when it is confident of it (mean log-probability per token)
  if (model.abstained || !model.score || scores[i] >= EXTRACT_BELOW) return model;
  const extracted = extractiveRead(reads, EXTRACT_RANK_PRIOR);
  if (!extracted) return model;
  const { read, span } = extracted;
  return {
    ...model,
    answer: span.text,
    quote: { index: 0, start: span.start, end: span.end, text: span.text },
    tokens: 0,
    finished: true,
    read,
    reader: 'extractive',
  };
}

/**
 * The extractive reader's best span over the reads (extract.ts), the span of the read at rank r
 * scoring less rankPrior x ln(1 + r); null if no read has one.
 */
export function extractiveRead(
  reads: readonly ChunkRead[],
  rankPrior: number,
  weights: SpanWeights = SPAN_WEIGHTS,
): { read: number; span: Extracted } | null {
  const spans = reads.map((r) => (r.text.trim() === '' ? null : extractSpan(r.question, r.text, weights)));
  const read = bestByRank(
    spans.map((x) => x?.score ?? null),
    rankPrior,
  );
  return read < 0 ? null : { read, span: spans[read] as Extracted };
}

/**
 * A read's quote as a place in its source's whole text: the read holds the chunk's text, or its
 * start when cut (a cut that does not decode to a prefix of the text is searched for the quote).
 */
function placeQuote(
  r: ReadAnswer,
  reads: readonly ChunkRead[],
  sources: readonly RetrievedChunk[],
): AnswerQuote | null {
  if (!r.quote) return null;
  const whole = sources[r.read].text;
  let { start, end } = r.quote;
  if (!whole.startsWith(reads[r.read].text)) {
    start = whole.indexOf(r.quote.text);
    if (start < 0) return null;
    end = start + r.quote.text.length;
  }
  return { index: r.read, source: sources[r.read].source, start, end, text: r.quote.text };
}

export interface AnswerSource extends RetrievedChunk {
  /** Only the start of the chunk fitted in the window. */
  truncated: boolean;
}

export interface Answer {
  answer: string;
  /** The prompt (grounded: the prompt of the chunk the answer came from). */
  prompt: string;
  promptTokens: number;
  /**
   * Free decoding: the chunks that went into the prompt, in prompt order (best first). Grounded:
   * every retrieved chunk, best first, each read alone (`truncated`: only its start fitted).
   */
  sources: AnswerSource[];
  /** Retrieved chunks left out because the window was full (free decoding; grounded reads them all). */
  dropped: number;
  /** Whether the answer was decoded as a quote of the sources. */
  grounded: boolean;
  /** Where a grounded answer came from (null: free decoding, abstained, or not located). */
  quote: AnswerQuote | null;
  /** A grounded greedy answer's confidence (src/rag/abstain.ts); null otherwise. */
  confidence: number | null;
  /** The model's calibrated threshold said the documents do not hold the answer. */
  abstained: boolean;
  /** Who chose a grounded answer's span (readChunks); null for free decoding or nothing to read. */
  reader: Reader | null;
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
  const fit = {
    template: o.template,
    budget,
    countTokens: (t: string) => g.countTokens(t),
    truncate: (t: string, n: number) => g.truncate(t, n),
  };
  const grounded = o.grounded ?? g.quote !== undefined;
  if (grounded && !g.quote)
    throw new Error(`grounded decoding needs a local model (--model); ${g.name} decodes freely`);
  const decoding = { maxTokens, temperature: o.temperature, seed: o.seed };
  if (!grounded) {
    const built = buildPrompt(question, hits, fit);
    const text = await g.complete(built.prompt, decoding);
    return {
      answer: text,
      prompt: built.prompt,
      promptTokens: built.tokens,
      sources: built.used.map((u) => ({ ...hits[u.index], truncated: u.truncated })),
      dropped: hits.length - built.used.length,
      grounded: false,
      quote: null,
      confidence: null,
      abstained: false,
      reader: null,
    };
  }
  // grounded: each chunk read alone (readChunks), every retrieved chunk a source
  const reads = chunkReads(question, hits, fit);
  const sources = hits.map((h, i) => ({ ...h, truncated: reads[i].truncated }));
  if (reads.every((r) => r.text.trim() === '')) {
    // nothing retrieved (or nothing of it fits): there is nothing to quote, whatever the threshold
    const built = buildPrompt(question, [], fit);
    return {
      answer: NOT_FOUND_ANSWER,
      prompt: built.prompt,
      promptTokens: built.tokens,
      sources,
      dropped: 0,
      grounded: true,
      quote: null,
      confidence: null,
      abstained: true,
      reader: null,
    };
  }
  const r = await readChunks(g, reads, decoding);
  return {
    answer: r.answer,
    prompt: reads[r.read].prompt,
    promptTokens: reads[r.read].tokens,
    sources,
    dropped: 0,
    grounded: true,
    quote: placeQuote(r, reads, sources),
    confidence: r.confidence,
    abstained: r.abstained,
    reader: r.reader,
  };
}
