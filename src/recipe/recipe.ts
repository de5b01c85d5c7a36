/**
 * The recipe of the shipped RAG model (`xfmr recipe default`), as a sequence of stages:
 *
 *   corpus     the KJV text (Debian's bible-kjv, scripts/corpus/kjv.sh) + synthetic entity documents
 *   tokenizer  byte-level BPE on that text
 *   pretrain   a small Llama-style decoder, next-token prediction on the corpus
 *   sft        reading-comprehension QA in the RAG prompt format, loss on the answer span + EOS
 *   dpo        grounded span chosen over a hallucinated value of the same type
 *   export     f16 model directories (DPO and SFT) + GGUF of the DPO model
 *   eval       EM / F1 without retrieval, with retrieval, with the gold chunk; SFT vs DPO
 *
 * Every random choice comes from `seed`; with the same seed, backend and thread count a rerun
 * gives the same losses up to floating-point reassociation in threaded kernels (see RECIPE.md for
 * the tolerance observed). Work files go to `work`; the models to `out` and `outSft`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject, JsonValue } from '../io/checkpoint.ts';
import { kernels } from '../kernels/index.ts';
import type { DecoderLM } from '../models/decoder.ts';
import { DecoderLM as Decoder } from '../models/decoder.ts';
import { loadDecoder, saveModel } from '../models/load.ts';
import { llamaConfig } from '../models/presets.ts';
import { BpeTrainer } from '../tokenizers/bpe_trainer.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { loadTokenizerJson, toTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { AdamW } from '../train/adamw.ts';
import { BatchLoader, TokenShard, writeShards } from '../train/data.ts';
import { cacheReferenceLogProbs, evaluateDpo, trainDpo } from '../train/dpo.ts';
import { disposeModel, referenceModel } from '../train/logprobs.ts';
import { trainLoop } from '../train/loop.ts';
import type { PreferenceExample } from '../train/preference_data.ts';
import { buildExample, type SftExample } from '../train/sft.ts';
import { LengthGroupedBatches } from './batches.ts';
import { formatTable, type ModelResult, runEval, summaryJson } from './eval.ts';
import { entityDocuments, parseKjv, preferencePairs, qaExamples } from './qa_data.ts';

export interface RecipeConfig {
  name: string;
  seed: number;
  threads: number;
  /** Model shape (Llama family: RoPE, RMSNorm, SwiGLU, GQA, tied embeddings). */
  model: {
    dModel: number;
    nLayers: number;
    nHeads: number;
    nKvHeads: number;
    ffnDim: number;
    contextLength: number;
  };
  vocabSize: number;
  /** Synthetic entity documents added to the pretraining text. */
  pretrainDocs: number;
  /** Use at most this many bytes of the KJV (0: all). */
  kjvBytes: number;
  pretrain: { steps: number; batchSize: number; blockSize: number; lr: number };
  /** SFT runs for about `tokens` tokens (steps = tokens / (batchSize x mean example length)), at most `maxSteps`. */
  sft: {
    examples: number;
    kjvShare: number;
    tokens: number;
    maxSteps: number;
    batchSize: number;
    lr: number;
  };
  dpo: { pairs: number; steps: number; batchSize: number; lr: number; beta: number };
  eval: { syntheticDocs: number; k: number };
}

/** The committed model's recipe: about 40 minutes on 2 cores. */
export const DEFAULT_RECIPE: RecipeConfig = {
  name: 'default',
  seed: 1234,
  threads: 2,
  model: { dModel: 256, nLayers: 4, nHeads: 8, nKvHeads: 4, ffnDim: 704, contextLength: 512 },
  vocabSize: 2048,
  pretrainDocs: 6000,
  kjvBytes: 0,
  pretrain: { steps: 600, batchSize: 16, blockSize: 256, lr: 2e-3 },
  sft: { examples: 40000, kjvShare: 0.15, tokens: 5_500_000, maxSteps: 3000, batchSize: 16, lr: 2e-3 },
  dpo: { pairs: 600, steps: 40, batchSize: 8, lr: 2e-5, beta: 0.1 },
  eval: { syntheticDocs: 100, k: 3 },
};

