/**
 * The one training loop. Pretraining, SFT, DPO, the reward model and PPO each describe their
 * work as a TrainTask (a batch source and the loss of a batch); the loop does the rest, the same
 * way for all of them: gradient accumulation, the learning-rate schedule, global-norm clipping,
 * AdamW, skipping of non-finite steps, evaluation every N steps, atomic checkpoints with exact
 * resume (weights, optimizer moments, data position and RNG states), a JSONL metrics log and a
 * progress line on stderr.
 *
 * One step: for each micro-batch, next() -> loss() -> backward (scaled by 1 / gradAccum); then the
 * global gradient norm; a non-finite loss or norm skips the update (gradients are dropped and the
 * step still counts, so the schedule and the data move on); else AdamW at lrAt(schedule, step).
 *
 * Precision (`dtype`): the steps, evaluations and PPO's rollouts run inside one compute-precision
 * scope (tensor/precision.ts). In bf16 the GEMMs and attention take bf16 operands; weights, AdamW
 * moments, gradients and everything else stay f32, so checkpoints and resume are unchanged, and
 * the dtype is saved in each checkpoint: a resumed run keeps it (runDtype).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonObject, type JsonValue, writeFileAtomic } from '../io/files.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { saveModel } from '../models/load.ts';
import type { Module } from '../nn/module.ts';
import {
  backward,
  type ComputeDtype,
  type DtypeChoice,
  type DtypeResolution,
  noGrad,
  resolveDtype,
  scale,
  type Tensor,
  tidy,
  withComputeDtype,
} from '../tensor/index.ts';
import type { AdamW } from './adamw.ts';
import { latestCheckpoint, loadCheckpoint, readTrainerState, saveCheckpoint } from './checkpoint.ts';
import type { Batch } from './data.ts';
import { Progress } from './progress.ts';
import { lrAt, type Schedule } from './schedule.ts';

/** Named numbers logged beside the loss (DPO's rewards/margins, PPO's clipfrac...). */
export type Metrics = Record<string, number>;
/** For tasks that log nothing beyond the loss. */
export type NoMetrics = Record<never, number>;

/** The loss of one micro-batch: a scalar on the tape, and what to log with it. */
export interface BatchLoss<M extends Metrics> {
  loss: Tensor; // [] or [1]
  metrics?: M;
  /** Tokens the batch held (for tokens/s). */
  tokens?: number;
}

/** Files written beside the weights of a final model directory. */
export interface ModelFiles {
  tokenizerJson?: JsonValue;
  chatTemplate?: string;
}

/** What a trainer gives the loop. */
export interface TrainTask<B, M extends Metrics = NoMetrics, E extends Metrics = NoMetrics> {
  /**
   * The modules checkpoints hold, each under a key (`{ model }`, `{ trunk, head }`); every
   * parameter the optimizer updates must belong to one of them.
   */
  modules: Readonly<Record<string, Module>>;
  /** The next micro-batch. It may do real work: PPO generates a rollout batch here. */
  next(): B | Promise<B>;
  /** The loss of a batch, with the tape on. */
  loss(batch: B): BatchLoss<M>;
  /** Dropout on (around loss()) or off (for next(), evaluate() and the end). */
  setTraining(on: boolean): void;
  /** Metrics every evalEvery steps and after the last: held-out loss, or PPO's iteration summary. */
  evaluate?(): E | Promise<E>;
  /** Data position and RNG states (dropout's too), as JSON: restored on resume. */
  state(): JsonValue;
  setState(s: JsonValue): void;
  /** Writes the trained model into `out` at the end; left out where the caller post-processes it. */
  save?(out: string, files: ModelFiles): void;
}

export interface LoopOptions<M extends Metrics = NoMetrics> extends ModelFiles {
  out: string;
  steps: number;
  gradAccum: number;
  schedule: Schedule;
  maxGradNorm: number;
  /** Evaluate every N steps and after the last (0: never). */
  evalEvery: number;
  /** Checkpoint every N steps and after the last (0: never). */
  checkpointEvery: number;
  /** Stop after this many non-finite steps in a row. */
  maxSkipped: number;
  resume: boolean;
  /**
   * Compute precision (tensor/precision.ts): f32, bf16, or auto (bf16 where the CPU has bf16
   * units). Left out: f32 for a new run. A resumed run keeps its checkpoint's (runDtype).
   */
  dtype?: DtypeChoice;
  /** Print progress and evaluations on stderr (default true). */
  progress?: boolean;
  /** The progress bar's label (default "train"). */
  label?: string;
  /** Called with each step's log record, after it is written. */
  onStep?: (m: StepMetrics & M) => void;
}

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tok_s: number;
  elapsed_s: number;
}

export interface LoopResult<M extends Metrics = NoMetrics, E extends Metrics = NoMetrics> {
  /** Losses of the steps this call ran (skipped ones left out). */
  losses: number[];
  steps: (StepMetrics & M)[];
  evals: (E & { step: number })[];
  skipped: number;
  startStep: number;
  /** The compute precision the run used. */
  dtype: ComputeDtype;
}

