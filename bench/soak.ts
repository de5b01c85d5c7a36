/**
 * `npm run bench -- soak [--seconds N] [--warmup N] [--workers N] [--seed S] [--model DIR] [--nursery MIB]
 *   [--out FILE]`:
 * does `xfmr serve` hold its memory and descriptors flat under a long mixed load?
 *
 * Starts `xfmr serve` as its own process (the shipped models/xfmr-rag-tiny by default, with a RAG
 * database of docs/*.md indexed by `xfmr rag index --embedder hash`) on 127.0.0.1, port 0, and
 * drives it from here, over loopback only, for N seconds (default 1,260) after a warm-up (default
 * 540 s: V8's compiled code and the allocator keep growing for the first ~2,000 requests, which a
 * shorter warm-up reads as growth; README "Soak"), 30 minutes in all as issue 19 asks. WORKERS
 * (default 6) clients loop over a seeded mix of requests:
 *
 *   chat-stream      streamed chat completion (8-24 tokens)      expect 200, a [DONE]
 *   chat             plain chat completion                       expect 200 and a choice
 *   completion       /v1/completions                             expect 200 and a choice
 *   rag              /v1/rag/ask, streamed or not                expect 200
 *   disconnect       streamed chat, the client aborts after 1-4 chunks
 *   malformed        a body that is not JSON, or JSON of the wrong shape   expect 400
 *   oversize         a 5 MiB body (the limit is 4 MiB)           expect 413
 *   slow-body        a raw socket that trickles its body over ~1.5 s       expect 200
 * and one more lane holds, at most once at a time, a client that sends half its headers and stalls:
 * the server must close it (its headers timeout, 10 s) - the client gives up after 20 s.
 * All of it is bounded: the request count is bounded by the time and the worker count, and every
 * request by its own token count or timeout.
 *
 * Every 2 s it samples the server process: RSS (VmRSS of /proc/PID/status), open descriptors
 * (entries of /proc/PID/fd) and of those the sockets. The load runs in SEGMENTS stretches (one per
 * ~45 s, at least 3), and the warm-up and each stretch end with a quiet checkpoint: no requests
 * until the server holds only the sockets it started with (or 12 s), then a full garbage
 * collection in the server and a sample. xfmr serve has no debug endpoint, so the bench starts it
 * with `node --expose-gc --import bench/_soak_probe.mjs` (and V8's heap sizing held still,
 * --nursery below): on SIGUSR2 that probe collects twice and writes process.memoryUsage() (heap
 * used, external and array-buffer memory) to a file.
 *
 * Verdict, flat when all hold:
 *   rss      resident memory under the load: the median RSS of each stretch (about 22 samples,
 *            which smooths the tens of MiB that buffers in flight and uncollected garbage move it
 *            by), its least-squares slope per loaded minute times the loaded time under 5% of the
 *            first stretch's median (the issue's "within 5% after warm-up"), and so the last
 *            stretch's growth over the first;
 *   heap     the same for the V8 heap in use after the collections, at the quiet checkpoints;
 *   fds      every checkpoint's count equals the first's, descriptors and sockets both.
 * RSS at the quiet checkpoints is reported too (same test, not part of the verdict): it was the
 * verdict until two default runs of 2026-12-07 each caught V8 releasing 15-30 MiB at the first
 * checkpoint only (committed heap 26.5 and 42.0 MiB there, 57-58 at every later one), which read
 * as growth while the heap in use stayed level.
 * Requests answered otherwise than expected are counted by kind with the last reason, beside the
 * verdict (on a loaded machine a stalled client can outlast its 20 s, or a keep-alive socket close
 * under a request: failures to look into, but not growth).
 * The external and array-buffer memory at the checkpoints are printed too, as is the range under load.
 * Prints the figures and, as its last line, one JSON object; --out FILE also writes the samples.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/tensor/random.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'xfmr.js');
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const num = (name: string, fallback: number): number => {
  const v = Number(opt(name) ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`soak: --${name} must be a positive number`);
  return v;
};
const SECONDS = num('seconds', 1260);
const WARMUP = num('warmup', 540);
const WORKERS = num('workers', 6);
const SEED = num('seed', 1);
const MODEL = opt('model') ?? join(ROOT, 'models', 'xfmr-rag-tiny');
const OUT = opt('out');
/**
 * The server's young generation, in MiB a semi-space (V8's --min- and --max-semi-space-size, with
 * its idle-time memory reducer off), or 0 for V8's own sizing. V8 grows the nursery under load to
 * 16 MiB semi-spaces and, when its memory reducer decides the process went idle, shrinks it,
 * uncommits its from-space and frees pooled pages, at a moment of its own choosing: 15-45 MiB of
 * RSS that comes and goes with no bearing on what the server keeps. Held at its loaded size, the
 * readings compare what the server holds; the heap in use is measured either way.
 */
