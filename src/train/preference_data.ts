/**
 * Preference data ("A is better than B") and prompt sets, as TRL reads them, one JSON object a line:
 *
 *   {"prompt": "...", "chosen": "...", "rejected": "..."}                          standard
 *   {"prompt": [msgs...], "chosen": [assistant msg], "rejected": [assistant msg]} conversational
 *   {"chosen": [msgs...], "rejected": [msgs...]}    implicit prompt: all but the last message,
 *                                                    which must be the same in both
 *   prompt sets (PPO): {"prompt": "..."} or {"prompt": [msgs...]} or {"messages": [msgs...]}
 *
 * Rows become token ids: the prompt (rendered with the generation prompt when a chat template is
 * given) and each response, tokenised as separate segments, as SFT does (sft.ts), so the response
 * tokens are exactly those the model would generate after the prompt. Without a template the
 * response ends with EOS; with one, the template's own end-of-turn text ends it.
 */
import { renderChat } from '../tokenizers/chat_template.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import type { ChatMessage, RenderChat } from './sft.ts';

export interface PreferenceRow {
  /** The conversation so far (a plain prompt is one user message; `plain` remembers it). */
  prompt: ChatMessage[];
  chosen: ChatMessage;
  rejected: ChatMessage;
  /** True when the prompt was a plain string (rendered without roles when there is no template). */
  plain: boolean;
}

export interface PromptRow {
  prompt: ChatMessage[];
  plain: boolean;
}

export interface PreferenceExample {
  prompt: number[];
  chosen: number[];
  rejected: number[];
}

function parseLines(
  text: string,
  file: string,
  each: (o: Record<string, unknown>, where: string) => void,
): void {
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o))
      throw new Error(`${where}: expected a JSON object`);
    each(o as Record<string, unknown>, where);
  });
}

function messages(v: unknown, where: string, field: string): ChatMessage[] {
  if (!Array.isArray(v)) throw new Error(`${where}: "${field}" must be a string or a list of messages`);
  return v.map((m: unknown, j) => {
    const mm = m as Record<string, unknown>;
    if (typeof mm?.role !== 'string' || typeof mm?.content !== 'string')
      throw new Error(`${where}: ${field}[${j}] needs string "role" and "content"`);
    return { role: mm.role, content: mm.content };
  });
}

function reply(v: unknown, where: string, field: string): ChatMessage {
  if (typeof v === 'string') return { role: 'assistant', content: v };
  const m = messages(v, where, field);
  if (m.length !== 1 || m[0].role !== 'assistant')
    throw new Error(`${where}: "${field}" must be one assistant message after an explicit prompt`);
  return m[0];
}

/** Parses preference JSONL (the three forms above); errors name the line and the field. */
export function parsePreferenceJsonl(text: string, file = 'data'): PreferenceRow[] {
  const rows: PreferenceRow[] = [];
  parseLines(text, file, (o, where) => {
    if (o.chosen === undefined || o.rejected === undefined)
      throw new Error(`${where}: expected "chosen" and "rejected" (and usually "prompt")`);
    if (typeof o.prompt === 'string') {
      rows.push({
        prompt: [{ role: 'user', content: o.prompt }],
        chosen: reply(o.chosen, where, 'chosen'),
        rejected: reply(o.rejected, where, 'rejected'),
        plain: true,
      });
    } else if (o.prompt !== undefined) {
      rows.push({
        prompt: messages(o.prompt, where, 'prompt'),
        chosen: reply(o.chosen, where, 'chosen'),
        rejected: reply(o.rejected, where, 'rejected'),
        plain: false,
      });
    } else {
      const c = messages(o.chosen, where, 'chosen');
      const r = messages(o.rejected, where, 'rejected');
      const prefix = c.slice(0, -1);
      const same =
        c.length === r.length && prefix.every((m, j) => m.role === r[j].role && m.content === r[j].content);
      if (c.length < 2 || !same || c.at(-1)?.role !== 'assistant' || r.at(-1)?.role !== 'assistant')
        throw new Error(
          `${where}: without "prompt", chosen and rejected must be the same conversation up to a final assistant message`,
        );
      rows.push({ prompt: prefix, chosen: c[c.length - 1], rejected: r[r.length - 1], plain: false });
    }
  });
  return rows;
}

