/**
 * `steps` optimizer steps of `model` on one fixed batch of 8 tokens, in training mode (dropout on),
 * returning each step's loss: what the LoRA tests train adapters with.
 */
import type { DecoderLM } from '../../src/models/decoder.ts';
import { backward, tidy } from '../../src/tensor/index.ts';
import type { AdamW } from '../../src/train/adamw.ts';

export function trainOnOneBatch(model: DecoderLM, opt: AdamW, steps: number): number[] {
  const ids = Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6]);
  const targets = Int32Array.from([1, 4, 1, 5, 9, 2, 6, 5]);
  const losses: number[] = [];
  model.training = true;
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      const l = model.loss(ids, targets, 1, 8);
      losses.push(l.item());
      backward(l);
    });
    opt.update();
    opt.zeroGrad();
  }
  model.training = false;
  return losses;
}
