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
import { generate } from '../../generate/index.ts';
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
import { exactMatch } from '../eval.ts';
import { type PreferencePair, preferencePairs, type QaExample, qaExamples } from '../qa_data.ts';
import type { StageContext } from '../recipe.ts';
import type { Corpus, RecipeTokenizer } from './text.ts';

function saveWithEos(dir: string, model: DecoderLM, tokenizerJson: JsonValue, eos: number): void {
  saveModel(dir, model, {
    tokenizerJson,
    generationConfig: { bos_token_id: eos, eos_token_id: eos, max_new_tokens: 32, do_sample: false },
  });
}

export async function sftStage(
  { cfg, paths, log, dtype }: StageContext,
  model: DecoderLM,
  { verses, prose }: Pick<Corpus, 'verses' | 'prose'>,
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
    proseShare: s.proseShare,
    prose,
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

/** Greedy (free) answers of the model to prompts, at most `maxNew` tokens each, in batches. */
export async function greedyAnswers(
  model: DecoderLM,
  tok: RecipeTokenizer['tok'],
  eos: number,
  prompts: readonly string[],
  maxNew: number,
  batch = 8,
): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < prompts.length; i += batch) {
    const ids = prompts.slice(i, i + batch).map((p) => tok.encode(p));
    const room = Math.min(maxNew, model.config.contextLength - Math.max(...ids.map((x) => x.length)));
    if (room < 1) {
      for (let k = 0; k < ids.length; k++) out.push('');
      continue;
    }
    const rs = await generate(model, ids, {
      maxNewTokens: room,
      temperature: 0,
      eos,
      decode: (x) => tok.decode(x),
    });
    for (const r of rs) out.push(r.text.trim());
  }
  return out;
}

/** Mean of b - a over paired scores (0/1 answers, per-example losses), with a 95% normal-approximation interval. */
export function pairedDifference(
  a: readonly number[],
  b: readonly number[],
): { mean: number; lo: number; hi: number; n: number } {
  const n = a.length;
  if (n === 0 || b.length !== n) throw new Error('pairedDifference: two score lists of one positive length');
  const d = a.map((x, i) => b[i] - x);
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const half = (1.96 * sd) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n };
}

/**
 * On-policy preference pairs: the model answers `candidates` by free decoding; where its answer is
 * wrong (not the gold span; an empty answer included, the answer being in the context), the gold
 * span is chosen and the model's answer rejected. At most `n` pairs.
 */
export async function onPolicyPairs(
  model: DecoderLM,
  tok: RecipeTokenizer['tok'],
  eos: number,
  candidates: readonly QaExample[],
  n: number,
  log: (line: string) => void,
): Promise<PreferencePair[]> {
  const answers = await greedyAnswers(
    model,
    tok,
    eos,
    candidates.map((c) => c.prompt),
    24,
  );
  const pairs: PreferencePair[] = [];
  let right = 0;
  candidates.forEach((c, i) => {
    if (exactMatch(answers[i], c.answer) === 1) right++;
    else if (pairs.length < n) pairs.push({ prompt: c.prompt, chosen: c.answer, rejected: answers[i] });
  });
  log(
    `dpo: the SFT model got ${right} of ${candidates.length} candidates right; ${pairs.length} on-policy pairs`,
  );
  return pairs;
}

/**
 * DPO (issue 17): pairs on-policy (onPolicyPairs) or the grounded span over a
 * hallucinated value (preferencePairs). With dpo.evalQuestions the effect is measured on held-out
 * questions by free decoding, before and after, as a paired difference in exact match with its
 * 95% interval.
 */
export async function dpoStage(
  { cfg, paths, log, dtype }: StageContext,
  model: DecoderLM,
  { verses, prose }: Pick<Corpus, 'verses' | 'prose'>,
  { tok, tokenizerJson, eos }: RecipeTokenizer,
): Promise<{ report: { [key: string]: number | null } }> {
  const { work } = paths;
  const maxLen = model.config.contextLength;
  const d = cfg.dpo;
  const s = cfg.sft;
  const mix = { kjvShare: s.kjvShare, verses, proseShare: s.proseShare, prose };
  const pairs = d.onPolicy
    ? await onPolicyPairs(
        model,
        tok,
        eos,
        qaExamples({ n: 2 * d.pairs, seed: cfg.seed + 41, split: 'train', ...mix }),
        d.pairs,
        log,
      )
    : preferencePairs(d.pairs, cfg.seed + 41);
  writeFileSync(join(work, 'dpo.jsonl'), pairs.map((p) => JSON.stringify(p)).join('\n'));
  // Held-out questions (names of the eval split) for the effect on free decoding.
  const heldQs = qaExamples({ n: d.evalQuestions, seed: cfg.seed + 61, split: 'eval', ...mix });
  const emOf = async () =>
    (
      await greedyAnswers(
        model,
        tok,
        eos,
        heldQs.map((q) => q.prompt),
        24,
      )
    ).map((a, i) => exactMatch(a, heldQs[i].answer));
  const emBefore = heldQs.length > 0 ? await emOf() : [];
  const examples: PreferenceExample[] = pairs
    .map((p) => ({
      prompt: tok.encode(p.prompt),
      chosen: [...tok.encode(` ${p.chosen}`), eos],
      rejected: p.rejected ? [...tok.encode(` ${p.rejected}`), eos] : [eos],
    }))
    .filter((e) => e.prompt.length + Math.max(e.chosen.length, e.rejected.length) <= maxLen);
  if (examples.length < 2)
    throw new Error(`dpo: only ${examples.length} on-policy pairs fit the window; need at least 2`);
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
  const effect = heldQs.length > 0 ? pairedDifference(emBefore, await emOf()) : undefined;
  if (effect)
    log(
      `dpo: free-decoding EM on ${effect.n} held-out questions changed by ${(100 * effect.mean).toFixed(1)} points (95% CI ${(100 * effect.lo).toFixed(1)} to ${(100 * effect.hi).toFixed(1)})`,
    );
  return {
    report: {
      pairs: train.length,
      ...(effect
        ? {
            em_before: (100 * emBefore.reduce((a, b) => a + b, 0)) / emBefore.length,
            em_change: 100 * effect.mean,
            em_change_ci_lo: 100 * effect.lo,
            em_change_ci_hi: 100 * effect.hi,
          }
        : {}),
      final_loss: r.losses.at(-1) ?? null,
      held_accuracy_before: before['rewards/accuracies'],
      held_accuracy_after: after['rewards/accuracies'],
      held_margin_after: after['rewards/margins'],
    },
  };
}
