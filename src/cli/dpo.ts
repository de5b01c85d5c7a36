/**
 * `xfmr dpo --model DIR --data PREFS.jsonl --out DIR [--beta 0.1] [--loss sigmoid|ipo]
 * [--label-smoothing 0] [options]`: Direct Preference Optimization from the model (which is also
 * the frozen reference; its log-probs are computed once, then it is freed). Writes the policy as a
 * model directory and the per-step metrics (TRL's rewards/chosen, rewards/rejected,
 * rewards/accuracies, rewards/margins) to OUT/metrics.jsonl. --resume continues a killed run from
 * its last checkpoint (--checkpoint-every steps, default 100).
 *
 * `--lora r=16,alpha=32,dropout=0.05,targets=q,k,v,o` trains LoRA adapters on the frozen model
 * instead; the reference is then the model itself before the adapters are attached (no copy), and
 * --out receives a PEFT adapter directory.
 */
import { applyLora, parseLoraSpec } from '../models/lora.ts';
import { withComputeDtype } from '../tensor/index.ts';
import { cacheReferenceLogProbs, trainDpo } from '../train/dpo.ts';
import { disposeModel, referenceModel } from '../train/logprobs.ts';
import { runDtype } from '../train/loop.ts';
import { loraSummary } from '../train/lora.ts';
import type { DpoLossType } from '../train/preference_loss.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { ALIGN_FLAGS, ALIGN_VALUES, loadAlignmentModel, loadPreferences } from './reward.ts';
import { LOOP_FLAGS, LOOP_VALUES, runOptions } from './train_options.ts';

export const USAGE =
  'usage: xfmr dpo --model DIR --data PREFS.jsonl --out DIR [--beta 0.1] [--loss sigmoid|ipo] ...';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      ...ALIGN_VALUES,
      ...LOOP_VALUES,
      'data',
      'held-out',
      'beta',
      'loss',
      'label-smoothing',
      'warmup',
      'weight-decay',
      'eval-every',
      'lora',
    ],
    flags: [...ALIGN_FLAGS, ...LOOP_FLAGS],
  });
  const dataFile = optString(a, 'data');
  const out = optString(a, 'out');
  if (!dataFile || !out) throw new UsageError(USAGE);
  const loss = (optString(a, 'loss') ?? 'sigmoid') as DpoLossType;
  if (loss !== 'sigmoid' && loss !== 'ipo')
    throw new UsageError(`--loss must be sigmoid or ipo, got ${loss}`);
  const loraSpec = optString(a, 'lora');
  const lora = loraSpec === undefined ? null : parseLoraSpec(loraSpec, '--lora');
  const m = await loadAlignmentModel(a);
  const { train, heldOut } = loadPreferences(dataFile, m.renderer, optNumber(a, 'held-out', 0.05));
  const steps = optInt(a, 'steps', 500);
  const beta = optNumber(a, 'beta', 0.1);
  const labelSmoothing = optNumber(a, 'label-smoothing', 0);
  // The reference: a frozen copy of --model (also on --resume), used once for the caches and freed.
  // Its log-probs are computed at the run's precision, so policy and reference start out equal.
  const loop = runOptions(a, out, 100);
  const dtype = runDtype(loop.dtype, out, loop.resume).dtype;
  // With LoRA the reference is the base itself, scored before the adapters go on.
  const ref = lora ? m.model : referenceModel(m.model);
  const { cache, heldCache } = withComputeDtype(dtype, () => ({
    cache: cacheReferenceLogProbs(ref, train, m.maxLen),
    heldCache: heldOut.length > 0 ? cacheReferenceLogProbs(ref, heldOut, m.maxLen) : null,
  }));
  if (!lora) disposeModel(ref);
  const baseParams = m.model.numParameters();
  const adapters = lora ? applyLora(m.model, lora, optInt(a, 'seed', 1337)) : null;
  if (adapters) process.stderr.write(`xfmr dpo: ${loraSummary(adapters, baseParams)}\n`);
  process.stderr.write(
    `xfmr dpo: ${train.length} train / ${heldOut.length} held-out pairs, beta ${beta}, ${loss}${labelSmoothing ? `, label smoothing ${labelSmoothing}` : ''}, ${steps} steps\n`,
  );
  const result = await trainDpo(m.model, train, cache, {
    ...loop,
    beta,
    loss,
    labelSmoothing,
    steps,
    batchSize: optInt(a, 'batch-size', 16),
    lr: optNumber(a, 'lr', 1e-5),
    maxLen: m.maxLen,
    warmupSteps: optInt(a, 'warmup', Math.floor(steps / 10)),
    weightDecay: optNumber(a, 'weight-decay', 0),
    seed: optInt(a, 'seed', 1337),
    heldOut: heldCache ? { examples: heldOut, cache: heldCache } : undefined,
    evalEvery: optInt(a, 'eval-every', 0),
    tokenizerJson: m.tokenizerJson,
    chatTemplate: m.chatTemplate,
    lora: adapters ? { adapters, base: optString(a, 'model') ?? '' } : undefined,
  });
  const held = result.evals.at(-1) ?? null;
  const summary = {
    out,
    steps,
    start_step: result.startStep,
    dtype: result.dtype,
    beta,
    loss,
    final_loss: result.losses.at(-1) ?? null,
    skipped: result.skipped,
    eval: held,
  };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `DPO ${adapters ? 'adapter' : 'policy'} in ${out}${held ? `: held-out preference accuracy ${(100 * held['val_rewards/accuracies']).toFixed(1)}%` : ''}\n`,
    );
}
