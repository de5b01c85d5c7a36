/**
 * POST /v1/chat/completions: messages rendered by the model's chat template (else as
 * "role: content" lines ending in "assistant:"); text typed in a message is always encoded as text,
 * "<|im_end|>" included, never as a special token (tokenizers/chat_encode.ts); logprobs: true with top_logprobs: K gives the
 * chat format. With stream: true, each choice opens with a role delta, then content deltas, then a
 * chunk carrying its finish_reason (the last one also carrying usage).
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { encodeChat } from '../../tokenizers/chat_encode.ts';
import type { ChatMessage } from '../../tokenizers/chat_template.ts';
import type { ServeModel } from '../app.ts';
import { bad, parse, readJson } from '../errors.ts';
import {
  allDone,
  finishReason,
  type GenerationRouteDeps,
  generateChoices,
  MAX_TOP_LOGPROBS,
  prepare,
  resolveModel,
  samplingFields,
  usage,
} from '../generation.ts';
import type { TokenInfo } from '../logprobs.ts';
import { sse } from '../sse.ts';

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const chatSchema = z.object({
  ...samplingFields,
  messages: z
    .array(
      z
        .object({
          role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
          content: z.union([z.string(), z.array(contentPart)]).nullish(),
          name: z.string().optional(),
        })
        .passthrough(),
    )
    .min(1),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
});

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
}

/**
 * The prompt ids of a chat: the model's template (its special tokens as control tokens, the
 * messages' text always as text: chat_encode.ts), else "role: content" lines encoded as text.
 */
function promptIds(m: ServeModel, messages: ChatMessage[]): number[] {
  const t = m.chatTemplate;
  if (t) {
    try {
      return encodeChat(m.tokenizer, t.template, messages, {
        addGenerationPrompt: true,
        bosToken: t.bosToken,
        eosToken: t.eosToken,
      });
    } catch (e) {
      throw bad(`chat template: ${(e as Error).message}`, 'messages', null);
    }
  }
  return m.tokenizer.encode(
    `${messages.map((msg) => `${msg.role}: ${textOf(msg.content)}`).join('\n')}\nassistant:`,
  );
}

export function registerChat(app: Hono, d: GenerationRouteDeps): void {
  const { m, tokenText } = d;
  app.post('/v1/chat/completions', async (c) => {
    const r = parse(chatSchema, await readJson(c.req.raw));
    resolveModel(m, r.model);
    if (r.top_logprobs != null && !r.logprobs)
      throw bad('top_logprobs needs logprobs: true', 'top_logprobs', 'invalid_value');
    const messages = r.messages as ChatMessage[];
    const p = prepare(m, r, [promptIds(m, messages)], r.logprobs ? (r.top_logprobs ?? 0) : null);
    const id = d.newId('chatcmpl');
    const now = Math.floor(Date.now() / 1000);
    const head = { id, object: 'chat.completion.chunk', created: now, model: r.model };
    const logprobsOf = (tokens: TokenInfo[]) =>
      p.wantLogprobs ? { content: tokens.map((t) => tokenText.chat(t)), refusal: null } : null;
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        for (const s of p.specs)
          send({
            ...head,
            choices: [
              {
                index: s.index,
                delta: { role: 'assistant', content: '' },
                logprobs: null,
                finish_reason: null,
              },
            ],
          });
        await generateChoices(d, p, signal, (piece, ch, t, choices) => {
          if (piece.text !== '' || t)
            send({
              ...head,
              choices: [
                {
                  index: ch.index,
                  delta: { content: piece.text },
                  logprobs: logprobsOf(t ? [t] : []),
                  finish_reason: null,
                },
              ],
            });
          if (piece.finishReason && piece.finishReason !== 'abort') {
            const last = allDone(choices);
            send({
              ...head,
              choices: [
                { index: ch.index, delta: {}, logprobs: null, finish_reason: finishReason(ch.finish) },
              ],
              ...(last ? { usage: usage(p, choices) } : {}),
            });
          }
        });
      });
    }
    const choices = await generateChoices(d, p, c.req.raw.signal);
    return c.json({
      id,
      object: 'chat.completion',
      created: now,
      model: r.model,
      choices: choices.map((ch) => ({
        index: ch.index,
        message: { role: 'assistant', content: ch.text },
        logprobs: logprobsOf(ch.logprobs),
        finish_reason: finishReason(ch.finish),
      })),
      usage: usage(p, choices),
    });
  });
}
