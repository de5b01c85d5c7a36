/**
 * Grounded (extractive) decoding: the output may only be a contiguous span of a source token
 * sequence, followed by EOS. A RAG answer decoded this way is, by construction, a quote of the
 * retrieved context; the model still chooses which span, and where to stop.
 *
 *   source  [s0 s1 ... s(n-1)]           e.g. the tokens of the retrieved chunks
 *   state   ends = { i : source[i-k .. i-1] equals the k tokens generated so far }
 *   allowed source[i] for i in ends (i < n), and EOS once the quote holds a letter or digit
 *
 * With the tokens' text (`decode`), an answer may only start and end at word boundaries: it starts
 * at the source's first token, at a token that starts with whitespace or punctuation, or after one
 * that ends with them; it ends before a token that starts with whitespace or punctuation, or at
 * the end of the source. So neither "8" nor "080" of " 8080" can be an answer, only "8080".
 *
 * Several sources (the retrieved chunks) are one source with walls between them: a negative id
 * (QUOTE_WALL) matches no token, so a quote never runs from one chunk into the next, and a quote
 * may start after a wall and end before one.
 *
 * Applied to the logits before sampling (so temperature, top-k and top-p see only allowed tokens,
 * and the reported logprobs are those of the constrained distribution).
 */
/** The separator of several sources in one: no quote crosses it. */
export const QUOTE_WALL = -1;

/** Several token sequences as one source for SpanConstraint: [a..., WALL, b..., WALL, c...]. */
export function joinSources(sources: readonly ArrayLike<number>[]): number[] {
  const out: number[] = [];
  sources.forEach((s, i) => {
    if (i > 0) out.push(QUOTE_WALL);
    for (let j = 0; j < s.length; j++) out.push(s[j]);
  });
  return out;
}

export class SpanConstraint {
  private ends: number[];
  /** Whether the quote so far holds a letter or digit (a quote of only spaces or punctuation cannot end). */
  private hasWord = false;
  /** Source token ids whose text holds a letter or digit. */
  private readonly wordy: ReadonlySet<number>;
  /** breaks[i]: an answer may end before source[i] (i = n: the end of the source). */
  private readonly breaks: boolean[];

  constructor(
    private readonly source: ArrayLike<number>,
    private readonly eos: Iterable<number>,
    decode?: (ids: readonly number[]) => string,
    state?: { ends: number[]; hasWord: boolean; breaks: boolean[]; wordy: ReadonlySet<number> },
  ) {
    if (source.length === 0) throw new Error('grounded decoding needs a non-empty source to quote');
    if (state) {
      this.ends = state.ends;
      this.hasWord = state.hasWord;
      this.breaks = state.breaks;
      this.wordy = state.wordy;
      return;
    }
    const memo = new Map<number, string>();
    const text = (id: number): string => {
      if (id < 0) return '';
      let t = memo.get(id);
      if (t === undefined) {
        t = decode ? decode([id]) : ' a';
        memo.set(id, t);
      }
      return t;
    };
    this.breaks = Array.from(
      { length: source.length + 1 },
      (_, i) => i === source.length || source[i] < 0 || /^[\s\p{P}\p{S}]/u.test(text(source[i])),
    );
    const wordy = new Set<number>();
    for (let i = 0; i < source.length; i++) if (/[\p{L}\p{N}]/u.test(text(source[i]))) wordy.add(source[i]);
    this.wordy = wordy;
    this.ends = [];
    for (let i = 0; i < source.length; i++)
      if (
        source[i] >= 0 &&
        (i === 0 || source[i - 1] < 0 || this.breaks[i] || /[\s\p{P}\p{S}]$/u.test(text(source[i - 1])))
      )
        this.ends.push(i);
  }

  /** An independent copy of the current state (a beam's fork). */
  clone(): SpanConstraint {
    return new SpanConstraint(this.source, this.eos, undefined, {
      ends: [...this.ends],
      hasWord: this.hasWord,
      breaks: this.breaks,
      wordy: this.wordy,
    });
  }

  /** Tokens allowed next. */
  allowed(): Set<number> {
    const s = new Set<number>();
    for (const i of this.ends) if (i < this.source.length && this.source[i] >= 0) s.add(this.source[i]);
    if (this.hasWord && this.ends.some((i) => this.breaks[i])) for (const e of this.eos) s.add(e);
    return s;
  }

  /**
   * Sets every logit outside the allowed set to -Infinity, in place. Returns false when nothing
   * may follow (the span reached the end of the source and there is no EOS to end it).
   */
  apply(logits: Float32Array): boolean {
    const ok = this.allowed();
    if (ok.size === 0) return false;
    for (let v = 0; v < logits.length; v++) if (!ok.has(v)) logits[v] = Number.NEGATIVE_INFINITY;
    return true;
  }

  /** Records a generated token (it must have been allowed). */
  push(token: number): void {
    if (this.wordy.has(token)) this.hasWord = true;
    this.ends = this.ends.filter((i) => i < this.source.length && this.source[i] === token).map((i) => i + 1);
  }
}