const NURSERY = Number(opt('nursery') ?? 16);
if (!Number.isInteger(NURSERY) || NURSERY < 0)
  throw new Error('soak: --nursery must be a whole number of MiB (0: V8 decides)');
const SEGMENTS = Math.max(3, Math.round(SECONDS / 45));
const SAMPLE_MS = 2000;
/** The flatness bound: growth over the loaded time, as a fraction of the RSS after warm-up. */
const BOUND = 0.05;
const MODEL_ID = 'soak';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- the server process ----

interface Server {
  child: ChildProcess;
  pid: number;
  url: string;
  host: string;
  port: number;
  stderr: () => string;
  exited: Promise<void>;
}

async function startServer(db: string, probe: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...(NURSERY > 0
        ? [`--min-semi-space-size=${NURSERY}`, `--max-semi-space-size=${NURSERY}`, '--no-memory-reducer']
        : []),
      '--import',
      join(import.meta.dirname, '_soak_probe.mjs'),
      BIN,
      'serve',
      '--model',
      MODEL,
      '--model-id',
      MODEL_ID,
      '--db',
      db,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--batch',
      '4',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XFMR_SOAK_PROBE: probe } },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  for (let w = 0; w < 1200; w++) {
    const m = /at (http:\/\/([^:/ ]+):(\d+))\/v1/.exec(err);
    if (m)
      return {
        child,
        pid: child.pid!,
        url: m[1]!,
        host: m[2]!,
        port: Number(m[3]),
        stderr: () => err,
        exited,
      };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`soak: the server did not start: ${err.slice(-500)}`);
}

// ---- sampling ----

interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssMiB: number;
  fds: number;
  sockets: number;
  /** After a full collection (quiet checkpoints only): the V8 heap in use, external and array-buffer memory. */
  heapMiB: number | null;
  heapTotalMiB: number | null;
  externalMiB: number | null;
  arrayBuffersMiB: number | null;
  phase: 'warmup' | 'quiet' | 'load' | 'end';
}

function procCounts(pid: number): { rssMiB: number; fds: number; sockets: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link = '';
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the look
    }
    fds++;
    if (link.startsWith('socket:')) sockets++;
  }
  return { rssMiB: kb / 1024, fds, sockets };
}

interface ProbeReading {
  seq: number;
  gc: boolean;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Asks the server's probe (bench/_soak_probe.mjs) to collect and report; null if no answer in 5 s. */
async function collect(s: Server, probe: string): Promise<ProbeReading | null> {
  const read = (): ProbeReading | null => {
    try {
      return JSON.parse(readFileSync(probe, 'utf8')) as ProbeReading;
    } catch {
      return null;
    }
  };
  const before = read()?.seq ?? 0;
  s.child.kill('SIGUSR2');
  for (let w = 0; w < 100; w++) {
    await sleep(50);
    const r = read();
    if (r !== null && r.seq > before) {
      if (!r.gc) throw new Error('soak: the server probe has no gc (--expose-gc missing)');
      return r;
    }
  }
  return null;
}

// ---- the clients ----

type Kind =
  | 'chat-stream'
  | 'chat'
  | 'completion'
  | 'rag'
  | 'disconnect'
  | 'malformed'
  | 'oversize'
  | 'slow-body'
  | 'stalled';
const MIX: [Kind, number][] = [
  ['chat-stream', 3],
  ['chat', 2],
  ['completion', 2],
  ['rag', 2],
  ['disconnect', 2],
  ['malformed', 1],
  ['oversize', 1],
  ['slow-body', 1],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

interface Tally {
  sent: number;
  ok: number;
  unexpected: number;
  lastError?: string;
}
const tally = new Map<Kind, Tally>();
function record(kind: Kind, ok: boolean, why?: string): void {
  const t = tally.get(kind) ?? { sent: 0, ok: 0, unexpected: 0 };
  t.sent++;
  if (ok) t.ok++;
  else {
    t.unexpected++;
    t.lastError = why;
  }
  tally.set(kind, t);
}

const QUESTIONS = [
  'How do I start the server?',
  'What does the tokenizer do?',
  'How is a model saved?',
  'What is the KV cache?',
];

async function post(url: string, path: string, body: string, signal?: AbortSignal): Promise<Response> {
  return fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
}

/** Reads an SSE body to its end; true when it held a `data: [DONE]`. */
async function readSse(
  res: Response,
  stopAfter = Number.POSITIVE_INFINITY,
  ac?: AbortController,
): Promise<boolean> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  let chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    chunks = text.split('\n\n').length - 1;
    if (chunks >= stopAfter) {
      ac?.abort();
      await reader.cancel().catch(() => {});
      return false;
    }
  }
  return text.includes('data: [DONE]');
}

