/**
 * The native thread pool under resizing: `setThreads` joins the workers and starts new ones, and a
 * parallel kernel follows at once. New workers used to start believing they had seen generation 0,
 * so one could count itself out of a job it never joined; the caller then spun forever on a busy
 * count of -1 (seen in `npm run bench -- gemm`, which switches between 1 and 2 threads per row).
 * The race is narrow, so this is a stress test: many resizes, each followed by parallel GEMMs and
 * a linearBf16, in a child process that must finish (and compute the right product) within its
 * timeout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireNative, skipWithoutNative } from './require_native.ts';

const CHILD = 'XFMR_POOL_CHILD';

if (process.env[CHILD]) {
  const k = requireNative();
  const N = 64;
  const x = new Float32Array(N * N).fill(1);
  const y = new Float32Array(N * N);
  const w = new Uint16Array(N * N).fill(0x3f80); // bf16 1.0
  for (let i = 0; i < 400; i++) {
    k.setThreads(1 + (i % 2));
    k.gemm(x, x, y, 1, N, N, N, false, false, 0, 0, 0, 1, 0);
    if (y[N * N - 1] !== N) throw new Error(`gemm gave ${y[N * N - 1]} after resize ${i}`);
    k.linearBf16(x, w, y, 1, N, N);
    if (y[N - 1] !== N) throw new Error(`linearBf16 gave ${y[N - 1]} after resize ${i}`);
  }
  process.stdout.write('done\n');
} else {
  test('resizing the pool between parallel kernels never hangs (400 resizes, child process)', {
    skip: skipWithoutNative(),
  }, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD]: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.error, undefined, `the child did not finish: ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'done');
  });
}
