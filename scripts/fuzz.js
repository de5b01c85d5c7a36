// `npm run fuzz [-- --seconds N] [--seed S] [--target NAME[,NAME...]] [--runs R]`: runs each fuzz
// target of fuzz/targets/ (fuzz/run.ts) in its own child process for N seconds (default: 10 minutes
// shared by all targets), with seed S (default 1): the same seed and time replay the same inputs in
// the same order, and a failure prints the fast-check seed and path that replay it exactly.
// A child that dies (a native fault, an out-of-memory abort) counts a crash, and the input it was
// running is printed; one that runs 2 minutes past its time counts a hang and is killed.
// Prints a line per target and, as the last line, {"targets": {NAME: {inputs, crashes, hangs,
// seconds}, ...}}. Exit code 1 when any target crashed or hung.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TARGETS = [
  'safetensors',
  'gguf',
  'config_json',
  'tokenizer_json',
  'jsonl',
  'chat_template',
  'rag_loaders',
  'http',
  'kernels',
];
const TOTAL_SECONDS = 600;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const targets = option('target', TARGETS.join(',')).split(',');
const unknown = targets.filter((t) => !TARGETS.includes(t));
if (unknown.length > 0) {
  console.error(`npm run fuzz: unknown --target ${unknown.join(', ')} (targets: ${TARGETS.join(', ')})`);
  process.exit(2);
}
const seconds = Number(option('seconds', String(Math.round(TOTAL_SECONDS / targets.length))));
const seed = Number(option('seed', '1'));
const runs = option('runs', undefined);
if (!(seconds > 0) || !Number.isInteger(seed)) {
  console.error('npm run fuzz: --seconds must be > 0 and --seed an integer');
  process.exit(2);
}

const scratch = mkdtempSync(join(tmpdir(), 'xfmr-fuzz-trace-'));

function runTarget(name) {
  const trace = join(scratch, `${name}.json`);
  const args = [
    '--import',
    'tsx',
    'fuzz/run.ts',
    '--target',
    name,
    '--seconds',
    String(seconds),
    '--seed',
    String(seed),
    '--trace',
    trace,
  ];
  if (runs !== undefined) args.push('--runs', runs);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    let killed = false;
    const timer = setTimeout(
      () => {
        killed = true;
        child.kill('SIGKILL');
      },
      (seconds + 120) * 1000,
    );
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const elapsed = Number(((Date.now() - t0) / 1000).toFixed(1));
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) return resolve(JSON.parse(last));
      let input = '(none recorded)';
      try {
        input = readFileSync(trace, 'utf8');
      } catch {}
      const how = killed
        ? `no answer ${seconds + 120} s after start (killed)`
        : `exit code ${code}, signal ${signal}`;
      resolve({
        inputs: 0,
        rejected: 0,
        crashes: killed ? 0 : 1,
        hangs: killed ? 1 : 0,
        seconds: elapsed,
        failure: { reason: `the fuzzing process died: ${how}`, input: input.slice(0, 2000) },
      });
    });
  });
}

const results = {};
console.error(`npm run fuzz: ${targets.length} targets, ${seconds} s each, seed ${seed}`);
for (const name of targets) {
  const r = await runTarget(name);
  results[name] = r;
  const line = `${name.padEnd(15)} ${String(r.inputs).padStart(8)} inputs  ${String(r.rejected).padStart(8)} refused cleanly  ${r.crashes} crashes  ${r.hangs} hangs  ${r.seconds} s`;
  console.log(line);
  if (r.failure) {
    console.log(`  FAILED: ${r.failure.reason}`);
    console.log(`  input: ${r.failure.input}`);
    if (r.failure.path !== undefined)
      console.log(
        `  replay: node --import tsx fuzz/run.ts --target ${name} --seed ${r.failure.seed} --path ${r.failure.path} --seconds 5`,
      );
  }
}
rmSync(scratch, { recursive: true, force: true });
const bad = Object.values(results).some((r) => r.crashes > 0 || r.hangs > 0);
const summary = {};
for (const [name, r] of Object.entries(results))
  summary[name] = { inputs: r.inputs, crashes: r.crashes, hangs: r.hangs, seconds: r.seconds };
console.log(JSON.stringify({ targets: summary }));
process.exitCode = bad ? 1 : 0;
