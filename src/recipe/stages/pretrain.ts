/**
 * The recipe's pretraining stage: a small Llama-style decoder (RoPE, RMSNorm, SwiGLU, GQA, tied
 * embeddings; shape from cfg.model) trained on next-token prediction over the corpus.
 *
 *   WORK/data/      token shards: KJV sections and entity documents interleaved, EOS between
 *                   documents, 5% held out for the validation loss
 *   WORK/pretrain/  the model directory and metrics.jsonl
 *
 * With paths.reusePretrain, a WORK/pretrain whose recipe-stamp.json matches this config is loaded
 * instead of trained again: the stage is deterministic in the seed, so reuse only saves time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecoderLM } from '../../models/decoder.ts';
import { loadDecoder } from '../../models/load.ts';
import { llamaConfig } from '../../models/presets.ts';
import { AdamW } from '../../train/adamw.ts';
import { BatchLoader, TokenShard, writeShards } from '../../train/data.ts';
import { lmTask, trainLoop } from '../../train/loop.ts';
import type { StageContext } from '../recipe.ts';
import type { Corpus, RecipeTokenizer } from './text.ts';

export interface PretrainReport {
  [key: string]: number | boolean | null;
  final_loss: number | null;
  val_loss: number | null;
}

export async function pretrainStage(
  { cfg, paths, log, dtype }: StageContext,
  corpus: Corpus,
  { tok, tokenizerJson, eos }: RecipeTokenizer,
): Promise<{ model: DecoderLM; report: PretrainReport }> {
  const { work } = paths;
  const config = llamaConfig({
    ...cfg.model,
    vocabSize: tok.vocabSize,
    headDim: cfg.model.dModel / cfg.model.nHeads,
    tiedEmbeddings: true,
    dropout: 0,
  });
  const model = new DecoderLM(config, cfg.seed);
  const pretrainDir = join(work, 'pretrain');
  const stamp = JSON.stringify({
    seed: cfg.seed,
    model: cfg.model,
    vocabSize: cfg.vocabSize,
    pretrainDocs: cfg.pretrainDocs,
    kjvBytes: cfg.kjvBytes,
    prose: cfg.prose,
    pretrain: cfg.pretrain,
    dtype,
  });
  const stampPath = join(pretrainDir, 'recipe-stamp.json');
  const reuse =
    paths.reusePretrain === true && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp;
  if (reuse) {
    model.loadStateDict(loadDecoder(pretrainDir).model.stateDict(), `${pretrainDir}/model.safetensors`);
    const metrics = readFileSync(join(pretrainDir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { loss?: number; val_loss?: number });
    log(`pretrain: reused ${pretrainDir} (made by the same pretraining config and seed)`);
    return {
      model,
      report: {
        reused: true,
        final_loss: metrics.filter((m) => m.loss !== undefined).at(-1)?.loss ?? null,
        val_loss: metrics.filter((m) => m.val_loss !== undefined).at(-1)?.val_loss ?? null,
      },
    };
  }
  // KJV and the entity documents interleaved, one EOS between documents.
  const ids: number[] = [];
  // Batches are random windows of the whole stream (BatchLoader), so the order of sources is free.
  const parts = [...corpus.kjv.split(/\n(?=\S.* \d+\n)/), ...corpus.docs, ...corpus.proseDocs];
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
    lmTask(model, {
      next: () => loader.next(),
      evalBatches: () => valLoader.evalBatches(4),
      state: () => loader.state(),
      setState: (st) => loader.setState(st),
    }),
    opt,
    {
      out: pretrainDir,
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
      dtype,
      tokenizerJson,
    },
  );
  train.close();
  val.close();
  return {
    model,
    report: {
      tokens: ids.length,
      final_loss: r.losses.at(-1) ?? null,
      val_loss: r.evals.at(-1)?.val_loss ?? null,
    },
  };
}
