/**
 * `npm run experiment -- sentiment [--out DIR] [--seed N] [--quick] [--kl-bound NATS]`
 *
 * Controlled sentiment generation in miniature (DPO paper, section 6.1): a small model must continue
 * a review prefix so that the review is positive, while staying close to the reference model.
 *
 *   1. corpus      review sentences from a seeded template grammar (sentiment_corpus.ts), a BPE
 *                  tokenizer trained on them
 *   2. pretrain    a tiny GPT-2-style decoder on the sentences ([EOS] sentence [EOS])
 *   3. SFT         prefix -> continuation on other sentences (loss on the continuation only)
 *   4. pairs       two samples per prompt from the SFT model, labelled by the ground-truth scorer
 *                  (AFINN, npm `sentiment`); ties dropped
 *   5. reward      a reward model (SFT trunk + scalar head), Bradley-Terry; held-out accuracy
 *   6. DPO         on the pairs, at several betas, from the SFT model (reference log-probs cached once)
 *   7. PPO         against the learned reward model, at several KL coefficients, evaluated at checkpoints
 *   8. report      per run: mean ground-truth reward, sequence KL to the reference, distinct-2,
 *                  perplexity under the reference; a table, an SVG plot (reward vs KL), and a JSON line
 *
 * Everything is seeded; the last line is one JSON object.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '../src/generate/index.ts';
import type { JsonValue } from '../src/io/checkpoint.ts';
import { kernels } from '../src/kernels/index.ts';
import { DecoderLM } from '../src/models/decoder.ts';
import { PolicyWithValue, RewardModel } from '../src/models/heads.ts';
import { saveRewardModel } from '../src/models/load_reward.ts';
import { gpt2Config } from '../src/models/presets.ts';
import { IGNORE_INDEX, Rng } from '../src/tensor/index.ts';
import { AdamW } from '../src/train/adamw.ts';
import { cacheReferenceLogProbs, evaluateDpo, trainDpo } from '../src/train/dpo.ts';
import { freeze } from '../src/train/logprobs.ts';
import { lmTask, trainLoop } from '../src/train/loop.ts';
import { trainPpo } from '../src/train/ppo.ts';
import { type PreferenceExample, preferenceRows } from '../src/train/preference_data.ts';
import type { DpoLossOptions } from '../src/train/preference_loss.ts';
import { normalizeRewardModel, scoreResponses, trainRewardModel } from '../src/train/reward.ts';
import { SftBatches, type SftExample } from '../src/train/sft.ts';
import { groundTruth, makeCorpus, promptOf, review, wordTokenizer } from './sentiment_corpus.ts';
import { evaluatePolicy, type PolicyEval } from './sentiment_eval.ts';
import { scatterSvg } from './sentiment_plot.ts';

// ---- options ----
const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const QUICK = argv.includes('--quick');
const OUT = arg('out', 'tmp/sentiment');
const SEED = Number(arg('seed', '1'));
const KL_BOUND = Number(arg('kl-bound', '6'));

/** Sizes: the full run (target: well under 20 minutes on 2 cores) and a smoke-test run. */
const S = QUICK
  ? {
      corpus: 6000,
      pretrainSteps: 150,
      sftSteps: 30,
      pairPrompts: 300,
      rmSteps: 60,
      dpoSteps: 30,
      ppoIters: 6,
      ppoEvery: 3,
      evalPrompts: 64,
    }
  : {
      corpus: 40000,
      pretrainSteps: 400,
      sftSteps: 150,
      pairPrompts: 2400,
      rmSteps: 300,
      dpoSteps: 150,
      ppoIters: 60,
      ppoEvery: 10,
      evalPrompts: 256,
    };
/** DPO runs: the beta sweep, then IPO and conservative DPO (label smoothing) as extra points. */
const DPO_RUNS: DpoLossOptions[] = QUICK
  ? [{ beta: 0.5 }, { beta: 0.5, loss: 'ipo' }]
  : [
      { beta: 0.1 },
      { beta: 0.25 },
      { beta: 0.5 },
      { beta: 1 },
      { beta: 2 },
      { beta: 1, loss: 'ipo' },
      { beta: 0.5, labelSmoothing: 0.2 },
    ];
