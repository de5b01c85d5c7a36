/**
 * Runs fuzz targets in this process: `node --import tsx fuzz/run.ts --target NAME --seconds S
 * --seed N [--runs R] [--path P] [--show]`. Each target runs under fast-check (fc.check with the
 * seed, stopped after R inputs or by the time limit, whichever comes first) until its first
 * failure, which fast-check then shrinks to a small input; the report prints that input and the
 * seed and path that replay it. Prints one progress line per target on stderr and, as the last
 * line on stdout, the JSON of `FuzzResult`s. `--show` prints the input that --seed and --path
 * give instead of running it (how scripts/fuzz.js names the input a crashed process was running).
 *
 * scripts/fuzz.js runs each target in its own child process, so a native crash or a hang that
 * never returns is counted against that target and the others still run.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { type FuzzTarget, preview } from './target.ts';
import { TARGETS } from './targets/index.ts';

export interface FuzzResult {
  inputs: number;
  /** Inputs the code refused with its own validation error (the rest were accepted). */
  rejected: number;
  /** What ended the run: the input count (--runs) or the time limit (--seconds). */
  stopped: 'runs' | 'time';
  crashes: number;
  hangs: number;
  seconds: number;
  /** The shrunk failing input, why it failed, and how to replay it (only when one failed). */
  failure?: { reason: string; input: string; seed: number; path: string };
}

export interface FuzzRunOptions {
  seconds: number;
  seed: number;
  /** fast-check's replay path of a failure (with its seed): runs that input first. */
  path?: string;
  /** At most this many inputs (default: as many as fit in `seconds`). */
  runs?: number;
  /**
   * A file that holds the index of the input being run (fast-check's replay path of it with the
   * seed: the last one after a process crash). An index, rewritten in place, not the input: writing
   * each input's text cost more than most inputs' run.
   */
  trace?: string;
  /** Progress lines to stderr every few seconds. */
  log?: (line: string) => void;
}

/** Fuzzes one target; never throws for a failing input (that is the result). */
export async function fuzzTarget<T>(t: FuzzTarget<T>, o: FuzzRunOptions): Promise<FuzzResult> {
  await t.setup?.();
  const t0 = performance.now();
  let inputs = 0;
  let rejected = 0;
  let lastLog = t0;
  let lastFailure: { reason: string; hang: boolean } | null = null;
  const trace = o.trace === undefined ? null : openSync(o.trace, 'w');
  // fast-check numbers the inputs of a run from the first number of the replay path.
  const first = o.path === undefined ? 0 : Number(o.path.split(':')[0]);
  const property = fc.asyncProperty(t.arbitrary, async (input) => {
    // A native fault kills the process before any report: the index of the input that did it is
    // left here, fixed width so that each write replaces the last.
    if (trace !== null) writeSync(trace, String(first + inputs).padStart(12), 0, 'latin1');
    inputs++;
    const start = performance.now();
    // The hang verdict uses this process's CPU time, not the wall clock: on a busy machine a call
    // can wait seconds for a core without doing anything wrong.
    const cpu0 = process.cpuUsage();
    let reason: string | null = null;
    try {
      await t.run(input);
    } catch (e) {
      const verdict = t.clean(e, input);
      if (verdict !== true) reason = verdict;
      else rejected++;
    }
    const used = process.cpuUsage(cpu0);
    const ms = (used.user + used.system) / 1000;
    if (reason === null && ms > t.hangMs) {
      lastFailure = { reason: `took ${ms.toFixed(0)} ms of CPU (bound ${t.hangMs} ms)`, hang: true };
      return false;
    }
    if (reason !== null) {
      lastFailure = { reason, hang: false };
      return false;
    }
    if (o.log && start - lastLog > 5000) {
      lastLog = start;
      o.log(`${t.name}: ${inputs} inputs, ${((start - t0) / 1000).toFixed(0)} s`);
    }
    return true;
  });
  const r = await fc.check(property, {
    seed: o.seed,
    path: o.path,
    numRuns: o.runs ?? 1e9,
    interruptAfterTimeLimit: o.seconds * 1000,
    markInterruptAsFailure: false,
    // Shrinking replays the property: bound it so one failure cannot eat the whole run.
    skipAllAfterTimeLimit: o.seconds * 1000 + 60_000,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (trace !== null) closeSync(trace);
  await t.teardown?.();
  const result: FuzzResult = {
    inputs: r.numRuns,
    stopped: r.interrupted ? 'time' : 'runs',
    rejected,
    crashes: 0,
    hangs: 0,
    seconds: Number(seconds.toFixed(1)),
  };
  if (r.failed && r.counterexample) {
    // fast-check replays the shrunk input last, so lastFailure is that input's verdict.
    const f = lastFailure as { reason: string; hang: boolean } | null;
    if (f?.hang) result.hangs = 1;
    else result.crashes = 1;
    result.failure = {
      reason: f?.reason ?? String(r.errorInstance),
      input: preview(r.counterexample[0]),
      seed: r.seed,
      path: r.counterexamplePath ?? '',
    };
  }
  return result;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const name = arg('target');
  const target = TARGETS.find((t) => t.name === name);
  if (!target) {
    console.error(`fuzz/run.ts: --target must be one of ${TARGETS.map((t) => t.name).join(', ')}`);
    process.exitCode = 2;
  } else if (process.argv.includes('--show')) {
    // The input --seed and --path give (fast-check's first value on that path), not run.
    const [input] = fc.sample(target.arbitrary as fc.Arbitrary<unknown>, {
      seed: Number(arg('seed') ?? 1),
      path: arg('path') ?? '0',
      numRuns: 1,
    });
    console.log(preview(input, 2000));
  } else {
    const runs = arg('runs');
    const r = await fuzzTarget(target as FuzzTarget<unknown>, {
      seconds: Number(arg('seconds') ?? 60),
      seed: Number(arg('seed') ?? 1),
      runs: runs === undefined ? undefined : Number(runs),
      log: (l) => console.error(l),
      trace: arg('trace'),
      path: arg('path'),
    });
    console.log(JSON.stringify(r));
  }
}