/** A raw HTTP/1.1 request over its own socket: the body written in `pieces` parts, `gapMs` apart. */
function rawRequest(s: Server, path: string, body: string, pieces: number, gapMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(s.port, s.host);
    let reply = '';
    const give = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer in 30 s'));
    }, 30_000);
    sock.on('data', (d) => {
      reply += d;
    });
    sock.on('error', (e) => {
      clearTimeout(give);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(give);
      resolve(reply);
    });
    sock.on('connect', async () => {
      sock.write(
        `POST ${path} HTTP/1.1\r\nHost: ${s.host}:${s.port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`,
      );
      const step = Math.ceil(body.length / pieces);
      for (let i = 0; i < body.length; i += step) {
        await sleep(gapMs);
        if (sock.destroyed) return;
        sock.write(body.slice(i, i + step));
      }
    });
  });
}

/** Half the headers, then silence: resolves with how long the server took to close the socket. */
function stalledClient(s: Server): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock: Socket = connect(s.port, s.host);
    const give = setTimeout(() => {
      sock.destroy();
      resolve(null);
    }, 20_000);
    sock.on('connect', () => sock.write(`POST /v1/completions HTTP/1.1\r\nHost: ${s.host}\r\nContent-Ty`));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(give);
      resolve(performance.now() - t0);
    });
    sock.resume();
  });
}

function chatBody(rng: Rng, stream: boolean): string {
  return JSON.stringify({
    model: MODEL_ID,
    messages: [{ role: 'user', content: `${QUESTIONS[rng.int(QUESTIONS.length)]} (${rng.int(1000)})` }],
    max_tokens: 8 + rng.int(17),
    temperature: rng.random() < 0.5 ? 0 : 0.8,
    seed: rng.int(1000),
    stream,
  });
}

async function oneRequest(s: Server, kind: Kind, rng: Rng): Promise<void> {
  const url = s.url;
  try {
    switch (kind) {
      case 'chat-stream': {
        const res = await post(url, '/v1/chat/completions', chatBody(rng, true));
        const done = res.status === 200 && (await readSse(res));
        return record(kind, done, `status ${res.status}`);
      }
      case 'chat': {
        const res = await post(url, '/v1/chat/completions', chatBody(rng, false));
        const j = (await res.json()) as { choices?: unknown[] };
        return record(kind, res.status === 200 && j.choices?.length === 1, `status ${res.status}`);
      }
      case 'completion': {
        const res = await post(
          url,
          '/v1/completions',
          JSON.stringify({
            model: MODEL_ID,
            prompt: `The server ${rng.int(100)}`,
            max_tokens: 8 + rng.int(9),
          }),
        );
        const j = (await res.json()) as { choices?: unknown[] };
        return record(kind, res.status === 200 && j.choices?.length === 1, `status ${res.status}`);
      }
      case 'rag': {
        const stream = rng.random() < 0.5;
        const res = await post(
          url,
          '/v1/rag/ask',
          JSON.stringify({ question: QUESTIONS[rng.int(QUESTIONS.length)], max_tokens: 16, stream }),
        );
        const ok =
          res.status === 200 && (stream ? await readSse(res) : ((await res.json()) as object) !== null);
        return record(kind, ok, `status ${res.status}`);
      }
      case 'disconnect': {
        const ac = new AbortController();
        const body = JSON.parse(chatBody(rng, true)) as { max_tokens: number };
        body.max_tokens = 64;
        const res = await post(url, '/v1/chat/completions', JSON.stringify(body), ac.signal);
        if (res.status !== 200) return record(kind, false, `status ${res.status}`);
        await readSse(res, 1 + rng.int(4), ac).catch(() => {});
        return record(kind, true);
      }
      case 'malformed': {
        const bodies = [
          '{"model": "soak", "messages": [',
          '{"model": "soak", "messages": "hi"}',
          '{"model": "soak", "messages": [{"role": "user", "content": "x"}], "max_tokens": -3}',
          'null',
          '\u0000\u0001garbage',
        ];
        const res = await post(url, '/v1/chat/completions', bodies[rng.int(bodies.length)]!);
        await res.text();
        return record(kind, res.status === 400, `status ${res.status}`);
      }
      case 'oversize': {
        const res = await post(url, '/v1/completions', `{"prompt": "${'a'.repeat(5 * 2 ** 20)}"}`).catch(
          (e: Error) => e,
        );
        // the server may answer 413 and close while the body is still being sent
        if (res instanceof Error) return record(kind, true);
        await res.text();
        return record(kind, res.status === 413, `status ${res.status}`);
      }
      case 'slow-body': {
        const reply = await rawRequest(
          s,
          '/v1/completions',
          JSON.stringify({ model: MODEL_ID, prompt: 'slowly', max_tokens: 4 }),
          6,
          250,
        );
        return record(kind, reply.startsWith('HTTP/1.1 200'), reply.slice(0, 40));
      }
      case 'stalled': {
        const ms = await stalledClient(s);
        return record(kind, ms !== null, 'the server kept a stalled client over 20 s');
      }
    }
  } catch (e) {
    record(kind, false, (e as Error).message);
  }
}

