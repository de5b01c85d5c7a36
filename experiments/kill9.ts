/**
 * Kill -9 at random: `npm run experiment -- kill9 [--trials N] [--seed S] [--only pretrain,rag,serve]`.
 * Each trial starts a command, SIGKILLs it, then checks what is left:
 *
 *   pretrain  a tiny llama on a tiny corpus, checkpoint every 3 steps; killed, then run again with
 *             --resume to the end. Pass: model.safetensors is byte for byte the uninterrupted run's.
 *   rag       `xfmr rag index` of 60 small files (hash embedder); killed. Pass: PRAGMA
 *             integrity_check is "ok", every document in the database has exactly the chunks the
 *             clean index gives its file (no half-indexed document visible), then a re-run
 *             completes and gives the clean index's documents and chunk counts.
 *   serve     `xfmr serve` of a tiny model with a RAG database, under load (8 concurrent clients:
 *             streamed and plain chat completions and RAG asks); killed. Pass: the database's
 *             integrity_check is "ok", the model and database files are unchanged (sha256), and a
 *             restarted server answers a completion.
 *
 * When the kill lands. A kill at a uniformly random time mostly lands between writes (a write is a
 * few milliseconds of a run of seconds), so pretrain and rag aim at writes: the experiment watches
 * the process as fast as it can poll (a busy loop, no sleeps) for its write windows. A watched
 * clean run gives the time from its first window's opening to its last's; each trial draws a delay
 * uniformly within its first three quarters (a loaded machine stretches a trial, and the polls
 * miss some short windows: a later delay could outlast the trial's last window seen), waits for the first window to open that long or longer after its own first
 * window (start-up time varies with the machine's load; the time between writes less), and kills
 * after a random 0-3 further polls (each some tens of microseconds) while the window is open:
 *   pretrain  a window is a checkpoint being written: `checkpoints/step-N.tmp/` exists (made, filled
 *             and fsynced, then renamed), or a `.NAME.tmp-*` file of an atomic write (latest.json,
 *             model.safetensors). A trial landed mid-write when such a temporary is left behind.
 *   rag       a window is an open SQLite write transaction: the process holds the WAL write lock (a
 *             POSIX lock on byte 120 of the -shm file, as /proc/locks shows), from BEGIN IMMEDIATE
 *             through the document's inserts to the commit. A trial landed mid-write when the lock
 *             was held at the last poll before the kill.
 *   serve     writes no files (the model and database are only read); its kill lands at a random
 *             time (0-2 s) after the first answer, under load, and the trial records how many
 *             requests were answered and how many were in flight.
 * Each trial records which, and the summary counts them.
 *
 * Prints a table and, as its last line, the JSON of the pass and mid-write counts per scenario.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DecoderLM } from '../src/models/decoder.ts';
import { saveModel } from '../src/models/load.ts';
import { llamaConfig } from '../src/models/presets.ts';
import { Rng } from '../src/tensor/random.ts';
import { loadTokenizerJson } from '../src/tokenizers/tokenizer_json.ts';
import { writeShards } from '../src/train/data.ts';
import { byteLevelTokenizerJson } from '../test/cli/helpers.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'xfmr.js');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const TRIALS = Number(option('trials', '20'));
const rng = new Rng(Number(option('seed', '1')));
const ONLY = option('only', 'pretrain,rag,serve').split(',');

interface Trial {
  killedAtMs: number;
  /** Where the kill landed: inside a write window, between writes, or (serve) with requests in flight. */
  landed: 'mid-write' | 'between writes' | 'not killed' | 'under load';
  pass: boolean;
  note: string;
}

