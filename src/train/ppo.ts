/**
 * PPO for language models (Ziegler et al. 2019; Ouyang et al. 2022), following TRL's PPOTrainer.
 * One iteration:
 *
 *   1. rollout    sample a response per prompt from the policy (src/generate, KV cache)
 *   2. score      no tape: policy log-probs and values, reference log-probs, reward r(x, y)
 *   3. targets    per-token reward -kl_coef (logp - logp_ref) + r on the last token; GAE; whiten A
 *   4. optimise   ppoEpochs passes over the rollouts in shuffled minibatches:
 *                 loss = clipped surrogate + vfCoef * clipped value loss; AdamW step each minibatch
 *   5. KL         update the KL coefficient (adaptive) with the batch's mean sequence KL (done
 *                 right after step 3: only the next rollout reads the new value)
 *
 * Models held: the actor-critic (policy + value head on one shared trunk, heads.ts), the frozen
 * reference (no grads, no optimizer state) and whatever the reward function closes over (a frozen
 * reward model). Only the actor-critic has gradient buffers and AdamW moments.
 *
 * Step 4 runs in the training loop (loop.ts): one loop step is one minibatch update, and the
 * loop's next() makes a new rollout batch whenever the previous one is used up. Checkpoints fall
 * on iteration boundaries, where the state is small (the RNGs, the iteration count, the KL
 * coefficient), so a killed run resumes exactly: the next rollout is generated from a seed that
 * depends only on the seed and the iteration.
 */
import { generate } from '../generate/index.ts';
import type { DecoderLM } from '../models/decoder.ts';
import type { PolicyWithValue } from '../models/heads.ts';
import { saveModel } from '../models/load.ts';
import { add, gatherLogProbs, scale, type Tensor } from '../tensor/index.ts';
import { Rng } from '../tensor/random.ts';
import { AdamW } from './adamw.ts';
import { shuffle } from './data.ts';
import {
  type ResponseBatch,
  responseBatch,
  rowEntropy,
  selectPositions,
  selectRows,
  withoutTape,
} from './logprobs.ts';
import {
  type BatchLoss,
  type LoopResult,
  loopOptions,
  type RunOptions,
  type TrainTask,
  trainLoop,
} from './loop.ts';
import {
  AdaptiveKlController,
  FixedKlController,
  gae,
  type KlController,
  perTokenRewards,
  whiten,
} from './ppo_advantages.ts';
import { ppoPolicyLoss, ppoValueLoss } from './ppo_loss.ts';

export interface PpoOptions extends Omit<RunOptions<PpoStepMetrics>, 'checkpointEvery'> {
  /** PPO iterations (rollout batch + optimisation) to run. */
  iterations: number;
  /** Checkpoint every N iterations (default 0: never). */
  checkpointEvery?: number;
  /** Rollouts per iteration (one per prompt, drawn with replacement from the pool). */
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
  weightDecay?: number;
  seed?: number;
  /** Called after each iteration with its metrics (to evaluate the policy, say); may be async. */
  onIteration?: (s: PpoStats) => void | Promise<void>;
}

/** Reward of each row of a batch of prompt + response (e.g. a reward model's score). */
export type RewardFn = (batch: ResponseBatch, responses: readonly number[][]) => Float32Array;

/** TRL's PPO metrics for one iteration (TRL's names in comments). */
export type PpoStats = {
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
};

/** What each minibatch update logs (means over the iteration in PpoStats). */
export type PpoStepMetrics = Pick<
  PpoStats,
  'policy_loss' | 'value_loss' | 'clipfrac' | 'value_clipfrac' | 'approx_kl'
>;

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
  /** The KL coefficient its rewards were computed with. */
  klCoef: number;
  nonScoreReward: number;
}

/** Policy logits at temperature, and values, for a batch (with the tape when grad is on). */
function actorForward(
  actor: PolicyWithValue,
  batch: ResponseBatch,
  temperature: number,
): { logits: Tensor; values: Tensor } {
  const { logits, values } = actor.forward(batch.ids, batch.B, batch.T); // [B, T, V], [B, T]
  return { logits: temperature === 1 ? logits : scale(logits, 1 / temperature), values };
}

/**
 * Steps 1 to 3 for one prompt per rollout: sample (seeded by seed and iteration), score without
 * the tape, per-token rewards with `klCoef`, GAE and whitened advantages.
 */