function pick(rng: Rng): Kind {
  let r = rng.int(MIX_TOTAL);
  for (const [k, w] of MIX) {
    if (r < w) return k;
    r -= w;
  }
  return 'chat';
}

// ---- fitting ----

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

// ---- the run ----

const dir = mkdtempSync(join(tmpdir(), 'xfmr-soak-'));
const probe = join(dir, 'probe.json');
const db = join(dir, 'rag.db');
const idx = spawnSync(
  process.execPath,
  [BIN, 'rag', 'index', '--db', db, '--embedder', 'hash', join(ROOT, 'docs')],
  {
    encoding: 'utf8',
  },
);
if (idx.status !== 0) throw new Error(`soak: rag index failed: ${idx.stderr}`);

const server = await startServer(db, probe);
const samples: Sample[] = [];
const t0 = performance.now();
const now = () => (performance.now() - t0) / 1000;
let phase: Sample['phase'] = 'warmup';
let paused = false;
let stopped = false;
const fresh = procCounts(server.pid);

const MiB = (bytes: number): number => bytes / 2 ** 20;

/** A sample; at a quiet checkpoint (`collected`), after a full collection in the server. */
async function sample(p: Sample['phase'] = phase, collected = false): Promise<Sample> {
  const r = collected ? await collect(server, probe) : null;
  // RSS read after the collection (and a moment for the allocator to hand back what it freed)
  if (collected) await sleep(200);
  const s: Sample = {
    t: Number(now().toFixed(1)),
    ...procCounts(server.pid),
    heapMiB: r && MiB(r.heapUsed),
    heapTotalMiB: r && MiB(r.heapTotal),
    externalMiB: r && MiB(r.external),
    arrayBuffersMiB: r && MiB(r.arrayBuffers),
    phase: p,
  };
  samples.push(s);
  return s;
}

/** Stops the load until the server holds only its listening socket (or 12 s); returns that sample. */
async function quiet(p: Sample['phase']): Promise<Sample> {
  paused = true;
  while (inFlight > 0) await sleep(100);
  for (let w = 0; w < 48; w++) {
    if (procCounts(server.pid).sockets <= fresh.sockets) break;
    await sleep(250);
  }
  return sample(p, true);
}

let inFlight = 0;
async function worker(k: number): Promise<void> {
  const rng = new Rng(SEED * 1000 + k);
  while (!stopped) {
    if (paused) {
      await sleep(100);
      continue;
    }
    inFlight++;
    await oneRequest(server, pick(rng), rng);
    inFlight--;
  }
}
async function stallLane(): Promise<void> {
  while (!stopped) {
    if (paused) {
      await sleep(100);
      continue;
    }
    inFlight++;
    await oneRequest(server, 'stalled', new Rng(0));
    inFlight--;
    await sleep(1000);
  }
}