function run(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function start(args: string[]): { child: ChildProcess; exited: Promise<void>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { child, exited, stderr: () => err };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** True while the process is alive (not exited, not a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

interface WindowKill {
  /** Write windows seen opening. */
  windows: number;
  /** When the first and the last of them opened (ms after the start; NaN when none did). */
  firstMs: number;
  lastMs: number;
  /** Killed (false: the run ended first). */
  killed: boolean;
  /** The window was open at the last poll before the kill. */
  open: boolean;
  ms: number;
}

/**
 * Starts `args` and polls `inWindow(pid)` in a busy loop; at the first window to open `fromMs` or
 * more after the first window opened, polls `extra` more times and SIGKILLs the process
 * (fromMs = Infinity: never; the windows of a whole run are counted). The loop is synchronous, so the child's output
 * is not read: it goes nowhere.
 */
async function killInWindow(
  args: string[],
  inWindow: (pid: number) => boolean,
  fromMs: number,
  extra: number,
): Promise<WindowKill> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const pid = child.pid!;
  const t0 = performance.now();
  let windows = 0;
  let firstMs = Number.NaN;
  let lastMs = Number.NaN;
  let wasOpen = false;
  let open = false;
  let after = -1;
  let killed = false;
  for (let polls = 0; ; polls++) {
    open = inWindow(pid);
    if (open && !wasOpen) {
      const t = performance.now() - t0;
      windows++;
      if (windows === 1) firstMs = t;
      lastMs = t;
      if (after < 0 && t - firstMs >= fromMs) after = extra;
    }
    wasOpen = open;
    if (after >= 0 && after-- === 0) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    if (polls % 256 === 0 && !alive(pid)) break;
    if (performance.now() - t0 > 120_000) {
      child.kill('SIGKILL');
      break;
    }
  }
  await exited;
  return { windows, firstMs, lastMs, killed, open, ms: Math.round(performance.now() - t0) };
}

/** The temporaries of an atomic write or a checkpoint being written, in a pretrain --out folder. */
function pretrainTemporaries(out: string): string[] {
  const found: string[] = [];
  for (const [dir, re] of [
    [out, /^\..*\.tmp-/],
    [join(out, 'checkpoints'), /\.tmp$/],
  ] as const) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // not made yet
    }
    for (const name of names) if (re.test(name)) found.push(join(dir === out ? '' : 'checkpoints', name));
  }
  return found;
}

/** Holds the process the WAL write lock of an SQLite database (byte 120 of its -shm, /proc/locks)? */
function holdsWalWriteLock(pid: number): boolean {
  return new RegExp(`POSIX +ADVISORY +WRITE +${pid} +\\S+ 120 120$`, 'm').test(
    readFileSync('/proc/locks', 'latin1'),
  );
}

// ---- pretrain ----
async function pretrainTrials(dir: string): Promise<Trial[]> {
  const r = new Rng(4);
  const tokens = Array.from({ length: 6000 }, (_, i) => (r.random() < 0.8 ? (i * 7) % 40 : r.int(40)));
  writeShards(join(dir, 'data'), tokens, {
    vocabSize: 40,
    separatorId: null,
    tokenizer: 'test',
    sources: [],
  });
  const config = {
    arch: 'llama',
    vocabSize: 40,
    contextLength: 16,
    dModel: 16,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 32,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const args = (out: string) => [
    'pretrain',
    '--config',
    join(dir, 'config.json'),
    '--data',
    join(dir, 'data'),
    '--out',
    out,
    '--steps',
    '30',
    '--batch-size',
    '2',
    '--block-size',
    '16',
    '--checkpoint-every',
    '3',
    '--eval-every',
    '0',
    '--lr',
    '3e-3',
    '--threads',
    '1',
    '--dtype',
    'f32',
  ];
  const clean = await killInWindow(
    args(join(dir, 'clean')),
    () => pretrainTemporaries(join(dir, 'clean')).length > 0,
    Number.POSITIVE_INFINITY,
    0,
  );
  if (!existsSync(join(dir, 'clean', 'model.safetensors')))
    throw new Error(`the uninterrupted pretrain failed: ${run(args(join(dir, 'clean2'))).stderr}`);
  console.log(
    `pretrain: a watched clean run shows ${clean.windows} write windows opening from ${Math.round(clean.firstMs)} to ${Math.round(clean.lastMs)} ms (${clean.ms} ms in all)`,
  );
  const want = sha(join(dir, 'clean', 'model.safetensors'));
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const out = join(dir, `run${i}`);
    const k = await killInWindow(
      args(out),
      () => pretrainTemporaries(out).length > 0,
      rng.random() * 0.75 * (clean.lastMs - clean.firstMs),
      rng.int(4),
    );
    const left = pretrainTemporaries(out);
    const step = existsSync(join(out, 'latest.json'))
      ? (JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { step: number }).step
      : 0;
    const resumed = run([...args(out), '--resume']);
    const same =
      resumed.code === 0 &&
      existsSync(join(out, 'model.safetensors')) &&
      sha(join(out, 'model.safetensors')) === want;
    trials.push({
      killedAtMs: k.ms,
      landed: !k.killed ? 'not killed' : left.length > 0 ? 'mid-write' : 'between writes',
      pass: same,
      note:
        (resumed.code !== 0
          ? `resume failed: ${resumed.stderr.trim().split('\n').at(-1)}`
          : same
            ? `resumed from step ${step}`
            : `weights differ (checkpoint at step ${step})`) +
        (left.length > 0 ? `; left ${left.join(', ')}` : ''),
    });
    rmSync(out, { recursive: true, force: true });
  }
  return trials;
}

// ---- rag index ----
const TOPICS = [
  'The river floods in spring.',
  'Bees make honey from nectar.',
  'Iron rusts in wet air.',
  'Owls hunt at night.',
  'Glass is made from sand.',
];

