/**
 * The training loop shared by pretraining and SFT: gradient accumulation, warmup + cosine
 * schedule, global-norm clipping, AdamW, evaluation every N steps, atomic checkpoints with exact
 * resume, skipping of non-finite steps, a JSONL metrics log and a progress line.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { saveModel } from '../models/load.ts';
import { backward, noGrad, type Rng, scale, tidy } from '../tensor/index.ts';
import type { AdamW } from './adamw.ts';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import type { Batch } from './data.ts';
import { Progress } from './progress.ts';
import { lrAt, type Schedule } from './schedule.ts';

export interface BatchSource {
  /** The next training micro-batch. */
  next(): Batch;
  /** The RNG that decides batches (saved in checkpoints). */
  readonly rng: Rng;
  /** Fixed validation batches (empty when there is no validation data). */
  evalBatches(): Batch[];
}

export interface LoopOptions {
  out: string;
  steps: number;
  gradAccum: number;
  schedule: Schedule;
  maxGradNorm: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Stop after this many non-finite steps in a row. */
  maxSkipped: number;
  resume: boolean;
  /** Written into the final model directory. */
  tokenizerJson?: import('../io/checkpoint.ts').JsonValue;
  chatTemplate?: string;
  /** Print progress (default true). */
  progress?: boolean;
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

export interface EvalMetrics {
  step: number;
  val_loss: number;
  val_ppl: number;
}

export interface LoopResult {
  losses: number[];
  evals: EvalMetrics[];
  skipped: number;
  startStep: number;
}

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

export async function trainLoop(
  model: DecoderLM,
  opt: AdamW,
  data: BatchSource,
  o: LoopOptions,
): Promise<LoopResult> {
  mkdirSync(o.out, { recursive: true });
  const metricsPath = join(o.out, 'metrics.jsonl');
  let step = 0;
  let skipped = 0;
  const latest = o.resume ? latestCheckpoint(o.out) : null;
  if (o.resume && !latest) process.stderr.write(`xfmr: no checkpoint in ${o.out}, starting from step 0\n`);
  if (latest) {
    const state = loadCheckpoint(latest.dir, model, opt);
    data.rng.setState(state.dataRng);
    step = state.step;
    skipped = state.skipped;
    // The log keeps only what the checkpoint had seen, so a resumed run continues it cleanly.
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8')
        .split('\n')
        .filter((l) => l && (JSON.parse(l) as { step: number }).step <= step);
      writeFileAtomic(metricsPath, kept.map((l) => `${l}\n`).join(''));
    }
    process.stderr.write(`xfmr: resumed from ${latest.dir} at step ${step}\n`);
  } else writeFileAtomic(metricsPath, '');
  const log = (m: StepMetrics | EvalMetrics) => appendFileSync(metricsPath, `${JSON.stringify(m)}\n`);
  const evalSet = data.evalBatches();
  const result: LoopResult = { losses: [], evals: [], skipped, startStep: step };
  const progress = o.progress === false ? null : new Progress('train', o.steps);
  const t0 = performance.now();
  let tokens = 0;
  let inARow = 0;
  model.training = true;
  while (step < o.steps) {
    const lr = lrAt(o.schedule, step);
    let loss = 0;
    for (let micro = 0; micro < o.gradAccum; micro++) {
      const b = data.next();
      tokens += b.B * b.T;
      loss +=
        tidy(() => {
          const l = model.loss(b.ids, b.targets, b.B, b.T);
          backward(o.gradAccum > 1 ? scale(l, 1 / o.gradAccum) : l);
          return l.item();
        }) / o.gradAccum;
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
      continue;
    }
    inARow = 0;
    opt.update({ lr, maxGradNorm: o.maxGradNorm, gradNorm: norm });
    opt.zeroGrad();
    result.losses.push(loss);
    const elapsed = (performance.now() - t0) / 1000;
    const m: StepMetrics = {
      step,
      loss,
      lr,
      grad_norm: norm,
      tokens,
      tok_s: tokens / elapsed,
      elapsed_s: elapsed,
    };
    log(m);
    progress?.update(step, `loss ${loss.toFixed(4)} ${m.tok_s.toFixed(0)} tok/s`);
    if (o.evalEvery > 0 && evalSet.length > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      const v = evaluate(model, evalSet);
      const e: EvalMetrics = { step, val_loss: v, val_ppl: Math.exp(v) };
      result.evals.push(e);
      log(e);
      process.stderr.write(`step ${step}: val loss ${v.toFixed(4)} (ppl ${e.val_ppl.toFixed(2)})\n`);
    }
    if (o.checkpointEvery > 0 && (step % o.checkpointEvery === 0 || step === o.steps)) {
      saveCheckpoint(o.out, model, opt, {
        step,
        dataRng: data.rng.getState(),
        dropRng: model.dropRng.getState(),
        skipped,
      });
    }
    // Let signals and I/O through between steps.
    await new Promise((r) => setImmediate(r));
  }
  model.training = false;
  result.skipped = skipped;
  saveModel(o.out, model, { tokenizerJson: o.tokenizerJson, chatTemplate: o.chatTemplate });
  return result;
}
