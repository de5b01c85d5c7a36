/** Retrieval modes and fusion, prompt assembly and trimming, the generators and answer(). */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { answer } from '../../src/rag/answer.ts';
import { chatCompletionsUrl, EndpointGenerator, LocalGenerator } from '../../src/rag/generator.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { buildPrompt, DEFAULT_TEMPLATE, fillTemplate } from '../../src/rag/prompt.ts';
import { reciprocalRankFusion, retrieve } from '../../src/rag/retriever.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import type { SearchHit } from '../../src/rag/store.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { TOPICS, tempDir, writeFiles } from './helpers.ts';

const dir = tempDir();
const embedder = new HashEmbedder();
let store: SqliteStore;

before(async () => {
  writeFiles(
    join(dir, 'docs'),
    Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [`${k}.txt`, `${v}\n`])),
  );
  store = SqliteStore.openOrCreate(join(dir, 'r.db'), embedder);
  await indexPaths([join(dir, 'docs')], store, embedder);
});

const hit = (id: number): SearchHit => ({
  chunkId: id,
  source: `s${id}`,
  text: `t${id}`,
  start: 0,
  end: 0,
  line: 1,
  score: 0,
});

test('reciprocal rank fusion: sum of 1 / (k + rank) over the lists', () => {
  const fused = reciprocalRankFusion(
    [
      [hit(1), hit(2), hit(3)],
      [hit(3), hit(1)],
    ],
    60,
  );
  assert.deepEqual(
    fused.map((f) => f.hit.chunkId),
    [1, 3, 2],
  );
  assert.ok(Math.abs(fused[0].score - (1 / 61 + 1 / 62)) < 1e-12);
  assert.ok(Math.abs(fused[1].score - (1 / 63 + 1 / 61)) < 1e-12);
  assert.ok(Math.abs(fused[2].score - 1 / 62) < 1e-12);
});

test('retrieve: vector, bm25 and hybrid find the topic, with scores and per-method ranks', async () => {
  for (const mode of ['vector', 'bm25', 'hybrid'] as const) {
    const r = await retrieve(store, embedder, 'Which chess piece moves diagonally?', { k: 3, mode });
    assert.ok(r.length > 0 && r.length <= 3, mode);
    assert.ok(r[0].source.endsWith('chess.txt'), `${mode}: ${r[0].source}`);
    for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score, 'best first');
    if (mode !== 'bm25') assert.equal(r[0].vector?.rank, 1);
    if (mode !== 'vector') assert.equal(r[0].bm25?.rank, 1);
  }
  const h = await retrieve(store, embedder, 'chess bishop', { k: 2, mode: 'hybrid', rrfK: 10 });
  assert.ok(Math.abs(h[0].score - (1 / 11 + 1 / 11)) < 1e-12, 'rrfK is used');
  const f = await retrieve(store, embedder, 'chess bishop', {
    k: 2,
    filter: { sourcePrefix: join(dir, 'docs', 'b') },
  });
  assert.ok(f.every((x) => x.source.startsWith(join(dir, 'docs', 'b'))));
  await assert.rejects(retrieve(store, embedder, 'x', { k: 0 }), /k must be a positive integer/);
});

test('weighted fusion: the options weights, else the embedder own tuned constants, else k 60 and 1:1', async () => {
  const fused = reciprocalRankFusion([[hit(1)], [hit(2)]], 10, [2, 0.5]);
  assert.deepEqual(
    fused.map((f) => [f.hit.chunkId, f.score]),
    [
      [1, 2 / 11],
      [2, 0.5 / 11],
    ],
  );
  const q = 'chess bishop';
  const both = (await retrieve(store, embedder, q, { k: 1, mode: 'hybrid', rrfK: 10 }))[0];
  assert.equal(both.vector?.rank, 1);
  assert.equal(both.bm25?.rank, 1);
  const w = await retrieve(store, embedder, q, { k: 1, rrfK: 10, vectorWeight: 3, bm25Weight: 0.5 });
  assert.ok(Math.abs(w[0].score - (3 / 11 + 0.5 / 11)) < 1e-12, 'the options weights are used');
  // an embedder with tuned constants: they apply where the options give none
  const tuned = Object.assign(Object.create(embedder) as HashEmbedder, {
    fusion: { rrfK: 4, vectorWeight: 2, bm25Weight: 1 },
  });
  const t = await retrieve(store, tuned, q, { k: 1 });
  assert.ok(Math.abs(t[0].score - (2 / 5 + 1 / 5)) < 1e-12, `the embedder constants: ${t[0].score}`);
  const o = await retrieve(store, tuned, q, { k: 1, rrfK: 60 });
  assert.ok(Math.abs(o[0].score - (2 / 61 + 1 / 61)) < 1e-12, 'an option overrides the embedder');
  // an embedder's trust in its ranking for this question scales the vector list's weight
  const half = Object.assign(Object.create(tuned) as HashEmbedder, {
    vectorTrust: (question: string) => (question === q ? 0.25 : 1),
  });
  const h = await retrieve(store, half, q, { k: 1 });
  assert.ok(
    Math.abs(h[0].score - (0.5 / 5 + 1 / 5)) < 1e-12,
    `the vector weight times the trust: ${h[0].score}`,
  );
  await assert.rejects(
    retrieve(store, embedder, q, { vectorWeight: -1 }),
    /vectorWeight must be a finite number >= 0/,
  );
});