function chunkCounts(db: string): Map<string, number> {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    // killed before the schema was committed: an empty database, nothing visible
    if (d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'documents'").get() === undefined)
      return new Map();
    const rows = d
      .prepare(
        'SELECT d.source AS source, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) AS n FROM documents d',
      )
      .all() as { source: string; n: number }[];
    return new Map(rows.map((r) => [r.source, r.n]));
  } finally {
    d.close();
  }
}

function integrity(db: string): string {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (d.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check;
  } finally {
    d.close();
  }
}

function sameCounts(got: Map<string, number>, clean: Map<string, number>): string | null {
  for (const [source, n] of got)
    if (clean.get(source) !== n) return `${source}: ${n} chunks, the clean index has ${clean.get(source)}`;
  return null;
}

async function ragTrials(dir: string): Promise<Trial[]> {
  const docs = join(dir, 'docs');
  mkdirSync(docs, { recursive: true });
  for (let i = 0; i < 60; i++)
    writeFileSync(
      join(docs, `f${String(i).padStart(3, '0')}.md`),
      Array.from(
        { length: 30 },
        (_, j) => `## Part ${j}\n\n${TOPICS[(i + j) % TOPICS.length]} File ${i} part ${j}.`,
      ).join('\n\n'),
    );
  const cleanDb = join(dir, 'clean.db');
  const c = await killInWindow(
    ['rag', 'index', '--db', cleanDb, docs],
    holdsWalWriteLock,
    Number.POSITIVE_INFINITY,
    0,
  );
  const clean = chunkCounts(cleanDb);
  if (clean.size !== 60) throw new Error(`the clean index has ${clean.size} of 60 documents`);
  console.log(
    `rag: a watched clean index shows ${c.windows} write transactions opening from ${Math.round(c.firstMs)} to ${Math.round(c.lastMs)} ms (${c.ms} ms in all)`,
  );
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const db = join(dir, `run${i}.db`);
    const k = await killInWindow(
      ['rag', 'index', '--db', db, docs],
      holdsWalWriteLock,
      rng.random() * 0.75 * (c.lastMs - c.firstMs),
      rng.int(4),
    );
    const at = k.ms;
    const landed: Trial['landed'] = !k.killed ? 'not killed' : k.open ? 'mid-write' : 'between writes';
    let note = '';
    let pass = true;
    const fail = (why: string): void => {
      if (pass) note = why;
      pass = false;
    };
    if (existsSync(db)) {
      const ok = integrity(db);
      const half = ok === 'ok' ? sameCounts(chunkCounts(db), clean) : null;
      if (ok !== 'ok') fail(`integrity_check: ${ok}`);
      else if (half) fail(`half-indexed: ${half}`);
      else note = `${chunkCounts(db).size} of ${clean.size} documents committed`;
    } else note = 'killed before the database was created';
    const again = run(['rag', 'index', '--db', db, docs]);
    if (pass && again.code !== 0) fail(`the re-run failed: ${again.stderr.trim().split('\n').at(-1)}`);
    if (pass) {
      const after = chunkCounts(db);
      if (after.size !== clean.size || sameCounts(after, clean) !== null)
        fail('the re-run did not give the clean index');
      else if (integrity(db) !== 'ok') fail('integrity_check failed after the re-run');
    }
    trials.push({ killedAtMs: at, landed, pass, note });
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
  return trials;
}