export async function makeRollout(
  actor: PolicyWithValue,
  ref: DecoderLM,
  reward: RewardFn,
  prompts: readonly (readonly number[])[],
  o: PpoOptions,
  iteration: number,
  klCoef: number,
): Promise<Rollout> {
  const policy = actor.policy;
  policy.training = false;
  const temp = o.temperature ?? 1;
  const results = await generate(policy, prompts, {
    maxNewTokens: o.maxNewTokens,
    temperature: temp,
    eos: o.eos,
    seed: (o.seed ?? 0) * 1000003 + iteration,
  });
  const responses = results.map((r) => r.ids);
  const batch = responseBatch(
    prompts.map((p, b) => ({ prompt: p, response: responses[b] })),
    policy.contextLength,
  );
  const { B, T } = batch;
  const V = policy.vocabSize;
  const scored = withoutTape(() => {
    const { logits, values } = actorForward(actor, batch, temp);
    const ent = rowEntropy(logits.data, B * T, V);
    let e = 0;
    let n = 0;
    for (let i = 0; i < B * T; i++) {
      e += ent[i] * batch.mask[i];
      n += batch.mask[i];
    }
    const refLogits = ref.forward(batch.ids, B, T); // [B, T, V]
    const refScaled = temp === 1 ? refLogits : scale(refLogits, 1 / temp);
    return {
      logp: Float32Array.from(gatherLogProbs(logits, batch.targets).data),
      values: Float32Array.from(values.data),
      refLogp: Float32Array.from(gatherLogProbs(refScaled, batch.targets).data),
      entropy: e / n,
    };
  });
  const scores = Float32Array.from(reward(batch, responses));
  const eos = o.eos === undefined ? [] : typeof o.eos === 'number' ? [o.eos] : o.eos;
  const penalised = Float32Array.from(scores);
  if (o.missingEosPenalty)
    responses.forEach((r, b) => {
      if (!eos.includes(r[r.length - 1])) penalised[b] -= o.missingEosPenalty ?? 0;
    });
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
    klCoef,
    nonScoreReward: (-klCoef * kl) / B,
  };
}

/** Step 4's loss on the rollouts `rows` of r: clipped surrogate + vfCoef * clipped value loss. */
export function ppoMinibatchLoss(
  actor: PolicyWithValue,
  r: Rollout,
  rows: readonly number[],
  o: PpoOptions,
): BatchLoss<PpoStepMetrics> {
  const sub = selectRows(r.batch, rows);
  const pick = (a: Float32Array) => selectPositions(a, r.batch, rows);
  const { logits, values } = actorForward(actor, sub, o.temperature ?? 1);
  const logp = gatherLogProbs(logits, sub.targets); // [b, T']
  const pg = ppoPolicyLoss(logp, pick(r.logp), pick(r.advantages), sub.mask, o.clipRange ?? 0.2);
  const vf = ppoValueLoss(values, pick(r.values), pick(r.returns), sub.mask, o.clipRangeValue ?? 0.2);
  return {
    loss: add(pg.loss, scale(vf.loss, o.vfCoef ?? 0.1)),
    metrics: {
      policy_loss: pg.loss.item(),
      value_loss: vf.loss.item(),
      clipfrac: pg.clipFrac,
      value_clipfrac: vf.clipFrac,
      approx_kl: pg.approxKl,
    },
    tokens: sub.B * sub.T,
  };
}

function klController(o: PpoOptions, value: number): KlController {
  return o.targetKl != null
    ? new AdaptiveKlController(value, o.targetKl, o.horizon ?? 10000)
    : new FixedKlController(value);
}

type PpoState = {
  iteration: number;
  klCoef: number;
  prompts: number[];
  order: number[];
  dropout: number[];
};

/**
 * PPO iterations on prompts drawn from `prompts`, through the training loop. The policy is
 * written to `o.out` at the end (the value head is not: it only serves training). The result's
 * `evals` are the iterations' PpoStats.
 */
