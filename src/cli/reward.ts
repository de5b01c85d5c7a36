/**
 * `xfmr reward train --model DIR --data PREFS.jsonl --out DIR [options]`: trains a reward model
 * (the model's trunk + a scalar head on the last token) on preference pairs with the Bradley-Terry
 * loss. Rows: {"prompt","chosen","rejected"} or the conversational forms (preference_data.ts),
 * rendered with the model's chat template when it has one. A held-out slice (--held-out, default
 * 10%) gives the accuracy. Scores are then shifted and scaled to mean 0, std 1 over the training
 * responses (--no-normalize keeps them raw). OUT is a model directory plus score_head.safetensors,
 * with metrics.jsonl and checkpoints (--checkpoint-every steps, default 100; --resume continues).
 */
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../io/checkpoint.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { RewardModel } from '../models/heads.ts';
import { loadDecoder } from '../models/load.ts';
import { saveRewardModel } from '../models/load_reward.ts';
import { withComputeDtype } from '../tensor/index.ts';
import { resolveEos } from '../tokenizers/eos.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import {
  buildPreferenceExample,
  makeRenderer,
  type PreferenceExample,
  parsePreferenceJsonl,
  preferenceRows,
  type Renderer,
} from '../train/preference_data.ts';
import { normalizeRewardModel, trainRewardModel } from '../train/reward.ts';
import { optInt, optNumber, optString, type ParsedArgs, parseArgs, UsageError } from './args.ts';
import { LOOP_FLAGS, LOOP_VALUES, runOptions } from './train_options.ts';

/** Options every alignment command shares. */
export const ALIGN_VALUES = [
  'model',
  'out',
  'max-len',
  'seed',
  'lr',
  'steps',
  'batch-size',
  'bos-id',
  'threads',
];
export const ALIGN_FLAGS = ['json', 'no-template'];

export interface AlignmentModel {
  model: DecoderLM;
  renderer: Renderer;
  maxLen: number;
  tokenizerJson?: JsonValue;
  chatTemplate?: string;
}

/** Loads --model with its tokenizer, chat template (unless --no-template), EOS and --bos-id. */
export async function loadAlignmentModel(a: ParsedArgs): Promise<AlignmentModel> {
  const dir = optString(a, 'model');
  if (!dir) throw new UsageError('--model DIR is required');
  const threads = optString(a, 'threads');
  if (threads) (await import('../kernels/index.ts')).kernels().setThreads(optInt(a, 'threads', 1));
  const { model, chatTemplate, tokenizerJson, config } = loadDecoder(dir);
  const tok = loadTokenizer(dir);
  const bosArg = optString(a, 'bos-id');
  const bosId = bosArg === undefined ? null : optInt(a, 'bos-id', 0);
  if (bosId !== null && !(bosId >= 0 && bosId < config.vocabSize))
    throw new UsageError(
      `--bos-id ${bosId} is not a token id of this model (vocabulary ${config.vocabSize})`,
    );
  const template = a.options.has('no-template') ? undefined : chatTemplate;
  const renderer = makeRenderer(tok, {
    eosId: resolveEos({ dir, tokenizer: tok, vocabSize: config.vocabSize })[0] ?? null,
    bosId,
    chatTemplate: template,
  });
  const maxLen = optInt(a, 'max-len', config.contextLength);
  if (maxLen > config.contextLength)
    throw new UsageError(`--max-len ${maxLen} exceeds the context length ${config.contextLength}`);
  return { model, renderer, maxLen, tokenizerJson: tokenizerJson as JsonValue | undefined, chatTemplate };
}

/** Reads preference JSONL into token ids, split into train and held-out (the first rows). */
export function loadPreferences(
  file: string,
  r: Renderer,
  heldOutFraction: number,
): { train: PreferenceExample[]; heldOut: PreferenceExample[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--data ${file}: ${(e as Error).message}`);
  }
  const examples = parsePreferenceJsonl(text, file).map((row) => buildPreferenceExample(row, r));
  if (!(heldOutFraction >= 0 && heldOutFraction < 1))
    throw new UsageError(`--held-out must be in [0, 1), got ${heldOutFraction}`);
  const n = Math.floor(examples.length * heldOutFraction);
  if (examples.length - n === 0) throw new Error(`--data ${file}: no training pairs`);
  return { train: examples.slice(n), heldOut: examples.slice(0, n) };
}

export const USAGE = 'usage: xfmr reward train --model DIR --data PREFS.jsonl --out DIR [--steps N] [--lr X]';

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'train') throw new UsageError(USAGE);
  const a = parseArgs(rest, {
    values: [...ALIGN_VALUES, ...LOOP_VALUES, 'data', 'held-out', 'eval-every', 'weight-decay', 'warmup'],
    flags: [...ALIGN_FLAGS, ...LOOP_FLAGS, 'no-normalize'],
  });
  const dataFile = optString(a, 'data');
  const out = optString(a, 'out');
  if (!dataFile || !out) throw new UsageError(USAGE);
  const m = await loadAlignmentModel(a);
  const { train, heldOut } = loadPreferences(dataFile, m.renderer, optNumber(a, 'held-out', 0.1));
  const rm = new RewardModel(m.model, optInt(a, 'seed', 1337));
  const steps = optInt(a, 'steps', 500);
  process.stderr.write(
    `xfmr reward: ${train.length} train / ${heldOut.length} held-out pairs, ${steps} steps\n`,
  );
  const result = await trainRewardModel(rm, train, heldOut, {
    ...runOptions(a, out, 100),
    steps,
    batchSize: optInt(a, 'batch-size', 16),
    lr: optNumber(a, 'lr', 1e-4),
    maxLen: m.maxLen,
    warmupSteps: optInt(a, 'warmup', Math.floor(steps / 10)),
    weightDecay: optNumber(a, 'weight-decay', 0),
    seed: optInt(a, 'seed', 1337),
    evalEvery: optInt(a, 'eval-every', 100),
  });
  if (!a.options.has('no-normalize')) {
    // Scored at the precision the model was trained in, as PPO will score with it.
    const n = withComputeDtype(result.dtype, () => normalizeRewardModel(rm, preferenceRows(train), m.maxLen));
    process.stderr.write(
      `scores normalised to mean 0, std 1 on the training responses (mean ${n.mean.toFixed(3)}, std ${n.std.toFixed(3)} removed)\n`,
    );
  }
  saveRewardModel(out, rm, { tokenizerJson: m.tokenizerJson, chatTemplate: m.chatTemplate });
  const held = result.evals.at(-1) ?? null;
  const summary = {
    out,
    steps,
    start_step: result.startStep,
    dtype: result.dtype,
    train_loss: result.losses.at(-1) ?? null,
    skipped: result.skipped,
    eval: held,
  };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `reward model in ${out}${held ? `: held-out accuracy ${(100 * held.val_accuracy).toFixed(1)}%` : ''}\n`,
    );
}