// ---- serve under load ----
async function serveTrials(dir: string): Promise<Trial[]> {
  const model = join(dir, 'model');
  const tokenizerJson = byteLevelTokenizerJson(40, true);
  const tok = loadTokenizerJson(tokenizerJson);
  const lm = new DecoderLM(
    llamaConfig({
      vocabSize: tok.vocabSize,
      contextLength: 128,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      ffnDim: 64,
    }),
    3,
  );
  saveModel(model, lm, { tokenizerJson: tokenizerJson as never });
  const docs = join(dir, 'docs');
  mkdirSync(docs, { recursive: true });
  for (let i = 0; i < 10; i++)
    writeFileSync(join(docs, `d${i}.txt`), `${TOPICS[i % TOPICS.length]} Note ${i}.`);
  const db = join(dir, 'rag.db');
  const idx = run(['rag', 'index', '--db', db, docs]);
  if (idx.code !== 0) throw new Error(`rag index failed: ${idx.stderr}`);
  const files = [
    join(model, 'model.safetensors'),
    join(model, 'config.json'),
    join(model, 'tokenizer.json'),
    db,
  ];
  const before = files.map(sha);
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const p = start(['serve', '--model', model, '--model-id', 'tiny', '--db', db, '--port', '0']);
    let url: string | null = null;
    for (let w = 0; w < 600 && url === null; w++) {
      url = /at (http:\/\/[^ ]+)\/v1/.exec(p.stderr())?.[1] ?? null;
      if (url === null) await sleep(50);
    }
    if (url === null) {
      p.child.kill('SIGKILL');
      trials.push({
        killedAtMs: 0,
        landed: 'not killed',
        pass: false,
        note: `the server did not start: ${p.stderr().slice(-200)}`,
      });
      continue;
    }
    // load: 8 clients in a loop until the kill
    let stop = false;
    let answered = 0;
    let inFlight = 0;
    const client = async (k: number) => {
      while (!stop) {
        const body =
          k % 3 === 2
            ? { path: '/v1/rag/ask', json: { question: 'what do bees make?', max_tokens: 8 } }
            : {
                path: '/v1/chat/completions',
                json: {
                  model: 'tiny',
                  messages: [{ role: 'user', content: `hello ${k}` }],
                  max_tokens: 16,
                  stream: k % 2 === 0,
                },
              };
        inFlight++;
        try {
          const res = await fetch(url + body.path, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body.json),
          });
          await res.text();
          answered++;
        } catch {
          await sleep(5); // the server is gone
        } finally {
          inFlight--;
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, k) => client(k));
    // The kill lands under steady load: after the first answer (the first requests wait for the
    // server's warm-up), at a random time within the next 2 s.
    const loaded0 = performance.now();
    while (answered === 0 && performance.now() - loaded0 < 30_000) await sleep(10);
    const at = Math.round(rng.random() * 2000);
    await sleep(at);
    const inFlightAtKill = inFlight;
    p.child.kill('SIGKILL');
    await p.exited;
    stop = true;
    await Promise.all(clients);
    let pass = true;
    let note = `${answered} answers before the kill (${at} ms after the first), ${inFlightAtKill} requests in flight`;
    const fail = (why: string): void => {
      if (pass) note = why;
      pass = false;
    };
    const ok = integrity(db);
    const changed = files.filter((f, j) => sha(f) !== before[j]);
    if (ok !== 'ok') fail(`integrity_check: ${ok}`);
    else if (changed.length > 0) fail(`changed: ${changed.join(', ')}`);
    // restart and ask once
    const q = start(['serve', '--model', model, '--model-id', 'tiny', '--db', db, '--port', '0']);
    let url2: string | null = null;
    for (let w = 0; w < 600 && url2 === null; w++) {
      url2 = /at (http:\/\/[^ ]+)\/v1/.exec(q.stderr())?.[1] ?? null;
      if (url2 === null) await sleep(50);
    }
    if (url2 === null) fail(`the restart did not serve: ${q.stderr().slice(-200)}`);
    else {
      const res = await fetch(`${url2}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny', prompt: 'hi', max_tokens: 4 }),
      });
      const j = (await res.json()) as { choices?: { text: string }[] };
      if (res.status !== 200 || typeof j.choices?.[0]?.text !== 'string')
        fail(`the restarted server answered ${res.status}`);
    }
    q.child.kill('SIGTERM');
    await q.exited;
    trials.push({ killedAtMs: at, landed: 'under load', pass, note });
  }
  return trials;
}

const root = mkdtempSync(join(tmpdir(), 'xfmr-kill9-'));
const results: Record<string, { trials: number; passed: number; midWrite: number; betweenWrites: number }> =
  {};
const t0 = performance.now();
try {
  for (const [name, fn] of [
    ['pretrain', pretrainTrials],
    ['rag', ragTrials],
    ['serve', serveTrials],
  ] as const) {
    if (!ONLY.includes(name)) continue;
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const trials = await fn(dir);
    console.log(`\n${name}: ${trials.filter((t) => t.pass).length} of ${trials.length} passed`);
    const count = (l: Trial['landed']) => trials.filter((t) => t.landed === l).length;
    if (name !== 'serve')
      console.log(
        `landed: ${count('mid-write')} mid-write, ${count('between writes')} between writes` +
          `${count('not killed') ? `, ${count('not killed')} not killed (the run ended first)` : ''}`,
      );
    console.log('trial  killed after (ms)  landed          result  note');
    trials.forEach((t, i) => {
      console.log(
        `${String(i + 1).padStart(5)}  ${String(t.killedAtMs).padStart(17)}  ${t.landed.padEnd(14)}  ${t.pass ? 'pass' : 'FAIL'}    ${t.note}`,
      );
    });
    results[name] = {
      trials: trials.length,
      passed: trials.filter((t) => t.pass).length,
      midWrite: count('mid-write'),
      betweenWrites: count('between writes'),
    };
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
console.log(JSON.stringify({ kill9: results }));
if (Object.values(results).some((r) => r.passed < r.trials)) process.exitCode = 1;
