/**
 * When a sequence stops: after max new tokens, at an end-of-sequence token, or when its text
 * contains a stop string. One criterion per class, composed by generate.ts.
 *
 * What the user sees (OpenAI / vLLM conventions):
 * - EOS: the EOS token is in the generated ids (and counted) but its text is never emitted.
 * - stop string: the text ends just before the first stop string; the token that completed it is
 *   in the ids. Text that could still be the start of a stop string is held back until it cannot.
 * - max new tokens: exactly maxNewTokens ids, unless one of the above came first.
 */

export type FinishReason = 'stop' | 'length' | 'abort';

/** The EOS ids as a set, from one id, a list (config.json allows both) or nothing. */
export function eosSet(eos?: number | readonly number[]): ReadonlySet<number> {
  if (eos === undefined) return new Set();
  const ids = typeof eos === 'number' ? [eos] : eos;
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`eos: token ids must be integers >= 0 (got ${id})`);
  }
  return new Set(ids);
}

/** Stops on any of a set of end-of-sequence ids. */
export class EosCriterion {
  readonly ids: ReadonlySet<number>;
  constructor(eos?: number | readonly number[]) {
    this.ids = eosSet(eos);
  }
  isEos(tokenId: number): boolean {
    return this.ids.has(tokenId);
  }
}

/** Stops after exactly maxNewTokens generated tokens. */
export class MaxNewTokensCriterion {
  readonly maxNewTokens: number;
  constructor(maxNewTokens: number) {
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
      throw new Error(`max_tokens must be an integer >= 0 (got ${maxNewTokens})`);
    }
    this.maxNewTokens = maxNewTokens;
  }
  isDone(generated: number): boolean {
    return generated >= this.maxNewTokens;
  }
}

export interface StopMatch {
  /** Text that is now final (safe to show). */
  text: string;
  /** True when a stop string was found: `text` ends just before it, and nothing follows. */
  stopped: boolean;
}

/**
 * Finds stop strings in text that arrives in pieces, also across piece boundaries. It holds back
 * the longest tail of the text that is a proper prefix of some stop string, and releases it as soon
 * as the next piece shows it is not one.
 *
 * Example with stop ["\nUser:"]: push("Hi\nU") -> "Hi" (holds "\nU"); push("ser: x") -> stopped, "".
 * After a stop, further pushes return nothing.
 */
export class StopStringMatcher {
  readonly stops: readonly string[];
  private held = '';
  private done = false;

  constructor(stops: readonly string[] = []) {
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) throw new Error('stop: stop strings must be non-empty');
    }
    this.stops = stops;
  }

  push(piece: string): StopMatch {
    if (this.done) return { text: '', stopped: true };
    const buf = this.held + piece;
    if (this.stops.length === 0) return { text: buf, stopped: false };
    // The earliest occurrence of any stop string wins.
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.done = true;
      this.held = '';
      return { text: buf.slice(0, at), stopped: true };
    }
    // No stop string inside buf: only a tail that starts one may still become one.
    let keep = 0;
    for (const s of this.stops) {
      for (let j = Math.min(s.length - 1, buf.length); j > keep; j--) {
        if (buf.endsWith(s.slice(0, j))) {
          keep = j;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** Releases the held-back text (the sequence ended without completing a stop string). */
  flush(): string {
    const t = this.held;
    this.held = '';
    return t;
  }

  get stopped(): boolean {
    return this.done;
  }
}
