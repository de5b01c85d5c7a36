/**
 * The playground against a server that needs an API key, in headless Chromium, with a model forced
 * to answer an HTML payload: the page asks for the key once (a prompt), keeps it for the tab and
 * sends it; the answer `<img src=x onerror=alert(1)>` shows as text in the chat and the token view,
 * with no element made from it and no script run (no alert). Declining the prompt leaves the page
 * showing the server's 401 message, asked once.
 *
 * Without /usr/bin/chromium the browser tests are skipped, except in CI (browser_helpers.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Dialog, Page } from 'playwright-core';
import type { CausalLM, KVCache } from '../../src/models/causal_lm.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import type { ServeModel } from '../../src/serve/app.ts';
import { type RunningServer, startServer } from '../../src/serve/server.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson, TINY_LLAMA } from '../cli/helpers.ts';
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkip } from './browser_helpers.ts';
import { WrappedLM } from './helpers.ts';

const KEY = 'sk-browser-test-42';
const PAYLOAD = '<img src=x onerror=alert(1)>';

/** A model whose every next token is `forced` (the decoder beneath keeps the cache as usual). */
class ForcedLM extends WrappedLM {
  constructor(
    inner: CausalLM,
    private readonly forced: number,
  ) {
    super(inner);
  }
  override extend(tokens: readonly Int32Array[], cache: KVCache): (Float32Array | null)[] {
    return this.inner.extend(tokens, cache).map((logits) => {
      if (logits === null) return null;
      const out = new Float32Array(logits.length); // every other token at e^-100 of the forced one
      out[this.forced] = 100;
      return out;
    });
  }
}

/** The byte-level test tokenizer with PAYLOAD as one added (not special) token, and a model forced to say it. */
function payloadModel(): ServeModel {
  const json = byteLevelTokenizerJson(40, false) as { model: { vocab: Record<string, number> } };
  const payloadId = Math.max(...Object.values(json.model.vocab)) + 1;
  const added = {
    id: payloadId,
    content: PAYLOAD,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: false,
  };
  const tokenizer = loadTokenizerJson({ ...json, added_tokens: [added] });
  assert.equal(tokenizer.decode([payloadId]), PAYLOAD);
  const { arch: _, ...dims } = TINY_LLAMA;
  const inner = new DecoderLM(llamaConfig({ ...dims, vocabSize: tokenizer.vocabSize }), 5);
  return { id: 'tiny', model: new ForcedLM(inner, payloadId), tokenizer, eos: [] };
}

describe('the playground with an API key and a model that answers HTML', { skip: chromiumSkip() }, () => {
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    server = await startServer(payloadModel(), { port: 0, apiKey: KEY });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh page (own sessionStorage) answering prompts with `key` (null: cancel); records dialogs. */
  async function open(key: string | null): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d: Dialog) => {
      dialogs.push(d.type());
      if (d.type() === 'prompt' && key !== null) void d.accept(key);
      else void d.dismiss();
    });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    return { page, dialogs, errors };
  }

  test('asks for the key once, sends it, and shows the HTML answer as text without running it', async () => {
    const { page, dialogs, errors } = await open(KEY);
    assert.match((await page.textContent('#model-summary')) ?? '', /^tiny · context 128, vocabulary 297$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('xfmr-api-key')), KEY);
    await page.fill('#max-tokens', '3');
    await page.fill('#chat-input', 'Say something.');
    await page.press('#chat-input', 'Enter');
    await page.waitForSelector('.msg.assistant[aria-busy="false"]');
    assert.equal(await page.textContent('.msg.assistant .content'), PAYLOAD.repeat(3));
    assert.match((await page.textContent('#chat-status')) ?? '', /3 tokens/);
    await page.click('#tab-tokens');
    await page.waitForSelector('#token-chips .chip');
    // each chip shows the token with its spaces made visible (lib.js showToken)
    const chips = await page.locator('#token-chips .chip').allTextContents();
    assert.deepEqual(chips, Array(3).fill(PAYLOAD.replace(/ /g, '\u2423')));
    // nothing was parsed out of the answer, and no script ran
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(dialogs, ['prompt']);
    assert.deepEqual(errors, []);
  });

  test("declining the prompt shows the server's 401 message, and the page does not ask again", async () => {
    const { page, dialogs } = await open(null);
    assert.match(
      (await page.textContent('#model-summary')) ?? '',
      /Incorrect API key|didn't provide an API key/,
    );
    await page.fill('#chat-input', 'hello');
    await page.press('#chat-input', 'Enter');
    await page.waitForFunction(() =>
      /API key/.test(document.getElementById('chat-status')?.textContent ?? ''),
    );
    assert.deepEqual(dialogs, ['prompt']);
  });
});
