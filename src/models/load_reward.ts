/**
 * Reward models <-> directories. A reward model directory is a model directory (the trunk, Hugging
 * Face layout, load.ts) plus `score_head.safetensors` holding `score.weight` [1, C] and
 * `score.bias` [1], the names of a one-label *ForSequenceClassification head.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject, JsonValue } from '../io/checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { toFloat32 } from '../io/tensors.ts';
import { RewardModel } from './heads.ts';
import { loadDecoder, saveModel } from './load.ts';

export const SCORE_FILE = 'score_head.safetensors';

/** Writes the trunk as a model directory, then the score head beside it. */
export function saveRewardModel(
  dir: string,
  rm: RewardModel,
  extra: { tokenizerJson?: JsonValue; chatTemplate?: string; generationConfig?: JsonObject } = {},
): void {
  saveModel(dir, rm.trunk, extra);
  const C = rm.trunk.config.dModel;
  writeSafetensors(join(dir, SCORE_FILE), [
    { name: 'score.weight', shape: [1, C], dtype: 'F32', data: rm.head.proj.weight.data },
    { name: 'score.bias', shape: [1], dtype: 'F32', data: rm.head.proj.bias?.data ?? new Float32Array(1) },
  ]);
}

/** Loads a directory written by saveRewardModel. */
export function loadRewardModel(dir: string): {
  rm: RewardModel;
  tokenizerJson?: JsonValue;
  chatTemplate?: string;
} {
  const path = join(dir, SCORE_FILE);
  if (!existsSync(path))
    throw new Error(`${dir}: not a reward model (no ${SCORE_FILE}); train one with xfmr reward train`);
  const loaded = loadDecoder(dir);
  const rm = new RewardModel(loaded.model);
  const { tensors } = readSafetensors(path);
  const w = tensors.get('score.weight');
  const b = tensors.get('score.bias');
  const C = loaded.config.dModel;
  if (!w || toFloat32(w).length !== C) throw new Error(`${path}: score.weight must have shape [1, ${C}]`);
  if (!b || toFloat32(b).length !== 1) throw new Error(`${path}: score.bias must have shape [1]`);
  rm.head.proj.weight.data.set(toFloat32(w));
  rm.head.proj.bias?.data.set(toFloat32(b));
  return { rm, tokenizerJson: loaded.tokenizerJson, chatTemplate: loaded.chatTemplate };
}
