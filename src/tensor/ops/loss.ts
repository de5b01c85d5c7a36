/**
 * Losses on logits, fused so that probabilities are never stored:
 * - crossEntropy: mean over non-ignored targets of -log softmax(logits)[target]
 * - gatherLogProbs: log softmax(logits)[target] per position (sequence log-probs for DPO/PPO)
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

export const IGNORE_INDEX = -100;

function rows(logits: Tensor, targets: Int32Array, op: string): [number, number] {
  const V = logits.shape[logits.ndim - 1];
  const N = logits.size / V;
  if (targets.length !== N)
    throw new Error(`${op}: ${targets.length} targets for ${N} rows of logits [${logits.shape}]`);
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    if (t !== IGNORE_INDEX && !(t >= 0 && t < V))
      throw new Error(`${op}: target ${t} at row ${i} outside [0, ${V})`);
  }
  return [N, V];
}

/** logits: [..., V]; targets: one per row (IGNORE_INDEX = -100 skips a row) -> scalar mean loss. */
export function crossEntropy(logits: Tensor, targets: Int32Array, ignoreIndex = IGNORE_INDEX): Tensor {
  const [N, V] = rows(logits, targets, 'crossEntropy');
  const k = kernels();
  const losses = new Float32Array(N);
  const lse = new Float32Array(N);
  const valid = k.crossEntropyForward(logits.data, targets, losses, lse, N, V, ignoreIndex);
  let total = 0;
  for (let i = 0; i < N; i++) total += losses[i];
  // No valid target: loss 0 and no gradient (rather than 0/0).
  const out = Tensor.scalar(valid > 0 ? total / valid : 0);
  return record(out, 'crossEntropy', [logits], (g) => {
    if (!logits.requiresGrad || valid === 0) return;
    const dl = new Float32Array(N).fill(g.data[0] / valid);
    k.crossEntropyBackward(logits.data, targets, lse, dl, gradOf(logits), N, V, ignoreIndex);
  });
}

/** logits: [..., V]; targets: one per row -> [...] log-probabilities of the targets. */
export function gatherLogProbs(logits: Tensor, targets: Int32Array): Tensor {
  const [N, V] = rows(logits, targets, 'gatherLogProbs');
  const k = kernels();
  const nll = new Float32Array(N);
  const lse = new Float32Array(N);
  // Ignore nothing: -1 is never a valid target here (rows() checked them).
  k.crossEntropyForward(logits.data, targets, nll, lse, N, V, -1);
  const out = Tensor.empty(logits.shape.slice(0, -1));
  for (let i = 0; i < N; i++) out.data[i] = -nll[i];
  return record(out, 'gatherLogProbs', [logits], (g) => {
    if (!logits.requiresGrad) return;
    const dl = new Float32Array(N);
    for (let i = 0; i < N; i++) dl[i] = -g.data[i];
    k.crossEntropyBackward(logits.data, targets, lse, dl, gradOf(logits), N, V, -1);
  });
}
