/**
 * Resume is exact: `xfmr pretrain` (in f32 and in bf16) and `xfmr ppo` killed with SIGKILL after a
 * checkpoint and run again with --resume produce the same losses (1e-6 relative; PPO's iteration
 * metrics exactly) and the same final weights, byte for byte, as an uninterrupted run. DPO, the
 * reward model and SFT resume through the same loop (their in-process resume tests are beside
 * their trainers).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { RewardModel } from '../../src/models/heads.ts';
import { saveModel } from '../../src/models/load.ts';
import { saveRewardModel } from '../../src/models/load_reward.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { Rng } from '../../src/tensor/random.ts';
import { CharTokenizer } from '../../src/tokenizers/char.ts';
import { writeShards } from '../../src/train/data.ts';
import { tempDir } from '../cli/helpers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'xfmr.js');

interface Summary {
  start_step: number;
  dtype: string;
  losses: number[];
}

for (const dtype of ['f32', 'bf16'] as const)
  test(`a SIGKILLed pretrain (--dtype ${dtype}) resumes with exactly the losses and weights of an uninterrupted run`, () =>
    pretrainResumes(dtype));

async function pretrainResumes(dtype: 'f32' | 'bf16'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-resume-'));
  try {
    // A corpus with structure (a repeating pattern plus noise), so the loss moves.
    const rng = new Rng(4);
    const tokens = Array.from({ length: 20000 }, (_, i) => (rng.random() < 0.8 ? (i * 7) % 40 : rng.int(40)));
    writeShards(join(dir, 'data'), tokens, {
      vocabSize: 40,
      separatorId: null,
      tokenizer: 'test',
      sources: [],
    });
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        arch: 'llama',
        vocabSize: 40,
        contextLength: 32,
        dModel: 32,
        nLayers: 2,
        nHeads: 4,
        nKvHeads: 2,
        ffnDim: 64,
      }),
    );
    const steps = 40;
    const args = (out: string) => [
      BIN,
      'pretrain',
      '--config',
      join(dir, 'config.json'),
      '--data',
      join(dir, 'data'),
      '--out',
      out,
      '--steps',
      String(steps),
      '--batch-size',
      '4',
      '--block-size',
      '32',
      '--checkpoint-every',
      '5',
      '--eval-every',
      '0',
      '--lr',
      '3e-3',
      '--json',
      '--threads',
      '1',
      '--dtype',
      dtype,
    ];
    const full = spawnSync(process.execPath, args(join(dir, 'a')), { encoding: 'utf8' });
    assert.equal(full.status, 0, full.stderr);
    assert.match(full.stderr, new RegExp(`^dtype: ${dtype} \\(requested\\)$`, 'm'));
    const a = JSON.parse(full.stdout) as Summary;
    assert.equal(a.dtype, dtype);
    assert.equal(a.losses.length, steps);
    assert.ok(
      a.losses[steps - 1] < a.losses[0] - 0.3,
      `loss should fall: ${a.losses[0]} -> ${a.losses[steps - 1]}`,
    );

    // The same run, killed as soon as its first checkpoint is complete.
    const out = join(dir, 'b');
    const child = spawn(process.execPath, args(out), { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_, sig) => resolve(sig)),
    );
    while (!existsSync(join(out, 'latest.json'))) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const killedAt = (JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { step: number }).step;
    assert.ok(killedAt < steps, 'the run was killed before it finished');

    const resumed = spawnSync(process.execPath, [...args(out), '--resume'], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    const b = JSON.parse(resumed.stdout) as Summary;
    assert.match(resumed.stderr, new RegExp(`^dtype: ${dtype} \\(from the checkpoint\\)$`, 'm'));
    assert.equal(b.dtype, dtype);
    assert.equal(b.start_step, killedAt);
    assert.equal(b.losses.length, steps - killedAt);
    b.losses.forEach((l, i) => {
      const ref = a.losses[killedAt + i];
      assert.ok(
        Math.abs(l - ref) <= 1e-6 * Math.abs(ref),
        `step ${killedAt + i + 1}: resumed ${l} vs uninterrupted ${ref}`,
      );
    });
    // The metrics log holds each step once.
    const logged = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(
      logged,
      Array.from({ length: steps }, (_, i) => i + 1),
    );
    assert.deepEqual(
      readFileSync(join(out, 'model.safetensors')),
      readFileSync(join(dir, 'a', 'model.safetensors')),
      'the same final weights, byte for byte',
    );
    // Resuming with the other dtype named explicitly is refused, naming both.
    const other = dtype === 'bf16' ? 'f32' : 'bf16';
    const wrong = spawnSync(process.execPath, [...args(out), '--resume', '--dtype', other], {
      encoding: 'utf8',
    });
    assert.notEqual(wrong.status, 0);
    assert.match(
      wrong.stderr,
      new RegExp(`--dtype ${other} conflicts with the checkpoint .* trained in ${dtype}`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts `node bin/xfmr.js args`, SIGKILLs it once OUT/latest.json exists; returns the step it had saved. */
