/**
 * POST /v1/completions: prompt is a string, up to 16 strings, one token-id array or up to 16 of
 * them; logprobs: K gives the legacy format (tokens, token_logprobs, top_logprobs, text_offset).
 * echo is refused (400). With stream: true, pieces arrive as text_completion chunks; each
 * choice ends with a chunk carrying its finish_reason, the last one also carrying usage.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { bad, parse, readJson } from '../errors.ts';
import {
  allDone,
  finishReason,
  type GenerationRouteDeps,
  generateChoices,
  MAX_PROMPTS,
  MAX_TOP_LOGPROBS,
  prepare,
  samplingFields,
  usage,
} from '../generation.ts';
import type { TokenInfo } from '../logprobs.ts';
import { sse } from '../sse.ts';

const completionSchema = z.object({
  ...samplingFields,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_PROMPTS),
    z.array(z.number().int().min(0)).min(1),
    z
      .array(z.array(z.number().int().min(0)).min(1))
      .min(1)
      .max(MAX_PROMPTS),
  ]),
  logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
});

export function registerCompletions(app: Hono, d: GenerationRouteDeps): void {
  const { m, tokenText } = d;
  app.post('/v1/completions', async (c) => {
    const r = parse(completionSchema, await readJson(c.req.raw));
    if (r.echo) throw bad('echo is not supported', 'echo', 'unsupported_value');
    const pr = r.prompt;
    let prompts: number[][];
    if (typeof pr === 'string') prompts = [m.tokenizer.encode(pr)];
    else if (pr.every((x) => typeof x === 'number')) prompts = [pr as number[]];
    else if (pr.every((x) => typeof x === 'string'))
      prompts = (pr as string[]).map((s) => m.tokenizer.encode(s));
    else prompts = pr as number[][];
    const p = prepare(m, r, prompts, r.logprobs ?? null);
    const id = d.newId('cmpl');
    const now = Math.floor(Date.now() / 1000);
    const head = { id, object: 'text_completion', created: now, model: r.model };
    const legacy = (tokens: TokenInfo[], offset: number) =>
      p.wantLogprobs ? tokenText.legacy(tokens, offset) : null;
    if (r.stream) {
      return sse(c.req.raw.signal, async (send, signal) => {
        await generateChoices(d, p, signal, (piece, ch, t, choices) => {
          if (piece.text !== '' || t)
            send({
              ...head,
              choices: [
                {
                  index: ch.index,
                  text: piece.text,
                  logprobs: legacy(t ? [t] : [], ch.offset),
                  finish_reason: null,
                },
              ],
            });
          if (piece.finishReason && piece.finishReason !== 'abort') {
            const last = allDone(choices);
            send({
              ...head,
              choices: [
                { index: ch.index, text: '', logprobs: null, finish_reason: finishReason(ch.finish) },
              ],
              ...(last ? { usage: usage(p, choices) } : {}),
            });
          }
        });
      });
    }
    const choices = await generateChoices(d, p, c.req.raw.signal);
    return c.json({
      ...head,
      choices: choices.map((ch, i) => ({
        index: ch.index,
        text: ch.text,
        logprobs: legacy(ch.logprobs, p.promptChars[i]),
        finish_reason: finishReason(ch.finish),
      })),
      usage: usage(p, choices),
    });
  });
}
