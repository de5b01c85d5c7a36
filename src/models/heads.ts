/**
 * Scalar heads on a decoder trunk, for alignment:
 *   - the reward model: trunk + `score` head read at the last token of prompt + response
 *     (Hugging Face's *ForSequenceClassification with one label reads the last non-pad token too);
 *   - the value head of PPO: the same kind of head read at every position, on the policy's trunk.
 *
 *   h = trunk.hidden(ids)        // [B, T, C], the final-norm states the LM head reads
 *   r = score(h[b, last[b]])     // [B]
 *   V = value(h)                 // [B, T]
 *
 * Reward model directories (the trunk plus `score_head.safetensors`) are read and written by
 * load_reward.ts.
 */
import { Linear } from '../nn/linear.ts';
import { Module } from '../nn/module.ts';
import { gradOf, linear, Rng, record, reshape, Tensor } from '../tensor/index.ts';
import type { DecoderLM } from './decoder.ts';

/** y = h @ w.T + b with one output: [..., C] -> [...]. */
export class ScalarHead extends Module {
  readonly proj: Linear;

  /** std: init of the weight (0 gives a head that starts at exactly `bias` = 0). */
  constructor(dModel: number, rng: Rng, std = 1 / Math.sqrt(dModel + 1)) {
    super();
    this.proj = this.child('proj', new Linear(dModel, 1, true, rng, std));
  }

  forward(h: Tensor): Tensor {
    const y = this.proj.forward(h); // [..., 1]
    return reshape(y, h.shape.slice(0, -1)); // [...]
  }
}

/** h: [B, T, C], index: [B] positions -> [B, C] rows h[b, index[b]] (gradient scattered back). */
export function gatherRows(h: Tensor, index: Int32Array): Tensor {
  if (h.ndim !== 3) throw new Error(`gatherRows: needs [B, T, C], got [${h.shape}]`);
  const [B, T, C] = h.shape;
  if (index.length !== B) throw new Error(`gatherRows: ${index.length} indices for B=${B}`);
  for (let b = 0; b < B; b++)
    if (!(index[b] >= 0 && index[b] < T)) throw new Error(`gatherRows: index ${index[b]} outside [0, ${T})`);
  const out = Tensor.empty([B, C]);
  for (let b = 0; b < B; b++)
    out.data.set(h.data.subarray((b * T + index[b]) * C, (b * T + index[b] + 1) * C), b * C);
  return record(out, 'gatherRows', [h], (g) => {
    if (!h.requiresGrad) return;
    const dh = gradOf(h);
    for (let b = 0; b < B; b++) {
      const o = (b * T + index[b]) * C;
      for (let c = 0; c < C; c++) dh[o + c] += g.data[b * C + c];
    }
  });
}

/** The LM head of a decoder on its hidden states: [..., C] -> logits [..., V] (what forward() applies). */
export function lmHead(model: DecoderLM, h: Tensor): Tensor {
  return model.output ? model.output.forward(h) : linear(h, model.tokEmbeddings.weight); // tied: h @ wte.T
}

/** A reward model: a decoder trunk and a scalar head on the last token. Its LM head is unused. */
export class RewardModel {
  readonly head: ScalarHead;

  constructor(
    readonly trunk: DecoderLM,
    seed = 0,
  ) {
    this.head = new ScalarHead(trunk.config.dModel, new Rng(seed));
  }

  /** Trainable parameters: the trunk's, then the head's. */
  parameters(): Tensor[] {
    return [...this.trunk.parameters(), ...this.head.parameters()];
  }

  set training(on: boolean) {
    this.trunk.training = on;
  }

  /** ids: [B, T]; last: [B] position of each row's last token -> rewards [B]. */
  score(ids: Int32Array, B: number, T: number, last: Int32Array): Tensor {
    const h = this.trunk.hidden(ids, B, T); // [B, T, C]
    return this.head.forward(gatherRows(h, last)); // [B]
  }
}

/**
 * The PPO actor-critic on one shared trunk: the policy's LM head gives the logits, a value head
 * on the same hidden states gives V. One forward pass serves both, and no second trunk is held;
 * the price is that the value loss also moves the trunk (weighted by vfCoef in the PPO loss).
 */
export class PolicyWithValue {
  readonly value: ScalarHead;

  constructor(
    readonly policy: DecoderLM,
    seed = 0,
  ) {
    // A zero-initialised value head: V starts at 0 rather than at noise.
    this.value = new ScalarHead(policy.config.dModel, new Rng(seed), 0);
  }

  parameters(): Tensor[] {
    return [...this.policy.parameters(), ...this.value.parameters()];
  }

  /** ids: [B, T] -> logits [B, T, V] and values [B, T]. */
  forward(ids: Int32Array, B: number, T: number): { logits: Tensor; values: Tensor } {
    const h = this.policy.hidden(ids, B, T); // [B, T, C]
    return { logits: lmHead(this.policy, h), values: this.value.forward(h) };
  }
}