test('the BM25 gate: BM25 counts only when its first hit holds the set share of the question words', async () => {
  // content words chess, bishop, zebra, quokka: the chess text holds 2 of 4
  const q = 'chess bishop zebra quokka';
  const at = async (bm25MinCoverage: number) =>
    (await retrieve(store, embedder, q, { k: 1, rrfK: 10, bm25MinCoverage }))[0];
  const open = await at(0.5);
  assert.ok(open.source.endsWith('chess.txt') && open.vector?.rank === 1 && open.bm25?.rank === 1);
  assert.ok(
    Math.abs(open.score - (1 / 11 + 1 / 11)) < 1e-12,
    `at exactly the share, both lists: ${open.score}`,
  );
  const shut = await at(0.51);
  assert.ok(Math.abs(shut.score - 1 / 11) < 1e-12, `above it, the vector list alone: ${shut.score}`);
  assert.equal(shut.bm25?.rank, 1, 'the BM25 rank is still reported');
  // the embedder's tuned gate applies where the options give none
  const gated = Object.assign(Object.create(embedder) as HashEmbedder, {
    fusion: { rrfK: 10, vectorWeight: 1, bm25Weight: 2, bm25MinCoverage: 0.75 },
  });
  assert.ok(Math.abs((await retrieve(store, gated, q, { k: 1 }))[0].score - 1 / 11) < 1e-12);
  const kw = (await retrieve(store, gated, 'chess bishop', { k: 1 }))[0];
  assert.ok(Math.abs(kw.score - (1 / 11 + 2 / 11)) < 1e-12, `a keyword question: both: ${kw.score}`);
  await assert.rejects(at(1.5), /bm25MinCoverage must be a number in \[0, 1\], got 1.5/);
});

test('buildPrompt: the default template, best chunks first, trimmed to the budget', () => {
  assert.equal(DEFAULT_TEMPLATE, '[ctx: {docs}] Answer the question: {query}');
  const count = (s: string) => s.length; // 1 token per character, to see exact cuts
  const chunks = [
    { text: 'alpha beta', source: 'a' },
    { text: 'gamma delta epsilon zeta eta theta', source: 'b' },
    { text: 'iota', source: 'c' },
  ];
  const full = buildPrompt('Q?', chunks, { budget: 1000, countTokens: count });
  assert.equal(
    full.prompt,
    '[ctx: alpha beta\n\ngamma delta epsilon zeta eta theta\n\niota] Answer the question: Q?',
  );
  assert.equal(full.tokens, full.prompt.length);
  const bare = fillTemplate(DEFAULT_TEMPLATE, '', 'Q?').length;
  const trimmed = buildPrompt('Q?', chunks, {
    budget: bare + 10 + 2 + 20,
    countTokens: count,
    minPartialTokens: 4,
  });
  assert.deepEqual(trimmed.used, [
    { index: 0, truncated: false, text: 'alpha beta' },
    { index: 1, truncated: true, text: 'gamma delta epsilon' },
  ]);
  assert.ok(trimmed.tokens <= bare + 32);
  assert.match(trimmed.prompt, /^\[ctx: alpha beta\n\ngamma delta epsilon\] Answer the question: Q\?$/);
  // placeholders are filled once: a question that contains {docs} stays as written
  const custom = buildPrompt('what is {docs}?', chunks.slice(0, 1), {
    template: 'Context:\n{docs}\nQ: {query}\nA:',
    budget: 1000,
    countTokens: count,
  });
  assert.equal(custom.prompt, 'Context:\nalpha beta\nQ: what is {docs}?\nA:');
  assert.throws(
    () => buildPrompt('q', chunks, { template: 'no docs {query}', budget: 100, countTokens: count }),
    /\{docs\}/,
  );
  assert.throws(
    () => buildPrompt('a long question', chunks, { budget: 10, countTokens: count }),
    /more than the 10/,
  );
});

