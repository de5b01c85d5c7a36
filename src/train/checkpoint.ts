/**
 * Training checkpoints: everything a run needs to continue exactly. Layout under the run's output
 * directory:
 *
 *   checkpoints/step-000100/   weights.safetensors    the trained modules, `KEY.canonical.name`, F32
 *                              optimizer.safetensors  AdamW moments `m.NAME`, `v.NAME`; its step in metadata
 *                              state.json             loop step, skip count, the trainer's own state
 *                                                     (data position, RNG states, PPO's KL coefficient),
 *                                                     the compute dtype (f32 or bf16)
 *   latest.json                {"step": 100, "dir": "checkpoints/step-000100"}
 *
 * A checkpoint directory is complete before latest.json (written atomically) points to it, so a
 * run killed at any moment resumes from the last complete checkpoint. A checkpoint is not a model
 * directory (a reward model or an actor-critic is not one model); the trainer writes that at the end.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonValue, writeFileAtomic } from '../io/files.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { type NamedTensor, toFloat32 } from '../io/tensors.ts';
import type { Module } from '../nn/module.ts';
import type { ComputeDtype, Tensor } from '../tensor/index.ts';
import type { AdamW } from './adamw.ts';

/** The loop's own state, and the trainer's under `task`. */
export interface TrainerState {
  step: number;
  skipped: number;
  /** Tokens seen so far (the metrics log counts on from it). */
  tokens: number;
  /** The compute precision of the run (absent in checkpoints from before bf16: those are f32). */
  dtype?: ComputeDtype;
  task: JsonValue;
}

/** Every parameter of the modules under `KEY.name` (a tensor shared by two names keeps the first). */
function namedWeights(modules: Readonly<Record<string, Module>>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const seen = new Set<Tensor>();
  for (const [key, m] of Object.entries(modules))
    for (const [name, p] of m.namedParameters(`${key}.`)) {
      if (seen.has(p)) continue;
      seen.add(p);
      out.set(name, p);
    }
  return out;
}

/** Names of the optimizer's parameters; each must belong to one of the modules. */
function optimizerNames(weights: Map<string, Tensor>, opt: AdamW): string[] {
  const nameOf = new Map([...weights].map(([n, p]) => [p, n]));
  return opt.params.map((p, i) => {
    const n = nameOf.get(p);
    if (n === undefined)
      throw new Error(
        `checkpoint: optimizer parameter ${i} (${p.name}) is in none of the checkpointed modules`,
      );
    return n;
  });
}

export function saveCheckpoint(
  out: string,
  modules: Readonly<Record<string, Module>>,
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
  const weights = namedWeights(modules);
  writeSafetensors(
    join(tmp, 'weights.safetensors'),
    [...weights].map(([n, p]): NamedTensor => ({ name: n, shape: [...p.shape], dtype: 'F32', data: p.data })),
  );
  const moments: NamedTensor[] = [];
  optimizerNames(weights, opt).forEach((n, i) => {
    const shape = [...opt.params[i].shape];
    moments.push({ name: `m.${n}`, shape, dtype: 'F32', data: opt.m[i] });
    moments.push({ name: `v.${n}`, shape, dtype: 'F32', data: opt.v[i] });
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

/** The state a checkpoint saved (state.json), without loading its tensors. */
export function readTrainerState(dir: string): TrainerState {
  const path = join(dir, 'state.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** Restores weights and optimizer state in place; returns the saved state. */
export function loadCheckpoint(
  dir: string,
  modules: Readonly<Record<string, Module>>,
  opt: AdamW,
): TrainerState {
  const weights = namedWeights(modules);
  const path = join(dir, 'weights.safetensors');
  if (!existsSync(path))
    throw new Error(`${dir}: no weights.safetensors (a checkpoint of an older xfmr? start without --resume)`);
  const saved = readSafetensors(path).tensors;
  for (const [n, p] of weights) {
    const t = saved.get(n);
    if (!t) throw new Error(`${path}: missing ${n} (was the run started with another model or trainer?)`);
    const v = toFloat32(t);
    if (v.length !== p.size) throw new Error(`${path}: ${n} has ${v.length} values, expected [${p.shape}]`);
    p.data.set(v);
  }
  const { tensors, metadata } = readSafetensors(join(dir, 'optimizer.safetensors'));
  optimizerNames(weights, opt).forEach((n, i) => {
    const m = tensors.get(`m.${n}`);
    const v = tensors.get(`v.${n}`);
    if (!m || !v) throw new Error(`${dir}/optimizer.safetensors: missing moments of ${n}`);
    opt.m[i].set(toFloat32(m));
    opt.v[i].set(toFloat32(v));
  });
  opt.step = Number(metadata?.step ?? 0);
  return readTrainerState(dir);
}
