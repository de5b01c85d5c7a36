/**
 * Continuous batching through the HTTP API: concurrent streams share decode steps and interleave,
 * each request's output equals its output alone (greedy and seeded), a disconnect frees its slot,
 * and a full queue answers 429 until it drains.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import type { CausalLM, KVCache } from '../../src/models/causal_lm.ts';
import type { StaticKVCache } from '../../src/nn/kv_cache.ts';
import { createApp } from '../../src/serve/app.ts';
import { Scheduler } from '../../src/serve/scheduler.ts';
import { type RunningServer, startServer } from '../../src/serve/server.ts';
import { clearPool, pooledMemory } from '../../src/tensor/index.ts';
import { Storage } from '../../src/tensor/storage.ts';
import { clientOf, SlowLM, tinyServeModel, until } from './helpers.ts';

const base = tinyServeModel();
// each step takes >= 2 ms, so a 100-token stream lasts long enough to act on
const slow = new SlowLM(base.model, 2);
let server: RunningServer;
let client: OpenAI;

before(async () => {
  server = await startServer({ ...base, model: slow }, { port: 0, batch: 4, maxQueue: 2 });
  client = clientOf(server);
});

after(async () => {
  await server?.close();
});

const chat = (content: string, extra: Record<string, number> = {}) => ({
  model: 'tiny',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

/** Reads a chat stream; returns its text, finish reason and when (ms) its first and last content came. */
async function readStream(
  s: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>,
): Promise<{ text: string; finish: string | null; first: number; last: number }> {
  let text = '';
  let finish: string | null = null;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (c?.delta.content) {
      text += c.delta.content;
      first = Math.min(first, performance.now());
    }
    if (c?.finish_reason) {
      finish = c.finish_reason;
      last = performance.now();
    }
  }
  return { text, finish, first, last };
}

test('two concurrent streams interleave and each equals its solo run (greedy and seeded sampling)', async () => {
  const a = chat('a story', { max_tokens: 90, temperature: 0 });
  const b = chat('hi', { max_tokens: 8, temperature: 1, seed: 5 });
  const soloA = (await client.chat.completions.create(a)).choices[0].message.content;
  const soloB = (await client.chat.completions.create(b)).choices[0].message.content;
  const callsBefore = slow.calls.length;
  const streamA = await client.chat.completions.create({ ...a, stream: true });
  const runA = readStream(streamA);
  await until(() => slow.calls.length > callsBefore + 3, 5000, 'stream A to start');
  const runB = readStream(await client.chat.completions.create({ ...b, stream: true }));
  const [ra, rb] = await Promise.all([runA, runB]);
  assert.equal(ra.text, soloA, 'greedy output is the same alone and batched');
  assert.equal(rb.text, soloB, 'seeded sampling is the same alone and batched');
  assert.equal(ra.finish, 'length');
  assert.equal(rb.finish, 'length');
  assert.ok(rb.first < ra.last, 'B got its first token before A finished');
  assert.ok(rb.last < ra.last, 'B (8 tokens) finished before A (90 tokens)');
  // some step fed B's prompt (several tokens) next to A's one-token decode: a ragged batch
  const steps = slow.calls.slice(callsBefore);
  assert.ok(
    steps.some((feed) => feed.filter((n) => n === 1).length >= 1 && feed.some((n) => n > 1)),
    'a prefill shared a step with a decode',
  );
  assert.ok(server.stats.peakActive >= 2);
});

test('four concurrent requests batched equal the same requests run one by one', async () => {
  const bodies = [0, 1, 2, 3].map((i) =>
    chat(`question ${i}`, { max_tokens: 6 + i, temperature: 0.9, seed: i }),
  );
  const solo: (string | null)[] = [];
  for (const body of bodies)
    solo.push((await client.chat.completions.create(body)).choices[0].message.content);
  const together = await Promise.all(bodies.map((body) => client.chat.completions.create(body)));
  assert.deepEqual(
    together.map((r) => r.choices[0].message.content),
    solo,
  );
});

test('a client that disconnects mid-stream stops its generation and frees its slot', async () => {
  const before = { ...server.stats };
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { ...chat('go on and on', { max_tokens: 100, temperature: 0 }), stream: true },
    { signal: ac.signal },
  );
  const it = stream[Symbol.asyncIterator]();
  await it.next(); // the role chunk
  await it.next(); // a first token
  assert.equal(server.stats.active, 1);
  ac.abort();
  await it.next().catch(() => undefined);
  await until(() => server.stats.aborted > before.aborted, 5000, 'the abort');
  const tokens = server.stats.abortedTokens - before.abortedTokens;
  console.log(`aborted after ${tokens} tokens`);
  assert.ok(tokens < 50, `stopped after ${tokens} tokens`);
  assert.equal(server.stats.active, 0, 'the slot is free');
  assert.equal(server.stats.waiting, 0);
  const r = await client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 1 });
  assert.equal(r.usage?.completion_tokens, 1);
});

