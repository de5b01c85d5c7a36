/**
 * Several LoRA adapters on one served base (serve --lora NAME=DIR, models/lora_set.ts and the
 * scheduler's per-adapter model calls): each request's `model` picks the adapter. The reference is
 * what `xfmr generate --lora DIR` runs: a fresh base with loadLoraAdapter(DIR), generate() greedily.
 * The three requests are in flight together (a slowed model keeps them in the same steps), so a
 * slot fed with another request's adapter would change its tokens. /v1/rag/ask honours `model`
 * too: free and grounded answers equal those of a server whose model is base + that adapter.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generate } from '../../src/generate/generate.ts';
import type { DecoderLM } from '../../src/models/decoder.ts';
import { loadLoraAdapter, saveLoraAdapter } from '../../src/models/load_lora.ts';
import { applyLora, parseLoraSpec } from '../../src/models/lora.ts';
import { LoraSet } from '../../src/models/lora_set.ts';
import { startServer } from '../../src/serve/server.ts';
import { clientOf, hashRagIndex, RAG_DOCS, SlowLM, tinyServeModel } from './helpers.ts';

const SEED = 11;
const dir = mkdtempSync(join(tmpdir(), 'xfmr-serve-lora-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A PEFT adapter for tinyServeModel's base with B drawn from `salt` (a zero B would change nothing). */
function writeAdapter(name: string, spec: string, salt: number): string {
  const model = tinyServeModel('tiny', SEED).model as DecoderLM;
  const adapters = applyLora(model, parseLoraSpec(spec), salt);
  for (const { adapter } of adapters.entries.values())
    for (let i = 0; i < adapter.b.size; i++) adapter.b.data[i] = 0.5 * Math.sin(salt * 7.1 + i);
  const out = join(dir, name);
  saveLoraAdapter(out, adapters, 'tiny');
  return out;
}

const ALPHA = writeAdapter('alpha', 'r=4,alpha=8,dropout=0,targets=q,v', 1);
const BETA = writeAdapter('beta', 'r=2,alpha=4,dropout=0,targets=o,down', 2);
const PROMPT = [72, 101, 108, 108, 111, 32, 119]; // "Hello w" in the byte-level vocabulary
const MAX = 12;

/** What generate --lora DIR gives (null: the base alone): greedy ids of MAX new tokens. */
async function reference(adapterDir: string | null): Promise<string> {
  const m = tinyServeModel('tiny', SEED);
  if (adapterDir) loadLoraAdapter(adapterDir, m.model as DecoderLM);
  const [r] = await generate(m.model, [PROMPT], {
    maxNewTokens: MAX,
    temperature: 0,
    eos: [],
    decode: (ids) => m.tokenizer.decode(ids),
  });
  return r.text;
}

test('serve --lora: each request runs with the adapter its model names, beside the others', async () => {
  const m = tinyServeModel('tiny', SEED);
  const base = m.model as DecoderLM;
  const loras = new LoraSet(base);
  loras.load('alpha', ALPHA);
  loras.load('beta', BETA);
  const slow = new SlowLM(base, 15);
  const server = await startServer({ ...m, model: slow, adapters: loras }, { port: 0 });
  try {
    const client = clientOf(server);
    const ask = (model: string) =>
      client.completions.create({ model, prompt: PROMPT, max_tokens: MAX, temperature: 0 });
    const [b, a, c] = await Promise.all([ask('tiny'), ask('alpha'), ask('beta')]);
    // in flight together: one step fed all three (in one call per adapter)
    assert.equal(server.stats.peakActive, 3);
    assert.ok(
      slow.calls.some((feed) => feed.filter((n) => n > 0).length === 1),
      'mixed steps are split per adapter',
    );
    const [refBase, refAlpha, refBeta] = await Promise.all([
      reference(null),
      reference(ALPHA),
      reference(BETA),
    ]);
    assert.equal(b.choices[0].text, refBase);
    assert.equal(a.choices[0].text, refAlpha);
    assert.equal(c.choices[0].text, refBeta);
    assert.equal(a.model, 'alpha');
    // the adapters change the output (else the equalities above would not tell them apart)
    assert.equal(new Set([refBase, refAlpha, refBeta]).size, 3, `${refBase} | ${refAlpha} | ${refBeta}`);
    // after the requests the model is the base again
    assert.equal(loras.active, null);

    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((x) => x.id),
      ['tiny', 'alpha', 'beta', server.embedderId],
    );
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gamma', prompt: PROMPT, max_tokens: 2 }),
    });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { code: string; param: string; message: string } };
    assert.equal(body.error.code, 'model_not_found');
    assert.equal(body.error.param, 'model');
    assert.match(body.error.message, /gamma/);
  } finally {
    await server.close();
  }
});

test('LoraSet: one adapter at a time; unknown and duplicate names are errors', () => {
  const model = tinyServeModel('tiny', SEED).model as DecoderLM;
  const loras = new LoraSet(model);
  loras.load('alpha', ALPHA);
  loras.load('beta', BETA);
  assert.deepEqual(loras.names, ['alpha', 'beta']);
  const wq = model.layers[0].attention.wq;
  const wo = model.layers[0].attention.wo;
  assert.equal(wq.lora, null);
  loras.use('alpha');
  assert.ok(wq.lora && !wo.lora);
  loras.use('beta');
  assert.ok(!wq.lora && wo.lora);
  loras.use(null);
  assert.ok(!wq.lora && !wo.lora);
  assert.throws(() => loras.use('gamma'), /no adapter named "gamma"/);
  assert.throws(() => loras.load('alpha', BETA), /two adapters named "alpha"/);
});

interface RagAnswer {
  model: string;
  answer: string;
  prompt: string;
  quote: unknown;
}

test("rag/ask: the request's model picks the adapter, free and grounded; an unknown one is a 404", async () => {
  const db = await hashRagIndex(mkdtempSync(join(dir, 'rag-')), RAG_DOCS);
  const base = tinyServeModel('tiny', SEED);
  const loras = new LoraSet(base.model as DecoderLM);
  loras.load('alpha', ALPHA);
  loras.load('beta', BETA);
  const server = await startServer({ ...base, adapters: loras }, { port: 0, ragDb: db });
  // the reference: base + alpha served as a plain model
  const merged = tinyServeModel('tiny', SEED);
  loadLoraAdapter(ALPHA, merged.model as DecoderLM);
  const ref = await startServer(merged, { port: 0, ragDb: db });
  try {
    const ask = (s: typeof server, body: Record<string, unknown>) =>
      clientOf(s).post<RagAnswer>('/rag/ask', {
        body: { question: 'what does a cat do all day?', k: 2, max_tokens: 6, ...body },
      });
    for (const grounded of [false, true]) {
      const [a, b, want] = await Promise.all([
        ask(server, { model: 'alpha', grounded }),
        ask(server, { grounded }),
        ask(ref, { grounded }),
      ]);
      assert.equal(a.model, 'alpha');
      assert.equal(b.model, 'tiny');
      assert.deepEqual([a.answer, a.quote], [want.answer, want.quote], `grounded ${grounded}`);
      assert.equal(a.prompt, b.prompt);
      if (!grounded) assert.notEqual(a.answer, b.answer, 'the adapter changes the answer');
    }
    assert.equal(loras.active, null);
    const res = await fetch(`${server.url}/v1/rag/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gamma', question: 'what does a cat do?' }),
    });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { code: string; param: string; message: string } };
    assert.deepEqual([body.error.code, body.error.param], ['model_not_found', 'model']);
    assert.match(body.error.message, /gamma/);
  } finally {
    await Promise.all([server.close(), ref.close()]);
  }
});
