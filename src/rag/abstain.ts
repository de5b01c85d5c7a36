/**
 * Abstention: what the answer path says when the documents do not hold the answer, when it says
 * it, and how an answer is recognised as one.
 *
 * A grounded answer (a quote of the retrieved chunks, found by beam search: quote_search.ts) has a
 * confidence. When the model directory holds a calibrated threshold (POLICY_FILE, written by
 * `xfmr eval --calibrate` from the real-prose dev split: src/recipe/calibrate.ts) and the
 * confidence is below it, the answer is NOT_FOUND_ANSWER and the sources are still shown. Without
 * the file nothing abstains on purpose: the model abstains only when it writes nothing, or a
 * refusal in words. Evaluation (src/recipe/eval.ts) counts abstentions with `isAbstention`.
 *
 * Confidences of a quote (its tokens t1..tn, then EOS, under the model, not renormalised):
 *   mean_logprob  log P(t1..tn, EOS | prompt) / (n + 1): the search's own ranking
 *   logprob       log P(t1..tn, EOS | prompt): short quotes score higher
 *   beam_share    P(quote) / sum of P(q) over every finished quote the beam met: how much of the
 *                 answer mass found went to this one (1 when nothing else came close)
 * A quote with no EOS within the token budget has confidence -Infinity (no whole answer was found).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The answer text of an abstention. */
export const NOT_FOUND_ANSWER = 'I could not find the answer in the documents.';

/** The calibrated threshold in a model directory. */
export const POLICY_FILE = 'xfmr_rag.json';

export type ConfidenceKind = 'mean_logprob' | 'logprob' | 'beam_share';
export const CONFIDENCE_KINDS: readonly ConfidenceKind[] = ['mean_logprob', 'logprob', 'beam_share'];
/**
 * The confidence reported when the model has no policy file, and the one calibration writes by
 * default: the search's own ranking. On the real-prose dev split the shipped tiny model's AUROCs
 * (answerable vs unanswerable) were 0.50, 0.49 and 0.47 for the three kinds: none separates for a
 * model that does not read; `xfmr eval --calibrate` prints them again for a new model.
 */
export const DEFAULT_CONFIDENCE: ConfidenceKind = 'mean_logprob';

/** What the quote search says about its answer (src/generate/quote_search.ts's Quote). */
export interface QuoteScore {
  /** Quote tokens, EOS excluded. */
  tokens: number;
  /** log P(tokens, EOS | prompt). */
  logprob: number;
  /** log of the summed probability of every finished quote the search met. */
  finishedLogprob: number;
  /** Whether the quote ended with EOS within the budget. */
  finished: boolean;
}

export function confidenceOf(kind: ConfidenceKind, s: QuoteScore): number {
  if (!s.finished) return Number.NEGATIVE_INFINITY;
  switch (kind) {
    case 'mean_logprob':
      return s.logprob / (s.tokens + 1);
    case 'logprob':
      return s.logprob;
    case 'beam_share':
      return Math.exp(s.logprob - s.finishedLogprob);
  }
}

/** A model's calibrated abstention: answers whose confidence is below `abstainBelow` abstain. */
export interface AbstainPolicy {
  abstainBelow: number;
  confidence: ConfidenceKind;
  /** What it was calibrated on ("realprose-dev: 103 answerable, 18 unanswerable"). */
  calibratedOn: string;
  /** When (ISO 8601). */
  date: string;
  /** The file it was read from ('' when not read from a file). */
  file: string;
}

/** The JSON of POLICY_FILE: {"abstain_below", "confidence", "calibrated_on", "date"} (+ extra report fields). */
export function policyJson(p: AbstainPolicy): Record<string, string | number> {
  return {
    abstain_below: p.abstainBelow,
    confidence: p.confidence,
    calibrated_on: p.calibratedOn,
    date: p.date,
  };
}

/**
 * The policy of a model directory: null when it has no POLICY_FILE (or the model is a file, such as
 * a .gguf). A file that is there but wrong is an error naming the file and the field.
 */
export function readAbstainPolicy(modelDir: string): AbstainPolicy | null {
  const file = join(modelDir, POLICY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    throw new Error(`${file}: expected a JSON object`);
  const o = j as Record<string, unknown>;
  const below = o.abstain_below;
  if (typeof below !== 'number' || !Number.isFinite(below))
    throw new Error(`${file}: "abstain_below" must be a finite number, got ${JSON.stringify(below)}`);
  const kind = o.confidence;
  if (typeof kind !== 'string' || !(CONFIDENCE_KINDS as readonly string[]).includes(kind))
    throw new Error(
      `${file}: "confidence" must be one of ${CONFIDENCE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`,
    );
  for (const f of ['calibrated_on', 'date'])
    if (o[f] !== undefined && typeof o[f] !== 'string')
      throw new Error(`${file}: "${f}" must be a string, got ${JSON.stringify(o[f])}`);
  return {
    abstainBelow: below,
    confidence: kind as ConfidenceKind,
    calibratedOn: (o.calibrated_on as string | undefined) ?? '',
    date: (o.date as string | undefined) ?? '',
    file,
  };
}

/**
 * The decision for a scored quote: its confidence (of the policy's kind, else DEFAULT_CONFIDENCE;
 * null without a score: a sampled quote) and whether to abstain (only with a policy).
 */
export function decide(
  policy: AbstainPolicy | null | undefined,
  score: QuoteScore | null,
): { confidence: number | null; abstained: boolean } {
  if (score === null) return { confidence: null, abstained: false };
  const confidence = confidenceOf(policy?.confidence ?? DEFAULT_CONFIDENCE, score);
  return { confidence, abstained: policy != null && !(confidence >= policy.abstainBelow) };
}

/** Refusals in words: "not found", "could not find", "no answer", "I don't know", "cannot answer". */
const REFUSAL =
  /\b(not found|could ?n[o']t find|cannot find|can't find|no answer|do ?n[o']t know|cannot answer|can't answer|unanswerable)\b/i;

/**
 * Whether an answer abstains: empty (only whitespace: the model stopped at once), or a refusal.
 *
 *   isAbstention('')                                     -> true
 *   isAbstention(NOT_FOUND_ANSWER)                       -> true
 *   isAbstention('--reverse')                            -> false
 */
export function isAbstention(answer: string): boolean {
  return answer.trim() === '' || REFUSAL.test(answer);
}
