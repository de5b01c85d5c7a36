/**
 * The playground routes through `app.request`: static files and their types, traversal, model
 * info, attention maps and their errors, the metrics tail; and the page's pure helpers (lib.js).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { createApp, type ServeModel } from '../../src/serve/app.ts';
import {
  type AttentionResponse,
  JsonlTail,
  type MetricsResponse,
  type PlaygroundInfo,
} from '../../src/serve/routes/playground.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { FakeLM } from '../generate/fake_lm.ts';

const dir = mkdtempSync(join(tmpdir(), 'xfmr-playground-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tokenizer = loadTokenizerJson(byteLevelTokenizerJson(40, false));
const config = llamaConfig({
  vocabSize: tokenizer.vocabSize,
  contextLength: 96,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 8,
  ffnDim: 48,
  initStd: 0.2,
});
const serveModel: ServeModel = { id: 'tiny', model: new DecoderLM(config, 3), tokenizer, eos: [] };
const metricsPath = join(dir, 'metrics.jsonl');
const { app } = createApp(serveModel, { metrics: metricsPath });
const bare = createApp(serveModel).app;

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function postAttention(body: unknown, a = app): Promise<Response> {
  return a.request('/api/attention', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('static files', () => {
  test('GET / is the page, with a content security policy that keeps it on this server', async () => {
    const r = await app.request('/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await r.text();
    assert.match(html, /<script type="module" src="\/playground\/playground.js">/);
    for (const id of ['chat-input', 'token-chips', 'attention-canvas', 'rag-question', 'dashboard-canvas'])
      assert.ok(html.includes(`id="${id}"`), id);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing loads from the internet');
  });

  test('script and style sheet with their content types', async () => {
    for (const [name, type] of [
      ['playground.js', 'text/javascript'],
      ['lib.js', 'text/javascript'],
      ['playground.css', 'text/css'],
      ['index.html', 'text/html'],
    ]) {
      const r = await app.request(`/playground/${name}`);
      assert.equal(r.status, 200, name);
      assert.ok(
        (r.headers.get('content-type') ?? '').startsWith(type),
        `${name}: ${r.headers.get('content-type')}`,
      );
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await r.text()).length > 100, name);
    }
  });

  test('only the files of the folder are served: traversal and unknown names are 404', async () => {
    for (const path of [
      '/playground/..%2Fplayground.ts',
      '/playground/%2e%2e%2fapp.ts',
      '/playground/..%5Capp.ts',
      '/playground/../app.ts',
      '/playground/%2e%2e/%2e%2e/package.json',
      '/playground/nothing.js',
      '/playground/',
      '/playground/.%2F..%2F..%2F..%2Fpackage.json',
    ]) {
      const r = await app.request(path);
      assert.equal(r.status, 404, path);
      const body = await r.text();
      assert.doesNotMatch(body, /import|"name": "xfmr"/, `${path} leaked a file`);
      assert.ok((JSON.parse(body) as ErrorBody).error.message, path);
    }
  });
});

test('GET /api/info describes the model and what is configured', async () => {
  const r = await app.request('/api/info');
  assert.equal(r.status, 200);
  const info = (await r.json()) as PlaygroundInfo;
  assert.equal(info.id, 'tiny');
  assert.deepEqual(info.architecture, {
    arch: 'llama',
    layers: 2,
    heads: 4,
    kv_heads: 2,
    d_model: 32,
    head_dim: 8,
    context_length: 96,
    vocab_size: tokenizer.vocabSize,
    position: 'rope',
  });
  assert.equal(info.attention, true);
  assert.equal(info.metrics, true);
  assert.equal(info.rag, false);
  assert.equal(info.chat_template, false);
  const none = (await (await bare.request('/api/info')).json()) as PlaygroundInfo;
  assert.equal(none.metrics, false);
});

describe('POST /api/attention', () => {
  test('a [T][T] causal map whose rows sum to 1, with the tokens as typed', async () => {
    const text = 'the cat sat on the mat';
    const r = await postAttention({ text, layer: 1, head: 3 });
    assert.equal(r.status, 200);
    const a = (await r.json()) as AttentionResponse;
    const T = tokenizer.encode(text).length;
    assert.equal(a.tokens.length, T);
    assert.equal(a.tokens.join(''), text);
    assert.equal(a.layer, 1);
    assert.equal(a.head, 3);
    assert.equal(a.weights.length, T);
    a.weights.forEach((row, i) => {
      assert.equal(row.length, T);
      row.forEach((w, j) => {
        if (j > i) assert.equal(w, 0);
      });
      assert.ok(Math.abs(row.reduce((s, w) => s + w, 0) - 1) < 1e-5, `row ${i}`);
    });
    const other = (await (await postAttention({ text, layer: 0, head: 3 })).json()) as AttentionResponse;
    assert.notDeepEqual(other.weights, a.weights, 'the layer is honoured');
  });

  test('errors name the field: layer, head, text (400), too long (413), bad JSON', async () => {
    const cases: [unknown, number, string | null, RegExp][] = [
      [{ text: 'hi', layer: 2, head: 0 }, 400, 'layer', /layer: must be in \[0, 2\), got 2/],
      [{ text: 'hi', layer: -1, head: 0 }, 400, 'layer', /layer/],
      [{ text: 'hi', layer: 0.5, head: 0 }, 400, 'layer', /layer/],
      [{ text: 'hi', layer: 0, head: 4 }, 400, 'head', /head: must be in \[0, 4\), got 4/],
      [{ text: 'hi', layer: 0 }, 400, 'head', /head/],
      [{ text: '', layer: 0, head: 0 }, 400, 'text', /no tokens/],
      [{ text: 5, layer: 0, head: 0 }, 400, 'text', /text/],
      [{ text: 'x'.repeat(65), layer: 0, head: 0 }, 413, 'text', /65 tokens.*at most 64/],
      ['{"text": ', 400, null, /not valid JSON/],
    ];
    for (const [body, status, param, message] of cases) {
      const r = await postAttention(body);
      assert.equal(r.status, status, JSON.stringify(body));
      const e = (await r.json()) as ErrorBody;
      assert.equal(e.error.param, param, JSON.stringify(body));
      assert.match(e.error.message, message);
      assert.equal(e.error.type, 'invalid_request_error');
    }
    // 64 tokens is still fine
    assert.equal((await postAttention({ text: 'x'.repeat(64), layer: 0, head: 0 })).status, 200);
  });

  test('a model that is not a DecoderLM answers 400', async () => {
    const fake = new FakeLM(tokenizer.vocabSize, 32, () => new Float32Array(tokenizer.vocabSize));
    const { app: other } = createApp({ ...serveModel, model: fake });
    const r = await postAttention({ text: 'hi', layer: 0, head: 0 }, other);
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as ErrorBody).error.message, /attention view needs a decoder model/);
    const info = (await (await other.request('/api/info')).json()) as PlaygroundInfo;
    assert.equal(info.attention, false);
    assert.equal(info.architecture.layers, null);
    assert.equal(info.architecture.vocab_size, tokenizer.vocabSize);
  });
});

describe('GET /api/metrics', () => {
  const get = async (since?: number | string, a = app): Promise<{ status: number; body: unknown }> => {
    const r = await a.request(since === undefined ? '/api/metrics' : `/api/metrics?since=${since}`);
    return { status: r.status, body: await r.json() };
  };
  const rec = (step: number) =>
    JSON.stringify({ step, loss: 5 - step / 10, lr: 1e-3, tokens: step * 64, tok_s: 900 });

  test('404 JSON when no metrics file is configured', async () => {
    const r = await get(0, bare);
    assert.equal(r.status, 404);
    assert.match((r.body as ErrorBody).error.message, /--metrics/);
  });

  test('a file that does not exist yet is empty, not an error', async () => {
    const r = await get(0);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { records: [], next: 0, reset: false, skipped: 0, more: false });
  });

  test('reads incrementally from `since`, waits for a half-written last line, and sees a new run', async () => {
    writeFileSync(metricsPath, `${rec(1)}\n${rec(2)}\n${rec(3).slice(0, 10)}`);
    let r = (await get()).body as MetricsResponse;
    assert.deepEqual(
      r.records.map((m) => m.step),
      [1, 2],
    );
    assert.equal(r.next, 2);
    assert.equal(r.reset, false);
    // the writer finishes line 3 and appends line 4 and a validation record
    appendFileSync(
      metricsPath,
      `${rec(3).slice(10)}\n${rec(4)}\n${JSON.stringify({ step: 4, val_loss: 4.2, val_ppl: 66.7 })}\n`,
    );
    r = (await get(2)).body as MetricsResponse;
    assert.deepEqual(
      r.records.map((m) => m.step),
      [3, 4, 4],
    );
    assert.equal(r.records[2].val_loss, 4.2);
    assert.equal(r.next, 5);
    assert.equal(((await get(5)).body as MetricsResponse).records.length, 0);
    assert.equal(((await get(5)).body as MetricsResponse).next, 5);
    // a whole last record without its newline yet counts; a line that is not JSON is skipped
    appendFileSync(metricsPath, `not json\n${rec(5)}`);
    r = (await get(5)).body as MetricsResponse;
    assert.deepEqual(
      r.records.map((m) => m.step),
      [5],
    );
    assert.equal(r.skipped, 1);
    assert.equal(r.next, 7);
    // asked again before its newline arrives: nothing new, and no reset
    assert.deepEqual((await get(7)).body, { records: [], next: 7, reset: false, skipped: 0, more: false });
    appendFileSync(metricsPath, `\n${rec(6)}\n`);
    r = (await get(7)).body as MetricsResponse;
    assert.deepEqual(
      r.records.map((m) => m.step),
      [6],
    );
    assert.equal(r.next, 8);
    // from the start again: all of it
    assert.equal(((await get(0)).body as MetricsResponse).records.length, 7);
    // a new run replaces the file (atomic rename, shorter): the client is told to start over
    const tmp = `${metricsPath}.tmp`;
    writeFileSync(tmp, `${rec(1)}\n`);
    renameSync(tmp, metricsPath);
    r = (await get(8)).body as MetricsResponse;
    assert.equal(r.reset, true);
    assert.deepEqual(
      r.records.map((m) => m.step),
      [1],
    );
    assert.equal(r.next, 1);
  });

  test('a long file comes in pages: `more` until the last one', () => {
    const path = join(dir, 'paged.jsonl');
    writeFileSync(path, `${[1, 2, 3, 4, 5].map(rec).join('\n')}\n${rec(6)}`);
    const tail = new JsonlTail(path);
    const pages: number[][] = [];
    let since = 0;
    for (let more = true; more; ) {
      const r = tail.read(since, 2);
      pages.push(r.records.map((m) => m.step as number));
      since = r.next;
      more = r.more;
    }
    assert.deepEqual(pages, [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.equal(since, 6);
  });

  test('since must be a line number', async () => {
    for (const bad of ['-1', 'x', '1.5']) {
      const r = await get(bad);
      assert.equal(r.status, 400, bad);
      assert.equal((r.body as ErrorBody).error.param, 'since');
    }
  });
});

/** The types of the page's helpers (src/serve/playground/lib.js is plain JavaScript). */
interface PageLib {
  sseParser(onData: (data: string) => void): { feed(text: string): void; end(): void };
  cutoffs(
    top: { token: string; logprob: number }[],
    s: { temperature: number; topK: number; topP: number; vocabSize: number },
  ): { token: string; prob: number; status: string }[];
  niceTicks(lo: number, hi: number, n?: number): number[];
  heatColor(v: number): string;
  showToken(t: string): string;
  tokenLabel(t: string, bytes?: number[] | null): string;
}
const libUrl = new URL('../../src/serve/playground/lib.js', import.meta.url).href;
const lib = (await import(libUrl)) as PageLib;

