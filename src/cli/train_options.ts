/**
 * The options every training command (pretrain, sft, dpo, reward train, ppo) passes to the
 * training loop: where the run lives and how it checkpoints, resumes and skips bad steps.
 */
import type { RunOptions } from '../train/loop.ts';
import { optInt, optNumber, type ParsedArgs } from './args.ts';

export const LOOP_VALUES = ['checkpoint-every', 'max-skipped', 'max-grad-norm'];
export const LOOP_FLAGS = ['resume'];

/** --out, --resume, --checkpoint-every (default `checkpointEvery`), --max-skipped, --max-grad-norm. */
export function runOptions(
  a: ParsedArgs,
  out: string,
  checkpointEvery: number,
): Required<Pick<RunOptions, 'out' | 'resume' | 'checkpointEvery' | 'maxSkipped' | 'maxGradNorm'>> {
  return {
    out,
    resume: a.options.has('resume'),
    checkpointEvery: optInt(a, 'checkpoint-every', checkpointEvery),
    maxSkipped: optInt(a, 'max-skipped', 10),
    maxGradNorm: optNumber(a, 'max-grad-norm', 1),
  };
}