/** Parses a prompt set for PPO: {"prompt": "..."} / {"prompt": [msgs]} / {"messages": [msgs]}. */
export function parsePromptJsonl(text: string, file = 'prompts'): PromptRow[] {
  const rows: PromptRow[] = [];
  parseLines(text, file, (o, where) => {
    if (typeof o.prompt === 'string')
      rows.push({ prompt: [{ role: 'user', content: o.prompt }], plain: true });
    else if (o.prompt !== undefined) rows.push({ prompt: messages(o.prompt, where, 'prompt'), plain: false });
    else if (o.messages !== undefined)
      rows.push({ prompt: messages(o.messages, where, 'messages'), plain: false });
    else throw new Error(`${where}: expected "prompt" (a string or messages) or "messages"`);
  });
  return rows;
}

/** How prompts and responses become tokens; shared by preference and prompt rows. */
export interface Renderer {
  tok: Tokenizer;
  eosId: number | null;
  /** Prepended to prompts rendered without a template (templates write their own BOS). */
  bosId?: number | null;
  render?: RenderChat;
}

/** A renderer for a model directory's tokenizer and (optional) Jinja chat template. */
export function makeRenderer(
  tok: Tokenizer,
  o: { eosId: number | null; bosId?: number | null; chatTemplate?: string },
): Renderer {
  const template = o.chatTemplate;
  const render: RenderChat | undefined = template
    ? (messages, gen) => renderChat(template, messages, { addGenerationPrompt: gen })
    : undefined;
  return { tok, eosId: o.eosId, bosId: o.bosId ?? null, render };
}

/** The prompt's token ids: rendered with the generation prompt under a template; plain text otherwise. */
export function encodePrompt(row: PromptRow, r: Renderer): number[] {
  if (r.render) return r.tok.encode(r.render(row.prompt, true), { allowedSpecial: 'all' });
  const bos = r.bosId != null ? [r.bosId] : [];
  if (row.plain) return [...bos, ...r.tok.encode(row.prompt[0].content)];
  // No template: the "role: content" lines SFT uses (sft.ts), then the assistant's header.
  return [
    ...bos,
    ...r.tok.encode(`${row.prompt.map((m) => `${m.role}: ${m.content}\n`).join('')}assistant: `),
  ];
}

/** The token ids of one response after a prompt (with its end marker). */
export function encodeResponse(row: PromptRow, answer: ChatMessage, r: Renderer): number[] {
  if (r.render) {
    const prefix = r.render(row.prompt, true);
    const full = r.render([...row.prompt, answer], false);
    if (!full.startsWith(prefix))
      throw new Error('chat template: the prompt does not render as a prefix of the prompt with its answer');
    return r.tok.encode(full.slice(prefix.length), { allowedSpecial: 'all' });
  }
  const ids = r.tok.encode(row.plain ? answer.content : `${answer.content}\n`);
  if (r.eosId !== null) ids.push(r.eosId);
  return ids;
}

/** Token ids of a preference row. */
export function buildPreferenceExample(row: PreferenceRow, r: Renderer): PreferenceExample {
  return {
    prompt: encodePrompt(row, r),
    chosen: encodeResponse(row, row.chosen, r),
    rejected: encodeResponse(row, row.rejected, r),
  };
}

/** The rows of a preference batch: chosen responses first, then rejected, in the same order. */
export function preferenceRows(
  examples: readonly PreferenceExample[],
): { prompt: number[]; response: number[] }[] {
  return [
    ...examples.map((e) => ({ prompt: e.prompt, response: e.chosen })),
    ...examples.map((e) => ({ prompt: e.prompt, response: e.rejected })),
  ];
}