async function killAfterFirstCheckpoint(args: string[], out: string): Promise<number> {
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, sig) => resolve(sig)));
  while (!existsSync(join(out, 'latest.json'))) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  return (JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { step: number }).step;
}

function records(out: string): Record<string, number>[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
}

test('a SIGKILLed ppo resumes with exactly the rollouts and updates of an uninterrupted run', async () => {
  const dir = tempDir('xfmr-resume-ppo-');
  const tok = CharTokenizer.train(['abcdefgh '], ['<eos>']);
  const config = llamaConfig({
    vocabSize: tok.vocabSize,
    contextLength: 24,
    dModel: 16,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 32,
    eosTokenId: tok.specialTokens.get('<eos>') as number,
    bosTokenId: null,
  });
  const tokenizerJson = tok.toTokenizerJson() as JsonValue;
  saveModel(join(dir, 'base'), new DecoderLM(config, 1), { tokenizerJson });
  saveRewardModel(join(dir, 'rm'), new RewardModel(new DecoderLM(config, 2), 3), { tokenizerJson });
  writeFileSync(
    join(dir, 'prompts.jsonl'),
    ['ab', 'ba', 'cab', 'd'].map((p) => JSON.stringify({ prompt: p })).join('\n'),
  );
  const iterations = 12;
  const args = (out: string) => [
    BIN,
    'ppo',
    '--model',
    join(dir, 'base'),
    '--reward',
    join(dir, 'rm'),
    '--prompts',
    join(dir, 'prompts.jsonl'),
    '--out',
    out,
    '--iterations',
    String(iterations),
    '--batch-size',
    '4',
    '--mini-batch-size',
    '2',
    '--ppo-epochs',
    '1',
    '--max-new-tokens',
    '6',
    '--lr',
    '3e-3',
    '--target-kl',
    '0.05',
    '--checkpoint-every',
    '1',
    '--json',
    '--threads',
    '1',
  ];
  const full = spawnSync(process.execPath, args(join(dir, 'a')), { encoding: 'utf8' });
  assert.equal(full.status, 0, full.stderr);
  const out = join(dir, 'b');
  const killedAt = await killAfterFirstCheckpoint(args(out), out);
  assert.ok(killedAt < 2 * iterations, 'the run was killed before it finished');
  const resumed = spawnSync(process.execPath, [...args(out), '--resume'], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal((JSON.parse(resumed.stdout) as { start_step: number }).start_step, killedAt);
  const a = records(join(dir, 'a'));
  const b = records(out);
  // Iteration records (rollout statistics, KL coefficient) are identical; updates have the same losses.
  assert.deepEqual(
    b.filter((r) => 'iteration' in r),
    a.filter((r) => 'iteration' in r),
  );
  assert.deepEqual(
    b.filter((r) => 'loss' in r).map((r) => [r.step, r.loss, r.grad_norm]),
    a.filter((r) => 'loss' in r).map((r) => [r.step, r.loss, r.grad_norm]),
  );
  assert.deepEqual(
    readFileSync(join(out, 'model.safetensors')),
    readFileSync(join(dir, 'a', 'model.safetensors')),
    'the same final policy, byte for byte',
  );
});
