/**
 * `xfmr ppo --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR [options]`: PPO of the
 * model against a reward model from `xfmr reward train`. Prompts: {"prompt": "..."} or
 * {"prompt"|"messages": [...]} rows (a preference file works too: its prompts are used). The value
 * head shares the policy's trunk; the reference is a frozen copy of the starting model. Writes the
 * policy as a model directory and TRL's metrics per iteration to OUT/metrics.jsonl.
 */
import { readFileSync } from 'node:fs';
import { PolicyWithValue } from '../models/heads.ts';
import { saveModel } from '../models/load.ts';
import { loadRewardModel } from '../models/load_reward.ts';
import { Rng } from '../tensor/index.ts';
import { freeze, referenceModel } from '../train/logprobs.ts';
import { PpoTrainer } from '../train/ppo.ts';
import { encodePrompt, parsePromptJsonl } from '../train/preference_data.ts';
import { scoreResponses } from '../train/reward.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { ALIGN_FLAGS, ALIGN_VALUES, loadAlignmentModel, logger } from './reward.ts';

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
    ],
    flags: ALIGN_FLAGS,
  });
  const rmDir = optString(a, 'reward');
  const promptFile = optString(a, 'prompts');
  const out = optString(a, 'out');
  if (!rmDir || !promptFile || !out)
    throw new UsageError('usage: xfmr ppo --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR');
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
  const trainer = new PpoTrainer(actor, ref, (batch) => scoreResponses(rm, batch), {
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
  });
  const iterations = optInt(a, 'iterations', optInt(a, 'steps', 100));
  const log = logger(out);
  const rng = new Rng(seed);
  process.stderr.write(
    `xfmr ppo: ${prompts.length} prompts, ${iterations} iterations of ${batchSize} rollouts\n`,
  );
  let last = null;
  for (let it = 1; it <= iterations; it++) {
    const batch = Array.from({ length: batchSize }, () => prompts[rng.int(prompts.length)]);
    last = await trainer.step(batch);
    log(last);
    process.stderr.write(
      `iteration ${it}: reward ${last.reward.toFixed(3)} kl ${last.kl.toFixed(3)} entropy ${last.entropy.toFixed(3)} clipfrac ${last.clipfrac.toFixed(3)} value loss ${last.value_loss.toFixed(4)}\n`,
    );
  }
  saveModel(out, m.model, { tokenizerJson: m.tokenizerJson, chatTemplate: m.chatTemplate });
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify({ out, iterations, last })}\n`);
  else process.stdout.write(`PPO policy in ${out}\n`);
}