const KL_COEFS = QUICK ? [0.1] : [0.05, 0.2];
const MAX_NEW = 16;
const CONTEXT = 32;

const t0 = performance.now();
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0);
const say = (s: string) => process.stdout.write(`[${elapsed().padStart(4)} s] ${s}\n`);
mkdirSync(OUT, { recursive: true });

// ---- 1. corpus and tokenizer ----
const sentences = makeCorpus(S.corpus, SEED);
const tok = wordTokenizer(sentences);
const tokenizerJson = tok.toJSON() as JsonValue;
const EOS = 0; // <|endoftext|>: also the BOS of every sequence (see wordTokenizer)
say(
  `corpus: ${sentences.length} sentences from the template grammar, word-level vocabulary ${tok.vocabSize}, ${kernels().name} kernels`,
);
say(`  e.g. "${sentences[0]}" | "${sentences[1]}" | "${sentences[2]}"`);

// Splits: pretraining, SFT, preference prompts, evaluation prompts (disjoint sentences).
const nSft = Math.floor(S.corpus * 0.15);
const pretrainSet = sentences.slice(0, S.corpus - nSft - S.pairPrompts - S.evalPrompts);
const sftSet = sentences.slice(pretrainSet.length, pretrainSet.length + nSft);
const pairSet = sentences.slice(pretrainSet.length + nSft, pretrainSet.length + nSft + S.pairPrompts);
const evalSet = sentences.slice(S.corpus - S.evalPrompts);
const promptRng = new Rng(SEED + 17);
const toPrompt = (s: string) => {
  const text = promptOf(s, promptRng);
  return { text, ids: [EOS, ...tok.encode(text)] };
};
const pairPrompts = pairSet.map(toPrompt);
const evalPrompts = evalSet.map(toPrompt);

// ---- 2. pretraining ----
const config = gpt2Config({
  vocabSize: tok.vocabSize,
  contextLength: CONTEXT,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
});
const sft = new DecoderLM(config, SEED);
const lmExample = (s: string): SftExample => {
  const ids = [EOS, ...tok.encode(s), EOS];
  return { ids, targets: ids.map((_, i) => (i + 1 < ids.length ? ids[i + 1] : IGNORE_INDEX)) };
};
const heldLm = sftSet.slice(0, 256).map(lmExample);
await trainLoop(
  lmTask(sft, new SftBatches(pretrainSet.map(lmExample), 64, CONTEXT, SEED, heldLm)),
  new AdamW(sft.parameters(), { lr: 3e-3, weightDecay: 0.01 }),
  {
    out: join(OUT, 'pretrain'),
    steps: S.pretrainSteps,
    gradAccum: 1,
    schedule: { lr: 3e-3, minLr: 3e-4, warmupSteps: 50, totalSteps: S.pretrainSteps },
    maxGradNorm: 1,
    evalEvery: S.pretrainSteps,
    checkpointEvery: 0,
    maxSkipped: 5,
    resume: false,
    tokenizerJson,
    progress: false,
  },
);
say(
  `pretrained: ${sft.numParameters()} parameters (d 64, 2 layers), ${S.pretrainSteps} steps of 64 sentences`,
);

// ---- 3. SFT: prefix -> continuation ----
const sftExample = (s: string): SftExample => {
  const p = toPrompt(s);
  const completion = [...tok.encode(s.slice(p.text.length)), EOS];
  const ids = [...p.ids, ...completion];
  const targets = ids.map((_, i) =>
    i + 1 < ids.length && i + 1 >= p.ids.length ? ids[i + 1] : IGNORE_INDEX,
  );
  return { ids, targets };
};
const sftRun = await trainLoop(
  lmTask(
    sft,
    new SftBatches(
      sftSet.slice(256).map(sftExample),
      64,
      CONTEXT,
      SEED + 1,
      sftSet.slice(0, 256).map(sftExample),
    ),
  ),
  new AdamW(sft.parameters(), { lr: 1e-3, weightDecay: 0 }),
  {
    out: join(OUT, 'sft'),
    steps: S.sftSteps,
    gradAccum: 1,
    schedule: { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: S.sftSteps },
    maxGradNorm: 1,
    evalEvery: S.sftSteps,
    checkpointEvery: 0,
    maxSkipped: 5,
    resume: false,
    tokenizerJson,
    progress: false,
  },
);
say(
  `SFT: held-out continuation loss ${sftRun.evals.at(-1)?.val_loss.toFixed(3)} (ppl ${sftRun.evals.at(-1)?.val_ppl.toFixed(2)})`,
);
freeze(sft); // from here on the SFT model is the frozen reference of every run
const ref = sft;