describe('the page helpers (lib.js)', () => {
  test('sseParser: events split anywhere, CRLF, multi-line data, comments', () => {
    const got: string[] = [];
    const p = lib.sseParser((d) => got.push(d));
    const wire = 'data: {"a":1}\n\n: keep-alive\r\n\r\ndata: x\r\ndata: y\r\n\r\nevent: e\ndata:[DONE]\n\n';
    for (let i = 0; i < wire.length; i += 3) p.feed(wire.slice(i, i + 3));
    p.end();
    assert.deepEqual(got, ['{"a":1}', 'x\ny', '[DONE]']);
    const tail: string[] = [];
    const q = lib.sseParser((d) => tail.push(d));
    q.feed('data: last');
    q.end();
    assert.deepEqual(tail, ['last']);
  });

  test('cutoffs: top-k, top-p, greedy, and the unsettled edge', () => {
    const top = [0.5, 0.2, 0.15, 0.1, 0.05].map((p, i) => ({ token: `t${i}`, logprob: Math.log(p) }));
    const status = (s: Partial<Parameters<PageLib['cutoffs']>[1]>) =>
      lib.cutoffs(top, { temperature: 1, topK: 0, topP: 1, vocabSize: 100, ...s }).map((r) => r.status);
    assert.deepEqual(status({}), ['kept', 'kept', 'kept', 'kept', 'kept']);
    assert.deepEqual(status({ topK: 2 }), ['kept', 'kept', 'top-k', 'top-k', 'top-k']);
    // the listed mass is 1: exact. Mass before t2 is 0.7 >= 0.7: cut; before t1 is 0.5 < 0.7: kept.
    assert.deepEqual(status({ topP: 0.7 }), ['kept', 'kept', 'top-p', 'top-p', 'top-p']);
    assert.deepEqual(status({ temperature: 0 }), ['kept', 'greedy', 'greedy', 'greedy', 'greedy']);
    // top-k 3 renormalises over t0..t2 (0.85): before t2 is 0.7 / 0.85 = 0.82 < 0.8? no: cut at 0.8
    assert.deepEqual(status({ topK: 3, topP: 0.8 }), ['kept', 'kept', 'top-p', 'top-k', 'top-k']);
    // listed mass 0.6 of the vocabulary: whether the second survives p = 0.6 depends on the rest
    const partial = [0.4, 0.2].map((p, i) => ({ token: `u${i}`, logprob: Math.log(p) }));
    const r = lib.cutoffs(partial, { temperature: 1, topK: 0, topP: 0.6, vocabSize: 100 });
    assert.deepEqual(
      r.map((x) => x.status),
      ['kept', 'maybe'],
    );
    assert.ok(Math.abs(r[0].prob - 0.4) < 1e-12);
  });

  test('niceTicks, heatColor, showToken, tokenLabel', () => {
    assert.deepEqual(lib.niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(lib.niceTicks(2.13, 2.61, 5), [2.2, 2.3, 2.4, 2.5, 2.6]);
    assert.notEqual(lib.heatColor(0), lib.heatColor(1));
    assert.equal(lib.showToken(' a\n'), '\u2423a\u21b5');
    assert.equal(lib.tokenLabel('\uFFFD', [0xf0, 0x9f]), '\\xf0\\x9f');
    assert.equal(lib.tokenLabel(' hi', [0x20, 0x68, 0x69]), '\u2423hi');
    assert.equal(lib.tokenLabel('\uFFFD', [0xef, 0xbf, 0xbd]), '\uFFFD', 'a real U+FFFD stays');
  });
});
