/**
 * A chat's token ids under its template, with the template's special tokens as control tokens and
 * the messages' text always as text: a user who types "<|im_end|>\n<|im_start|>system" gets those
 * characters encoded as ordinary text, never a forged turn (minbpe's rule: special tokens are not
 * parsed from user text).
 *
 * Encoding the rendered prompt with `allowedSpecial: 'all'` (what apply_chat_template does) would
 * parse specials typed by the user; encoding it with none would turn the template's own
 * "<|im_start|>" into text. So the template is rendered twice, once with each message's text
 * replaced by a marker that nobody can type (a private-use character and a random nonce):
 *
 *   1. no message text contains a special token's string, and putting the texts back in place of
 *      the markers gives the real rendering: the real rendering is encoded with specials allowed,
 *      and every special token found must lie in the template's own text (one that a message's text
 *      completes across the boundary sends the chat to 3). This is exactly apply_chat_template's
 *      result.
 *   2. the template transforms the texts (`| trim`, Qwen3's reasoning split), so the markers cannot
 *      place them, but none contains a special's string: the real rendering, specials allowed.
 *   3. otherwise (a text holds a special's string): the marked rendering in pieces, the template's
 *      with specials allowed and each message's text with none, concatenated. A template's own
 *      transformation of that text is then not applied, and the pieces' boundaries may split
 *      words differently from a whole encoding; both only for a chat that holds special strings.
 *
 * No post-processor specials are added (`addSpecialTokens: false`): templates write their BOS
 * themselves, as transformers' apply_chat_template assumes.
 */
import { randomBytes } from 'node:crypto';
import { type ChatMessage, type RenderOptions, renderChat } from './chat_template.ts';
import type { Tokenizer } from './tokenizer.ts';

interface Piece {
  text: string;
  /** A message's text (encoded with no specials), or the template's own text. */
  user: boolean;
}

/** `messages` with every non-empty text replaced by `mark(i)`; the texts in `texts` (i = index there). */
function masked(
  messages: readonly ChatMessage[],
  texts: string[],
  mark: (i: number) => string,
): ChatMessage[] {
  const hide = (s: string): string => {
    if (s === '') return s; // an empty text hides nothing, and a marker would make it truthy
    texts.push(s);
    return mark(texts.length - 1);
  };
  return messages.map((m) => {
    if (typeof m.content === 'string') return { ...m, content: hide(m.content) };
    if (!Array.isArray(m.content)) return m;
    return {
      ...m,
      content: m.content.map((p) => (typeof p.text === 'string' ? { ...p, text: hide(p.text) } : p)),
    };
  });
}

/** The token ids of a chat under `template` (see the file comment). */
export function encodeChat(
  tok: Tokenizer,
  template: string,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): number[] {
  const nonce = randomBytes(8).toString('hex');
  const texts: string[] = [];
  const marked = renderChat(
    template,
    masked(messages, texts, (i) => `\uE000${nonce}.${i}\uE001`),
    options,
  );
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of marked.matchAll(new RegExp(`\uE000${nonce}\\.(\\d+)\uE001`, 'g'))) {
    pieces.push(
      { text: marked.slice(last, m.index), user: false },
      { text: texts[Number(m[1])]!, user: true },
    );
    last = m.index + m[0].length;
  }
  pieces.push({ text: marked.slice(last), user: false });

  const specials = [...tok.specialTokens.keys()];
  const typed = texts.some((t) => specials.some((s) => t.includes(s)));
  const real = renderChat(template, messages, options);
  const opts = { allowedSpecial: 'all', addSpecialTokens: false } as const;
  if (!typed) {
    if (pieces.map((p) => p.text).join('') !== real) return tok.encode(real, opts); // case 2
    const e = tok.encodeWithOffsets(real, opts);
    if (specialsInTemplate(e.tokens, e.offsets, e.ids, tok, pieces)) return e.ids; // case 1
  }
  // case 3
  return pieces.flatMap((p) =>
    p.text === '' ? [] : tok.encode(p.text, p.user ? { addSpecialTokens: false } : opts),
  );
}

/** Whether every special token of an encoding has its string inside the template's own pieces. */
function specialsInTemplate(
  tokens: readonly string[],
  offsets: readonly (readonly [number, number])[],
  ids: readonly number[],
  tok: Tokenizer,
  pieces: readonly Piece[],
): boolean {
  const specialIds = new Set(tok.specialTokens.values());
  // [start, end) of each message's text in the real rendering
  const user: [number, number][] = [];
  let at = 0;
  for (const p of pieces) {
    if (p.user) user.push([at, at + p.text.length]);
    at += p.text.length;
  }
  for (let i = 0; i < ids.length; i++) {
    if (!specialIds.has(ids[i]!)) continue;
    const name = tok.idToToken(ids[i]!) ?? '';
    // a token with lstrip/rstrip spans the whitespace beside its string: check the string itself
    const start = offsets[i]![0] + Math.max(0, tokens[i]!.indexOf(name));
    const end = start + name.length;
    if (user.some(([s, e]) => start < e && end > s)) return false;
  }
  return true;
}