console.log(
  `soak: xfmr serve of ${MODEL} (pid ${server.pid}) with RAG over docs/; ${WORKERS} workers + 1 stalled-client lane; ` +
    `warm-up ${WARMUP} s, then ${SECONDS} s; samples every ${SAMPLE_MS / 1000} s; ` +
    `V8 nursery ${NURSERY > 0 ? `fixed at ${NURSERY} MiB semi-spaces` : "sized by V8's heuristics"}`,
);
console.log(`fresh server: RSS ${fresh.rssMiB.toFixed(1)} MiB, ${fresh.fds} fds (${fresh.sockets} sockets)`);
const lanes = [...Array.from({ length: WORKERS }, (_, k) => worker(k)), stallLane()];
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    if (!paused) await sample();
    await sleep(SAMPLE_MS);
  }
})();

await sleep(WARMUP * 1000);
// Quiet checkpoints: after warm-up, then after each of SEGMENTS stretches of load.
const quietPoints: { loadedMin: number; s: Sample }[] = [{ loadedMin: 0, s: await quiet('quiet') }];
const base = quietPoints[0]!.s;
let loadedSeconds = 0;
for (let k = 0; k < SEGMENTS; k++) {
  phase = 'load';
  paused = false;
  const s0 = now();
  await sleep((SECONDS / SEGMENTS) * 1000);
  loadedSeconds += now() - s0;
  quietPoints.push({ loadedMin: loadedSeconds / 60, s: await quiet(k === SEGMENTS - 1 ? 'end' : 'quiet') });
}
stopped = true;
sampling = false;
await Promise.all([...lanes, sampler]);
server.child.kill('SIGTERM');
await Promise.race([server.exited, sleep(10_000)]);
if (server.child.exitCode === null) server.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });

// ---- figures and verdict ----
const minutes = loadedSeconds / 60;

interface Flatness {
  valuesMiB: number[];
  slopeMiBPerMin: number;
  growthMiB: number;
  boundMiB: number;
  flat: boolean;
}

/** The verdict on one figure: its values at loaded minutes `at` (see the header). */
function flatness(values: number[], at: number[] = quietPoints.map((q) => q.loadedMin)): Flatness {
  const sl = slope(at, values);
  const bound = BOUND * values[0]!;
  const growth = values.at(-1)! - values[0]!;
  return {
    valuesMiB: values.map((v) => Number(v.toFixed(1))),
    slopeMiBPerMin: Number(sl.toFixed(3)),
    growthMiB: Number(growth.toFixed(1)),
    boundMiB: Number(bound.toFixed(1)),
    flat: sl * minutes < bound && growth < bound,
  };
}

/** RSS under load: the median of each stretch between two quiet checkpoints, at its middle minute. */
const stretchMedians = quietPoints.slice(1).map((q, i) => {
  const xs = samples
    .filter((x) => x.phase === 'load' && x.t > quietPoints[i]!.s.t && x.t < q.s.t)
    .map((x) => x.rssMiB)
    .sort((a, b) => a - b);
  return xs.length === 0 ? Number.NaN : xs[xs.length >> 1]!;
});
const stretchMinutes = quietPoints.slice(1).map((q, i) => (quietPoints[i]!.loadedMin + q.loadedMin) / 2);
/** The RSS verdict: resident memory under the load, stretch by stretch. */
const rss = flatness(stretchMedians, stretchMinutes);
/** RSS at the quiet checkpoints, after the collections: reported beside the verdict. */
const rssQuiet = flatness(quietPoints.map((q) => q.s.rssMiB));
const heapOk = quietPoints.every((q) => q.s.heapMiB !== null);
const heap = heapOk ? flatness(quietPoints.map((q) => q.s.heapMiB!)) : null;
const loaded = samples.filter((s) => s.phase === 'load');
const loadedRss = loaded.map((s) => s.rssMiB);
const fdsFlat = quietPoints.every((q) => q.s.fds === base.fds && q.s.sockets === base.sockets);
const kinds = Object.fromEntries([...tally].sort());
const requests = [...tally.values()].reduce((a, t) => a + t.sent, 0);
const unexpected = [...tally.values()].reduce((a, t) => a + t.unexpected, 0);
const flat = rss.flat && heap?.flat === true && fdsFlat;

console.log('\nrequests by kind (sent / as expected / unexpected):');
for (const [k, t] of Object.entries(kinds))
  console.log(
    `  ${k.padEnd(12)} ${String(t.sent).padStart(6)} ${String(t.ok).padStart(6)} ${String(t.unexpected).padStart(4)}${t.lastError && t.unexpected ? `  last: ${t.lastError}` : ''}`,
  );
