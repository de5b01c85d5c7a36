/**
 * LoRA training as the one loop runs it: any trainer's task (SFT, DPO) with the adapters in place
 * of the model. The optimizer is given the adapters' parameters only (the base is frozen by
 * applyLora and holds no gradient and no AdamW moments); checkpoints hold the adapters and their
 * moments under `lora.` (on --resume the base is loaded again from --model, unchanged); the end
 * writes a PEFT adapter directory (models/load_lora.ts) instead of a model directory.
 */
import { saveLoraAdapter } from '../models/load_lora.ts';
import type { LoraAdapters } from '../models/lora.ts';
import type { Metrics, TrainTask } from './loop.ts';

export function loraTask<B, M extends Metrics, E extends Metrics>(
  task: TrainTask<B, M, E>,
  adapters: LoraAdapters,
  baseModel: string,
): TrainTask<B, M, E> {
  return { ...task, modules: { lora: adapters }, save: (out) => saveLoraAdapter(out, adapters, baseModel) };
}

/** Trainable values and their share of all (base + adapters), for the log line. */
export function loraSummary(adapters: LoraAdapters, baseParams: number): string {
  const n = adapters.numParameters();
  const c = adapters.config;
  return (
    `LoRA r=${c.r} alpha=${c.alpha} dropout=${c.dropout} on ${c.targets.join(',')}: ${n} trainable ` +
    `parameters (${((100 * n) / (n + baseParams)).toFixed(3)}% of ${n + baseParams}), base frozen`
  );
}
