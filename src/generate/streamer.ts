/**
 * Incremental detokenisation: token ids in, text pieces out, never half a character. Byte-level
 * tokenizers (GPT-2, Llama 3, Qwen) split a multi-byte UTF-8 character (an emoji is 4 bytes) across
 * tokens; a piece is emitted only when its characters are complete.
 *
 * Two ways to get text from ids:
 * - `tokenBytes`: the bytes of each token (a table indexed by id, or a function). Exact and O(1) per
 *   token: a streaming TextDecoder keeps the incomplete tail of a character until the next token.
 * - `decode`: a tokenizer's ids -> string. The whole output is decoded again at each token (O(n)
 *   per token, as Hugging Face's TextStreamer); trailing U+FFFDs (what an incomplete character
 *   decodes to) are held back until the next token. Limit: when decoding more ids changes text that
 *   was already emitted (some SentencePiece clean-ups do), the emitted text is not taken back.
 *
 * Invalid UTF-8 (bytes that can never complete a character) becomes U+FFFD, as TextDecoder does.
 */

/** The bytes of each token: a table indexed by id, or a function of the id. */
export type TokenBytes = readonly Uint8Array[] | ((id: number) => Uint8Array);

/** How to turn generated ids into text: exactly one of the two fields. */
export type TextDecoding =
  | { tokenBytes: TokenBytes; decode?: undefined }
  | { decode: (ids: readonly number[]) => string; tokenBytes?: undefined };

export interface TextStreamer {
  /** Adds a token; returns the text that became complete ('' when none did). */
  push(id: number): string;
  /** Ends the stream: returns what was held back (an incomplete character becomes U+FFFD). */
  flush(): string;
}

/** Streams text from token bytes through one streaming TextDecoder. */
export class ByteStreamer implements TextStreamer {
  private readonly bytesOf: (id: number) => Uint8Array;
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(tokenBytes: TokenBytes) {
    if (typeof tokenBytes === 'function') {
      this.bytesOf = tokenBytes;
    } else {
      const table = tokenBytes;
      this.bytesOf = (id) => {
        const b = table[id];
        if (b === undefined)
          throw new Error(`tokenBytes: no bytes for token ${id} (table has ${table.length})`);
        return b;
      };
    }
  }

  push(id: number): string {
    return this.decoder.decode(this.bytesOf(id), { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}

/** Streams text by decoding all ids so far with a tokenizer's decode and emitting the new tail. */
export class DecodeStreamer implements TextStreamer {
  private readonly decode: (ids: readonly number[]) => string;
  private ids: number[] = [];
  private emitted = 0; // UTF-16 code units of the decoded text already returned

  constructor(decode: (ids: readonly number[]) => string) {
    this.decode = decode;
  }

  push(id: number): string {
    this.ids.push(id);
    const text = this.decode(this.ids);
    let end = text.length;
    while (end > this.emitted && text.charCodeAt(end - 1) === 0xfffd) end--; // maybe an incomplete character
    const c = text.charCodeAt(end - 1);
    if (end > this.emitted && c >= 0xd800 && c <= 0xdbff) end--; // never end on half a surrogate pair
    return this.take(text, end);
  }

  flush(): string {
    const text = this.decode(this.ids);
    return this.take(text, text.length);
  }

  private take(text: string, end: number): string {
    if (end <= this.emitted) return '';
    const piece = text.slice(this.emitted, end);
    this.emitted = end;
    return piece;
  }
}

/** The streamer for a decoding option. */
export function createStreamer(decoding: TextDecoding): TextStreamer {
  if (decoding.tokenBytes !== undefined) return new ByteStreamer(decoding.tokenBytes);
  return new DecodeStreamer(decoding.decode);
}
