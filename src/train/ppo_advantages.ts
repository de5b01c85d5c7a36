/**
 * From a scored rollout to PPO's targets, on the [B, T] layout of logprobs.ts (a 0/1 mask marks
 * the positions whose next token is a response token; each row's are contiguous):
 *
 *   per-token reward   r_t = -kl_coef (logp_t - logp_ref_t),  plus score_b on the row's last one
 *                      (Ziegler et al. 2019; the "k1" KL estimate TRL uses)
 *   GAE                delta_t = r_t + gamma V_{t+1} - V_t           (V after the last token = 0)
 *                      A_t     = delta_t + gamma lambda A_{t+1}
 *                      R_t     = A_t + V_t                           (the value targets)
 *   whitening          A <- (A - mean) / (std + 1e-8) over response tokens
 *
 * and the KL coefficient's controllers: fixed, or adaptive (Ziegler et al.: multiply by
 * 1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon after each batch of n rollouts).
 */

/** r_t on response positions: -klCoef (logp - refLogp), and score[b] added at each row's last one. */
export function perTokenRewards(
  logp: ArrayLike<number>,
  refLogp: ArrayLike<number>,
  mask: ArrayLike<number>,
  scores: ArrayLike<number>,
  B: number,
  T: number,
  klCoef: number,
): Float32Array {
  const r = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let last = -1;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (mask[i] === 0) continue;
      r[i] = -klCoef * (logp[i] - refLogp[i]);
      last = i;
    }
    if (last < 0) throw new Error(`perTokenRewards: row ${b} has no response token`);
    r[last] += scores[b];
  }
  return r;
}

/** Generalised advantage estimation along each row's response positions (zeros elsewhere). */
export function gae(
  rewards: ArrayLike<number>,
  values: ArrayLike<number>,
  mask: ArrayLike<number>,
  B: number,
  T: number,
  gamma: number,
  lambda: number,
): { advantages: Float32Array; returns: Float32Array } {
  if (rewards.length !== B * T || values.length !== B * T || mask.length !== B * T)
    throw new Error(`gae: arrays must hold B * T = ${B * T} values`);
  const advantages = new Float32Array(B * T);
  const returns = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let nextValue = 0;
    let nextAdv = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (mask[i] === 0) continue;
      const delta = rewards[i] + gamma * nextValue - values[i];
      const a = delta + gamma * lambda * nextAdv;
      advantages[i] = a;
      returns[i] = a + values[i];
      nextValue = values[i];
      nextAdv = a;
    }
  }
  return { advantages, returns };
}

/** (x - mean) / (std + 1e-8) over masked positions (others stay 0); shiftMean=false keeps the mean. */
export function whiten(x: ArrayLike<number>, mask: ArrayLike<number>, shiftMean = true): Float32Array {
  let n = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    n += mask[i];
    s += x[i] * mask[i];
  }
  if (n === 0) throw new Error('whiten: the mask selects nothing');
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2 * mask[i];
  // Unbiased variance (torch.var's default, as TRL's masked_var).
  const std = Math.sqrt(n > 1 ? v / (n - 1) : 0);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (mask[i] === 0) continue;
    out[i] = (x[i] - mean) / (std + 1e-8) + (shiftMean ? 0 : mean);
  }
  return out;
}

export interface KlController {
  readonly value: number;
  /** Called after each rollout batch with its mean sequence KL and its number of rollouts. */
  update(currentKl: number, nSteps: number): void;
}

export class FixedKlController implements KlController {
  constructor(readonly value: number) {}
  update(): void {}
}

/** Ziegler et al. (2019): steers the mean sequence KL towards `target`. */
export class AdaptiveKlController implements KlController {
  value: number;
  constructor(
    init: number,
    readonly target: number,
    readonly horizon: number,
  ) {
    if (!(target > 0 && horizon > 0)) throw new Error('adaptive KL: target and horizon must be > 0');
    this.value = init;
  }

  update(currentKl: number, nSteps: number): void {
    const err = Math.min(Math.max(currentKl / this.target - 1, -0.2), 0.2);
    this.value *= 1 + (err * nSteps) / this.horizon;
  }
}