const evalSetup = {
  ref,
  tok,
  eos: EOS,
  prompts: evalPrompts.map((p) => p.ids),
  promptTexts: evalPrompts.map((p) => p.text),
  maxNewTokens: MAX_NEW,
  seed: SEED + 1000,
};
const sftEval = await evaluatePolicy(sft, evalSetup);
say(
  `SFT samples: reward ${sftEval.reward.toFixed(3)}, distinct-2 ${sftEval.distinct2.toFixed(3)}, ppl ${sftEval.ppl.toFixed(2)}`,
);
say(`  e.g. "${sftEval.samples[0]}" | "${sftEval.samples[1]}" | "${sftEval.samples[2]}"`);

// ---- 4. preference pairs from the SFT model, labelled by the ground truth ----
const pairs: PreferenceExample[] = [];
const pairText: { prompt: string; chosen: string; rejected: string }[] = [];
let ties = 0;
for (let i = 0; i < pairPrompts.length; i += 64) {
  const part = pairPrompts.slice(i, i + 64);
  const twice = part.flatMap((p) => [p.ids, p.ids]);
  const out = await generate(sft, twice, {
    maxNewTokens: MAX_NEW,
    temperature: 1,
    eos: EOS,
    seed: SEED + 7 + i,
  });
  part.forEach((p, j) => {
    const [a, b] = [out[2 * j].ids, out[2 * j + 1].ids];
    const text = (ids: number[]) => tok.decode(ids.filter((t) => t !== EOS));
    const [sa, sb] = [groundTruth(review(p.text, text(a))), groundTruth(review(p.text, text(b)))];
    if (sa === sb) {
      ties++;
      return;
    }
    const [c, r] = sa > sb ? [a, b] : [b, a];
    pairs.push({ prompt: p.ids, chosen: c, rejected: r });
    pairText.push({ prompt: p.text, chosen: text(c), rejected: text(r) });
  });
}
writeFileSync(join(OUT, 'preferences.jsonl'), pairText.map((r) => JSON.stringify(r)).join('\n') + '\n');
const nHeldPairs = Math.floor(pairs.length * 0.15);
const heldPairs = pairs.slice(0, nHeldPairs);
const trainPairs = pairs.slice(nHeldPairs);
say(
  `pairs: ${pairs.length} labelled (${ties} ties dropped): ${trainPairs.length} train / ${heldPairs.length} held-out`,
);

// ---- 5. reward model ----
const clone = (m: DecoderLM) => {
  const c = new DecoderLM({ ...m.config });
  c.loadStateDict(m.stateDict());
  return c;
};
const rm = new RewardModel(clone(sft), SEED + 3);
const rmRun = await trainRewardModel(rm, trainPairs, heldPairs, {
  out: join(OUT, 'reward_run'),
  progress: false,
  steps: S.rmSteps,
  batchSize: 32,
  lr: 1e-3,
  maxLen: CONTEXT,
  seed: SEED,
  evalEvery: 0,
});
const rmEval = rmRun.evals.at(-1);
const rmAcc = rmEval?.val_accuracy ?? Number.NaN;
say(
  `reward model: held-out accuracy ${(100 * rmAcc).toFixed(1)}%, margin ${rmEval?.val_margin.toFixed(2)}, loss ${rmEval?.val_loss.toFixed(3)}`,
);
// Unit scale on SFT samples (the pairs' responses), so that the KL coefficients mean something.
const norm = normalizeRewardModel(rm, preferenceRows(trainPairs), CONTEXT);
say(
  `  normalised to mean 0, std 1 on the SFT samples (removed mean ${norm.mean.toFixed(2)}, std ${norm.std.toFixed(2)})`,
);
saveRewardModel(join(OUT, 'reward_model'), rm, { tokenizerJson });
freeze(rm.trunk);
freeze(rm.head);

