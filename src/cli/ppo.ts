/**
 * `xfmr ppo --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR [options]`: PPO of the
 * model against a reward model from `xfmr reward train`. Prompts: {"prompt": "..."} or
 * {"prompt"|"messages": [...]} rows (a preference file works too: its prompts are used). The value
 * head shares the policy's trunk; the reference is a frozen copy of the starting model. Writes the
 * policy as a model directory, and to OUT/metrics.jsonl each minibatch update's loss and TRL's
 * metrics per iteration. Checkpoints fall between iterations (--checkpoint-every N iterations,
 * default 10); --resume continues a killed run from the last one, exactly.
 */
import { readFileSync } from 'node:fs';
import { PolicyWithValue } from '../models/heads.ts';
import { loadRewardModel } from '../models/load_reward.ts';
import { freeze, referenceModel } from '../train/logprobs.ts';
import { trainPpo } from '../train/ppo.ts';
import { encodePrompt, parsePromptJsonl } from '../train/preference_data.ts';
import { scoreResponses } from '../train/reward.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { ALIGN_FLAGS, ALIGN_VALUES, loadAlignmentModel } from './reward.ts';
import { LOOP_FLAGS, LOOP_VALUES, runOptions } from './train_options.ts';

export const USAGE = 'usage: xfmr ppo --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR ...';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      ...ALIGN_VALUES,
      'reward',
      'prompts',
      'iterations',
      'mini-batch-size',
      'ppo-epochs',
      'max-new-tokens',
      'temperature',
      'kl-coef',
      'target-kl',
      'gamma',
      'lambda',
      'clip-range',
      'clip-range-value',
      'vf-coef',
      'missing-eos-penalty',
      ...LOOP_VALUES,
    ],
    flags: [...ALIGN_FLAGS, ...LOOP_FLAGS],
  });
  const rmDir = optString(a, 'reward');
  const promptFile = optString(a, 'prompts');
  const out = optString(a, 'out');
  if (!rmDir || !promptFile || !out) throw new UsageError(USAGE);
  const m = await loadAlignmentModel(a);
  let text: string;
  try {
    text = readFileSync(promptFile, 'utf8');
  } catch (e) {
    throw new Error(`--prompts ${promptFile}: ${(e as Error).message}`);
  }
  const prompts = parsePromptJsonl(text, promptFile).map((r) => encodePrompt(r, m.renderer));
  if (prompts.length === 0) throw new Error(`--prompts ${promptFile}: no prompts`);
  const { rm } = loadRewardModel(rmDir);
  if (rm.trunk.config.vocabSize !== m.model.config.vocabSize)
    throw new UsageError(
      `--reward ${rmDir}: vocabulary ${rm.trunk.config.vocabSize} differs from the policy's ${m.model.config.vocabSize} (same tokenizer needed)`,
    );
  freeze(rm.trunk);
  freeze(rm.head);
  const ref = referenceModel(m.model);
  const seed = optInt(a, 'seed', 1337);
  const actor = new PolicyWithValue(m.model, seed);
  const batchSize = optInt(a, 'batch-size', 64);
  const maxNewTokens = optInt(a, 'max-new-tokens', 32);
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest + maxNewTokens > m.maxLen)
    throw new UsageError(
      `a prompt of ${longest} tokens + --max-new-tokens ${maxNewTokens} exceeds --max-len ${m.maxLen}`,
    );
  const targetKl = optString(a, 'target-kl');
  const eos = m.renderer.eosId;
  const iterations = optInt(a, 'iterations', optInt(a, 'steps', 100));
  process.stderr.write(
    `xfmr ppo: ${prompts.length} prompts, ${iterations} iterations of ${batchSize} rollouts\n`,
  );
  const result = await trainPpo(actor, ref, (batch) => scoreResponses(rm, batch), prompts, {
    // --checkpoint-every counts iterations here.
    ...runOptions(a, out, 10),
    iterations,
    batchSize,
    miniBatchSize: optInt(a, 'mini-batch-size', 16),
    ppoEpochs: optInt(a, 'ppo-epochs', 4),
    lr: optNumber(a, 'lr', 1e-5),
    maxNewTokens,
    eos: eos ?? undefined,
    temperature: optNumber(a, 'temperature', 1),
    gamma: optNumber(a, 'gamma', 1),
    lambda: optNumber(a, 'lambda', 0.95),
    clipRange: optNumber(a, 'clip-range', 0.2),
    clipRangeValue: optNumber(a, 'clip-range-value', 0.2),
    vfCoef: optNumber(a, 'vf-coef', 0.1),
    klCoef: optNumber(a, 'kl-coef', 0.2),
    targetKl: targetKl === undefined ? null : optNumber(a, 'target-kl', 6),
    missingEosPenalty: optNumber(a, 'missing-eos-penalty', 0),
    seed,
    tokenizerJson: m.tokenizerJson,
    chatTemplate: m.chatTemplate,
  });
  const last = result.evals.at(-1) ?? null;
  const summary = {
    out,
    iterations,
    start_step: result.startStep,
    dtype: result.dtype,
    skipped: result.skipped,
    last,
  };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`PPO policy in ${out}\n`);
}
