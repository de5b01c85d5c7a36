/**
 * The API's options through the official `openai` client: logprobs in both formats (also streamed),
 * n > 1, /v1/embeddings (float and base64 agree) and /v1/rag/ask over a small index: free and
 * grounded answers, the quote's place, and the abstention threshold of a model directory.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { seedFor } from '../../src/generate/generate.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { NOT_FOUND_ANSWER, POLICY_FILE } from '../../src/rag/abstain.ts';
import { cosine } from '../../src/rag/embedder.ts';
import { loadServeModel, type RunningServer, startServer } from '../../src/serve/server.ts';
import { byteLevelTokenizerJson, TINY_LLAMA, tempDir } from '../cli/helpers.ts';
import { clientOf, hashRagIndex, RAG_DOCS, tinyServeModel } from './helpers.ts';

const dir = tempDir('xfmr-serve-features-');
const db = join(dir, 'rag.sqlite');
let server: RunningServer;
let client: OpenAI;

before(async () => {
  await hashRagIndex(dir, RAG_DOCS);
  server = await startServer(tinyServeModel(), { port: 0, batch: 4, ragDb: db });
  client = clientOf(server);
});

after(async () => {
  await server?.close();
});

const messages = [{ role: 'user' as const, content: 'name a colour' }];
const { arch: _arch, ...dims } = TINY_LLAMA;

test('chat logprobs: one entry per token, greedy token = argmax of top_logprobs, also in the stream', async () => {
  const body = { model: 'tiny', messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await client.chat.completions.create(body);
  const content = r.choices[0].logprobs?.content ?? [];
  assert.equal(content.length, r.usage?.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.logprob <= 0);
    assert.equal(t.token, t.top_logprobs[0].token, 'greedy picks the most likely token');
    assert.equal(t.logprob, t.top_logprobs[0].logprob);
    for (let i = 1; i < 3; i++) assert.ok(t.top_logprobs[i].logprob <= t.top_logprobs[i - 1].logprob);
    assert.ok(t.top_logprobs.reduce((s, x) => s + Math.exp(x.logprob), 0) <= 1 + 1e-9);
    assert.ok(Array.isArray(t.bytes) && (t.bytes?.length ?? 0) > 0);
  }
  // the tokens' bytes make the text (this tokenizer has no EOS, so every token is text)
  const bytes = content.flatMap((t) => t.bytes ?? []);
  assert.equal(Buffer.from(bytes).toString('utf8'), r.choices[0].message.content);
  const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
  let text = '';
  for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) {
    const c = chunk.choices[0];
    text += c?.delta.content ?? '';
    streamed.push(...(c?.logprobs?.content ?? []));
  }
  assert.equal(text, r.choices[0].message.content);
  assert.deepEqual(streamed, content, 'the stream carries the same logprobs, token by token');
  const plain = await client.chat.completions.create({ ...body, logprobs: false, top_logprobs: undefined });
  assert.equal(plain.choices[0].logprobs, null);
});

test('completions logprobs: the legacy format (tokens, token_logprobs, top_logprobs, text_offset)', async () => {
  const prompt = 'the cat';
  const r = await client.completions.create({
    model: 'tiny',
    prompt,
    max_tokens: 5,
    temperature: 0,
    logprobs: 2,
  });
  const lp = r.choices[0].logprobs;
  assert.ok(lp);
  const n = r.usage?.completion_tokens ?? 0;
  assert.equal(lp.tokens?.length, n);
  assert.equal(lp.token_logprobs?.length, n);
  assert.equal(lp.top_logprobs?.length, n);
  assert.equal(lp.text_offset?.[0], prompt.length, 'offsets count from the start of the prompt');
  for (let i = 0; i < n; i++) {
    const top: Record<string, number> = lp.top_logprobs?.[i] ?? {};
    const values: number[] = Object.values(top);
    assert.ok(values.length >= 1 && values.length <= 2);
    assert.equal(lp.token_logprobs?.[i], Math.max(...values), 'greedy token = argmax');
    assert.equal(top[lp.tokens?.[i] ?? ''], lp.token_logprobs?.[i]);
    if (i > 0)
      assert.equal(lp.text_offset?.[i], (lp.text_offset?.[i - 1] ?? 0) + (lp.tokens?.[i - 1].length ?? 0));
  }
});

test('n > 1: choice i is the prompt sampled with seedFor(seed, i); usage sums the choices', async () => {
  const body = { model: 'tiny', prompt: 'once upon', max_tokens: 6, temperature: 1, seed: 7 };
  const r = await client.completions.create({ ...body, n: 3 });
  assert.deepEqual(
    r.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.equal(r.usage?.completion_tokens, 18);
  assert.equal(
    r.usage?.prompt_tokens,
    (await client.completions.create({ ...body, max_tokens: 1 })).usage?.prompt_tokens,
  );
  for (let i = 0; i < 3; i++) {
    const alone = await client.completions.create({ ...body, seed: seedFor(7, i) });
    assert.equal(r.choices[i].text, alone.choices[0].text, `choice ${i}`);
  }
  assert.ok(new Set(r.choices.map((c) => c.text)).size > 1, 'the choices differ');
  // streamed chat with n = 2: both indices, each with its finish chunk; the last chunk has the usage
  const seen = new Map<number, string>();
  const finished: number[] = [];
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of await client.chat.completions.create({
    model: 'tiny',
    messages,
    max_tokens: 4,
    n: 2,
    seed: 1,
    stream: true,
  })) {
    for (const c of chunk.choices) {
      seen.set(c.index, (seen.get(c.index) ?? '') + (c.delta.content ?? ''));
      if (c.finish_reason) finished.push(c.index);
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.deepEqual([...seen.keys()].sort(), [0, 1]);
  assert.deepEqual(finished.sort(), [0, 1]);
  assert.equal(usage?.completion_tokens, 8);
});

test('embeddings: base64 (the client default) and float agree; identical texts have cosine 1', async () => {
  const model = server.embedderId;
  assert.ok((await client.models.list()).data.some((m) => m.id === model));
  const input = ['cats purr and sleep', 'cats purr and sleep', 'rust borrow checker'];
  const b64 = await client.embeddings.create({ model, input });
  const flt = await client.embeddings.create({ model, input, encoding_format: 'float' });
  assert.equal(b64.data.length, 3);
  assert.deepEqual(
    b64.data.map((d) => d.index),
    [0, 1, 2],
  );
  for (let i = 0; i < 3; i++) {
    const a = Float32Array.from(b64.data[i].embedding);
    const f = Float32Array.from(flt.data[i].embedding);
    assert.deepEqual(a, f, 'base64 decodes to the float vector');
    assert.ok(Math.abs(Math.hypot(...f) - 1) < 1e-5, 'unit length');
  }
  const v = flt.data.map((d) => Float32Array.from(d.embedding));
  assert.ok(Math.abs(cosine(v[0], v[1]) - 1) < 1e-6);
  assert.ok(cosine(v[0], v[2]) < 0.5);
  assert.ok((flt.usage.prompt_tokens ?? 0) > 0);
  assert.equal(flt.usage.total_tokens, flt.usage.prompt_tokens);
  const one = await client.embeddings.create({
    model,
    input: 'cats purr and sleep',
    encoding_format: 'float',
  });
  assert.deepEqual(one.data[0].embedding, flt.data[0].embedding);
  // passages are embedded as the index embeds them (the hash embedder's differ from queries)
  const passage = await client.embeddings.create({
    model,
    input: 'cats purr and sleep',
    encoding_format: 'float',
    // @ts-expect-error input_type is an extension
    input_type: 'passage',
  });
  assert.notDeepEqual(passage.data[0].embedding, one.data[0].embedding);
  await assert.rejects(
    client.embeddings.create({ model: 'nope', input: 'x' }),
    (e: unknown) => e instanceof OpenAI.NotFoundError,
  );
  for (const bad of [[[1, 2, 3]], [''], []])
    await assert.rejects(
      client.embeddings.create({ model, input: bad as string[] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param?.startsWith('input') === true,
    );
});

interface RagAnswer {
  id: string;
  object: string;
  grounded: boolean;
  abstained: boolean;
  confidence: number | null;
  quote: { index: number; source: string; chunk: number; start: number; end: number; text: string } | null;
  model: string;
  answer: string;
  prompt: string;
  sources: { rank: number; source: string; chunk: number; score: number; text: string; truncated: boolean }[];
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

test('rag/ask: sources best first and the greedy raw completion of the templated prompt', async () => {
  const body = { question: 'what does a cat do all day?', k: 2, max_tokens: 8, grounded: false };
  const r = await client.post<RagAnswer>('/rag/ask', { body });
  assert.deepEqual([r.grounded, r.abstained, r.confidence, r.quote], [false, false, null, null]);
  assert.equal(r.object, 'rag.answer');
  assert.equal(r.model, 'tiny');
  assert.ok(r.sources.length >= 1 && r.sources.length <= 2);
  assert.deepEqual(
    r.sources.map((s) => s.rank),
    r.sources.map((_, i) => i + 1),
  );
  assert.match(r.sources[0].source, /cats\.md$/);
  assert.ok(Number.isInteger(r.sources[0].chunk));
  assert.match(
    r.prompt,
    /^\[ctx: .*Cats are small furry animals.*\] Answer the question: what does a cat do all day\?$/s,
  );
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.finish_reason, 'length');
  // the same as a raw completion of the prompt (no chat template)
  const c = await client.completions.create({
    model: 'tiny',
    prompt: r.prompt,
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(r.answer, c.choices[0].text);
  assert.equal(r.usage.prompt_tokens, c.usage?.prompt_tokens);
  for (const mode of ['vector', 'bm25'] as const) {
    const m = await client.post<RagAnswer>('/rag/ask', {
      body: { ...body, mode, max_tokens: 1 },
    });
    assert.match(m.sources[0].source, /cats\.md$/, mode);
  }
  await assert.rejects(
    client.post('/rag/ask', { body: { question: 'x', mode: 'fuzzy' } }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'mode',
  );
  await assert.rejects(
    client.post('/rag/ask', { body: { question: '' } }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'question',
  );
});

test('rag/ask grounded (the default): the answer quotes one chunk, at the offsets given', async () => {
  const body = { question: 'what does a cat do all day?', k: 2, max_tokens: 6, grounded: true };
  const r = await client.post<RagAnswer>('/rag/ask', { body });
  assert.ok(r.answer.trim().length > 0);
  assert.equal(r.grounded, true);
  assert.equal(r.abstained, false);
  const q = r.quote;
  assert.ok(q, 'the quote is located');
  assert.deepEqual(Object.keys(q), ['index', 'source', 'chunk', 'start', 'end', 'text']);
  assert.equal(q.source, r.sources[q.index].source);
  assert.equal(q.chunk, r.sources[q.index].chunk);
  assert.equal(r.sources[q.index].text.slice(q.start, q.end), r.answer.trim());
  assert.equal(q.text, r.answer.trim());
  // this model has no EOS: no quote finishes, so there is no confidence to give
  assert.equal(r.confidence, null);
  const { grounded: _, ...plain } = body;
  const byDefault = await client.post<RagAnswer>('/rag/ask', { body: plain });
  assert.deepEqual({ ...byDefault, id: r.id }, r, 'grounded is the default');
  // streamed, the searched quote arrives whole, then the final chunk
  const events: { object: string; delta?: string; finish_reason?: string }[] = [];
  const stream = await client.post<AsyncIterable<(typeof events)[number]>>('/rag/ask', {
    body: { ...body, stream: true },
    stream: true,
  });
  for await (const e of stream) events.push(e);
  assert.equal(events[0].object, 'rag.sources');
  assert.equal(
    events
      .slice(1)
      .map((e) => e.delta)
      .join(''),
    r.answer,
  );
  assert.equal(events.at(-1)?.finish_reason, r.finish_reason);
  const last = events.at(-1) as Record<string, unknown>;
  assert.deepEqual(
    [last.grounded, last.abstained, last.confidence, last.quote],
    [true, false, null, r.quote],
    'the last chunk carries the quote',
  );
  // the random model left free would not quote them
  const free = await client.post<RagAnswer>('/rag/ask', { body: { ...body, grounded: false } });
  assert.ok(!r.sources.some((s) => s.text.includes(free.answer.trim()) && free.answer.trim().length > 3));
});

test('rag/ask streamed: sources first, then free answer chunks, then finish_reason and usage, then [DONE]', async () => {
  const body = { question: 'how is bread made?', k: 1, max_tokens: 6, grounded: false };
  const whole = await client.post<RagAnswer>('/rag/ask', { body });
  const events: Record<string, unknown>[] = [];
  const stream = await client.post<AsyncIterable<Record<string, unknown>>>('/rag/ask', {
    body: { ...body, stream: true },
    stream: true,
  });
  for await (const e of stream) events.push(e);
  assert.equal(events[0].object, 'rag.sources');
  assert.deepEqual(events[0].sources, whole.sources);
  const chunks = events.slice(1);
  assert.ok(chunks.every((e) => e.object === 'rag.answer.chunk'));
  assert.equal(chunks.map((e) => e.delta).join(''), whole.answer);
  const last = chunks.at(-1) as { finish_reason: string; usage: RagAnswer['usage'] };
  assert.equal(last.finish_reason, 'length');
  assert.equal(last.usage.completion_tokens, 6);
});

test('rag/ask abstains below the threshold of the model directory (xfmr_rag.json), with the sources', async () => {
  const cfg = llamaConfig({ ...dims, vocabSize: 297 });
  const modelDir = join(dir, 'with-eos');
  saveModel(modelDir, new DecoderLM(cfg, 4), {
    tokenizerJson: byteLevelTokenizerJson(40, true) as never,
    generationConfig: { eos_token_id: 296 },
  });
  const body = { question: 'how is bread made?', k: 2, max_tokens: 8 };
  const serveWith = async (abstainBelow: number | null) => {
    rmSync(join(modelDir, POLICY_FILE), { force: true });
    if (abstainBelow !== null)
      writeFileSync(
        join(modelDir, POLICY_FILE),
        JSON.stringify({ abstain_below: abstainBelow, confidence: 'mean_logprob' }),
      );
    const m = await loadServeModel(modelDir, 'eos');
    const s = await startServer(m, { port: 0, ragDb: db });
    try {
      const r = await clientOf(s).post<RagAnswer>('/rag/ask', { body });
      const events: Record<string, unknown>[] = [];
      const stream = await clientOf(s).post<AsyncIterable<Record<string, unknown>>>('/rag/ask', {
        body: { ...body, stream: true },
        stream: true,
      });
      for await (const e of stream) events.push(e);
      return { r, events };
    } finally {
      await s.close();
    }
  };
  const plain = await serveWith(null);
  const c = plain.r.confidence;
  assert.ok(typeof c === 'number' && c < 0, 'a quote that ends with EOS has a confidence');
  assert.equal(plain.r.abstained, false);
  const high = await serveWith(1); // above every mean log-probability
  assert.deepEqual(
    [high.r.answer, high.r.abstained, high.r.quote, high.r.confidence],
    [NOT_FOUND_ANSWER, true, null, c],
  );
  assert.deepEqual(high.r.sources, plain.r.sources, 'the sources are still shown');
  // streamed: the abstention is all the answer text there is
  assert.equal(
    high.events
      .slice(1)
      .map((e) => e.delta)
      .join(''),
    NOT_FOUND_ANSWER,
  );
  assert.equal(high.events.at(-1)?.abstained, true);
  const low = await serveWith(c - 1e-6);
  assert.deepEqual([low.r.answer, low.r.abstained, low.r.quote], [plain.r.answer, false, plain.r.quote]);
  // a broken file stops the server from loading the model, naming the file and the field
  writeFileSync(join(modelDir, POLICY_FILE), JSON.stringify({ confidence: 'mean_logprob' }));
  await assert.rejects(
    loadServeModel(modelDir),
    new RegExp(`${POLICY_FILE}: "abstain_below" must be a finite number`),
  );
  rmSync(join(modelDir, POLICY_FILE));
});

test('rag/ask without --db is a 400 saying so', async () => {
  const s = await startServer(tinyServeModel(), { port: 0 });
  try {
    await assert.rejects(clientOf(s).post('/rag/ask', { body: { question: 'x' } }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /without --db/);
      return true;
    });
  } finally {
    await s.close();
  }
  await assert.rejects(
    startServer(tinyServeModel(), { port: 0, ragDb: join(dir, 'missing.sqlite') }),
    /--db/,
  );
});
