/**
 * Memory stays flat over long training: tidy() returns every activation to the pool, gradients
 * and optimizer state are allocated once. Runs forward+backward+AdamW of a small transformer and
 * compares RSS late in the run with RSS after iteration 100 (10% tolerance). The full 10,000
 * iteration version is `npm run bench -- memory`; this one runs 2,000 to stay quick.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
