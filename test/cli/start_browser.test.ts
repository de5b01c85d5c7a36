/**
 * The acceptance test of `npm start` (issue 9): the real CLI, `node bin/xfmr.js start`, spawned as
 * a child process on a free port (--port 0; the URL is read from the line serve prints on stderr)
 * with a fresh RAG database in a temp dir, serves the playground within a minute of the spawn; in
 * headless Chromium, a question about the shipped documents (docs/) gets an answer in the RAG view
 * with its sources shown, and the answer is drawn from them: its normalised text is a span of a
 * shown source chunk, and with the shipped model it is the right one (8080). SIGTERM stops the
 * server with exit status 0.
 *
 * The default model, models/xfmr-rag-tiny/, is trained by `npm run recipe` and committed: without
 * it the test is skipped, except in CI (process.env.CI), where it fails. Without /usr/bin/chromium
 * (XFMR_CHROMIUM=PATH for another) the browser tests are skipped, except in CI, where they fail.
 *
 * XFMR_START_MODEL=DIR runs a dry run with another model (`--model DIR`): an untrained model does
 * not copy its answer from the sources, so the answer-from-the-sources check is skipped then, unless
 * XFMR_START_GROUNDED=1 (to check a candidate model before it is committed).
 * XFMR_SCREENSHOTS=DIR keeps the screenshots.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import {
  assertNotBlank,
  CHROMIUM,
  CHROMIUM_ARGS,
  chromiumSkip,
  decodePng,
} from '../serve/browser_helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = join(ROOT, 'docs');
const DRY_RUN = process.env.XFMR_START_MODEL || '';
const CHECK_GROUNDED = !DRY_RUN || process.env.XFMR_START_GROUNDED === '1';
const MODEL = DRY_RUN ? resolve(DRY_RUN) : join(ROOT, 'models', 'xfmr-rag-tiny');
/** The limit, from the spawn to the playground answering GET /. */
const START_LIMIT_MS = 60_000;
/** A question whose answer docs/serving.md states: "the server listens on port 8080". */
const QUESTION = 'What is the default port of the server?';

const haveModel = existsSync(join(MODEL, 'config.json'));
if (!haveModel && process.env.CI)
  throw new Error(
    `${MODEL}/config.json is missing: the default model must be committed (npm run recipe trains it) for the npm start test`,
  );
const skipStart = haveModel
  ? false
  : `${MODEL} has no config.json yet (npm run recipe trains the default model): npm start test skipped`;

const skipBrowser = chromiumSkip();

/** Lowercase, whitespace runs collapsed to one space, punctuation and symbols stripped at the ends. */
export function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, '');
}

test('normalise: lowercase, one space, no punctuation at the ends', () => {
  assert.equal(normalise('  "The server\n listens on  port 8080."\n'), 'the server listens on port 8080');
  assert.equal(normalise('Port 8080, by default.'), 'port 8080, by default');
  assert.equal(normalise(' ?! '), '');
});

