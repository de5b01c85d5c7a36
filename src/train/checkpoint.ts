/**
 * Training checkpoints: the model directory (Hugging Face layout) plus everything needed to
 * continue exactly: optimizer moments and step, data-loader and dropout RNG states, the schedule
 * position. Layout under the run's output directory:
 *
 *   checkpoints/step-000100/   config.json, model.safetensors, optimizer.safetensors, state.json
 *   latest.json                {"step": 100, "dir": "checkpoints/step-000100"}
 *
 * A checkpoint directory is complete before latest.json (written atomically) points to it, so a
 * run killed at any moment resumes from the last complete checkpoint.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelDir } from '../io/checkpoint.ts';
import { writeFileAtomic } from '../io/files.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { type NamedTensor, toFloat32 } from '../io/tensors.ts';
import { fromHf } from '../io/weight_names.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { saveModel } from '../models/load.ts';
import type { AdamW } from './adamw.ts';

export interface TrainerState {
  step: number;
  dataRng: number[];
  dropRng: number[];
  skipped: number;
  /** Anything else a loop wants back (e.g. the SFT epoch position). */
  extra?: Record<string, number | string | number[]>;
}

export function saveCheckpoint(
  out: string,
  model: DecoderLM,
  opt: AdamW,
  state: TrainerState,
  keep = 2,
): string {
  const name = `step-${String(state.step).padStart(6, '0')}`;
  const rel = join('checkpoints', name);
  const dir = join(out, rel);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  saveModel(tmp, model);
  const moments: NamedTensor[] = [];
  opt.params.forEach((p, i) => {
    moments.push({ name: `m.${p.name}`, shape: [...p.shape], dtype: 'F32', data: opt.m[i] });
    moments.push({ name: `v.${p.name}`, shape: [...p.shape], dtype: 'F32', data: opt.v[i] });
  });
  writeSafetensors(join(tmp, 'optimizer.safetensors'), moments, { step: String(opt.step) });
  writeFileAtomic(join(tmp, 'state.json'), `${JSON.stringify(state)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  writeFileAtomic(join(out, 'latest.json'), `${JSON.stringify({ step: state.step, dir: rel })}\n`);
  pruneCheckpoints(out, keep, rel);
  return dir;
}

function pruneCheckpoints(out: string, keep: number, current: string): void {
  const root = join(out, 'checkpoints');
  const names = (existsSync(root) ? readdirSync(root) : []).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const n of names.slice(0, Math.max(0, names.length - keep))) {
    if (join('checkpoints', n) !== current) rmSync(join(root, n), { recursive: true, force: true });
  }
}

/** The latest complete checkpoint of a run, or null when there is none. */
export function latestCheckpoint(out: string): { step: number; dir: string } | null {
  const path = join(out, 'latest.json');
  if (!existsSync(path)) return null;
  const j = JSON.parse(readFileSync(path, 'utf8')) as { step: number; dir: string };
  return { step: j.step, dir: join(out, j.dir) };
}

/** Restores model weights, optimizer state and RNG states; returns the trainer state. */
export function loadCheckpoint(dir: string, model: DecoderLM, opt: AdamW): TrainerState {
  const d = loadModelDir(dir);
  const canonical = fromHf(model.config, d.tensors, `${dir}/model.safetensors`);
  model.loadStateDict(new Map([...canonical].map(([n, t]) => [n, toFloat32(t)])), `${dir}/model.safetensors`);
  const { tensors, metadata } = readSafetensors(join(dir, 'optimizer.safetensors'));
  opt.params.forEach((p, i) => {
    const m = tensors.get(`m.${p.name}`);
    const v = tensors.get(`v.${p.name}`);
    if (!m || !v) throw new Error(`${dir}/optimizer.safetensors: missing moments of ${p.name}`);
    opt.m[i].set(toFloat32(m));
    opt.v[i].set(toFloat32(v));
  });
  opt.step = Number(metadata?.step ?? 0);
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainerState;
  model.dropRng.setState(state.dropRng);
  return state;
}
