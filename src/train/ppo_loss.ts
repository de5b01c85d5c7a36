/**
 * PPO's two losses (Schulman et al. 2017, with the value clipping of TRL / OpenAI's lm-human-
 * preferences), each a fused op over response tokens with its closed-form backward:
 *
 *   ratio = exp(logp - logp_old)
 *   policy:  L_pg = masked_mean(max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)))
 *            dL/dlogp = -A ratio / n   where the unclipped term is the max, else 0: a ratio that is
 *            already outside [1 - eps, 1 + eps] in the direction A favours gets no further push.
 *   value:   v_c  = v_old + clip(v - v_old, -eps_v, eps_v)
 *            L_vf = 0.5 masked_mean(max((v - R)^2, (v_c - R)^2))
 *            dL/dv = (v - R) / n   where the unclipped term is the max, else 0.
 *
 * Inputs are flat over [B * T] positions with a 0/1 mask (logprobs.ts's response mask); n = mask sum.
 * The ops also return the statistics TRL logs: clip fractions and approx-KL 0.5 E[(logp - logp_old)^2].
 */
import { gradOf, record, Tensor } from '../tensor/index.ts';

function masked(n: number, arrays: ArrayLike<number>[], mask: ArrayLike<number>, op: string): number {
  for (const a of arrays) if (a.length !== n) throw new Error(`${op}: ${a.length} values for ${n} positions`);
  if (mask.length !== n) throw new Error(`${op}: mask of ${mask.length} for ${n} positions`);
  let count = 0;
  for (let i = 0; i < n; i++) count += mask[i];
  if (count === 0) throw new Error(`${op}: the mask selects no position`);
  return count;
}

export interface PolicyLossResult {
  loss: Tensor;
  /** Fraction of response tokens where the clipped term is the larger (no gradient). */
  clipFrac: number;
  /** 0.5 E[(logp - logp_old)^2] over response tokens. */
  approxKl: number;
  /** Mean ratio over response tokens. */
  ratio: number;
}

/** logp: [N] (tensor), oldLogp, advantages, mask: [N] -> the clipped surrogate loss (scalar). */
export function ppoPolicyLoss(
  logp: Tensor,
  oldLogp: ArrayLike<number>,
  advantages: ArrayLike<number>,
  mask: ArrayLike<number>,
  clipRange: number,
): PolicyLossResult {
  const N = logp.size;
  const n = masked(N, [oldLogp, advantages], mask, 'ppoPolicyLoss');
  if (!(clipRange > 0)) throw new Error(`ppoPolicyLoss: clip range must be > 0 (got ${clipRange})`);
  const dl = new Float64Array(N); // d loss / d logp_i, before the 1/n
  let total = 0;
  let clipped = 0;
  let kl = 0;
  let ratios = 0;
  for (let i = 0; i < N; i++) {
    if (mask[i] === 0) continue;
    const d = logp.data[i] - oldLogp[i];
    const ratio = Math.exp(d);
    const A = advantages[i];
    const unclipped = -A * ratio;
    const clippedTerm = -A * Math.min(Math.max(ratio, 1 - clipRange), 1 + clipRange);
    if (clippedTerm > unclipped) {
      total += clippedTerm * mask[i];
      clipped += mask[i];
    } else {
      total += unclipped * mask[i];
      dl[i] = unclipped * mask[i]; // d(-A e^d)/d logp = -A ratio
    }
    kl += 0.5 * d * d * mask[i];
    ratios += ratio * mask[i];
  }
  const loss = record(Tensor.scalar(total / n), 'ppoPolicyLoss', [logp], (g) => {
    if (!logp.requiresGrad) return;
    const dx = gradOf(logp);
    const gv = g.data[0] / n;
    for (let i = 0; i < N; i++) dx[i] += gv * dl[i];
  });
  return { loss, clipFrac: clipped / n, approxKl: kl / n, ratio: ratios / n };
}

export interface ValueLossResult {
  loss: Tensor;
  /** Fraction of response tokens where the clipped value error is the larger. */
  clipFrac: number;
}

/** values: [N] (tensor), oldValues, returns, mask: [N] -> the clipped value loss (scalar). */
export function ppoValueLoss(
  values: Tensor,
  oldValues: ArrayLike<number>,
  returns: ArrayLike<number>,
  mask: ArrayLike<number>,
  clipRangeValue: number,
): ValueLossResult {
  const N = values.size;
  const n = masked(N, [oldValues, returns], mask, 'ppoValueLoss');
  if (!(clipRangeValue > 0)) throw new Error(`ppoValueLoss: clip range must be > 0 (got ${clipRangeValue})`);
  const dv = new Float64Array(N);
  let total = 0;
  let clipped = 0;
  for (let i = 0; i < N; i++) {
    if (mask[i] === 0) continue;
    const v = values.data[i];
    const R = returns[i];
    const vc = oldValues[i] + Math.min(Math.max(v - oldValues[i], -clipRangeValue), clipRangeValue);
    const e1 = (v - R) ** 2;
    const e2 = (vc - R) ** 2;
    if (e2 > e1) {
      total += 0.5 * e2 * mask[i];
      clipped += mask[i];
    } else {
      total += 0.5 * e1 * mask[i];
      dv[i] = (v - R) * mask[i];
    }
  }
  const loss = record(Tensor.scalar(total / n), 'ppoValueLoss', [values], (g) => {
    if (!values.requiresGrad) return;
    const dx = gradOf(values);
    const gv = g.data[0] / n;
    for (let i = 0; i < N; i++) dx[i] += gv * dv[i];
  });
  return { loss, clipFrac: clipped / n };
}
