/**
 * Grounded (extractive) decoding: the output may only be a contiguous span of a source token
 * sequence, followed by EOS. A RAG answer decoded this way is, by construction, a quote of the
 * retrieved context; the model still chooses which span, and where to stop.
 *
 *   source  [s0 s1 ... s(n-1)]           e.g. the tokens of the retrieved chunks
 *   state   ends = { i : source[i-k .. i-1] equals the k tokens generated so far }
 *   allowed source[i] for i in ends (i < n), and EOS once k >= 1
 *
 * With the tokens' text (`decode`), an answer may only end at a word boundary: before a source
 * token that starts with whitespace or punctuation, or at the end of the source; so "8" of " 8080"
 * cannot be an answer, only "8080".
 *
 * Applied to the logits before sampling (so temperature, top-k and top-p see only allowed tokens,
 * and the reported logprobs are those of the constrained distribution).
 */
export class SpanConstraint {
  private ends: number[];
  private generated = 0;
  /** breaks[i]: an answer may end before source[i] (i = n: the end of the source). */
  private readonly breaks: boolean[];

  constructor(
    private readonly source: ArrayLike<number>,
    private readonly eos: Iterable<number>,
    decode?: (ids: readonly number[]) => string,
  ) {
    if (source.length === 0) throw new Error('grounded decoding needs a non-empty source to quote');
    this.ends = Array.from({ length: source.length }, (_, i) => i);
    const starts = new Map<number, boolean>();
    const startsWord = (id: number): boolean => {
      let b = starts.get(id);
      if (b === undefined) {
        b = decode === undefined || /^[\s\p{P}\p{S}]/u.test(decode([id]));
        starts.set(id, b);
      }
      return b;
    };
    this.breaks = Array.from({ length: source.length + 1 }, (_, i) =>
      i === source.length ? true : startsWord(source[i]),
    );
  }

  /** Tokens allowed next. */
  allowed(): Set<number> {
    const s = new Set<number>();
    for (const i of this.ends) if (i < this.source.length) s.add(this.source[i]);
    if (this.generated > 0 && this.ends.some((i) => this.breaks[i])) for (const e of this.eos) s.add(e);
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
    this.generated++;
    this.ends = this.ends.filter((i) => i < this.source.length && this.source[i] === token).map((i) => i + 1);
  }
}