/** A few seconds of everything, for tests (the model learns nothing). */
export const SMOKE_RECIPE: RecipeConfig = {
  name: 'smoke',
  seed: 1,
  threads: 2,
  model: { dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, ffnDim: 64, contextLength: 512 },
  vocabSize: 300,
  pretrainDocs: 50,
  kjvBytes: 20000,
  pretrain: { steps: 3, batchSize: 2, blockSize: 64, lr: 1e-3 },
  sft: { examples: 40, kjvShare: 0.3, tokens: 1, maxSteps: 3, batchSize: 2, lr: 1e-3 },
  dpo: { pairs: 8, steps: 2, batchSize: 2, lr: 1e-5, beta: 0.1 },
  eval: { syntheticDocs: 4, k: 3 },
};

export const RECIPES: Record<string, RecipeConfig> = { default: DEFAULT_RECIPE, smoke: SMOKE_RECIPE };

export interface RecipePaths {
  work: string;
  out: string;
  outSft: string;
  /** Shipped documents for the docs question set (optional). */
  docs?: string;
  /** A KJV text file to use instead of dumping one (tests). */
  kjv?: string;
  /**
   * Reuse WORK/pretrain when its stamp says it was made by this same pretraining config (a rerun
   * of the later stages); the pretraining stage is deterministic in the seed, so this only saves time.
   */
  reusePretrain?: boolean;
}

export interface StageReport {
  stage: string;
  seconds: number;
  [key: string]: JsonValue;
}

/** Writes a line to stderr and to the log. */
export type Log = (line: string) => void;

function timed<T>(reports: StageReport[], stage: string, log: Log, fn: () => T): T;
function timed<T>(reports: StageReport[], stage: string, log: Log, fn: () => Promise<T>): Promise<T>;
function timed<T>(reports: StageReport[], stage: string, log: Log, fn: () => T | Promise<T>): T | Promise<T> {
  log(`== ${stage}`);
  const t0 = performance.now();
  const finish = (v: T) => {
    const seconds = (performance.now() - t0) / 1000;
    const extra = (
      v !== null && typeof v === 'object' && !Array.isArray(v) && 'report' in (v as object)
        ? (v as unknown as { report: JsonObject }).report
        : {}
    ) as JsonObject;
    reports.push({ stage, seconds: Number(seconds.toFixed(1)), ...extra });
    log(`== ${stage} done in ${seconds.toFixed(1)} s ${JSON.stringify(extra)}`);
    return v;
  };
  const r = fn();
  return r instanceof Promise ? r.then(finish) : finish(r);
}

function eosOf(tok: Tokenizer): number {
  const id = tok.encode('<|endoftext|>', { allowedSpecial: 'all' });
  if (id.length !== 1) throw new Error('tokenizer: <|endoftext|> is not a single special token');
  return id[0];
}

function saveWithEos(dir: string, model: DecoderLM, tokenizerJson: JsonValue, eos: number): void {
  saveModel(dir, model, {
    tokenizerJson,
    generationConfig: { bos_token_id: eos, eos_token_id: eos, max_new_tokens: 32, do_sample: false },
  });
}

async function runCli(args: string[]): Promise<void> {
  const main = await import('../cli/export.ts');
  await main.run(args);
}

