/**
 * Abstention: what the answer path says when the documents do not hold the answer, and how an
 * answer is recognised as one.
 *
 * Today nothing in src/rag decides to abstain: `answer()` always returns what the generator wrote.
 * The hook for a calibrated decision (issue 17: below a confidence threshold, say so and show the
 * sources) is to return NOT_FOUND_ANSWER as the answer text; evaluation (src/recipe/eval.ts)
 * counts an answer as an abstention with `isAbstention`, so it measures that decision as soon as
 * it exists. Until then a model abstains only when it writes nothing, or writes a refusal in words.
 */

/** The answer text of an abstention. */
export const NOT_FOUND_ANSWER = 'I could not find the answer in the documents.';

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