// ---- 6. DPO ----
interface Row extends Omit<PolicyEval, 'samples'> {
  method: string;
  setting: string;
  sample: string;
}
const rows: Row[] = [];
const row = (method: string, setting: string, e: PolicyEval): Row => {
  const { samples, ...rest } = e;
  return { method, setting, ...rest, sample: samples[0] };
};
rows.push(row('sft', '-', sftEval));
// The reference log-probs are computed once and shared by every DPO run.
const refCache = cacheReferenceLogProbs(ref, trainPairs, CONTEXT);
const heldCache = cacheReferenceLogProbs(ref, heldPairs, CONTEXT);
for (const [i, run] of DPO_RUNS.entries()) {
  const policy = clone(sft);
  const o = {
    ...run,
    out: join(OUT, `dpo_run${i}`),
    progress: false,
    steps: S.dpoSteps,
    batchSize: 32,
    lr: 3e-4,
    maxLen: CONTEXT,
    seed: SEED,
    warmupSteps: 10,
  };
  await trainDpo(policy, trainPairs, refCache, o);
  const held = evaluateDpo(policy, heldPairs, heldCache, o);
  const e = await evaluatePolicy(policy, evalSetup);
  const method = run.loss === 'ipo' ? 'ipo' : run.labelSmoothing ? 'cdpo' : 'dpo';
  const setting = `beta=${run.beta}${run.labelSmoothing ? ` ls=${run.labelSmoothing}` : ''}`;
  rows.push(row(method, setting, e));
  say(
    `${method.toUpperCase()} ${setting}: reward ${e.reward.toFixed(3)}, KL ${e.kl.toFixed(2)}, held-out pair accuracy ${(100 * held['rewards/accuracies']).toFixed(0)}%, margin ${held['rewards/margins'].toFixed(2)}`,
  );
}

// ---- 7. PPO against the learned reward model ----
{
  // What PPO holds: the actor-critic (one trunk: policy + value head) with gradients and AdamW
  // moments; the reference and the reward model frozen (weights only).
  const count = (ps: { size: number }[]) => ps.reduce((a, p) => a + p.size, 0);
  const actorParams = sft.numParameters() + config.dModel + 1;
  const frozen = count(ref.parameters()) + count(rm.parameters());
  const mb = (n: number) => ((4 * n) / 2 ** 20).toFixed(2);
  say(
    `PPO memory: actor-critic ${actorParams} params (+ grads + AdamW m, v: ${mb(4 * actorParams)} MB), frozen reference + reward model ${frozen} params (${mb(frozen)} MB)`,
  );
}
for (const klCoef of KL_COEFS) {
  const actor = new PolicyWithValue(clone(sft), SEED + 5);
  await trainPpo(
    actor,
    ref,
    (batch) => scoreResponses(rm, batch),
    pairPrompts.map((p) => p.ids),
    {
      out: join(OUT, `ppo_kl${klCoef}`),
      progress: false,
      iterations: S.ppoIters,
      batchSize: 64,
      miniBatchSize: 16,
      ppoEpochs: 4,
      lr: 1e-4,
      maxNewTokens: MAX_NEW,
      eos: EOS,
      klCoef,
      seed: SEED,
      onIteration: async (st) => {
        const it = st.iteration;
        if (it % S.ppoEvery !== 0 && it !== S.ppoIters) return;
        const e = await evaluatePolicy(actor.policy, evalSetup);
        rows.push(row('ppo', `kl_coef=${klCoef} it=${it}`, e));
        say(
          `PPO kl_coef ${klCoef} iteration ${it}: RM score ${st.reward.toFixed(2)}, train KL ${st.kl.toFixed(2)}, entropy ${st.entropy.toFixed(2)}, clipfrac ${st.clipfrac.toFixed(3)}, approx-KL ${st.approx_kl.toFixed(4)}, value loss ${st.value_loss.toFixed(3)} | eval reward ${e.reward.toFixed(3)}, KL ${e.kl.toFixed(2)}`,
        );
      },
    },
  );
}

