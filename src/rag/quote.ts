/**
 * Grounded answers and where they come from: the answer is a quote of one retrieved chunk, and
 * the response says which chunk and at which characters.
 *
 *   sources   ["Cats sleep all day.", "The Danube flows through ten countries."]
 *   ids       the tokens of each source, searched as one source with walls between them
 *             (span_constraint.ts: no quote runs from one chunk into the next)
 *   quote     " ten countries"  ->  { index: 1, start: 25, end: 38 }   (trimmed, in sources[1])
 *
 * Offsets are JavaScript string indices (UTF-16 code units) into the source's text, end exclusive,
 * around the quote without its leading and trailing whitespace. They are found by matching the
 * quote's tokens in the source's tokens, then its text in the source's text nearest to where those
 * tokens decode to (a tokenizer whose decode does not give the text back, one that normalises,
 * may leave a quote unlocated: null).
 */
import { joinSources } from '../generate/span_constraint.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import type { QuoteScore } from './abstain.ts';

/** Where a quote is: sources[index].slice(start, end). */
export interface QuoteLocation {
  index: number;
  start: number;
  end: number;
}

/** A grounded completion: the quote, its score (null for a sampled one) and its place. */
export interface QuotedCompletion {
  /** The quote as decoded (with the leading space the model wrote). */
  text: string;
  /** Quote tokens, EOS excluded. */
  tokens: number;
  /** Whether it ended with EOS (else: the token budget ran out). */
  finished: boolean;
  /** The beam search's scores; null when the quote was sampled (temperature > 0). */
  score: QuoteScore | null;
  /** null when the quote is empty or could not be located. */
  at: QuoteLocation | null;
}

/** The first place (source, token) where `quote` occurs in the sources' tokens, or null. */
function findTokens(ids: readonly (readonly number[])[], quote: readonly number[]): [number, number] | null {
  if (quote.length === 0) return null;
  for (let s = 0; s < ids.length; s++)
    for (let p = 0; p + quote.length <= ids[s].length; p++) {
      let k = 0;
      while (k < quote.length && ids[s][p + k] === quote[k]) k++;
      if (k === quote.length) return [s, p];
    }
  return null;
}

/** Locates a quote (its tokens and text) in the sources (their tokens and text). */
export function locateQuote(
  sources: readonly string[],
  ids: readonly (readonly number[])[],
  quote: readonly number[],
  decode: (ids: readonly number[]) => string,
): QuoteLocation | null {
  const found = findTokens(ids, quote);
  if (!found) return null;
  const [index, p] = found;
  const text = decode(quote);
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const near = decode(ids[index].slice(0, p)).length + (text.length - text.trimStart().length);
  const src = sources[index];
  let best = -1;
  for (let at = src.indexOf(trimmed); at >= 0; at = src.indexOf(trimmed, at + 1))
    if (best < 0 || Math.abs(at - near) < Math.abs(best - near)) best = at;
  return best < 0 ? null : { index, start: best, end: best + trimmed.length };
}

/**
 * Runs a grounded decoder over the sources and locates its quote. `decodeQuote` gets the joined
 * source (tokens with walls) and returns the quote's tokens, with the search's score when it has one.
 */
export async function quoteSources(
  tok: Tokenizer,
  sources: readonly string[],
  decodeQuote: (
    source: number[],
  ) => Promise<{ tokens: number[]; finished: boolean; score: QuoteScore | null }>,
): Promise<QuotedCompletion> {
  const ids = sources.map((s) => tok.encode(s, { addSpecialTokens: false }));
  if (ids.every((x) => x.length === 0))
    throw new Error('grounded decoding needs a non-empty source to quote');
  const q = await decodeQuote(joinSources(ids));
  return {
    text: tok.decode(q.tokens),
    tokens: q.tokens.length,
    finished: q.finished,
    score: q.score,
    at: locateQuote(sources, ids, q.tokens, (x) => tok.decode(x)),
  };
}
