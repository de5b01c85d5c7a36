/**
 * `xfmr dpo --model DIR --data PREFS.jsonl --out DIR [--beta 0.1] [--loss sigmoid|ipo]
 * [--label-smoothing 0] [options]`: Direct Preference Optimization from the model (which is also
 * the frozen reference; its log-probs are computed once, then it is freed). Writes the policy as a
 * model directory and the per-step metrics (TRL's rewards/chosen, rewards/rejected,
 * rewards/accuracies, rewards/margins) to OUT/metrics.jsonl.
 */
import { saveModel } from '../models/load.ts';
import { cacheReferenceLogProbs, evaluateDpo, trainDpo } from '../train/dpo.ts';
import { disposeModel, referenceModel } from '../train/logprobs.ts';
import type { DpoLossType } from '../train/preference_loss.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { ALIGN_FLAGS, ALIGN_VALUES, loadAlignmentModel, loadPreferences, logger } from './reward.ts';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      ...ALIGN_VALUES,
      'data',
      'held-out',
      'beta',
      'loss',
      'label-smoothing',
      'warmup',
      'weight-decay',
    ],
    flags: ALIGN_FLAGS,
  });
  const dataFile = optString(a, 'data');
  const out = optString(a, 'out');
  if (!dataFile || !out) throw new UsageError('usage: xfmr dpo --model DIR --data PREFS.jsonl --out DIR');
  const loss = (optString(a, 'loss') ?? 'sigmoid') as DpoLossType;
  if (loss !== 'sigmoid' && loss !== 'ipo')
    throw new UsageError(`--loss must be sigmoid or ipo, got ${loss}`);
  const m = await loadAlignmentModel(a);
  const { train, heldOut } = loadPreferences(dataFile, m.renderer, optNumber(a, 'held-out', 0.05));
  const steps = optInt(a, 'steps', 500);
  const o = {
    beta: optNumber(a, 'beta', 0.1),
    loss,
    labelSmoothing: optNumber(a, 'label-smoothing', 0),
    steps,
    batchSize: optInt(a, 'batch-size', 16),
    lr: optNumber(a, 'lr', 1e-5),
    maxLen: m.maxLen,
    warmupSteps: optInt(a, 'warmup', Math.floor(steps / 10)),
    weightDecay: optNumber(a, 'weight-decay', 0),
    seed: optInt(a, 'seed', 1337),
  };
  // The reference: a frozen copy, used once for the cache and then given back.
  const ref = referenceModel(m.model);
  const cache = cacheReferenceLogProbs(ref, train, m.maxLen);
  const heldCache = heldOut.length > 0 ? cacheReferenceLogProbs(ref, heldOut, m.maxLen) : null;
  disposeModel(ref);
  const log = logger(out);
  process.stderr.write(
    `xfmr dpo: ${train.length} train / ${heldOut.length} held-out pairs, beta ${o.beta}, ${loss}${o.labelSmoothing ? `, label smoothing ${o.labelSmoothing}` : ''}, ${steps} steps\n`,
  );
  trainDpo(m.model, train, cache, {
    ...o,
    onLog: (l) => {
      log(l);
      if (l.step % 25 === 0 || l.step === steps)
        process.stderr.write(
          `step ${l.step}: loss ${l.loss.toFixed(4)} accuracy ${(100 * l['rewards/accuracies']).toFixed(0)}% margin ${l['rewards/margins'].toFixed(3)}\n`,
        );
    },
  });
  const held = heldCache ? evaluateDpo(m.model, heldOut, heldCache, o) : null;
  if (held) log({ step: steps, split: 'eval', ...held });
  saveModel(out, m.model, { tokenizerJson: m.tokenizerJson, chatTemplate: m.chatTemplate });
  const summary = { out, steps, beta: o.beta, loss, eval: held };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `DPO policy in ${out}${held ? `: held-out preference accuracy ${(100 * held['rewards/accuracies']).toFixed(1)}%` : ''}\n`,
    );
}