// ---- 8. report ----
const fmt = (x: number, d = 3) => x.toFixed(d).padStart(8);
const lines = [
  '',
  `method  setting                  reward   KL(nats)  distinct-2  ppl(ref)  entropy  length`,
  ...rows.map(
    (r) =>
      `${r.method.padEnd(7)} ${r.setting.padEnd(22)} ${fmt(r.reward)} ${fmt(r.kl, 2)}  ${fmt(r.distinct2)}    ${fmt(r.ppl, 2)} ${fmt(r.entropy, 2)} ${fmt(r.length, 1)}`,
  ),
  '',
];
process.stdout.write(lines.join('\n'));
for (const r of rows) process.stdout.write(`  ${r.method} ${r.setting}: "${r.sample}"\n`);
const best = (method: string) =>
  rows
    .filter((r) => r.method === method && r.kl <= KL_BOUND)
    .reduce<Row | null>((a, r) => (!a || r.reward > a.reward ? r : a), null);
const bestPpo = best('ppo');
const bestDpo = best('dpo');
const colors: Record<string, string> = { sft: '#000000', dpo: '#d62728', ppo: '#1f77b4' };
const svg = scatterSvg(
  [
    { name: 'SFT', color: colors.sft, points: [{ x: 0, y: sftEval.reward }] },
    {
      name: 'DPO (beta sweep)',
      color: colors.dpo,
      points: rows.filter((r) => r.method === 'dpo').map((r) => ({ x: r.kl, y: r.reward, label: r.setting })),
    },
    {
      name: 'IPO / cDPO',
      color: '#ff7f0e',
      line: false,
      points: rows
        .filter((r) => r.method === 'ipo' || r.method === 'cdpo')
        .map((r) => ({ x: r.kl, y: r.reward, label: `${r.method} ${r.setting}` })),
    },
    ...KL_COEFS.map((k, i) => ({
      name: `PPO kl_coef ${k}`,
      color: i === 0 ? colors.ppo : '#2ca02c',
      points: rows
        .filter((r) => r.method === 'ppo' && r.setting.startsWith(`kl_coef=${k} `))
        .map((r) => ({ x: r.kl, y: r.reward, label: r.setting.split(' ')[1] })),
    })),
  ],
  {
    title: 'Sentiment: ground-truth reward vs KL(policy || reference)',
    xLabel: 'sequence KL from the reference (nats)',
    yLabel: 'mean AFINN reward of samples',
  },
);
writeFileSync(join(OUT, 'reward_vs_kl.svg'), svg);
const summary = {
  mean_reward: { sft: sftEval.reward, ppo: bestPpo?.reward ?? null, dpo: bestDpo?.reward ?? null },
  kl: { ppo: bestPpo?.kl ?? null, dpo: bestDpo?.kl ?? null },
  setting: { ppo: bestPpo?.setting ?? null, dpo: bestDpo?.setting ?? null },
  kl_bound: KL_BOUND,
  distinct2: { sft: sftEval.distinct2, ppo: bestPpo?.distinct2 ?? null, dpo: bestDpo?.distinct2 ?? null },
  ppl_under_reference: { sft: sftEval.ppl, ppo: bestPpo?.ppl ?? null, dpo: bestDpo?.ppl ?? null },
  reward_model_accuracy: rmAcc,
  pairs: { train: trainPairs.length, held_out: heldPairs.length },
  seconds: Number(elapsed()),
};
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify({ summary, rows }, null, 2)}\n`);
say(`table in ${join(OUT, 'results.json')}, plot in ${join(OUT, 'reward_vs_kl.svg')}`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