test('answer() with an xfmr model: the prompt fits the window and the sources are returned', async () => {
  const modelDir = join(dir, 'tiny');
  const tokJson = byteLevelTokenizerJson(40, true);
  const cfg = llamaConfig({
    vocabSize: 297,
    contextLength: 96,
    dModel: 32,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 64,
  });
  saveModel(modelDir, new DecoderLM(cfg), { tokenizerJson: tokJson as never });
  const g = LocalGenerator.load(modelDir);
  assert.equal(g.contextTokens, 96);
  const a = await answer('How do bees make honey?', { store, embedder, generator: g, k: 4, maxTokens: 8 });
  assert.equal(typeof a.answer, 'string');
  assert.ok(a.promptTokens + 8 <= 96, `${a.promptTokens} prompt tokens`);
  assert.equal(g.countTokens(a.prompt), a.promptTokens);
  assert.ok(a.sources.length >= 1 && a.sources.length + a.dropped === 4);
  assert.ok(a.sources[0].source.endsWith('bees.txt'));
  assert.ok(
    a.prompt.startsWith('[ctx: ') && a.prompt.endsWith('] Answer the question: How do bees make honey?'),
  );
  assert.ok(a.sources.some((s) => s.truncated) || a.dropped > 0, 'trimmed to the window');
  // with a chat template the prompt goes through it (--no-chat-template: { chat: false })
  const chatDir = join(dir, 'tiny-chat');
  saveModel(chatDir, new DecoderLM(cfg), {
    tokenizerJson: tokJson as never,
    chatTemplate: '<user>{{ messages[0].content }}</user>{% if add_generation_prompt %}<bot>{% endif %}',
  });
  const chat = LocalGenerator.load(chatDir);
  const raw = LocalGenerator.load(chatDir, { chat: false });
  assert.equal(chat.promptOverhead, chat.countTokens('<user></user><bot>'));
  assert.equal(raw.promptOverhead, 0);
  const c = await answer('bees?', { store, embedder, generator: chat, k: 2, maxTokens: 4 });
  assert.ok(c.promptTokens + chat.promptOverhead + 4 <= 96);
  // the template's own special tokens are control tokens (one id each), never their text's bytes
  const specialDir = join(dir, 'tiny-chat-special');
  saveModel(specialDir, new DecoderLM(cfg), {
    tokenizerJson: tokJson as never,
    chatTemplate:
      '<|endoftext|><user>{{ messages[0].content }}</user>{% if add_generation_prompt %}<bot>{% endif %}',
  });
  const special = LocalGenerator.load(specialDir);
  assert.equal(special.promptOverhead, 1 + special.countTokens('<user></user><bot>'));
  assert.ok(special.countTokens('<|endoftext|>') > 1, 'typed, the special string is text of several tokens');
});

test('answer() with an OpenAI-compatible endpoint: /models, chat/completions, the template, errors', async () => {
  const seen: { url: string; body: Record<string, unknown>; auth?: string }[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let data = '';
    for await (const c of req) data += c;
    seen.push({ url: req.url ?? '', body: data ? JSON.parse(data) : {}, auth: req.headers.authorization });
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/models') res.end(JSON.stringify({ data: [{ id: 'big-model' }] }));
    else if (req.url === '/v1/chat/completions') {
      const body = JSON.parse(data) as { max_tokens: number };
      if (body.max_tokens === 13) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: { message: 'max_tokens too small' } }));
      } else
        res.end(
          JSON.stringify({
            choices: [{ message: { role: 'assistant', content: 'Bees make honey from nectar.' } }],
          }),
        );
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const g = await EndpointGenerator.connect({
      url: `http://127.0.0.1:${port}`,
      apiKey: 'sk-test',
      contextTokens: 2048,
    });
    assert.equal(g.model, 'big-model');
    const a = await answer('How do bees make honey?', {
      store,
      embedder,
      generator: g,
      k: 2,
      template: 'Use: {docs}\nQ: {query}',
      maxTokens: 50,
    });
    assert.equal(a.answer, 'Bees make honey from nectar.');
    const req = seen.find((s) => s.url === '/v1/chat/completions');
    assert.ok(req);
    assert.equal(req.auth, 'Bearer sk-test');
    assert.equal(req.body.model, 'big-model');
    assert.equal(req.body.max_tokens, 50);
    assert.equal(req.body.temperature, 0);
    const messages = req.body.messages as { role: string; content: string }[];
    assert.equal(messages[0].role, 'user');
    assert.equal(messages[0].content, a.prompt);
    assert.ok(
      a.prompt.startsWith('Use: Honey bees live in colonies') &&
        a.prompt.endsWith('\nQ: How do bees make honey?'),
    );
    assert.equal(a.sources.length, 2);
    await assert.rejects(g.complete('x', { maxTokens: 13 }), /HTTP 400: max_tokens too small/);
  } finally {
    server.close();
  }
  const dead = await EndpointGenerator.connect({ url: `http://127.0.0.1:${port}/v1`, model: 'm' });
  await assert.rejects(dead.complete('x', { maxTokens: 1 }), /cannot connect/);
  assert.equal(chatCompletionsUrl('http://h:8080'), 'http://h:8080/v1/chat/completions');
  assert.equal(chatCompletionsUrl('http://h/v1/'), 'http://h/v1/chat/completions');
  assert.equal(chatCompletionsUrl('https://h/api/v1/chat/completions'), 'https://h/api/v1/chat/completions');
  assert.throws(() => chatCompletionsUrl('ftp://h'), /not an http/);
});
