/**
 * Resume tests without a subprocess: a run "crashes" by throwing from onStep at a step between
 * two checkpoints (as SIGKILL would stop it), then a fresh process-like setup resumes from the
 * last checkpoint. resume.test.ts does the same with a real SIGKILL through the CLI.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs train(onStep) and expects it to die at step `at`. */
export async function crashAt(
  at: number,
  train: (onStep: (m: { step: number }) => void) => Promise<unknown>,
): Promise<void> {
  await assert.rejects(
    train((m) => {
      if (m.step === at) throw new Error(`simulated crash at step ${at}`);
    }),
    /simulated crash/,
  );
}

/** Copies of the parameter values (to compare runs bit for bit). */
export function snapshot(params: readonly { data: Float32Array }[]): Float32Array[] {
  return params.map((p) => Float32Array.from(p.data));
}

/** The steps of OUT/metrics.jsonl's records, in order (each step once after a clean resume). */
export function loggedSteps(
  out: string,
  filter: (r: Record<string, unknown>) => boolean = () => true,
): number[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter(filter)
    .map((r) => r.step as number);
}
