/**
 * The playground in a real browser (headless Chromium through playwright-core) against the real
 * server, in-process, with a tiny random model, a metrics JSONL and a small RAG index: the page
 * loads, a chat streams, the token view shows probabilities, the attention heatmap and the loss
 * chart draw, and the RAG view lists its sources. Screenshots are decoded (browser_helpers.ts) to
 * check that they are not blank; XFMR_SCREENSHOTS=DIR keeps them.
 *
 * Without /usr/bin/chromium the browser tests are skipped, except in CI (process.env.CI), where
 * they fail: .ci/run installs Chromium.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { createEmbedder } from '../../src/rag/embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
import type { ServeModel } from '../../src/serve/app.ts';
import { type RunningServer, startServer } from '../../src/serve/server.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { encodePng } from '../../src/train/plot.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import {
  assertNotBlank,
  CHROMIUM,
  CHROMIUM_ARGS,
  chromiumSkip,
  countNear,
  decodePng,
  distinctColors,
  dominantShare,
  type Image,
} from './browser_helpers.ts';

const skip = chromiumSkip();

test('decodePng reads what encodePng writes', () => {
  const w = 7;
  const h = 5;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
  const img = decodePng(encodePng(rgb, w, h));
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  for (let p = 0; p < w * h; p++)
    assert.deepEqual([...img.rgba.subarray(p * 4, p * 4 + 4)], [...rgb.subarray(p * 3, p * 3 + 3), 255]);
  assert.equal(dominantShare(decodePng(encodePng(new Uint8Array(w * h * 3), w, h))), 1);
});

describe('the playground in Chromium', { skip }, () => {
  let dir = '';
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let shots = '';
  let metrics = '';
  const pageErrors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xfmr-browser-'));
    // XFMR_SCREENSHOTS=DIR keeps the screenshots there to look at
    shots = process.env.XFMR_SCREENSHOTS || join(dir, 'screenshots');
    mkdirSync(shots, { recursive: true });
    const tokenizer = loadTokenizerJson(byteLevelTokenizerJson(40, false));
    const config = llamaConfig({
      vocabSize: tokenizer.vocabSize,
      contextLength: 512,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      headDim: 8,
      ffnDim: 64,
      initStd: 0.2,
    });
    const m: ServeModel = { id: 'tiny', model: new DecoderLM(config, 7), tokenizer, eos: [] };

    // a training run's metrics: loss falling, validation every 10 steps, a half-written last line
    const lines: string[] = [];
    for (let step = 1; step <= 60; step++) {
      const loss = 5.5 * Math.exp(-step / 25) + 1.2 + 0.05 * Math.sin(step);
      lines.push(
        JSON.stringify({ step, loss, lr: 1e-3, grad_norm: 1, tokens: step * 2048, tok_s: 9000 + 40 * step }),
      );
      if (step % 10 === 0)
        lines.push(JSON.stringify({ step, val_loss: loss + 0.2, val_ppl: Math.exp(loss + 0.2) }));
    }
    metrics = join(dir, 'metrics.jsonl');
    writeFileSync(metrics, `${lines.join('\n')}\n{"step": 61, "lo`);

    // a small RAG index built with the offline hash embedder
    const docs = join(dir, 'docs');
    mkdirSync(docs);
    writeFileSync(
      join(docs, 'cats.md'),
      '# Cats\n\nCats sleep for most of the day. A cat purrs when it is content and hunts mice at night.\n',
    );
    writeFileSync(
      join(docs, 'rivers.md'),
      '# Rivers\n\nThe Danube flows through ten countries before it reaches the Black Sea.\n',
    );
    const db = join(dir, 'rag.sqlite');
    const embedder = createEmbedder({ type: 'hash' });
    const store = SqliteStore.openOrCreate(db, { id: embedder.id, dim: embedder.dim, spec: embedder.spec });
    await indexPaths([docs], store, embedder);
    await store.close();

    server = await startServer(m, { host: '127.0.0.1', port: 0, metrics, ragDb: db });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A full-page screenshot, decoded and checked to be more than one colour. */
  async function screenshot(name: string): Promise<Image> {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    const img = decodePng(readFileSync(path));
    assertNotBlank(img, name);
    return img;
  }

  /** A screenshot of one canvas, decoded. */
  async function canvasShot(selector: string, name: string): Promise<Image> {
    const path = join(shots, `${name}.png`);
    await page.locator(selector).screenshot({ path });
    return decodePng(readFileSync(path));
  }

  test('the page loads with the model summary and layer/head choices', async () => {
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    // the server has a RAG database: the page opens on the RAG view (a #hash still picks another)
    assert.equal(await page.getAttribute('#tab-rag', 'aria-selected'), 'true');
    assert.equal(await page.isVisible('#panel-rag'), true);
    assert.equal(await page.isVisible('#panel-chat'), false);
    assert.equal(new URL(page.url()).hash, '#rag');
    await page.goto(`${server.url}/#chat`);
    await page.reload(); // a new hash alone does not load the page again
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.getAttribute('#tab-chat', 'aria-selected'), 'true');
    const summary = await page.textContent('#model-summary');
    assert.match(summary ?? '', /tiny · llama: 2 layers, 4 heads \(2 KV\)/);
    assert.equal(await page.locator('#attention-layer option').count(), 2);
    assert.equal(await page.locator('#attention-head option').count(), 4);
    // keyboard: arrow keys move between tabs
    await page.focus('#tab-chat');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-tokens', 'aria-selected'), 'true');
    assert.equal(await page.isVisible('#panel-tokens'), true);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.isVisible('#panel-chat'), true);
    await screenshot('page');
  });

  test('a chat streams its answer over several chunks', async () => {
    await page.fill('#temperature', '1');
    await page.fill('#top-k', '3');
    await page.fill('#top-p', '0.9');
    await page.fill('#seed', '5');
    await page.fill('#max-tokens', '40');
    // record the answer's length before every append to its text
    await page.evaluate(() => {
      const w = window as unknown as { before: number[] };
      w.before = [];
      new MutationObserver((records) => {
        for (const r of records)
          if (r.type === 'characterData' && r.target.parentElement?.closest('.msg.assistant'))
            w.before.push((r.oldValue ?? '').length);
      }).observe(document.getElementById('chat-log') as HTMLElement, {
        subtree: true,
        characterData: true,
        characterDataOldValue: true,
      });
    });
    await page.fill('#chat-input', 'Tell me about cats.');
    await page.press('#chat-input', 'Enter');
    await page.waitForSelector('.msg.assistant[aria-busy="false"]');
    const answer = (await page.textContent('.msg.assistant .content')) ?? '';
    const before = await page.evaluate(() => (window as unknown as { before: number[] }).before);
    assert.ok(answer.length > 0, 'the answer is not empty');
    assert.ok(before.length >= 3, `the answer grew in ${before.length} steps`);
    assert.equal(before[0], 0, 'it started empty');
    for (let i = 1; i < before.length; i++) assert.ok(before[i] > before[i - 1], `append ${i} added text`);
    assert.ok(answer.length > before[before.length - 1]);
    assert.match((await page.textContent('#chat-status')) ?? '', /40 tokens \(finish: length\)/);
    assert.equal(await page.textContent('.msg.user .content'), 'Tell me about cats.');
    await screenshot('chat');
  });

  test('the token view shows each token with its probability and its alternatives', async () => {
    await page.click('#tab-tokens');
    const chips = page.locator('#token-chips .chip');
    assert.equal(await chips.count(), 40);
    const probs = await chips.evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.prob)));
    assert.ok(
      probs.every((p) => p > 0 && p <= 1),
      `probabilities: ${probs.slice(0, 5)}`,
    );
    const shades = await chips.evaluateAll(
      (els) => new Set(els.map((e) => getComputedStyle(e).backgroundColor)).size,
    );
    assert.ok(shades > 1, 'chips are shaded by probability');
    await chips.nth(2).focus();
    await page.keyboard.press('Enter');
    assert.equal(await chips.nth(2).getAttribute('aria-pressed'), 'true');
    const rows = page.locator('#token-detail table tr');
    assert.equal(await rows.count(), 6, 'a header and the 5 alternatives');
    // top-k 3: the 4th and 5th alternatives are cut
    const verdicts = await page.locator('#token-detail td.verdict').allTextContents();
    assert.deepEqual(verdicts.slice(3), ['cut by top-k 3', 'cut by top-k 3']);
    assert.ok(['kept'].includes(verdicts[0]));
    await screenshot('tokens');
  });

  test('the attention heatmap draws, and hovering reads a cell', async () => {
    await page.click('#tab-attention');
    await page.fill('#attention-text', 'the cat sat on the mat and the dog sat too');
    await page.selectOption('#attention-layer', '1');
    await page.selectOption('#attention-head', '2');
    await page.click('#attention-form button[type="submit"]');
    await page.waitForFunction(() =>
      /tokens, layer 1, head 2/.test(document.getElementById('attention-status')?.textContent ?? ''),
    );
    const img = await canvasShot('#attention-canvas', 'attention-canvas');
    assert.ok(distinctColors(img) > 20, `the heatmap has ${distinctColors(img)} colours`);
    assert.ok(dominantShare(img) < 0.8);
    const box = await page.locator('#attention-canvas').boundingBox();
    assert.ok(box);
    // the bottom-left cell: the last query attending to the first key
    await page.mouse.move(box.x + box.width - 4, box.y + box.height - 4);
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height - 6);
    assert.match(
      (await page.textContent('#attention-readout')) ?? '',
      /query \d+ .* → key \d+ .*: (0\.\d{4}|masked)/,
    );
    await page.focus('#attention-canvas');
    await page.keyboard.press('ArrowUp');
    assert.match((await page.textContent('#attention-readout')) ?? '', /query/);
    await screenshot('attention');
  });

  test('the dashboard draws the loss curves from the metrics file', async () => {
    await page.click('#tab-dashboard');
    await page.waitForFunction(() =>
      /step 60, train loss/.test(document.getElementById('dashboard-status')?.textContent ?? ''),
    );
    const img = await canvasShot('#dashboard-canvas', 'dashboard-canvas');
    assert.ok(dominantShare(img) < 0.97, 'the chart is not blank');
    assert.ok(countNear(img, [31, 119, 180]) > 50, 'train loss line (blue)');
    assert.ok(countNear(img, [255, 127, 14]) > 20, 'validation loss line (orange)');
    assert.ok(countNear(img, [44, 160, 44]) > 20, 'tokens/s line (green)');
    // the run goes on: the half-written line is finished and another follows; the next poll shows them
    appendFileSync(
      metrics,
      `ss": 1.31, "tok_s": 11500}\n${JSON.stringify({ step: 62, loss: 1.3, tok_s: 11600 })}\n`,
    );
    await page.waitForFunction(
      () =>
        /^68 records; step 62, train loss 1\.3000/.test(
          document.getElementById('dashboard-status')?.textContent ?? '',
        ),
      null,
      { timeout: 5000 },
    );
    await screenshot('dashboard');
  });

  test('the RAG view shows the answer highlighted in its chunk, beside the sources', async () => {
    await page.click('#tab-rag');
    await page.fill('#rag-question', 'When do cats hunt mice?');
    await page.fill('#rag-k', '2');
    await page.click('#rag-ask');
    await page.waitForFunction(
      () => /sources\.$/.test(document.getElementById('rag-status')?.textContent ?? ''),
      null,
      {
        timeout: 15_000,
      },
    );
    const sources = await page.locator('#rag-sources li .source').allTextContents();
    assert.equal(sources.length, 2);
    assert.match(sources[0], /cats\.md/, 'the best source is the cat file');
    assert.match((await page.textContent('#rag-sources li .meta')) ?? '', /score \d/);
    assert.match((await page.textContent('#rag-sources li .text')) ?? '', /hunts mice/);
    // the answer (a quote: grounded is the default) is highlighted inside its chunk, at the
    // offsets the API gives
    const api = (await page.evaluate(async () => {
      const res = await fetch('/v1/rag/ask', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ question: 'When do cats hunt mice?', k: 2, grounded: true }),
      });
      return res.json();
    })) as {
      answer: string;
      quote: { index: number; start: number; end: number; text: string };
      sources: { text: string }[];
    };
    assert.ok(api.quote, 'the API located the quote');
    assert.equal(await page.locator('#rag-sources li.quoted').count(), 1);
    assert.equal(await page.locator('#rag-sources mark').count(), 1);
    const quoted = page.locator('#rag-sources li').nth(api.quote.index);
    assert.equal(await quoted.getAttribute('class'), 'quoted');
    assert.equal(await quoted.locator('mark').textContent(), api.quote.text);
    assert.equal(await quoted.locator('.text').textContent(), api.sources[api.quote.index].text);
    const before = await quoted.locator('.text').evaluate((p) => (p.firstChild?.textContent ?? '').length);
    assert.equal(before, api.quote.start, 'the mark starts at quote.start');
    assert.equal(await page.textContent('#rag-answer'), api.answer.trim());
    assert.match(
      (await page.textContent('#rag-quote')) ?? '',
      new RegExp(
        `^Quoted from \\[${api.quote.index + 1}\\] .*cats\\.md, characters ${api.quote.start}–${api.quote.end}`,
      ),
    );
    await screenshot('rag-quote');
    // answers and chunks are untrusted: shown as text, never as HTML; an abstention says so
    const evil = '<img src=x onerror="document.body.dataset.pwned=1">';
    const chunk = `before ${evil} after`;
    await page.route('**/v1/rag/ask', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          answer: evil,
          grounded: true,
          abstained: false,
          confidence: -0.25,
          reader: 'extractive',
          quote: { index: 0, source: 'x.md', chunk: 1, start: 7, end: 7 + evil.length, text: evil },
          sources: [{ rank: 1, source: '<b>x.md</b>', chunk: 1, score: 0.5, text: chunk, truncated: false }],
        }),
      }),
    );
    await page.click('#rag-ask');
    await page.waitForFunction(() => document.getElementById('rag-status')?.textContent === '1 sources.');
    assert.equal(await page.locator('#panel-rag img, #panel-rag b').count(), 0, 'no element from the data');
    assert.equal(await page.textContent('#rag-answer'), evil);
    assert.equal(await page.textContent('#rag-sources mark'), evil);
    assert.equal(await page.textContent('#rag-sources li .text'), chunk);
    assert.match(
      (await page.textContent('#rag-quote')) ?? '',
      / · span chosen by the extractive reader · model confidence -0\.250$/,
    );
    await page.unroute('**/v1/rag/ask');
    await page.route('**/v1/rag/ask', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          answer: 'I could not find the answer in the documents.',
          grounded: true,
          abstained: true,
          confidence: -3.5,
          quote: null,
          sources: [{ rank: 1, source: 'x.md', chunk: 1, score: 0.5, text: 'unrelated', truncated: false }],
        }),
      }),
    );
    await page.click('#rag-ask');
    await page.waitForFunction(() => document.getElementById('rag-answer')?.classList.contains('abstained'));
    assert.equal(await page.textContent('#rag-answer'), 'I could not find the answer in the documents.');
    assert.match(
      (await page.textContent('#rag-quote')) ?? '',
      /^Not answered: .* · model confidence -3\.500$/,
    );
    assert.equal(await page.locator('#rag-sources li').count(), 1, 'the sources are still shown');
    assert.equal(await page.locator('#rag-sources mark').count(), 0);
    await page.unroute('**/v1/rag/ask');
    assert.equal(await page.evaluate(() => document.body.dataset.pwned), undefined);
    // a server without --db answers an error: the view shows its message
    const message = 'RAG is not available: the server was started without --db';
    await page.route('**/v1/rag/ask', (route) =>
      route.fulfill({
        status: 400,
        contentType: 'application/json',
        body: JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } }),
      }),
    );
    await page.click('#rag-ask');
    await page.waitForSelector('#rag-status.error');
    assert.equal(await page.textContent('#rag-status'), message);
    assert.equal(await page.locator('#rag-sources li').count(), 0);
    await page.unroute('**/v1/rag/ask');
    await screenshot('rag');
    // the one expected failure is the 400 answered above
    const unexpected = pageErrors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
    assert.deepEqual(unexpected, [], 'no errors in the page');
  });
});