/**
 * The compute dtype of the run in `out`: with `resume` and a checkpoint there, the checkpoint's
 * (one from before bf16 is f32), and an explicit f32 or bf16 that differs is an error naming both;
 * else `choice` resolved (auto: from the CPU), f32 when left out.
 */
export function runDtype(choice: DtypeChoice | undefined, out: string, resume: boolean): DtypeResolution {
  const latest = resume ? latestCheckpoint(out) : null;
  if (!latest) return resolveDtype(choice ?? 'f32');
  const saved = readTrainerState(latest.dir).dtype ?? 'f32';
  if ((choice === 'f32' || choice === 'bf16') && choice !== saved)
    throw new Error(
      `--dtype ${choice} conflicts with the checkpoint to resume (${latest.dir}), trained in ${saved}: ` +
        `resume with --dtype ${saved} (or auto), or start a new run without --resume`,
    );
  return { dtype: saved, reason: 'from the checkpoint' };
}

export async function trainLoop<B, M extends Metrics, E extends Metrics>(
  task: TrainTask<B, M, E>,
  opt: AdamW,
  o: LoopOptions<M>,
): Promise<LoopResult<M, E>> {
  const precision = runDtype(o.dtype, o.out, o.resume);
  if (o.progress !== false) process.stderr.write(`dtype: ${precision.dtype} (${precision.reason})\n`);
  return withComputeDtype(precision.dtype, () => runLoop(task, opt, o, precision.dtype));
}

/** trainLoop inside its compute-precision scope. */
async function runLoop<B, M extends Metrics, E extends Metrics>(
  task: TrainTask<B, M, E>,
  opt: AdamW,
  o: LoopOptions<M>,
  dtype: ComputeDtype,
): Promise<LoopResult<M, E>> {
  mkdirSync(o.out, { recursive: true });
  const metricsPath = join(o.out, 'metrics.jsonl');
  const quiet = o.progress === false;
  let step = 0;
  let skipped = 0;
  let tokens = 0;
  const latest = o.resume ? latestCheckpoint(o.out) : null;
  if (o.resume && !latest) process.stderr.write(`xfmr: no checkpoint in ${o.out}, starting from step 0\n`);
  if (latest) {
    const state = loadCheckpoint(latest.dir, task.modules, opt);
    task.setState(state.task);
    step = state.step;
    skipped = state.skipped;
    tokens = state.tokens;
    // The log keeps only what the checkpoint had seen, so a resumed run continues it cleanly.
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8')
        .split('\n')
        .filter((l) => l && (JSON.parse(l) as { step: number }).step <= step);
      writeFileAtomic(metricsPath, kept.map((l) => `${l}\n`).join(''));
    }
    process.stderr.write(`xfmr: resumed from ${latest.dir} at step ${step}\n`);
  } else writeFileAtomic(metricsPath, '');
  const log = (m: JsonObject) => appendFileSync(metricsPath, `${JSON.stringify(m)}\n`);
  const result: LoopResult<M, E> = { losses: [], steps: [], evals: [], skipped, startStep: step, dtype };
  const progress = quiet ? null : new Progress(o.label ?? 'train', o.steps);
  const t0 = performance.now();
  const tokens0 = tokens;
  let inARow = 0;
  task.setTraining(false);
  while (step < o.steps) {
    const lr = lrAt(o.schedule, step);
    let loss = 0;
    const sums: Metrics = {};
    for (let micro = 0; micro < o.gradAccum; micro++) {
      const b = await task.next();
      task.setTraining(true);
      let value = 0;
      tidy(() => {
        const r = task.loss(b);
        backward(o.gradAccum > 1 ? scale(r.loss, 1 / o.gradAccum) : r.loss);
        value = r.loss.item();
        tokens += r.tokens ?? 0;
        for (const [k, v] of Object.entries(r.metrics ?? {})) sums[k] = (sums[k] ?? 0) + v / o.gradAccum;
      });
      task.setTraining(false);
      loss += value / o.gradAccum;
    }
    const norm = opt.gradNorm();
    step++;
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      opt.zeroGrad();
      skipped++;
      inARow++;
      process.stderr.write(
        `xfmr: step ${step}: non-finite ${Number.isFinite(loss) ? 'gradients' : 'loss'}, update skipped\n`,
      );
      if (inARow >= o.maxSkipped) {
        throw new Error(
          `training diverged: ${inARow} non-finite steps in a row (at step ${step}); lower --lr or --max-grad-norm, or check the data`,
        );
      }
    } else {
      inARow = 0;
      opt.update({ lr, maxGradNorm: o.maxGradNorm, gradNorm: norm });
      opt.zeroGrad();
      result.losses.push(loss);
      const elapsed = (performance.now() - t0) / 1000;
      const m = {
        step,
        loss,
        ...(sums as M),
        lr,
        grad_norm: norm,
        tokens,
        tok_s: (tokens - tokens0) / elapsed,
        elapsed_s: elapsed,
      };
      result.steps.push(m);
      log(m);
      o.onStep?.(m);
      progress?.update(step, `loss ${loss.toFixed(4)} ${m.tok_s.toFixed(0)} tok/s`);
    }
    if (task.evaluate && o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      const e = { step, ...(await task.evaluate()) };
      result.evals.push(e);
      log(e);
      if (!quiet) process.stderr.write(`step ${step}: ${formatMetrics(e)}\n`);
    }
    if (o.checkpointEvery > 0 && (step % o.checkpointEvery === 0 || step === o.steps)) {
      saveCheckpoint(o.out, task.modules, opt, { step, skipped, tokens, dtype, task: task.state() });
    }
    // Let signals and I/O through between steps.
    await new Promise((r) => setImmediate(r));
  }
  result.skipped = skipped;
  task.save?.(o.out, { tokenizerJson: o.tokenizerJson, chatTemplate: o.chatTemplate });
  return result;
}

