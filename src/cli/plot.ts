/**
 * `xfmr plot METRICS.jsonl --out loss.png`: train loss (blue) and validation loss (orange) against
 * the step, from the metrics log that pretrain and sft write.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/files.ts';
import { BLUE, ORANGE, plotSeries } from '../train/plot.ts';
import { optString, parseArgs, UsageError } from './args.ts';

export const USAGE = 'usage: xfmr plot METRICS.jsonl [--out loss.png]';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['out'] });
  const [file] = a.positionals;
  const out = optString(a, 'out') ?? 'loss.png';
  if (!file) throw new UsageError(USAGE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const train: [number, number][] = [];
  const val: [number, number][] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let m: { step?: number; loss?: number; val_loss?: number };
    try {
      m = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    if (typeof m.step !== 'number') return;
    if (typeof m.loss === 'number') train.push([m.step, m.loss]);
    if (typeof m.val_loss === 'number') val.push([m.step, m.val_loss]);
  });
  if (train.length + val.length === 0) throw new Error(`${file}: no "loss" or "val_loss" records`);
  writeFileAtomic(
    out,
    plotSeries([
      { points: train, color: BLUE },
      { points: val, color: ORANGE },
    ]),
  );
  process.stdout.write(
    `wrote ${out}: ${train.length} train points (blue), ${val.length} validation points (orange)\n`,
  );
}
