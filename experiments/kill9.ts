/**
 * Kill -9 at random: `npm run experiment -- kill9 [--trials N] [--seed S] [--only pretrain,rag,serve]`.
 * Each trial starts a command, SIGKILLs it at a random moment of its run (uniform over the time a
 * clean run takes, so some kills land before the first checkpoint or commit and some during a
 * write), then checks what is left:
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
 * Prints a table and, as its last line, the JSON of the pass counts per scenario.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Runs `args` and kills it after `ms` (if still running); resolves when it is gone. */
async function killAfter(args: string[], ms: number): Promise<void> {
  const p = start(args);
  await Promise.race([sleep(ms), p.exited]);
  p.child.kill('SIGKILL');
  await p.exited;
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
  const t0 = performance.now();
  const clean = run(args(join(dir, 'clean')));
  if (clean.code !== 0) throw new Error(`the uninterrupted pretrain failed: ${clean.stderr}`);
  const duration = performance.now() - t0;
  const want = sha(join(dir, 'clean', 'model.safetensors'));
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const out = join(dir, `run${i}`);
    const at = Math.round(rng.random() * duration);
    await killAfter(args(out), at);
    const step = existsSync(join(out, 'latest.json'))
      ? (JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { step: number }).step
      : 0;
    const resumed = run([...args(out), '--resume']);
    const same =
      resumed.code === 0 &&
      existsSync(join(out, 'model.safetensors')) &&
      sha(join(out, 'model.safetensors')) === want;
    trials.push({
      killedAtMs: at,
      pass: same,
      note:
        resumed.code !== 0
          ? `resume failed: ${resumed.stderr.trim().split('\n').at(-1)}`
          : same
            ? `checkpoint at step ${step}`
            : `weights differ (checkpoint at step ${step})`,
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
  const t0 = performance.now();
  const cleanDb = join(dir, 'clean.db');
  const c = run(['rag', 'index', '--db', cleanDb, docs]);
  if (c.code !== 0) throw new Error(`the clean index failed: ${c.stderr}`);
  const duration = performance.now() - t0;
  const clean = chunkCounts(cleanDb);
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const db = join(dir, `run${i}.db`);
    const at = Math.round(rng.random() * duration);
    await killAfter(['rag', 'index', '--db', db, docs], at);
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
    trials.push({ killedAtMs: at, pass, note });
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
        pass: false,
        note: `the server did not start: ${p.stderr().slice(-200)}`,
      });
      continue;
    }
    // load: 8 clients in a loop until the kill
    let stop = false;
    let answered = 0;
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
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, k) => client(k));
    const at = Math.round(200 + rng.random() * 1500);
    await sleep(at);
    p.child.kill('SIGKILL');
    await p.exited;
    stop = true;
    await Promise.all(clients);
    let pass = true;
    let note = `${answered} answers before the kill`;
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
    trials.push({ killedAtMs: at, pass, note });
  }
  return trials;
}

const root = mkdtempSync(join(tmpdir(), 'xfmr-kill9-'));
const results: Record<string, { trials: number; passed: number }> = {};
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
    console.log('trial  killed after (ms)  result  note');
    trials.forEach((t, i) => {
      console.log(
        `${String(i + 1).padStart(5)}  ${String(t.killedAtMs).padStart(17)}  ${t.pass ? 'pass' : 'FAIL'}    ${t.note}`,
      );
    });
    results[name] = { trials: trials.length, passed: trials.filter((t) => t.pass).length };
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
console.log(JSON.stringify({ kill9: results }));
if (Object.values(results).some((r) => r.passed < r.trials)) process.exitCode = 1;
