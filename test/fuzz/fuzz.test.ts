/**
 * A smoke run of `npm run fuzz` (fuzz/): every target for a few hundred inputs with a fixed seed,
 * no crash and no hang, and the generators reach both sides of each parser (some inputs accepted,
 * some refused cleanly). And the harness itself: a target that throws a TypeError on some inputs is
 * reported as a crash with a shrunk input, and a slow one as a hang.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { fuzzTarget } from '../../fuzz/run.ts';
import type { FuzzTarget } from '../../fuzz/target.ts';
import { namedError } from '../../fuzz/target.ts';
import { TARGETS } from '../../fuzz/targets/index.ts';
import { loadNative } from '../../src/kernels/native.ts';

const RUNS = 300;
/** Targets whose code never refuses with a validation error (a loader that skips, an HTTP app that answers). */
const NEVER_REFUSE = new Set(['rag_loaders', 'http']);

for (const t of TARGETS) {
  test(`fuzz target ${t.name}: ${RUNS} inputs, no crash, no hang`, async (ctx) => {
    if (t.name === 'kernels' && loadNative().kernels === null)
      return ctx.skip('no native addon (XFMR_SKIP_NATIVE?)');
    const r = await fuzzTarget(t as FuzzTarget<unknown>, { seconds: 60, seed: 7, runs: RUNS });
    assert.equal(r.failure, undefined, JSON.stringify(r.failure));
    assert.equal(r.inputs, RUNS);
    assert.equal(r.crashes + r.hangs, 0);
    if (!NEVER_REFUSE.has(t.name)) {
      assert.ok(r.rejected > 0, `${t.name}: no input was refused: the generator never breaks anything`);
      assert.ok(
        r.rejected < RUNS,
        `${t.name}: every input was refused: the generator never gets past the checks`,
      );
    }
  });
}

test('the harness reports a TypeError from inside as a crash, with the input shrunk', async () => {
  const buggy: FuzzTarget<number[]> = {
    name: 'buggy',
    what: 'sums a list, but reads past its end when it holds a 7',
    arbitrary: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 10 }),
    hangMs: 1000,
    run(xs) {
      if (xs.includes(7)) (undefined as unknown as { x: number }).x;
    },
    clean: (e) => namedError(e, 'list'),
  };
  const r = await fuzzTarget(buggy, { seconds: 10, seed: 1, runs: 500 });
  assert.equal(r.crashes, 1);
  assert.equal(r.hangs, 0);
  assert.equal(r.failure?.input, '[7]', 'fast-check shrinks the failing list to [7]');
  assert.match(r.failure?.reason ?? '', /^TypeError from inside/);
});

test('the harness reports a call over the bound as a hang', async () => {
  const slow: FuzzTarget<number> = {
    name: 'slow',
    what: 'spins for 30 ms of CPU on inputs over 90',
    arbitrary: fc.integer({ min: 0, max: 100 }),
    hangMs: 20,
    run(n) {
      // 30 ms of CPU time (the harness's hang bound is CPU time, so a busy machine cannot fake it)
      const c0 = process.cpuUsage();
      const spent = () => {
        const u = process.cpuUsage(c0);
        return (u.user + u.system) / 1000;
      };
      if (n > 90) while (spent() < 30);
    },
    clean: () => true,
  };
  const r = await fuzzTarget(slow, { seconds: 10, seed: 1, runs: 500 });
  assert.equal(r.hangs, 1);
  assert.equal(r.crashes, 0);
  assert.equal(r.failure?.input, '91');
});

// The trace a crashed process leaves is the index of the input it was running (writing each
// input's text cost more than most targets' run): replaying the seed along that path must give
// that very input, or the runner would name the wrong one after a native crash.
test('the trace holds the index of the input being run, and the seed and that path regenerate it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-fuzz-test-'));
  try {
    const trace = join(dir, 'trace');
    const arbitrary = fc.record({ n: fc.nat(), s: fc.string({ maxLength: 30 }) });
    const seen: string[] = [];
    let traced: string[] = [];
    const recorder: FuzzTarget<{ n: number; s: string }> = {
      name: 'recorder',
      what: 'records each input and the trace written before it ran',
      arbitrary,
      hangMs: 1000,
      run(x) {
        seen.push(JSON.stringify(x));
        traced.push(readFileSync(trace, 'latin1').trim());
      },
      clean: () => true,
    };
    const r = await fuzzTarget(recorder, { seconds: 10, seed: 5, runs: 150, trace });
    assert.equal(r.inputs, 150);
    assert.equal(r.stopped, 'runs');
    assert.deepEqual(
      traced,
      seen.map((_, i) => String(i)),
    );
    for (const i of [0, 1, 77, 149]) {
      const [again] = fc.sample(arbitrary, { seed: 5, path: String(i), numRuns: 1 });
      assert.equal(JSON.stringify(again), seen[i], `input ${i}`);
    }
    // A replay from a path runs the same inputs from there on, and numbers them from that index.
    const before = [...seen];
    seen.length = 0;
    traced = [];
    await fuzzTarget(recorder, { seconds: 10, seed: 5, runs: 3, trace, path: '77' });
    assert.deepEqual(seen, before.slice(77, 80));
    assert.deepEqual(traced, ['77', '78', '79']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
