/**
 * The HTTP API's request schemas and handlers: valid requests to each POST route (chat
 * completions, completions, embeddings, RAG ask, the playground's attention view), damaged by JSON
 * edits (json_mutate.ts) or replaced by raw bodies, sent through the Hono app in process (no socket)
 * with a fake model (pseudo-random logits, context 64) and a ChatML template. Streams are read to
 * the end.
 * Clean: the status is 200 or a client error (400, 404, 413) or 429/503, and every error answers
 * OpenAI's error JSON (`{"error": {"message": "..."}}`). A 500, a thrown exception or any other
 * body is a crash.
 */
import fc from 'fast-check';
import { createApp, type ServeApp } from '../../src/serve/app.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson } from '../../test/cli/helpers.ts';
import { FakeLM, hashLogits } from '../../test/generate/fake_lm.ts';
import type { FuzzTarget } from '../target.ts';
import { applyJsonEdits, type Json, type JsonEdit, jsonEdits } from './json_mutate.ts';

const CHATML =
  '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

const ROUTES: [string, Json][] = [
  [
    '/v1/chat/completions',
    {
      model: 'tiny',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
      stream: false,
      n: 1,
      stop: ['x'],
      logprobs: true,
      top_logprobs: 2,
    },
  ],
  [
    '/v1/chat/completions',
    {
      model: 'tiny',
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: [{ type: 'text', text: 'a' }] },
      ],
      max_tokens: 4,
      stream: true,
      temperature: 0.5,
      seed: 3,
    },
  ],
  ['/v1/completions', { model: 'tiny', prompt: 'hello', max_tokens: 3, echo: true, logprobs: 1, top_p: 0.9 }],
  ['/v1/completions', { model: 'tiny', prompt: [[1, 2, 3], [4]], max_tokens: 2, stream: true, n: 2 }],
  ['/v1/embeddings', { model: 'hash', input: ['a b', 'c'], encoding_format: 'base64' }],
  ['/v1/embeddings', { model: 'hash', input: [[1, 2], [3]], dimensions: 8 }],
  ['/v1/rag/ask', { question: 'what?', k: 3, mode: 'hybrid', max_tokens: 4 }],
  ['/api/attention', { text: 'hi there', layer: 0, head: 0 }],
];

const OK_STATUS = new Set([200, 400, 404, 413, 429, 503]);

interface HttpInput {
  route: number;
  edits: JsonEdit[];
  raw: string | null;
}

let served: ServeApp | null = null;

export const httpTarget: FuzzTarget<HttpInput> = {
  name: 'http',
  what: 'POST bodies -> the Hono app (chat, completions, embeddings, rag ask, attention)',
  hangMs: 2000,
  arbitrary: fc.record({
    route: fc.nat(),
    edits: jsonEdits(3),
    raw: fc.option(
      fc.oneof(
        fc.string(),
        fc.constantFrom('', '{', 'null', '[]', '{"model": "tiny"}', '{"messages": null}', '[1e999]'),
      ),
      {
        freq: 8,
      },
    ),
  }),
  setup() {
    const tokenizer = loadTokenizerJson(byteLevelTokenizerJson(40, false));
    const model = new FakeLM(tokenizer.vocabSize, 64, hashLogits(tokenizer.vocabSize));
    served = createApp(
      { id: 'tiny', model, tokenizer, eos: [], chatTemplate: { template: CHATML } },
      { maxBodyBytes: 64 * 1024 },
    );
  },
  async teardown() {
    await served?.close();
    served = null;
  },
  async run(input) {
    const [path, base] = ROUTES[input.route % ROUTES.length]!;
    const body = input.raw ?? JSON.stringify(applyJsonEdits(base, input.edits));
    const res = await served!.app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (!OK_STATUS.has(res.status)) throw new Error(`${path} answered ${res.status}: ${text.slice(0, 300)}`);
    if (res.status !== 200) {
      const j = JSON.parse(text) as { error?: { message?: unknown } };
      if (typeof j.error?.message !== 'string')
        throw new Error(`${path} ${res.status} without OpenAI error JSON: ${text.slice(0, 200)}`);
      return;
    }
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      if (path.startsWith('/v1/') && !text.trimEnd().endsWith('data: [DONE]'))
        throw new Error(`${path}: the stream did not end with [DONE]: ${text.slice(-200)}`);
    } else JSON.parse(text);
  },
  clean: (e) => `${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`,
};