/** Runs the whole recipe; returns the stage reports and the evaluation results. */
export async function runRecipe(
  cfg: RecipeConfig,
  paths: RecipePaths,
  log: Log,
): Promise<{ stages: StageReport[]; eval: ModelResult[] }> {
  const { work } = paths;
  mkdirSync(work, { recursive: true });
  kernels().setThreads(cfg.threads);
  log(
    `xfmr recipe ${cfg.name}: seed ${cfg.seed}, backend ${kernels().name}, ${kernels().threads()} threads, node ${process.version}`,
  );
  log(`config ${JSON.stringify(cfg)}`);
  const stages: StageReport[] = [];

  // 1. corpus
  const corpus = timed(stages, 'corpus', log, () => {
    const kjvPath = join(work, 'kjv.txt');
    if (paths.kjv) copyFileSync(paths.kjv, kjvPath);
    else if (!existsSync(kjvPath) || statSync(kjvPath).size < 1_000_000) {
      const script = new URL('../../scripts/corpus/kjv.sh', import.meta.url).pathname;
      execFileSync('bash', [script, kjvPath], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    let kjv = readFileSync(kjvPath, 'utf8');
    if (cfg.kjvBytes > 0) kjv = kjv.slice(0, cfg.kjvBytes);
    const verses = parseKjv(kjv);
    const docs = entityDocuments(cfg.pretrainDocs, cfg.seed + 11);
    writeFileSync(join(work, 'synthetic.txt'), docs.join('\n\n'));
    return {
      kjv,
      verses,
      docs,
      report: { kjv_bytes: kjv.length, verses: verses.length, synthetic_docs: docs.length },
    };
  });

  // 2. tokenizer
  const { tok, tokenizerJson, eos } = timed(stages, 'tokenizer', log, () => {
    const trainer = new BpeTrainer({
      vocabSize: cfg.vocabSize,
      specialTokens: ['<|endoftext|>'],
      pattern: 'gpt2',
    });
    for (const line of corpus.kjv.split('\n')) trainer.feed(line);
    for (const d of corpus.docs) for (const line of d.split('\n')) trainer.feed(line);
    const json = toTokenizerJson(trainer.train()) as unknown as JsonValue;
    writeFileSync(join(work, 'tokenizer.json'), JSON.stringify(json));
    const t = loadTokenizerJson(json as object);
    return { tok: t, tokenizerJson: json, eos: eosOf(t), report: { vocab_size: t.vocabSize } };
  });

  // 3. pretrain
  const config = llamaConfig({
    ...cfg.model,
    vocabSize: tok.vocabSize,
    headDim: cfg.model.dModel / cfg.model.nHeads,
    tiedEmbeddings: true,
    dropout: 0,
  });
  const model = new Decoder(config, cfg.seed);
  const pretrainDir = join(work, 'pretrain');
  const stamp = JSON.stringify({
    seed: cfg.seed,
    model: cfg.model,
    vocabSize: cfg.vocabSize,
    pretrainDocs: cfg.pretrainDocs,
    kjvBytes: cfg.kjvBytes,
    pretrain: cfg.pretrain,
  });
  const stampPath = join(pretrainDir, 'recipe-stamp.json');
  const reuse =
    paths.reusePretrain === true && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp;
  await timed(stages, 'pretrain', log, async () => {
    if (reuse) {
      model.loadStateDict(loadDecoder(pretrainDir).model.stateDict(), `${pretrainDir}/model.safetensors`);
      const metrics = readFileSync(join(pretrainDir, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { loss?: number; val_loss?: number });
      log(`pretrain: reused ${pretrainDir} (made by the same pretraining config and seed)`);
      return {
        report: {
          reused: true,
          final_loss: metrics.filter((m) => m.loss !== undefined).at(-1)?.loss ?? null,
          val_loss: metrics.filter((m) => m.val_loss !== undefined).at(-1)?.val_loss ?? null,
        },
      };
    }
    // KJV and the entity documents interleaved, one EOS between documents.
    const ids: number[] = [];
    const parts = [...corpus.kjv.split(/\n(?=\S.* \d+\n)/), ...corpus.docs];
    for (const p of parts) {
      for (const id of tok.encode(p)) ids.push(id);
      ids.push(eos);
    }
    const dataDir = join(work, 'data');
    writeShards(
      dataDir,
      ids,
      { vocabSize: tok.vocabSize, separatorId: eos, tokenizer: join(work, 'tokenizer.json'), sources: [] },
      0.05,
    );
    const train = new TokenShard(join(dataDir, 'train.bin'), 'uint16');
    const val = new TokenShard(join(dataDir, 'val.bin'), 'uint16');
    const p = cfg.pretrain;
    const loader = new BatchLoader(train, p.batchSize, p.blockSize, cfg.seed + 7);
    const valLoader = new BatchLoader(val, p.batchSize, p.blockSize, 0);
    log(`pretrain: ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ${ids.length} tokens`);
    const opt = new AdamW(model.parameters(), { lr: p.lr, weightDecay: 0.1, beta2: 0.95 });
    const r = await trainLoop(
      model,
      opt,
      { next: () => loader.next(), rng: loader.rng, evalBatches: () => valLoader.evalBatches(4) },
      {
        out: join(work, 'pretrain'),
        steps: p.steps,
        gradAccum: 1,
        schedule: {
          lr: p.lr,
          minLr: p.lr / 10,
          warmupSteps: Math.min(50, Math.floor(p.steps / 10)),
          totalSteps: p.steps,
        },
        maxGradNorm: 1,
        evalEvery: p.steps,
        checkpointEvery: 0,
        maxSkipped: 10,
        resume: false,
        tokenizerJson,
      },
    );
    train.close();
    val.close();
    return {
      report: {
        tokens: ids.length,
        final_loss: r.losses.at(-1) ?? null,
        val_loss: r.evals.at(-1)?.val_loss ?? null,
      },
    };
  });

  // 4. SFT
  const maxLen = config.contextLength;
  await timed(stages, 'sft', log, async () => {
    const s = cfg.sft;
    const rows = qaExamples({
      n: s.examples,
      seed: cfg.seed + 21,
      split: 'train',
      kjvShare: s.kjvShare,
      verses: corpus.verses,
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
    const r = await trainLoop(model, opt, data, {
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
  });

  // 5. DPO
  await timed(stages, 'dpo', log, () => {
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
    const ref = referenceModel(model);
    const cache = cacheReferenceLogProbs(ref, train, maxLen, 16);
    const heldCache = cacheReferenceLogProbs(ref, held, maxLen, 16);
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
    const before = evaluateDpo(model, held, heldCache, o, 16);
    const logs = trainDpo(model, train, cache, {
      ...o,
      onLog: (l) => {
        if (l.step % 10 === 0 || l.step === d.steps)
          log(
            `dpo step ${l.step}: loss ${l.loss.toFixed(4)} accuracy ${(100 * l['rewards/accuracies']).toFixed(0)}% margin ${l['rewards/margins'].toFixed(3)}`,
          );
      },
    });
    const after = evaluateDpo(model, held, heldCache, o, 16);
    saveWithEos(join(work, 'dpo'), model, tokenizerJson, eos);
    return {
      report: {
        pairs: train.length,
        final_loss: logs.at(-1)?.loss ?? null,
        held_accuracy_before: before['rewards/accuracies'],
        held_accuracy_after: after['rewards/accuracies'],
        held_margin_after: after['rewards/margins'],
      },
    };
  });

  // 6. export
  await timed(stages, 'export', log, async () => {
    await runCli(['--model', join(work, 'dpo'), '--format', 'hf', '--dtype', 'f16', '--out', paths.out]);
    await runCli(['--model', join(work, 'sft'), '--format', 'hf', '--dtype', 'f16', '--out', paths.outSft]);
    const gguf = join(work, 'xfmr-rag-tiny.gguf');
    await runCli(['--model', join(work, 'dpo'), '--format', 'gguf', '--dtype', 'f16', '--out', gguf]);
    return {
      report: {
        model_bytes: statSync(join(paths.out, 'model.safetensors')).size,
        gguf_bytes: statSync(gguf).size,
      },
    };
  });

  // 7. eval
  const results = await timed(stages, 'eval', log, async () => {
    let last = 0;
    const r = await runEval(
      [
        { dir: paths.outSft, label: 'sft' },
        { dir: paths.out, label: 'dpo' },
      ],
      {
        workDir: join(work, 'eval'),
        docsDir: paths.docs,
        syntheticDocs: cfg.eval.syntheticDocs,
        k: cfg.eval.k,
        onProgress: (done, total) => {
          if (performance.now() - last > 10000 || done === total) {
            last = performance.now();
            log(`eval ${done}/${total}`);
          }
        },
      },
    );
    writeFileSync(join(work, 'eval.json'), `${JSON.stringify(r, null, 2)}\n`);
    return r;
  });
  log(formatTable(results));
  log(`stages ${JSON.stringify(stages)}`);
  log(`eval ${summaryJson(results)}`);
  return { stages, eval: results };
}