export async function trainPpo(
  actor: PolicyWithValue,
  ref: DecoderLM,
  reward: RewardFn,
  prompts: readonly (readonly number[])[],
  o: PpoOptions,
): Promise<LoopResult<PpoStepMetrics, PpoStats>> {
  const B = o.batchSize;
  const mb = o.miniBatchSize;
  if (!(mb > 0 && mb <= B)) throw new Error(`PPO: miniBatchSize ${mb} must be in [1, batchSize ${B}]`);
  if (prompts.length === 0) throw new Error('PPO: no prompts');
  for (const p of ref.parameters())
    if (p.requiresGrad) throw new Error('PPO: the reference must be frozen (use referenceModel())');
  const opt = new AdamW(actor.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 0 });
  const epochs = o.ppoEpochs ?? 4;
  const perIteration = epochs * Math.ceil(B / mb);
  let klCtl = klController(o, o.klCoef ?? 0.2);
  const promptRng = new Rng((o.seed ?? 0) + 1);
  const orderRng = new Rng(o.seed ?? 0);
  let iteration = 0;
  let rollout: Rollout | null = null;
  // This iteration's minibatches (ppoEpochs shuffles of the rollouts), and sums of their metrics.
  let minibatches: number[][] = [];
  let at = 0;
  let sums: PpoStepMetrics = { policy_loss: 0, value_loss: 0, clipfrac: 0, value_clipfrac: 0, approx_kl: 0 };
  const task: TrainTask<{ r: Rollout; rows: number[] }, PpoStepMetrics, PpoStats> = {
    modules: { policy: actor.policy, value: actor.value },
    next: async () => {
      if (rollout === null || at === minibatches.length) {
        const batch = Array.from({ length: B }, () => prompts[promptRng.int(prompts.length)]);
        rollout = await makeRollout(actor, ref, reward, batch, o, iteration, klCtl.value);
        klCtl.update(rollout.kl, B);
        iteration++;
        minibatches = [];
        for (let e = 0; e < epochs; e++) {
          const order = shuffle(
            Array.from({ length: B }, (_, i) => i),
            orderRng,
          );
          for (let s = 0; s < B; s += mb) minibatches.push(order.slice(s, s + mb));
        }
        at = 0;
        sums = { policy_loss: 0, value_loss: 0, clipfrac: 0, value_clipfrac: 0, approx_kl: 0 };
      }
      return { r: rollout, rows: minibatches[at++] };
    },
    loss: ({ r, rows }) => {
      const l = ppoMinibatchLoss(actor, r, rows, o);
      for (const k of Object.keys(sums) as (keyof PpoStepMetrics)[]) sums[k] += l.metrics?.[k] ?? 0;
      return l;
    },
    setTraining: (on) => {
      actor.policy.training = on;
    },
    evaluate: async () => {
      const r = rollout as Rollout;
      const stats = iterationStats(r, sums, perIteration, iteration);
      await o.onIteration?.(stats);
      return stats;
    },
    state: (): PpoState => {
      if (at !== minibatches.length) throw new Error('PPO: a checkpoint must fall between iterations');
      return {
        iteration,
        klCoef: klCtl.value,
        prompts: promptRng.getState(),
        order: orderRng.getState(),
        dropout: actor.policy.dropRng.getState(),
      };
    },
    setState: (s) => {
      const st = s as PpoState;
      iteration = st.iteration;
      klCtl = klController(o, st.klCoef);
      promptRng.setState(st.prompts);
      orderRng.setState(st.order);
      actor.policy.dropRng.setState(st.dropout);
    },
    save: (out, files) => saveModel(out, actor.policy, files),
  };
  return trainLoop(task, opt, {
    ...loopOptions(o, {
      steps: o.iterations * perIteration,
      // PPO keeps its learning rate constant (TRL's default).
      schedule: { lr: o.lr, minLr: o.lr, warmupSteps: 0, totalSteps: o.iterations * perIteration },
      evalEvery: perIteration,
      label: 'ppo',
    }),
    checkpointEvery: (o.checkpointEvery ?? 0) * perIteration,
  });
}

/** An iteration's PpoStats: the rollout's, and the means of its minibatch updates. */
function iterationStats(r: Rollout, sums: PpoStepMetrics, n: number, iteration: number): PpoStats {
  let reward = 0;
  for (const s of r.scores) reward += s;
  let ret = 0;
  let count = 0;
  for (let i = 0; i < r.returns.length; i++) {
    ret += r.returns[i] * r.batch.mask[i];
    count += r.batch.mask[i];
  }
  let len = 0;
  for (const x of r.batch.responseLengths) len += x;
  return {
    iteration,
    reward: reward / r.batch.B,
    kl: r.kl,
    entropy: r.entropy,
    kl_coef: r.klCoef,
    non_score_reward: r.nonScoreReward,
    policy_loss: sums.policy_loss / n,
    value_loss: sums.value_loss / n,
    clipfrac: sums.clipfrac / n,
    value_clipfrac: sums.value_clipfrac / n,
    approx_kl: sums.approx_kl / n,
    returns: ret / count,
    response_length: len / r.batch.B,
  };
}
