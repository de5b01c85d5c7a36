/**
 * Calibrating abstention: the confidence threshold below which an answer abstains, from the
 * confidences of answers to answerable and to unanswerable questions (src/rag/abstain.ts).
 *
 * The rule (abstain when confidence < t): maximise the share of unanswerable questions abstained
 * on, subject to answering at least `minAnswerRate` of the answerable ones.
 *
 *   a ascending, n answerable, m = ceil(minAnswerRate * n) must be answered
 *   t <= a[n - m]                     keeps m answered (every a >= t is answered)
 *   abstentions #{u < t}              grow with t, so t = a[n - m] abstains the most
 *   every t in (U, a[n - m]]          abstains as much, U = the largest unanswerable score below
 *                                     a[n - m]: the midpoint of that interval is chosen, for a
 *                                     margin on both sides
 * When no unanswerable score is below a[n - m], nothing can be abstained on without losing
 * answerable questions: t is the lowest score seen (never abstains on these questions).
 *
 *   chooseThreshold([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10], [-9.5, -8, -12, -5], 0.9)
 *     -> { threshold: -9.25, answerRate: 0.9, abstainRate: 0.5 }
 */

export interface ThresholdChoice {
  threshold: number;
  /** Share of the answerable questions answered at that threshold, in [0, 1]. */
  answerRate: number;
  /** Share of the unanswerable questions abstained on, in [0, 1]. */
  abstainRate: number;
}

/** Figures of a threshold on the two score sets. */
export function thresholdFigures(
  threshold: number,
  answerable: readonly number[],
  unanswerable: readonly number[],
): ThresholdChoice {
  const share = (xs: readonly number[], f: (x: number) => boolean) =>
    xs.length ? xs.filter(f).length / xs.length : 0;
  return {
    threshold,
    answerRate: share(answerable, (x) => x >= threshold),
    abstainRate: share(unanswerable, (x) => !(x >= threshold)),
  };
}

export function chooseThreshold(
  answerable: readonly number[],
  unanswerable: readonly number[],
  minAnswerRate = 0.9,
): ThresholdChoice {
  if (answerable.length === 0) throw new Error('calibration needs at least one answerable question');
  if (!(minAnswerRate > 0 && minAnswerRate <= 1))
    throw new Error(`the least answer rate must be in (0, 1], got ${minAnswerRate}`);
  for (const [name, xs] of [
    ['answerable', answerable],
    ['unanswerable', unanswerable],
  ] as const)
    if (xs.some((x) => Number.isNaN(x))) throw new Error(`calibration: a ${name} confidence is NaN`);
  const a = [...answerable].sort((x, y) => x - y);
  const n = a.length;
  // 1e-9: 0.9 * 10 is 9.000000000000002 in floating point, and must need 9 answers, not 10
  const m = Math.ceil(minAnswerRate * n - 1e-9);
  const top = a[n - m];
  const below = unanswerable.filter((u) => u < top);
  if (below.length === 0) {
    const lowest = Math.min(...[...a, ...unanswerable].filter((x) => Number.isFinite(x)));
    return thresholdFigures(lowest, answerable, unanswerable);
  }
  const u = Math.max(...below);
  const t = Number.isFinite(u) ? (u + top) / 2 : top;
  return thresholdFigures(t, answerable, unanswerable);
}

/**
 * How well a confidence separates answerable (should be high) from unanswerable questions: the
 * area under the ROC curve, P(a > u) + P(a = u) / 2 over all pairs; 0.5 is chance, 1 perfect.
 */
export function auroc(answerable: readonly number[], unanswerable: readonly number[]): number {
  if (answerable.length === 0 || unanswerable.length === 0) return Number.NaN;
  let s = 0;
  for (const x of answerable) for (const u of unanswerable) s += x > u ? 1 : x === u ? 0.5 : 0;
  return s / (answerable.length * unanswerable.length);
}