function formatMetrics(m: Metrics): string {
  return Object.entries(m)
    .filter(([k]) => k !== 'step')
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(', ');
}

/** The options every trainer passes through to the loop (the trainer sets steps and schedule). */
export interface RunOptions<M extends Metrics = NoMetrics> extends ModelFiles {
  /** Metrics log, checkpoints and (for most trainers) the final model go here. */
  out: string;
  resume?: boolean;
  /** Default 0 (no checkpoints). */
  checkpointEvery?: number;
  /** Default 10. */
  maxSkipped?: number;
  /** Default 1. */
  maxGradNorm?: number;
  /** Compute precision (LoopOptions.dtype); default f32 for a new run. */
  dtype?: DtypeChoice;
  progress?: boolean;
  onStep?: (m: StepMetrics & M) => void;
}

/** LoopOptions from a trainer's RunOptions, with the defaults above. */
export function loopOptions<M extends Metrics>(
  o: RunOptions<M>,
  fixed: Pick<LoopOptions, 'steps' | 'schedule' | 'evalEvery' | 'label'>,
): LoopOptions<M> {
  return {
    ...fixed,
    out: o.out,
    gradAccum: 1,
    maxGradNorm: o.maxGradNorm ?? 1,
    checkpointEvery: o.checkpointEvery ?? 0,
    maxSkipped: o.maxSkipped ?? 10,
    resume: o.resume ?? false,
    dtype: o.dtype,
    progress: o.progress,
    onStep: o.onStep,
    tokenizerJson: o.tokenizerJson,
    chatTemplate: o.chatTemplate,
  };
}

// ---- next-token prediction: pretraining and SFT ----

/** A position (a data source's, an RNG's) that checkpoints save and restore. */
export interface Resumable {
  state(): JsonValue;
  setState(s: JsonValue): void;
}

/** The task state of a trainer that draws from `data` with dropout in `model`. */
export function dataAndDropout(data: Resumable, model: DecoderLM): Resumable {
  return {
    state: () => ({ data: data.state(), dropout: model.dropRng.getState() }),
    setState: (s) => {
      const st = s as { data: JsonValue; dropout: number[] };
      data.setState(st.data);
      model.dropRng.setState(st.dropout);
    },
  };
}

/** Micro-batches and fixed validation batches, with a position that checkpoints can restore. */
export interface BatchSource extends Resumable {
  next(): Batch;
  /** Fixed validation batches (empty when there is no validation data). */
  evalBatches(): Batch[];
}

export type LmEval = { val_loss: number; val_ppl: number };

/** Mean loss over batches, without the tape. */
export function evaluate(model: DecoderLM, batches: readonly Batch[]): number {
  if (batches.length === 0) return Number.NaN;
  const was = model.training;
  model.training = false;
  let total = 0;
  for (const b of batches) total += noGrad(() => tidy(() => model.loss(b.ids, b.targets, b.B, b.T).item()));
  model.training = was;
  return total / batches.length;
}

/** Pretraining and SFT: the model's (masked) next-token cross-entropy on each batch. */
export function lmTask(model: DecoderLM, data: BatchSource): TrainTask<Batch, NoMetrics, LmEval> {
  const evalSet = data.evalBatches();
  return {
    modules: { model },
    next: () => data.next(),
    loss: (b) => ({ loss: model.loss(b.ids, b.targets, b.B, b.T), tokens: b.B * b.T }),
    setTraining: (on) => {
      model.training = on;
    },
    evaluate:
      evalSet.length > 0
        ? () => {
            const v = evaluate(model, evalSet);
            return { val_loss: v, val_ppl: Math.exp(v) };
          }
        : undefined,
    ...dataAndDropout(data, model),
    save: (out, files) => saveModel(out, model, files),
  };
}

/** Held-out metrics under `val_` names (val_loss, val_accuracy), as the log and the plot read them. */
export type Val<M extends Metrics> = { [K in keyof M as `val_${K & string}`]: number };

export function val<M extends Metrics>(m: M): Val<M> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`val_${k}`, v])) as Val<M>;
}