test('100 requests at once: some get 429 (RateLimitError); after they drain a new request succeeds', async () => {
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, (_, i) =>
      client.completions.create({ model: 'tiny', prompt: `request ${i}`, max_tokens: 20, temperature: 0 }),
    ),
  );
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter(
    (r) =>
      r.status === 'rejected' && r.reason instanceof OpenAI.RateLimitError && r.reason.code === 'queue_full',
  );
  console.log(`${ok.length} served, ${refused.length} refused`);
  assert.equal(ok.length + refused.length, 100, 'every request either ran or got 429');
  assert.ok(refused.length > 0, 'some were refused');
  // at least the 4 slots and the 2 queue places were used
  assert.ok(ok.length >= 6, `${ok.length} served`);
  for (const r of ok) assert.equal(r.value.usage?.completion_tokens, 20);
  await until(() => server.stats.active === 0 && server.stats.waiting === 0, 5000, 'the queue to drain');
  const r = await client.completions.create({ model: 'tiny', prompt: 'after', max_tokens: 2 });
  assert.equal(r.usage?.completion_tokens, 2);
});

test('shutdown ends in-flight streams with an error event and [DONE]', async () => {
  const s = await startServer({ ...base, model: new SlowLM(base.model, 2) }, { port: 0, batch: 2 });
  const c = clientOf(s);
  const stream = await c.chat.completions.create({ ...chat('long', { max_tokens: 100 }), stream: true });
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  const closing = s.close();
  await assert.rejects(
    (async () => {
      for (;;) if ((await it.next()).done) break;
    })(),
    (e: unknown) => e instanceof OpenAI.APIError && /shutting down/.test(e.message),
  );
  await closing;
  assert.equal(s.stats.active, 0);
});

test('Scheduler: a queued request waits for a slot and its tokens do not depend on when it started', async () => {
  const m = tinyServeModel();
  const sched = new Scheduler(m.model, { batch: 1, maxQueue: 1 });
  const opts = { maxNewTokens: 5, temperature: 0.8, seed: 3 };
  const collect = async (it: AsyncIterable<{ tokenId: number | null }>) => {
    const ids: number[] = [];
    for await (const p of it) if (p.tokenId !== null) ids.push(p.tokenId);
    return ids;
  };
  const alone = await collect(sched.submit([{ prompt: [1, 2, 3], index: 0 }], opts));
  const first = collect(sched.submit([{ prompt: [9, 9], index: 0 }], opts));
  const second = collect(sched.submit([{ prompt: [1, 2, 3], index: 0 }], opts));
  assert.throws(() => sched.submit([{ prompt: [4], index: 0 }], opts), /queue is full/);
  await first;
  assert.deepEqual(await second, alone);
  sched.close();
  assert.throws(() => sched.submit([{ prompt: [4], index: 0 }], opts), /shutting down/);
  await assert.rejects(
    sched.beside(async () => 1),
    /shutting down/,
  );
  // createApp refuses a bad batch size up front
  assert.throws(() => createApp(m, { batch: 0 }), /batch must be an integer >= 1/);
});

test('Scheduler.beside: work beside the decode loop, batch at once, then maxQueue waiting, then 429', async () => {
  const m = tinyServeModel();
  const sched = new Scheduler(m.model, { batch: 1, maxQueue: 1 });
  const order: string[] = [];
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const first = sched.beside(async () => {
    order.push('first starts');
    await held;
    order.push('first ends');
    return 1;
  });
  const second = sched.beside(async () => {
    order.push('second starts');
    return 2;
  });
  await assert.rejects(
    sched.beside(async () => 3),
    /queue is full/,
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['first starts'], 'the second waits for the first');
  release();
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  assert.deepEqual(order, ['first starts', 'first ends', 'second starts']);
  // a failure frees its place
  await assert.rejects(
    sched.beside(async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await sched.beside(async () => 4), 4);
  sched.close();
});

// Found by `npm run bench -- soak`: only the decode loop trimmed the tensor buffer pool, so buffers
// released by work beside it (a grounded RAG answer's beam search) stayed pooled, one per length
// seen, while no chat ran the loop.
test('Scheduler.beside: the buffers its work released are not kept pooled once nothing runs', async () => {
  const m = tinyServeModel();
  const sched = new Scheduler(m.model, { batch: 2, maxQueue: 1 });
  clearPool();
  /** Work that allocates and releases buffers of 50 lengths, as a beam search over prompts does. */
  const work = async (): Promise<number> => {
    for (let n = 1000; n < 1050; n++) Storage.alloc(n).release();
    return pooledMemory();
  };
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const holder = sched.beside(async () => held);
  const pooledInside = await sched.beside(work);
  assert.equal(pooledInside, 4 * (1000 + 1049) * 25, 'released buffers go to the pool while work runs');
  assert.equal(pooledMemory(), pooledInside, 'other work beside still running: the pool is kept for it');
  release();
  await holder;
  assert.equal(pooledMemory(), 0, 'the last work beside ended with the loop idle: the pool is emptied');
  sched.close();
});

test('Scheduler.close: once drained, the KV cache is disposed', async () => {
  const m = tinyServeModel();
  const caches: KVCache[] = [];
  const model: CausalLM = {
    vocabSize: m.model.vocabSize,
    contextLength: m.model.contextLength,
    createCache: (batch, maxLen) => {
      const c = m.model.createCache(batch, maxLen);
      caches.push(c);
      return c;
    },
    extend: (tokens, cache) => m.model.extend(tokens, cache),
  };
  const sched = new Scheduler(model, { batch: 2 });
  for await (const _ of sched.submit([{ prompt: [1, 2], index: 0 }], { maxNewTokens: 3, temperature: 0 }));
  assert.equal((caches[0] as StaticKVCache).disposed, false, 'an open scheduler keeps its cache');
  sched.close();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal((caches[0] as StaticKVCache).disposed, true);
});
