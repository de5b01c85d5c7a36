/** `xfmr serve`: the OpenAI-compatible API driven by the official `openai` client. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { loadServeModel, type RunningServer, startServer } from '../../src/serve/server.ts';
import { byteLevelTokenizerJson, ROOT, TINY_LLAMA, tempDir, writeJson, xfmr } from '../cli/helpers.ts';

const dir = tempDir('xfmr-serve-');
const modelDir = join(dir, 'tiny');
let server: RunningServer;
let client: OpenAI;

before(async () => {
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  // no EOS: generation runs to max_tokens
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, false));
  const r = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', modelDir, '--seed', '11']);
  assert.equal(r.code, 0, r.stderr);
  server = await startServer(await loadServeModel(modelDir), { host: '127.0.0.1', port: 0, maxQueue: 0 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
});

after(async () => {
  await server?.close();
});

test('GET /v1/models lists the model', async () => {
  const list = await client.models.list();
  assert.deepEqual(
    list.data.map((m) => m.id),
    ['tiny', server.embedderId],
  );
  assert.equal((await client.models.retrieve('tiny')).id, 'tiny');
});

test('completions: text, usage and max_tokens', async () => {
  const r = await client.completions.create({
    model: 'tiny',
    prompt: 'the cat',
    max_tokens: 5,
    temperature: 0,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage?.completion_tokens, 5);
  assert.ok((r.usage?.prompt_tokens ?? 0) > 0);
  assert.equal(r.usage?.total_tokens, (r.usage?.prompt_tokens ?? 0) + 5);
  const again = await client.completions.create({
    model: 'tiny',
    prompt: 'the cat',
    max_tokens: 5,
    temperature: 0,
  });
  assert.equal(again.choices[0].text, r.choices[0].text, 'greedy is deterministic');
});

test('chat: max_completion_tokens and max_tokens both bound completion_tokens', async () => {
  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const a = await client.chat.completions.create({
    model: 'tiny',
    messages,
    max_completion_tokens: 3,
    seed: 1,
  });
  assert.equal(a.object, 'chat.completion');
  assert.equal(a.choices[0].message.role, 'assistant');
  assert.equal(a.usage?.completion_tokens, 3);
  const b = await client.chat.completions.create({
    model: 'tiny',
    messages,
    max_tokens: 2,
    max_completion_tokens: 6,
  });
  assert.equal(b.usage?.completion_tokens, 2);
  const c = await client.chat.completions.create({
    model: 'tiny',
    messages,
    max_tokens: 4,
    temperature: 0.8,
    top_p: 0.9,
    // @ts-expect-error top_k is an extension
    top_k: 20,
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: 0.5,
  });
  assert.ok((c.usage?.completion_tokens ?? 99) <= 4);
});

test('streaming chat concatenates to the greedy answer and ends with finish_reason then [DONE]', async () => {
  const body = {
    model: 'tiny',
    messages: [
      { role: 'system' as const, content: 'be brief' },
      { role: 'user' as const, content: 'what is the weather' },
    ],
    max_tokens: 12,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true });
  let text = '';
  const finishes: (string | null)[] = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    text += chunk.choices[0]?.delta.content ?? '';
    finishes.push(chunk.choices[0]?.finish_reason ?? null);
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finishes.at(-1), 'length');
  assert.ok(finishes.slice(0, -1).every((f) => f === null));
  // raw check of the wire format's ending
  const raw = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, max_tokens: 2 }),
  });
  assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = (await raw.text()).trim().split('\n\n');
  assert.equal(events.at(-1), 'data: [DONE]');
  const last = JSON.parse((events.at(-2) as string).slice('data: '.length));
  assert.equal(last.choices[0].finish_reason, 'length');
  assert.equal(last.usage.completion_tokens, 2);
});

test('errors: bad params are BadRequestError (400) naming the param, an unknown model NotFoundError (404)', async () => {
  const messages = [{ role: 'user' as const, content: 'hi' }];
  for (const [bad, param] of [
    [{ temperature: -1 }, 'temperature'],
    [{ max_tokens: -1 }, 'max_tokens'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ max_completion_tokens: 0 }, 'max_completion_tokens'],
    [{ top_p: 2 }, 'top_p'],
    [{ n: 0 }, 'n'],
    [{ max_tokens: 100000 }, 'max_tokens'],
    [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ temperature: 'hot' }, 'temperature'],
    [{ seed: 1.5 }, 'seed'],
    [{ stop: 7 }, 'stop'],
  ] as const) {
    await assert.rejects(
      // @ts-expect-error some of these are deliberately of the wrong type
      client.chat.completions.create({ model: 'tiny', messages, ...bad }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(bad)}: ${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.type, 'invalid_request_error');
        assert.equal(e.param, param, JSON.stringify(bad));
        return true;
      },
    );
  }
  for (const bad of [{ messages: 'hi' }, { messages: [] }, { messages: [{ role: 'robot', content: 'x' }] }]) {
    await assert.rejects(
      // @ts-expect-error deliberately malformed messages
      client.chat.completions.create({ model: 'tiny', ...bad }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param?.startsWith('messages') === true,
    );
  }
  await assert.rejects(
    // @ts-expect-error a prompt of the wrong type
    client.completions.create({ model: 'tiny', prompt: { text: 'x' } }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'prompt',
  );
  await assert.rejects(
    client.completions.create({ model: 'tiny', prompt: [1, 2, 100000] }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'prompt',
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages }),
    (e: unknown) => e instanceof OpenAI.NotFoundError,
  );
  await assert.rejects(client.models.retrieve('nope'), (e: unknown) => e instanceof OpenAI.NotFoundError);
});

test('huge prompts: a prompt longer than the context is 413, a 5 MB body is 413', async () => {
  for (const prompt of ['word '.repeat(200), Array.from({ length: 128 }, () => 65)]) {
    await assert.rejects(client.completions.create({ model: 'tiny', prompt }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError && e.status === 413, String(e));
      assert.equal(e.code, 'context_length_exceeded');
      return true;
    });
  }
  await assert.rejects(
    client.completions.create({ model: 'tiny', prompt: 'x'.repeat(5 * 1024 * 1024) }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError && e.status === 413, String(e));
      assert.equal(e.type, 'invalid_request_error');
      return true;
    },
  );
  // the server is fine afterwards
  const r = await client.completions.create({ model: 'tiny', prompt: 'ok', max_tokens: 1 });
  assert.equal(r.usage?.completion_tokens, 1);
});

test('malformed JSON answers 400 with an error object', async () => {
  const r = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"model": "tiny", "messages": [',
  });
  assert.equal(r.status, 400);
  const j = (await r.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(j.error.type, 'invalid_request_error');
});

test('xfmr serve honours PORT and exits on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'xfmr.js'), 'serve', '--model', modelDir, '--batch', '2'],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', XFMR_DEBUG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /at (http:\/\/\S+)\/v1/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`exited early: ${err}`)));
  });
  const models = await new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }).models.list();
  assert.equal(models.data[0].id, 'tiny');
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.equal(code, 0, err);
});

test('xfmr serve: a missing or invalid --db is a startup error naming --db', async () => {
  const { writeFileSync } = await import('node:fs');
  const missing = await xfmr(['serve', '--model', modelDir, '--db', join(dir, 'nope.sqlite')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--db: .*nope\.sqlite: no such file/);
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not a database');
  const invalid = await xfmr(['serve', '--model', modelDir, '--db', text, '--port', '0']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /--db: .*notes\.txt/);
  const badBatch = await xfmr(['serve', '--model', modelDir, '--batch', '0']);
  assert.equal(badBatch.code, 2);
  assert.match(badBatch.stderr, /--batch/);
});

test("chat applies the model directory's chat template", async () => {
  const { cpSync, writeFileSync } = await import('node:fs');
  const templated = join(dir, 'templated');
  cpSync(modelDir, templated, { recursive: true });
  const template =
    '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}';
  writeFileSync(join(templated, 'tokenizer_config.json'), JSON.stringify({ chat_template: template }));
  const m = await loadServeModel(templated);
  assert.equal(m.chatTemplate?.template, template);
  const s = await startServer(m, { port: 0 });
  try {
    const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const r = await c.chat.completions.create({
      model: 'templated',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1,
    });
    assert.equal(r.usage?.prompt_tokens, m.tokenizer.encode('<user>hi<assistant>').length);
  } finally {
    await s.close();
  }
});
