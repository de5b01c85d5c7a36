/**
 * PPO for language models (Ziegler et al. 2019; Ouyang et al. 2022), following TRL's PPOTrainer.
 * One iteration:
 *
 *   1. rollout    sample a response per prompt from the policy (src/generate, KV cache)
 *   2. score      no tape: policy log-probs and values, reference log-probs, reward r(x, y)
 *   3. targets    per-token reward -kl_coef (logp - logp_ref) + r on the last token; GAE; whiten A
 *   4. optimise   ppoEpochs passes over the rollouts in shuffled minibatches:
 *                 loss = clipped surrogate + vfCoef * clipped value loss; AdamW step each minibatch
 *   5. KL         update the KL coefficient (adaptive) with the batch's mean sequence KL
 *
 * Models held: the actor-critic (policy + value head on one shared trunk, heads.ts), the frozen
 * reference (no grads, no optimizer state) and whatever the reward function closes over (a frozen
 * reward model). Only the actor-critic has gradient buffers and AdamW moments.
 */
import { generate } from '../generate/index.ts';
import type { DecoderLM } from '../models/decoder.ts';
import type { PolicyWithValue } from '../models/heads.ts';
import { add, backward, gatherLogProbs, scale, type Tensor, tidy } from '../tensor/index.ts';
import { Rng } from '../tensor/random.ts';
import { AdamW } from './adamw.ts';
import {
  type ResponseBatch,
  responseBatch,
  rowEntropy,
  selectPositions,
  selectRows,
  withoutTape,
} from './logprobs.ts';
import {
  AdaptiveKlController,
  FixedKlController,
  gae,
  type KlController,
  perTokenRewards,
  whiten,
} from './ppo_advantages.ts';
import { ppoPolicyLoss, ppoValueLoss } from './ppo_loss.ts';
import { shuffle } from './reward.ts';

export interface PpoOptions {
  /** Rollouts per iteration (one per prompt). */
  batchSize: number;
  /** Rollouts per optimizer step. */
  miniBatchSize: number;
  /** Passes over each rollout batch. Default 4. */
  ppoEpochs?: number;
  lr: number;
  /** Length cap of a response. */
  maxNewTokens: number;
  /** End-of-response token(s). */
  eos?: number | readonly number[];
  /** Sampling temperature; logits are divided by it when scoring too (TRL). Default 1. */
  temperature?: number;
  /** Default 1 (no discount within a response, as TRL). */
  gamma?: number;
  /** GAE lambda. Default 0.95. */
  lambda?: number;
  /** Surrogate clip eps. Default 0.2. */
  clipRange?: number;
  /** Value clip. Default 0.2. */
  clipRangeValue?: number;
  /** Weight of the value loss (it shares the trunk). Default 0.1. */
  vfCoef?: number;
  /** Initial (or fixed) KL coefficient. Default 0.2. */
  klCoef?: number;
  /** Adaptive KL: the target mean sequence KL (nats); null keeps klCoef fixed. Default null. */
  targetKl?: number | null;
  /** Adaptive KL horizon in rollouts. Default 10000. */
  horizon?: number;
  /** Subtracted from the reward of a response that did not end with EOS. Default 0. */
  missingEosPenalty?: number;
  /** Whiten advantages over each rollout batch. Default true. */
  whitenAdvantages?: boolean;
  maxGradNorm?: number;
  weightDecay?: number;
  seed?: number;
}

/** Reward of each row of a batch of prompt + response (e.g. a reward model's score). */
export type RewardFn = (batch: ResponseBatch, responses: readonly number[][]) => Float32Array;

/** TRL's PPO metrics for one iteration (TRL's names in comments). */
export interface PpoStats {
  iteration: number;
  /** env/reward_mean: mean reward-function score (before the KL penalty and EOS penalty). */
  reward: number;
  /** objective/kl: mean over rollouts of sum_t (logp - logp_ref). */
  kl: number;
  /** objective/entropy, per token: mean policy entropy (nats) over response tokens. */
  entropy: number;
  /** objective/kl_coef. */
  kl_coef: number;
  /** ppo/mean_non_score_reward: mean over rollouts of the summed KL penalty. */
  non_score_reward: number;
  /** ppo/loss/policy. */
  policy_loss: number;
  /** ppo/loss/value. */
  value_loss: number;
  /** ppo/policy/clipfrac. */
  clipfrac: number;
  /** ppo/val/clipfrac. */
  value_clipfrac: number;
  /** ppo/policy/approxkl. */
  approx_kl: number;
  /** ppo/returns/mean. */
  returns: number;
  /** tokens/responses_len_mean. */
  response_length: number;
}

