/**
 * Memory stays flat over long training: tidy() returns every activation to the pool, gradients
 * and optimizer state are allocated once. Runs forward+backward+AdamW of a small transformer and
 * compares RSS late in the run with RSS after iteration 100 (10% tolerance). The full 10,000
 * iteration version is `npm run bench -- memory`; this one runs 2,000 to stay quick.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward, linear, pooledMemory, Rng, sum, Tensor, tidy } from '../../src/tensor/index.ts';
import { randomDataLoop } from '../../src/train/demo.ts';
import { BACKENDS, withBackend } from './backends.ts';

test('RSS after 2,000 iterations is within 10% of RSS after iteration 100', () => {
  const rss: number[] = [];
  withBackend(BACKENDS.at(-1) ?? 'js', () => randomDataLoop(2000, (_, r) => rss.push(r)));
  const base = rss[0];
  const last = rss.at(-1) ?? base;
  assert.ok(
    last <= base * 1.1,
    `RSS grew from ${(base / 2 ** 20).toFixed(1)} MB to ${(last / 2 ** 20).toFixed(1)} MB`,
  );
});

test('a frozen Q8_0 or bf16 weight widened in backward reuses pooled buffers: the pool stays flat', () => {
  // Q8_0 rows are whole 32-blocks; dx needs the widened W [64, 64] every step. A fresh array per
  // widening would join the pool on dispose and grow it by 16 KiB a step.
  for (const dtype of ['q8_0', 'bf16'] as const) {
    const w = Tensor.rand([64, 64], new Rng(3), -1, 1).cast(dtype);
    const pooled: number[] = [];
    for (let step = 0; step < 6; step++) {
      const x = Tensor.rand([4, 64], new Rng(step), -1, 1);
      x.requiresGrad = true;
      tidy(() => backward(sum(linear(x, w))));
      assert.ok(
        x.grad?.data.some((v) => v !== 0),
        'dx flowed through the frozen weight',
      );
      x.dispose();
      pooled.push(pooledMemory());
    }
    assert.equal(pooled[5], pooled[1], `${dtype}: pooled bytes per step ${pooled.join(', ')}`);
  }
});
