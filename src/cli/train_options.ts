/**
 * The options every training command (pretrain, sft, dpo, reward train, ppo) passes to the
 * training loop: where the run lives, how it checkpoints, resumes and skips bad steps, and its
 * compute precision.
 */
import { DTYPE_CHOICES, type DtypeChoice } from '../tensor/index.ts';
import type { RunOptions } from '../train/loop.ts';
import { optInt, optNumber, optString, type ParsedArgs, UsageError } from './args.ts';

export const LOOP_VALUES = ['checkpoint-every', 'max-skipped', 'max-grad-norm', 'dtype'];
export const LOOP_FLAGS = ['resume'];

/**
 * --dtype f32|bf16|auto (default auto: bf16 where the bf16 GEMM runs on AMX tiles, f32 elsewhere
 * and on the js backend; see resolveDtype for why AVX512-BF16 alone stays f32). The loop prints the choice and keeps a checkpoint's on
 * --resume.
 */
export function dtypeOption(a: ParsedArgs): DtypeChoice {
  const d = optString(a, 'dtype') ?? 'auto';
  if (!(DTYPE_CHOICES as readonly string[]).includes(d))
    throw new UsageError(`--dtype must be ${DTYPE_CHOICES.join(', ')}, got "${d}"`);
  return d as DtypeChoice;
}

/**
 * --out, --resume, --checkpoint-every (default `checkpointEvery`), --max-skipped, --max-grad-norm,
 * --dtype.
 */
export function runOptions(
  a: ParsedArgs,
  out: string,
  checkpointEvery: number,
): Required<Pick<RunOptions, 'out' | 'resume' | 'checkpointEvery' | 'maxSkipped' | 'maxGradNorm' | 'dtype'>> {
  return {
    out,
    resume: a.options.has('resume'),
    checkpointEvery: optInt(a, 'checkpoint-every', checkpointEvery),
    maxSkipped: optInt(a, 'max-skipped', 10),
    maxGradNorm: optNumber(a, 'max-grad-norm', 1),
    dtype: dtypeOption(a),
  };
}