/** A scored rollout batch, everything on the [B, T] layout of `batch`. */
export interface Rollout {
  batch: ResponseBatch;
  responses: number[][];
  logp: Float32Array;
  values: Float32Array;
  refLogp: Float32Array;
  scores: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
  entropy: number;
  kl: number;
  nonScoreReward: number;
}

export class PpoTrainer {
  readonly opt: AdamW;
  readonly klCtl: KlController;
  iteration = 0;
  private readonly rng: Rng;

  constructor(
    readonly actor: PolicyWithValue,
    readonly ref: DecoderLM,
    readonly reward: RewardFn,
    readonly o: PpoOptions,
  ) {
    if (!(o.miniBatchSize > 0 && o.miniBatchSize <= o.batchSize))
      throw new Error(`PPO: miniBatchSize ${o.miniBatchSize} must be in [1, batchSize ${o.batchSize}]`);
    for (const p of ref.parameters())
      if (p.requiresGrad) throw new Error('PPO: the reference must be frozen (use referenceModel())');
    this.opt = new AdamW(actor.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 0 });
    const init = o.klCoef ?? 0.2;
    this.klCtl =
      o.targetKl != null
        ? new AdaptiveKlController(init, o.targetKl, o.horizon ?? 10000)
        : new FixedKlController(init);
    this.rng = new Rng(o.seed ?? 0);
  }

  /** Policy logits at temperature, and values, for a batch (with the tape when grad is on). */
  private forward(batch: ResponseBatch): { logits: Tensor; values: Tensor } {
    const { logits, values } = this.actor.forward(batch.ids, batch.B, batch.T);
    const temp = this.o.temperature ?? 1;
    return { logits: temp === 1 ? logits : scale(logits, 1 / temp), values };
  }

  /** Steps 1 to 3: sample, score and compute advantages for one prompt per rollout. */
  async rollout(prompts: readonly (readonly number[])[]): Promise<Rollout> {
    const o = this.o;
    const policy = this.actor.policy;
    policy.training = false;
    const results = await generate(policy, prompts, {
      maxNewTokens: o.maxNewTokens,
      temperature: o.temperature ?? 1,
      eos: o.eos,
      seed: (o.seed ?? 0) * 1000003 + this.iteration,
    });
    const responses = results.map((r) => r.ids);
    const batch = responseBatch(
      prompts.map((p, b) => ({ prompt: p, response: responses[b] })),
      policy.contextLength,
    );
    const { B, T } = batch;
    const V = policy.vocabSize;
    const temp = o.temperature ?? 1;
    const scored = withoutTape(() => {
      const { logits, values } = this.forward(batch);
      const ent = rowEntropy(logits.data, B * T, V);
      let e = 0;
      let n = 0;
      for (let i = 0; i < B * T; i++) {
        e += ent[i] * batch.mask[i];
        n += batch.mask[i];
      }
      const refLogits = this.ref.forward(batch.ids, B, T);
      const refScaled = temp === 1 ? refLogits : scale(refLogits, 1 / temp);
      return {
        logp: Float32Array.from(gatherLogProbs(logits, batch.targets).data),
        values: Float32Array.from(values.data),
        refLogp: Float32Array.from(gatherLogProbs(refScaled, batch.targets).data),
        entropy: e / n,
      };
    });
    const scores = Float32Array.from(this.reward(batch, responses));
    const eos = o.eos === undefined ? [] : typeof o.eos === 'number' ? [o.eos] : o.eos;
    const penalised = Float32Array.from(scores);
    if (o.missingEosPenalty)
      responses.forEach((r, b) => {
        if (!eos.includes(r[r.length - 1])) penalised[b] -= o.missingEosPenalty ?? 0;
      });
    const klCoef = this.klCtl.value;
    const rewards = perTokenRewards(scored.logp, scored.refLogp, batch.mask, penalised, B, T, klCoef);
    const { advantages, returns } = gae(
      rewards,
      scored.values,
      batch.mask,
      B,
      T,
      o.gamma ?? 1,
      o.lambda ?? 0.95,
    );
    let kl = 0;
    for (let i = 0; i < B * T; i++) kl += (scored.logp[i] - scored.refLogp[i]) * batch.mask[i];
    return {
      batch,
      responses,
      logp: scored.logp,
      values: scored.values,
      refLogp: scored.refLogp,
      scores,
      advantages: o.whitenAdvantages === false ? advantages : whiten(advantages, batch.mask),
      returns,
      entropy: scored.entropy,
      kl: kl / B,
      nonScoreReward: (-klCoef * kl) / B,
    };
  }

  /** Step 4: several epochs of clipped-loss minibatch updates on a rollout batch. */
  optimize(
    r: Rollout,
  ): Pick<PpoStats, 'policy_loss' | 'value_loss' | 'clipfrac' | 'value_clipfrac' | 'approx_kl'> {
    const o = this.o;
    const B = r.batch.B;
    const mb = o.miniBatchSize;
    const sums = { policy_loss: 0, value_loss: 0, clipfrac: 0, value_clipfrac: 0, approx_kl: 0 };
    let n = 0;
    this.actor.policy.training = true;
    for (let epoch = 0; epoch < (o.ppoEpochs ?? 4); epoch++) {
      const order = shuffle(B, this.rng);
      for (let s = 0; s < B; s += mb) {
        const rows = order.slice(s, s + mb);
        const sub = selectRows(r.batch, rows);
        const pick = (a: Float32Array) => selectPositions(a, r.batch, rows);
        const m = tidy(() => {
          const { logits, values } = this.forward(sub);
          const logp = gatherLogProbs(logits, sub.targets); // [b, T']
          const pg = ppoPolicyLoss(logp, pick(r.logp), pick(r.advantages), sub.mask, o.clipRange ?? 0.2);
          const vf = ppoValueLoss(values, pick(r.values), pick(r.returns), sub.mask, o.clipRangeValue ?? 0.2);
          const loss = add(pg.loss, scale(vf.loss, o.vfCoef ?? 0.1));
          backward(loss);
          return {
            policy_loss: pg.loss.item(),
            value_loss: vf.loss.item(),
            clipfrac: pg.clipFrac,
            value_clipfrac: vf.clipFrac,
            approx_kl: pg.approxKl,
          };
        });
        this.opt.update({ maxGradNorm: o.maxGradNorm ?? 1 });
        this.opt.zeroGrad();
        for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += m[k];
        n++;
      }
    }
    this.actor.policy.training = false;
    for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] /= n;
    return sums;
  }

  /** One PPO iteration on a batch of prompts (one rollout each). */
  async step(prompts: readonly (readonly number[])[]): Promise<PpoStats> {
    if (prompts.length !== this.o.batchSize)
      throw new Error(`PPO: ${prompts.length} prompts for batchSize ${this.o.batchSize}`);
    const r = await this.rollout(prompts);
    const opt = this.optimize(r);
    const klCoef = this.klCtl.value;
    this.klCtl.update(r.kl, r.batch.B);
    this.iteration++;
    let reward = 0;
    for (const s of r.scores) reward += s;
    let ret = 0;
    let n = 0;
    for (let i = 0; i < r.returns.length; i++) {
      ret += r.returns[i] * r.batch.mask[i];
      n += r.batch.mask[i];
    }
    let len = 0;
    for (const x of r.batch.responseLengths) len += x;
    return {
      iteration: this.iteration,
      reward: reward / r.batch.B,
      kl: r.kl,
      entropy: r.entropy,
      kl_coef: klCoef,
      non_score_reward: r.nonScoreReward,
      ...opt,
      returns: ret / n,
      response_length: len / r.batch.B,
    };
  }
}
