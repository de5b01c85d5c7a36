/**
 * The recipe's fine-tuning stages, both on the pretrained model in place:
 *
 *   sft  reading-comprehension QA in the RAG prompt format (KJV clauses and entity facts), loss on
 *        the answer span + EOS; examples longer than the context are dropped. Runs for about
 *        cfg.sft.tokens tokens. WORK/sft.jsonl, WORK/sft/
 *   dpo  a grounded span (chosen) over a hallucinated value of the same type (rejected), sigmoid
 *        loss against the SFT model as the frozen reference. WORK/dpo.jsonl, WORK/dpo/
 *
 * Both model directories get generation_config.json with <|endoftext|> as BOS and EOS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonValue } from '../../io/checkpoint.ts';
import type { DecoderLM } from '../../models/decoder.ts';
import { saveModel } from '../../models/load.ts';
import { withComputeDtype } from '../../tensor/index.ts';
import { AdamW } from '../../train/adamw.ts';
import { cacheReferenceLogProbs, evaluateDpo, trainDpo } from '../../train/dpo.ts';
import { disposeModel, referenceModel } from '../../train/logprobs.ts';
import { lmTask, trainLoop } from '../../train/loop.ts';
import type { PreferenceExample } from '../../train/preference_data.ts';
import { buildExample, type SftExample } from '../../train/sft.ts';
import { LengthGroupedBatches } from '../batches.ts';
import { preferencePairs, qaExamples, type Verse } from '../qa_data.ts';
import type { StageContext } from '../recipe.ts';
import type { RecipeTokenizer } from './text.ts';

function saveWithEos(dir: string, model: DecoderLM, tokenizerJson: JsonValue, eos: number): void {
  saveModel(dir, model, {
    tokenizerJson,
    generationConfig: { bos_token_id: eos, eos_token_id: eos, max_new_tokens: 32, do_sample: false },
  });
}

export async function sftStage(
  { cfg, paths, log, dtype }: StageContext,
  model: DecoderLM,
  verses: Verse[],
  { tok, tokenizerJson, eos }: RecipeTokenizer,
): Promise<{ report: { [key: string]: number | null } }> {
  const { work } = paths;
  const maxLen = model.config.contextLength;
  const s = cfg.sft;
  const rows = qaExamples({
    n: s.examples,
    seed: cfg.seed + 21,
    split: 'train',
    kjvShare: s.kjvShare,
    verses,
  });
  writeFileSync(
    join(work, 'sft.jsonl'),
    rows.map((r) => JSON.stringify({ prompt: r.prompt, completion: ` ${r.answer}` })).join('\n'),
  );
  const examples: SftExample[] = [];
  let dropped = 0;
  for (const r of rows) {
    const e = buildExample({ prompt: r.prompt, completion: ` ${r.answer}` }, tok, eos);
    if (e.ids.length > maxLen) dropped++;
    else examples.push(e);
  }
  const nHeld = Math.min(200, Math.floor(examples.length / 10));
  const meanLen = examples.reduce((n, e) => n + e.ids.length, 0) / examples.length;
  const data = new LengthGroupedBatches(
    examples.slice(nHeld),
    s.batchSize,
    maxLen,
    cfg.seed + 31,
    examples.slice(0, nHeld),
  );
  const perStep = data.meanBatchTokens();
  const steps = Math.max(1, Math.min(s.maxSteps, Math.round(s.tokens / perStep)));
  log(
    `sft: ${examples.length} examples (mean ${meanLen.toFixed(0)} tokens, ${dropped} over ${maxLen} dropped), ${nHeld} held out; ` +
      `${steps} steps of ${s.batchSize} examples (${perStep.toFixed(0)} tokens a batch with padding)`,
  );
  const opt = new AdamW(model.parameters(), { lr: s.lr, weightDecay: 0 });
  const r = await trainLoop(lmTask(model, data), opt, {
    out: join(work, 'sft'),
    steps,
    gradAccum: 1,
    schedule: {
      lr: s.lr,
      minLr: s.lr / 10,
      warmupSteps: Math.min(50, Math.floor(steps / 10)),
      totalSteps: steps,
    },
    maxGradNorm: 1,
    evalEvery: Math.max(1, Math.floor(steps / 4)),
    checkpointEvery: 0,
    maxSkipped: 10,
    resume: false,
    dtype,
    tokenizerJson,
  });
  saveWithEos(join(work, 'sft'), model, tokenizerJson, eos);
  return {
    report: {
      examples: examples.length,
      steps,
      mean_tokens: Math.round(meanLen),
      final_loss: r.losses.at(-1) ?? null,
      val_loss: r.evals.at(-1)?.val_loss ?? null,
    },
  };
}

export async function dpoStage(
  { cfg, paths, log, dtype }: StageContext,
  model: DecoderLM,
  { tok, tokenizerJson, eos }: RecipeTokenizer,
): Promise<{ report: { [key: string]: number | null } }> {
  const { work } = paths;
  const maxLen = model.config.contextLength;
  const d = cfg.dpo;
  const pairs = preferencePairs(d.pairs, cfg.seed + 41);
  writeFileSync(join(work, 'dpo.jsonl'), pairs.map((p) => JSON.stringify(p)).join('\n'));
  const examples: PreferenceExample[] = pairs
    .map((p) => ({
      prompt: tok.encode(p.prompt),
      chosen: [...tok.encode(` ${p.chosen}`), eos],
      rejected: [...tok.encode(` ${p.rejected}`), eos],
    }))
    .filter((e) => e.prompt.length + Math.max(e.chosen.length, e.rejected.length) <= maxLen);
  const nHeld = Math.max(1, Math.floor(examples.length / 10));
  const train = examples.slice(nHeld);
  const held = examples.slice(0, nHeld);
  // Reference log-probs and the held-out evaluations at the training precision, like the policy's.
  const ref = referenceModel(model);
  const [cache, heldCache] = withComputeDtype(dtype, () => [
    cacheReferenceLogProbs(ref, train, maxLen, 16),
    cacheReferenceLogProbs(ref, held, maxLen, 16),
  ]);
  disposeModel(ref);
  const o = {
    beta: d.beta,
    loss: 'sigmoid' as const,
    labelSmoothing: 0,
    steps: d.steps,
    batchSize: d.batchSize,
    lr: d.lr,
    maxLen,
    warmupSteps: Math.floor(d.steps / 10),
    weightDecay: 0,
    seed: cfg.seed + 51,
  };
  const before = withComputeDtype(dtype, () => evaluateDpo(model, held, heldCache, o, 16));
  const r = await trainDpo(model, train, cache, {
    ...o,
    dtype,
    out: join(work, 'dpo'),
    onStep: (l) => {
      if (l.step % 10 === 0 || l.step === d.steps)
        log(
          `dpo step ${l.step}: loss ${l.loss.toFixed(4)} accuracy ${(100 * l['rewards/accuracies']).toFixed(0)}% margin ${l['rewards/margins'].toFixed(3)}`,
        );
    },
  });
  const after = withComputeDtype(dtype, () => evaluateDpo(model, held, heldCache, o, 16));
  saveWithEos(join(work, 'dpo'), model, tokenizerJson, eos);
  return {
    report: {
      pairs: train.length,
      final_loss: r.losses.at(-1) ?? null,
      held_accuracy_before: before['rewards/accuracies'],
      held_accuracy_after: after['rewards/accuracies'],
      held_margin_after: after['rewards/margins'],
    },
  };
}
