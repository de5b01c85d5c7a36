/**
 * `xfmr pretrain --config PRESET|FILE.json --data DIR --out DIR [options]`: next-token prediction
 * on token shards made by `xfmr data prepare`. Checkpoints go to OUT/checkpoints, the metrics log
 * to OUT/metrics.jsonl, and the final model directory to OUT.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonValue } from '../io/checkpoint.ts';
import { DecoderLM } from '../models/decoder.ts';
import { resolveConfig } from '../models/load_config.ts';
import { AdamW } from '../train/adamw.ts';
import { BatchLoader, readManifest, TokenShard } from '../train/data.ts';
import { lmTask, trainLoop } from '../train/loop.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { LOOP_FLAGS, LOOP_VALUES, runOptions } from './train_options.ts';

export const TRAIN_VALUES = [
  ...LOOP_VALUES,
  'steps',
  'batch-size',
  'block-size',
  'grad-accum',
  'lr',
  'min-lr',
  'warmup',
  'weight-decay',
  'eval-every',
  'eval-batches',
  'seed',
  'dropout',
  'threads',
];

export const USAGE =
  'usage: xfmr pretrain --config PRESET|FILE.json --data DIR --out DIR [--json] [--resume]\n' +
  `  options (each takes a value): ${TRAIN_VALUES.map((v) => `--${v}`).join(', ')}`;

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: ['config', 'data', 'out', ...TRAIN_VALUES],
    flags: [...LOOP_FLAGS, 'json'],
  });
  const configSpec = optString(a, 'config');
  const dataDir = optString(a, 'data');
  const out = optString(a, 'out');
  if (!configSpec || !dataDir || !out) throw new UsageError(USAGE);
  const manifest = readManifest(dataDir);
  const T = optInt(a, 'block-size', 128);
  const base = resolveConfig(configSpec);
  const config = {
    ...base,
    vocabSize: manifest.vocabSize,
    contextLength: Math.max(base.contextLength, T),
    dropout: optNumber(a, 'dropout', base.dropout),
  };
  if (config.arch === 'bert')
    throw new UsageError('--config: pretrain trains decoders (gpt2, llama, qwen2, mistral), not bert');
  const seed = optInt(a, 'seed', 1337);
  const threads = optString(a, 'threads');
  if (threads) (await import('../kernels/index.ts')).kernels().setThreads(optInt(a, 'threads', 1));
  const model = new DecoderLM(config, seed);
  const steps = optInt(a, 'steps', 1000);
  const lr = optNumber(a, 'lr', 1e-3);
  const opt = new AdamW(model.parameters(), {
    lr,
    weightDecay: optNumber(a, 'weight-decay', 0.1),
    beta2: 0.95,
  });
  const B = optInt(a, 'batch-size', 16);
  const train = new TokenShard(join(dataDir, manifest.splits.train.file), manifest.dtype);
  const val = new TokenShard(join(dataDir, manifest.splits.val.file), manifest.dtype);
  const loader = new BatchLoader(train, B, T, seed + 7);
  const valLoader = val.length > T + 1 ? new BatchLoader(val, B, T, 0) : null;
  const evalBatches = optInt(a, 'eval-batches', 8);
  process.stderr.write(
    `xfmr pretrain: ${config.arch}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ` +
      `${train.length} train / ${val.length} val tokens, B=${B} T=${T}\n`,
  );
  // The tokenizer the data was made with goes into the model directory (when it is a file).
  const tokPath = statSync(manifest.tokenizer, { throwIfNoEntry: false })?.isDirectory()
    ? join(manifest.tokenizer, 'tokenizer.json')
    : manifest.tokenizer;
  const tokenizerJson =
    existsSync(tokPath) && tokPath.endsWith('.json')
      ? (JSON.parse(readFileSync(tokPath, 'utf8')) as JsonValue)
      : undefined;
  if (!tokenizerJson)
    process.stderr.write(
      `xfmr pretrain: tokenizer "${manifest.tokenizer}" is not a tokenizer.json file; the model directory will have none\n`,
    );
  const result = await trainLoop(
    lmTask(model, {
      next: () => loader.next(),
      evalBatches: () => valLoader?.evalBatches(evalBatches) ?? [],
      state: () => loader.state(),
      setState: (s) => loader.setState(s),
    }),
    opt,
    {
      ...runOptions(a, out, 100),
      steps,
      gradAccum: optInt(a, 'grad-accum', 1),
      schedule: {
        lr,
        minLr: optNumber(a, 'min-lr', lr / 10),
        warmupSteps: optInt(a, 'warmup', Math.min(100, Math.floor(steps / 10))),
        totalSteps: steps,
      },
      evalEvery: optInt(a, 'eval-every', 100),
      tokenizerJson,
    },
  );
  train.close();
  val.close();
  const last = result.evals.at(-1);
  const summary = {
    out,
    steps,
    start_step: result.startStep,
    dtype: result.dtype,
    final_loss: result.losses.at(-1) ?? null,
    val_loss: last?.val_loss ?? null,
    skipped: result.skipped,
    losses: result.losses,
  };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `trained to step ${steps}: loss ${summary.final_loss?.toFixed(4)}, val loss ${summary.val_loss?.toFixed(4) ?? 'n/a'}; model in ${out}\n`,
    );
}
