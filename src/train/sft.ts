/**
 * Supervised fine-tuning data: JSONL rows in the common shapes
 *   {"prompt": "...", "completion": "..."}
 *   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
 * become token ids with targets only on what the model should learn to say (assistant turns and
 * the EOS after them); every other target is -100, so prompts contribute nothing to the loss.
 *
 * With a chat template, the conversation is rendered turn by turn and the text each assistant
 * turn adds is tokenised as its own segment. Batches are drawn at random each epoch and padded on
 * the right instead of packed: no example ever attends to another (the documented alternative to
 * packing with a block-diagonal mask), and padding is masked out of the loss. (The recipe groups
 * its SFT batches by length: src/recipe/batches.ts.)
 */
import type { JsonValue } from '../io/files.ts';
import { IGNORE_INDEX } from '../tensor/index.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { type Batch, EpochSampler, type SamplerState } from './data.ts';
import type { BatchSource } from './loop.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

export type SftRow = { prompt: string; completion: string } | { messages: ChatMessage[] };

export interface SftExample {
  ids: number[];
  /** Same length as ids: targets[i] is the token after ids[i], or -100. */
  targets: number[];
}

/** Renders messages to text (a chat template). */
export type RenderChat = (messages: ChatMessage[], addGenerationPrompt: boolean) => string;

/** Parses JSONL; errors name the line and field. */
export function parseSftJsonl(text: string, file = 'data'): SftRow[] {
  const rows: SftRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o))
      throw new Error(`${file}:${i + 1}: expected a JSON object`);
    const r = o as Record<string, unknown>;
    if (typeof r.prompt === 'string' && typeof r.completion === 'string')
      rows.push({ prompt: r.prompt, completion: r.completion });
    else if (Array.isArray(r.messages)) {
      r.messages.forEach((m: unknown, j) => {
        const mm = m as Record<string, unknown>;
        if (typeof mm?.role !== 'string' || typeof mm?.content !== 'string') {
          throw new Error(`${file}:${i + 1}: messages[${j}] needs string "role" and "content"`);
        }
      });
      rows.push({ messages: r.messages as ChatMessage[] });
    } else throw new Error(`${file}:${i + 1}: expected {"prompt","completion"} or {"messages": [...]}`);
  });
  return rows;
}

/**
 * Token ids and masked targets of one row. Without a template, prompt/completion are concatenated
 * (messages are joined as "role: content" lines); `eosId` ends every learned segment.
 */
export function buildExample(
  row: SftRow,
  tok: Tokenizer,
  eosId: number | null,
  render?: RenderChat,
): SftExample {
  const segments: { text: string; learn: boolean }[] = [];
  if ('prompt' in row) {
    const messages = [
      { role: 'user', content: row.prompt },
      { role: 'assistant', content: row.completion },
    ];
    if (render) pushChat(messages, render, segments);
    else segments.push({ text: row.prompt, learn: false }, { text: row.completion, learn: true });
  } else if (render) pushChat(row.messages, render, segments);
  else {
    for (const m of row.messages) {
      segments.push(
        { text: `${m.role}: `, learn: false },
        { text: `${m.content}\n`, learn: m.role === 'assistant' },
      );
    }
  }
  const ids: number[] = [];
  const learn: boolean[] = [];
  for (const s of segments) {
    // Rendered templates carry their special tokens as text; plain prompts never parse them.
    const t = tok.encode(s.text, render ? { allowedSpecial: 'all' } : {});
    ids.push(...t);
    for (let i = 0; i < t.length; i++) learn.push(s.learn);
    if (s.learn && eosId !== null && !render) {
      ids.push(eosId);
      learn.push(true);
    }
  }
  // targets[i] = ids[i + 1] where that next token is learned.
  const targets = ids.map((_, i) => (i + 1 < ids.length && learn[i + 1] ? ids[i + 1] : IGNORE_INDEX));
  return { ids, targets };
}

function pushChat(
  messages: ChatMessage[],
  render: RenderChat,
  segments: { text: string; learn: boolean }[],
): void {
  let done = '';
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const prefix = render(messages.slice(0, i), true);
    const full = render(messages.slice(0, i + 1), false);
    if (!prefix.startsWith(done) || !full.startsWith(prefix)) {
      throw new Error(
        'chat template: a conversation prefix does not render as a prefix of the full conversation',
      );
    }
    segments.push(
      { text: prefix.slice(done.length), learn: false },
      { text: full.slice(prefix.length), learn: true },
    );
    done = full;
  });
  const whole = render(messages, false);
  if (whole.length > done.length) segments.push({ text: whole.slice(done.length), learn: false });
}

/**
 * Batches of B examples drawn in a new seeded shuffle each epoch, right-padded (pad id 0, target
 * -100) to the longest in the batch; examples longer than maxLen are truncated.
 */
export class SftBatches implements BatchSource {
  private readonly sampler: EpochSampler;

  constructor(
    readonly examples: SftExample[],
    readonly B: number,
    readonly maxLen: number,
    seed: number,
    readonly heldOut: SftExample[] = [],
  ) {
    if (examples.length === 0) throw new Error('SFT: no training examples');
    this.sampler = new EpochSampler(examples.length, seed);
  }

  next(): Batch {
    return pad(
      this.sampler.take(this.B).map((i) => this.examples[i]),
      this.maxLen,
    );
  }

  evalBatches(): Batch[] {
    const out: Batch[] = [];
    for (let i = 0; i < this.heldOut.length; i += this.B)
      out.push(pad(this.heldOut.slice(i, i + this.B), this.maxLen));
    return out;
  }

  state(): SamplerState {
    return this.sampler.state();
  }

  setState(s: JsonValue): void {
    this.sampler.setState(s);
  }
}

export function pad(examples: SftExample[], maxLen: number): Batch {
  const B = examples.length;
  const T = Math.min(maxLen, Math.max(...examples.map((e) => e.ids.length)));
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  examples.forEach((e, b) => {
    const n = Math.min(T, e.ids.length);
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = e.ids[t];
      targets[b * T + t] = e.targets[t];
    }
  });
  return { ids, targets, B, T };
}