/** Resolves with the server's origin from the URL serve prints on stderr; rejects if the child exits first. */
function serverUrl(child: ChildProcess, log: () => string, timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    let buffered = '';
    const finish = (err: Error | null, url = ''): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) fail(err);
      else done(url);
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^xfmr serve:.*?(https?:\/\/[^\s/]+)/.exec(line);
        if (m) {
          finish(null, new URL(m[1]).origin);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`xfmr start exited (${signal ?? code}) before serving:\n${log()}`));
    const timer = setTimeout(
      () => finish(new Error(`xfmr start printed no server URL in ${timeoutMs / 1000} s:\n${log()}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

describe('npm start: the playground answers from the shipped documents', { skip: skipStart }, () => {
  let dir = '';
  let shots = '';
  let child: ChildProcess | undefined;
  let output = '';
  let url = '';
  let startMs = Number.NaN;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  /** What the RAG view showed, for the answer-from-the-sources check. */
  let shown: { answer: string; sources: { path: string; text: string }[] } | undefined;

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'xfmr-start-'));
      shots = process.env.XFMR_SCREENSHOTS || join(dir, 'screenshots');
      mkdirSync(shots, { recursive: true });
      const args = [join(ROOT, 'bin', 'xfmr.js'), 'start', '--port', '0', '--db', join(dir, 'docs.sqlite')];
      if (DRY_RUN) args.push('--model', MODEL);
      const t0 = performance.now();
      child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (b: Buffer) => {
        output += b.toString('utf8');
      });
      child.stderr?.on('data', (b: Buffer) => {
        output += b.toString('utf8');
      });
      url = await serverUrl(child, () => output, START_LIMIT_MS + 5_000);
      // serve prints its URL once it listens: the first GET / should answer, but allow a retry
      for (;;) {
        try {
          const res = await fetch(`${url}/`);
          if (res.ok) {
            await res.text();
            break;
          }
        } catch {}
        if (performance.now() - t0 > START_LIMIT_MS + 5_000)
          throw new Error(`${url}/ did not answer:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      startMs = performance.now() - t0;

      if (skipBrowser === false) {
        const { chromium } = await import('playwright-core');
        browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
        page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        page.on('pageerror', (e) => pageErrors.push(e.message));
        page.on('console', (msg) => {
          if (msg.type() === 'error') pageErrors.push(msg.text());
        });
        page.setDefaultTimeout(10_000);
      }
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      await browser?.close();
      try {
        if (child) {
          const exited =
            child.exitCode !== null || child.signalCode !== null
              ? Promise.resolve()
              : new Promise<void>((r) => child?.once('exit', () => r()));
          child.kill('SIGTERM');
          const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
          if ((await Promise.race([exited, timer])) === 'timeout') {
            child.kill('SIGKILL');
            assert.fail(`xfmr start did not exit within 10 s of SIGTERM:\n${output}`);
          }
          assert.equal(child.signalCode, null, `xfmr start was killed by ${child.signalCode}:\n${output}`);
          assert.equal(child.exitCode, 0, `xfmr start exited ${child.exitCode} on SIGTERM:\n${output}`);
          assert.match(output, /SIGTERM, shutting down/);
        }
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    },
    { timeout: 20_000 },
  );

  test('the playground answers GET / within a minute of the spawn', async (t) => {
    t.diagnostic(`${url}/ answered ${(startMs / 1000).toFixed(1)} s after the spawn`);
    assert.ok(startMs < START_LIMIT_MS, `the playground answered after ${(startMs / 1000).toFixed(1)} s`);
    assert.match(output, /xfmr start: indexing .*docs/);
    const res = await fetch(`${url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<title>xfmr playground<\/title>/);
  });

  test('a question about the shipped documents gets an answer with its sources', {
    skip: skipBrowser,
  }, async (t) => {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    assert.doesNotMatch((await page.textContent('#model-summary')) ?? '', /Loading/);
    await page.click('#tab-rag');
    assert.equal(await page.isVisible('#panel-rag'), true);
    await page.fill('#rag-question', QUESTION);
    await page.click('#rag-ask');
    await page.waitForFunction(
      () => {
        const s = document.getElementById('rag-status');
        return s?.classList.contains('error') || /sources\.$/.test(s?.textContent ?? '');
      },
      null,
      { timeout: 20_000 },
    );
    const status = (await page.textContent('#rag-status')) ?? '';
    assert.match(status, /^\d+ sources\.$/, `the RAG view failed: ${status}`);
    const answer = (await page.textContent('#rag-answer')) ?? '';
    const sources = await page.locator('#rag-sources li').evaluateAll((lis) =>
      lis.map((li) => ({
        source: li.querySelector('.source')?.textContent ?? '',
        text: li.querySelector('.text')?.textContent ?? '',
      })),
    );
    shown = {
      answer,
      sources: sources.map((s) => ({ path: s.source.replace(/^\[\d*\]\s*/, ''), text: s.text })),
    };
    t.diagnostic(
      `answer: ${JSON.stringify(answer)}; sources: ${shown.sources.map((s) => s.path).join(', ')}`,
    );
    assert.ok(answer.trim().length > 0, 'the answer is not empty');
    assert.ok(sources.length >= 1, 'at least one source is shown');
    const fromDocs = shown.sources.filter((s) => resolve(ROOT, s.path).startsWith(DOCS + sep));
    assert.ok(fromDocs.length >= 1, `a source under ${DOCS}: ${shown.sources.map((s) => s.path).join(', ')}`);
    assert.ok(
      fromDocs.some((s) => /\b8080\b/.test(s.text)),
      'the retrieved chunks include the one that states the default port',
    );
    const path = join(shots, 'start-rag.png');
    await page.screenshot({ path, fullPage: true });
    assertNotBlank(decodePng(readFileSync(path)), 'start-rag');
    assert.deepEqual(pageErrors, [], 'no errors in the page');
  });

  test('the answer is drawn from the shown sources', {
    skip:
      skipBrowser ||
      (CHECK_GROUNDED
        ? false
        : `XFMR_START_MODEL=${DRY_RUN}: a dry run (XFMR_START_GROUNDED=1 checks it); this needs the trained model`),
  }, () => {
    assert.ok(shown, 'the RAG view showed an answer (previous test)');
    const answer = normalise(shown.answer);
    assert.match(answer, /[\p{L}\p{N}]/u, `the answer has words: ${JSON.stringify(shown.answer)}`);
    assert.ok(
      shown.sources.some((s) => normalise(s.text).includes(answer)),
      `the answer ${JSON.stringify(shown.answer)} is a span of a shown source:\n` +
        shown.sources.map((s) => `${s.path}: ${JSON.stringify(s.text)}`).join('\n'),
    );
  });

  test('the shipped model answers it right: 8080', {
    skip: skipBrowser || (DRY_RUN ? `XFMR_START_MODEL=${DRY_RUN}: a dry run with another model` : false),
  }, () => {
    assert.ok(shown, 'the RAG view showed an answer (previous test)');
    assert.equal(normalise(shown.answer), '8080');
  });
});
