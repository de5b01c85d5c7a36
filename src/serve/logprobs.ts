/**
 * Log-probabilities in OpenAI's two wire formats, from the generator's per-token values (the raw
 * model distribution, see src/generate/sampler.ts):
 *
 *   chat         choices[].logprobs = { content: [{ token, logprob, bytes, top_logprobs: [{ token,
 *                logprob, bytes }] }], refusal: null }                      (top_logprobs <= 20)
 *   completions  choices[].logprobs = { tokens, token_logprobs, top_logprobs: [{ token: logprob }],
 *                text_offset }                                                (legacy; logprobs <= 20)
 *
 * `token` is the token decoded alone: a token holding part of a multi-byte character decodes to
 * U+FFFD, and `bytes` (the token's exact UTF-8 bytes) is what to join. `text_offset` counts
 * characters from the start of the prompt text (OpenAI's convention), adding each token's string
 * length; after a split character it drifts from the completion text by the U+FFFDs.
 */
import type { TopLogprob } from '../generate/sampler.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';

/** One generated token with its log-probability and the most likely alternatives. */
export interface TokenInfo {
  id: number;
  logprob: number;
  top: readonly TopLogprob[];
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

const utf8 = new TextEncoder();

/** Token strings and bytes, memoised per id (a server decodes the same few thousand ids again and again). */
export class TokenText {
  private readonly text = new Map<number, string>();
  private readonly bytesOf: ((id: number) => Uint8Array) | null;

  constructor(private readonly tokenizer: Tokenizer) {
    // byte-level BPE tokenizers know each token's exact bytes; others: the UTF-8 of its text
    const tb = (tokenizer as Partial<{ tokenBytes(id: number): Uint8Array }>).tokenBytes;
    this.bytesOf = typeof tb === 'function' ? (id) => tb.call(tokenizer, id) : null;
  }

  token(id: number): string {
    let s = this.text.get(id);
    if (s === undefined) {
      s = this.tokenizer.decode([id]);
      if (this.text.size < 65536) this.text.set(id, s);
    }
    return s;
  }

  bytes(id: number): number[] {
    return Array.from(this.bytesOf ? this.bytesOf(id) : utf8.encode(this.token(id)));
  }

  chat(t: TokenInfo): ChatTokenLogprob {
    return {
      token: this.token(t.id),
      logprob: t.logprob,
      bytes: this.bytes(t.id),
      top_logprobs: t.top.map((x) => ({
        token: this.token(x.tokenId),
        logprob: x.logprob,
        bytes: this.bytes(x.tokenId),
      })),
    };
  }

  /** Legacy logprobs of consecutive tokens whose first one starts at character `offset`. */
  legacy(tokens: readonly TokenInfo[], offset: number): LegacyLogprobs {
    const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const t of tokens) {
      const s = this.token(t.id);
      out.tokens.push(s);
      out.token_logprobs.push(t.logprob);
      // null prototype: a token may be "__proto__"; two ids may decode alike (halves of characters):
      // the first, likelier, one is kept
      const top = Object.create(null) as Record<string, number>;
      for (const x of t.top) {
        const k = this.token(x.tokenId);
        if (!(k in top)) top[k] = x.logprob;
      }
      out.top_logprobs.push(top);
      out.text_offset.push(offset);
      offset += s.length;
    }
    return out;
  }
}
