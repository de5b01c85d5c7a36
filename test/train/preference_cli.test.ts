/**
 * The alignment commands end to end on a tiny model directory: `xfmr reward train` writes a reward
 * model that `xfmr ppo` loads, `xfmr dpo` writes a policy; each prints a JSON summary with --json
 * and names a bad option or file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JsonValue } from '../../src/io/checkpoint.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { CharTokenizer } from '../../src/tokenizers/char.ts';
import { tempDir, xfmr } from '../cli/helpers.ts';

const dir = tempDir('xfmr-align-');
const tok = CharTokenizer.train(['abcdefgh '], ['<eos>']);
const model = new DecoderLM(
  llamaConfig({
    vocabSize: tok.vocabSize,
    contextLength: 24,
    dModel: 16,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 32,
    eosTokenId: tok.specialTokens.get('<eos>') as number,
    bosTokenId: null,
  }),
  1,
);
const base = join(dir, 'base');
saveModel(base, model, { tokenizerJson: tok.toTokenizerJson() as JsonValue });
const prefs = join(dir, 'prefs.jsonl');
writeFileSync(
  prefs,
  Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({ prompt: 'ab'.slice(0, 1 + (i % 2)), chosen: 'cc d', rejected: `e${'f'.repeat(i % 3)}` }),
  ).join('\n'),
);

test('reward train, then ppo against it, and dpo', async () => {
  const rmDir = join(dir, 'rm');
  const r = await xfmr([
    'reward',
    'train',
    '--model',
    base,
    '--data',
    prefs,
    '--out',
    rmDir,
    '--steps',
    '4',
    '--batch-size',
    '4',
    '--lr',
    '1e-3',
    '--held-out',
    '0.25',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rs = JSON.parse(r.stdout) as { eval: { val_accuracy: number } };
  assert.ok(rs.eval.val_accuracy >= 0 && rs.eval.val_accuracy <= 1);
  assert.ok(existsSync(join(rmDir, 'score_head.safetensors')));

  const ppoDir = join(dir, 'ppo');
  const p = await xfmr([
    'ppo',
    '--model',
    base,
    '--reward',
    rmDir,
    '--prompts',
    prefs,
    '--out',
    ppoDir,
    '--iterations',
    '2',
    '--batch-size',
    '4',
    '--mini-batch-size',
    '2',
    '--max-new-tokens',
    '4',
    '--lr',
    '1e-3',
    '--json',
  ]);
  assert.equal(p.code, 0, p.stderr);
  const ps = JSON.parse(p.stdout) as { last: Record<string, number> };
  assert.equal(ps.last.iteration, 2);
  for (const k of ['reward', 'kl', 'entropy', 'clipfrac', 'value_loss', 'approx_kl'])
    assert.ok(Number.isFinite(ps.last[k]), k);
  assert.ok(existsSync(join(ppoDir, 'model.safetensors')));

  const dpoDir = join(dir, 'dpo');
  const d = await xfmr([
    'dpo',
    '--model',
    base,
    '--data',
    prefs,
    '--out',
    dpoDir,
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--loss',
    'ipo',
    '--beta',
    '0.5',
    '--held-out',
    '0.25',
    '--json',
  ]);
  assert.equal(d.code, 0, d.stderr);
  const ds = JSON.parse(d.stdout) as { loss: string; eval: Record<string, number> };
  assert.equal(ds.loss, 'ipo');
  assert.ok('val_rewards/margins' in ds.eval);
  assert.ok(existsSync(join(dpoDir, 'model.safetensors')));
});

test('dpo --lora: the reference is the base without adapters (step 1 margins are exactly 0), a PEFT adapter out', async () => {
  const out = join(dir, 'dpo-lora');
  const d = await xfmr([
    'dpo',
    '--model',
    base,
    '--data',
    prefs,
    '--out',
    out,
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--lr',
    '1e-2',
    '--warmup',
    '0',
    '--lora',
    'r=2,alpha=4,dropout=0,targets=q,v,o',
    '--json',
  ]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /LoRA r=2 alpha=4 dropout=0 on q,v,o: 176 trainable parameters/);
  // A fresh adapter (B = 0) leaves the policy equal to the base, which is the reference.
  const log = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(log[0]['rewards/margins'], 0);
  assert.ok(
    log.some((m) => m.step > 1 && m['rewards/margins'] !== 0),
    'the adapters moved the policy',
  );
  assert.ok(
    existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors')),
  );
  assert.ok(!existsSync(join(out, 'model.safetensors')), 'no full model is written');
});

test('errors name the option or the file', async () => {
  const bad = await xfmr([
    'dpo',
    '--model',
    base,
    '--data',
    prefs,
    '--out',
    join(dir, 'x'),
    '--loss',
    'hinge',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--loss must be sigmoid or ipo/);
  const missing = await xfmr([
    'ppo',
    '--model',
    base,
    '--reward',
    base,
    '--prompts',
    prefs,
    '--out',
    join(dir, 'y'),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not a reward model/);
});
