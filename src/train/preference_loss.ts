/**
 * Pairwise preference losses, each a fused op with its closed-form backward beside its forward:
 *
 *   Bradley-Terry (reward model):  L = mean_b -log sigmoid(r_c - r_r)
 *   DPO (Rafailov et al. 2023):    h = (pi_c - ref_c) - (pi_r - ref_r)      (sequence log-probs)
 *     sigmoid:                     L = mean_b -(1 - ls) log sigmoid(beta h) - ls log sigmoid(-beta h)
 *                                  dL/dh = beta (sigmoid(beta h) - (1 - ls))
 *                                  (ls = 0 is DPO; ls > 0 is conservative DPO, labels flipped with
 *                                  probability ls, as TRL's label_smoothing)
 *     ipo (Azar et al. 2023):      L = mean_b (h - 1 / (2 beta))^2,   dL/dh = 2 (h - 1 / (2 beta))
 *
 * The reference log-probs are plain numbers (computed once, no gradient); only the policy's are
 * tensors. Numerically, log sigmoid(x) = -log(1 + e^-x) is evaluated on the side where the
 * exponent is negative, so large margins neither overflow nor lose their gradient.
 */
import { gradOf, record, Tensor } from '../tensor/index.ts';

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function checkPair(a: Tensor, b: Tensor, op: string): number {
  if (a.ndim !== 1 || b.ndim !== 1 || a.size !== b.size)
    throw new Error(`${op}: expected two [B] tensors, got [${a.shape}] and [${b.shape}]`);
  if (a.size === 0) throw new Error(`${op}: empty batch`);
  return a.size;
}

/** chosen, rejected: rewards [B] -> scalar mean -log sigmoid(chosen - rejected). */
export function bradleyTerryLoss(chosen: Tensor, rejected: Tensor): Tensor {
  const B = checkPair(chosen, rejected, 'bradleyTerryLoss');
  const d = new Float64Array(B);
  let total = 0;
  for (let b = 0; b < B; b++) {
    d[b] = chosen.data[b] - rejected.data[b];
    total -= logSigmoid(d[b]);
  }
  const out = Tensor.scalar(total / B);
  return record(out, 'bradleyTerryLoss', [chosen, rejected], (g) => {
    const gv = g.data[0] / B;
    // d/d r_c = -(1 - sigmoid(d)) = -sigmoid(-d); d/d r_r = +sigmoid(-d)
    if (chosen.requiresGrad) {
      const dc = gradOf(chosen);
      for (let b = 0; b < B; b++) dc[b] -= gv * sigmoid(-d[b]);
    }
    if (rejected.requiresGrad) {
      const dr = gradOf(rejected);
      for (let b = 0; b < B; b++) dr[b] += gv * sigmoid(-d[b]);
    }
  });
}

export type RewardPairMetrics = {
  /** Fraction of pairs with r_c > r_r (ties count as wrong). */
  accuracy: number;
  /** Mean r_c - r_r. */
  margin: number;
};

export function rewardPairMetrics(chosen: ArrayLike<number>, rejected: ArrayLike<number>): RewardPairMetrics {
  let right = 0;
  let margin = 0;
  for (let b = 0; b < chosen.length; b++) {
    if (chosen[b] > rejected[b]) right++;
    margin += chosen[b] - rejected[b];
  }
  return { accuracy: right / chosen.length, margin: margin / chosen.length };
}

export type DpoLossType = 'sigmoid' | 'ipo';

export interface DpoLossOptions {
  /** Strength of the KL constraint: small beta lets the policy move far from the reference. */
  beta: number;
  /** 'sigmoid' (DPO, default) or 'ipo'. */
  loss?: DpoLossType;
  /** Conservative DPO: the probability that a label is flipped, in [0, 0.5). Sigmoid loss only. */
  labelSmoothing?: number;
}

export function checkDpoOptions(o: DpoLossOptions): Required<DpoLossOptions> {
  const loss = o.loss ?? 'sigmoid';
  const ls = o.labelSmoothing ?? 0;
  if (!(o.beta > 0 && Number.isFinite(o.beta))) throw new Error(`beta must be > 0 (got ${o.beta})`);
  if (loss !== 'sigmoid' && loss !== 'ipo') throw new Error(`loss must be sigmoid or ipo (got ${loss})`);
  if (!(ls >= 0 && ls < 0.5)) throw new Error(`label smoothing must be in [0, 0.5) (got ${ls})`);
  if (loss === 'ipo' && ls > 0)
    throw new Error('label smoothing applies to the sigmoid (DPO) loss, not to ipo');
  return { beta: o.beta, loss, labelSmoothing: ls };
}

/**
 * policyChosen, policyRejected: [B] sequence log-probs under the policy (tensors);
 * refChosen, refRejected: [B] under the frozen reference -> scalar mean loss.
 */
export function dpoLoss(
  policyChosen: Tensor,
  policyRejected: Tensor,
  refChosen: ArrayLike<number>,
  refRejected: ArrayLike<number>,
  options: DpoLossOptions,
): Tensor {
  const B = checkPair(policyChosen, policyRejected, 'dpoLoss');
  if (refChosen.length !== B || refRejected.length !== B)
    throw new Error(`dpoLoss: ${refChosen.length}/${refRejected.length} reference log-probs for B=${B}`);
  const { beta, loss, labelSmoothing: ls } = checkDpoOptions(options);
  const dh = new Float64Array(B); // dL_b/dh_b
  let total = 0;
  for (let b = 0; b < B; b++) {
    const h = policyChosen.data[b] - refChosen[b] - (policyRejected.data[b] - refRejected[b]);
    if (loss === 'ipo') {
      const e = h - 1 / (2 * beta);
      total += e * e;
      dh[b] = 2 * e;
    } else {
      total += -(1 - ls) * logSigmoid(beta * h) - ls * logSigmoid(-beta * h);
      dh[b] = beta * (sigmoid(beta * h) - (1 - ls));
    }
  }
  const out = Tensor.scalar(total / B);
  return record(out, 'dpoLoss', [policyChosen, policyRejected], (g) => {
    const gv = g.data[0] / B;
    if (policyChosen.requiresGrad) {
      const dc = gradOf(policyChosen);
      for (let b = 0; b < B; b++) dc[b] += gv * dh[b];
    }
    if (policyRejected.requiresGrad) {
      const dr = gradOf(policyRejected);
      for (let b = 0; b < B; b++) dr[b] -= gv * dh[b];
    }
  });
}

/** TRL's DPO metrics, with implicit rewards beta (pi - ref). */
export type DpoMetrics = {
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/accuracies': number;
  'rewards/margins': number;
};

export function dpoMetrics(
  policyChosen: ArrayLike<number>,
  policyRejected: ArrayLike<number>,
  refChosen: ArrayLike<number>,
  refRejected: ArrayLike<number>,
  beta: number,
): DpoMetrics {
  const B = policyChosen.length;
  let c = 0;
  let r = 0;
  let acc = 0;
  for (let b = 0; b < B; b++) {
    const rc = beta * (policyChosen[b] - refChosen[b]);
    const rr = beta * (policyRejected[b] - refRejected[b]);
    c += rc;
    r += rr;
    if (rc > rr) acc++;
  }
  return {
    'rewards/chosen': c / B,
    'rewards/rejected': r / B,
    'rewards/accuracies': acc / B,
    'rewards/margins': (c - r) / B,
  };
}