console.log(
  `\nsamples (${samples.length}, every 5th under load): t s, phase, RSS MiB, heap MiB (collected, quiet only), fds, sockets`,
);
for (const s of samples.filter((x, i) => i % 5 === 0 || x.phase !== 'load'))
  console.log(
    `  ${String(s.t).padStart(7)} ${s.phase.padEnd(6)} ${s.rssMiB.toFixed(1).padStart(7)} ${(s.heapMiB?.toFixed(1) ?? '-').padStart(6)} ${String(s.fds).padStart(4)} ${String(s.sockets).padStart(4)}`,
  );
console.log(
  `\nloaded ${minutes.toFixed(2)} min in ${SEGMENTS} stretches, ${requests} requests (${(requests / loadedSeconds).toFixed(1)}/s loaded)`,
);
const describe = (f: Flatness, what = 'quiet points'): string =>
  `${what} ${f.valuesMiB.join(', ')} MiB; slope ${f.slopeMiBPerMin.toFixed(2)} MiB/min (x ${minutes.toFixed(2)} min = ` +
  `${(f.slopeMiBPerMin * minutes).toFixed(2)} MiB); last - first ${f.growthMiB.toFixed(1)} MiB; bound ${f.boundMiB.toFixed(1)} MiB ` +
  `(5% of the first): ${f.flat ? 'flat' : 'GROWS'}`;
console.log(`RSS   ${describe(rss, 'under load, median of each stretch')}`);
console.log(
  `      at the quiet checkpoints (after two collections): ${describe(rssQuiet)}; under load ${Math.min(...loadedRss).toFixed(1)}-${Math.max(...loadedRss).toFixed(1)} MiB`,
);
console.log(
  `heap  ${heap === null ? 'no reading from the probe' : describe(heap)} (V8 heap used, after a full GC)`,
);
console.log(
  `      heap committed ${quietPoints.map((q) => q.s.heapTotalMiB?.toFixed(1) ?? '-').join(', ')} MiB; external ${quietPoints.map((q) => q.s.externalMiB?.toFixed(1) ?? '-').join(', ')} MiB, of which array buffers ` +
    `${quietPoints.map((q) => q.s.arrayBuffersMiB?.toFixed(1) ?? '-').join(', ')} MiB`,
);
console.log(
  `fds   fresh ${fresh.fds} (${fresh.sockets} sockets); quiet points ${quietPoints.map((q) => `${q.s.fds} (${q.s.sockets})`).join(', ')}; ` +
    `under load ${Math.min(...loaded.map((s) => s.fds))}-${Math.max(...loaded.map((s) => s.fds))}: ${fdsFlat ? 'back to baseline at every quiet point' : 'NOT back to baseline'}`,
);
console.log(`verdict: ${flat ? 'flat' : 'NOT flat'} (memory and descriptors)`);
console.log(`errors ${unexpected} of ${requests} requests answered otherwise than expected (by kind above)`);
const result = {
  bench: 'soak',
  date: new Date().toISOString(),
  machine: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
  node: process.version,
  loadavg: loadavg().map((l) => Number(l.toFixed(2))),
  model: MODEL.startsWith(ROOT) ? MODEL.slice(ROOT.length + 1) : MODEL,
  warmupSeconds: WARMUP,
  loadSeconds: Number(loadedSeconds.toFixed(1)),
  workers: WORKERS,
  requests,
  unexpected,
  kinds,
  rss: {
    ...rss,
    loadedMinMiB: Number(Math.min(...loadedRss).toFixed(1)),
    loadedMaxMiB: Number(Math.max(...loadedRss).toFixed(1)),
  },
  rssQuiet,
  nurseryMiB: NURSERY,
  heap,
  heapTotalMiB: quietPoints.map((q) =>
    q.s.heapTotalMiB === null ? null : Number(q.s.heapTotalMiB.toFixed(1)),
  ),
  externalMiB: quietPoints.map((q) => (q.s.externalMiB === null ? null : Number(q.s.externalMiB.toFixed(1)))),
  arrayBuffersMiB: quietPoints.map((q) =>
    q.s.arrayBuffersMiB === null ? null : Number(q.s.arrayBuffersMiB.toFixed(1)),
  ),
  fds: { fresh: fresh.fds, quiet: quietPoints.map((q) => q.s.fds), flat: fdsFlat },
  sockets: { fresh: fresh.sockets, quiet: quietPoints.map((q) => q.s.sockets) },
  flat,
};
if (OUT !== undefined) writeFileSync(OUT, `${JSON.stringify({ ...result, samples }, null, 1)}\n`);
console.log(JSON.stringify(result));
if (!flat) process.exitCode = 1;
