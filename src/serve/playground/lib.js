// The playground's pure helpers (no DOM): server-sent events, sampling cut-offs, chart scales and
// colours. playground.js uses them in the page; test/serve/playground.test.ts imports them in Node.

/**
 * An incremental server-sent-events parser: feed it decoded text as it arrives, in any pieces; it
 * calls onData with the data of each complete event (several `data:` lines joined by "\n").
 * Comments (":") and other fields (event, id, retry) are ignored.
 * @param {(data: string) => void} onData
 * @returns {{ feed: (text: string) => void, end: () => void }}
 */
export function sseParser(onData) {
  let buffer = '';
  /** @type {string[]} */
  let data = [];
  const line = (l) => {
    if (l === '') {
      if (data.length > 0) onData(data.join('\n'));
      data = [];
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
  };
  return {
    feed(text) {
      buffer += text;
      // lines end with \n, \r\n or \r; a trailing \r may be half of a \r\n still to come
      for (;;) {
        const m = /\r\n|\n|\r(?!$)/.exec(buffer);
        if (!m) break;
        line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
    },
    end() {
      if (buffer !== '') line(buffer.replace(/\r$/, ''));
      buffer = '';
      line('');
    },
  };
}

/**
 * Which of the listed alternatives the sampler would cut, from their raw log-probabilities (the
 * server reports the model's distribution before temperature and filters). The sampler applies
 * temperature, then top-k, then top-p on the renormalised rest (src/generate/sampler.ts); a token
 * survives top-p when the mass of the tokens ranked before it is below p.
 *
 * Only the listed tokens are known, so the normaliser of top-p is bounded: at least the listed
 * tokens' mass, at most that plus what the unlisted ones can hold (their raw mass is 1 - listed,
 * none above the least listed one). A verdict the bounds cannot settle is 'maybe'.
 *
 * @template {{ token: string, logprob: number }} T
 * @param {T[]} top  the alternatives (any order; each keeps its other fields)
 * @param {{ temperature: number, topK: number, topP: number, vocabSize: number }} s
 * @returns {(T & { prob: number, status: 'kept' | 'greedy' | 'top-k' | 'top-p' | 'maybe' })[]}  most likely first
 */
export function cutoffs(top, s) {
  const sorted = [...top].sort((a, b) => b.logprob - a.logprob);
  const probs = sorted.map((t) => Math.exp(t.logprob));
  const out = sorted.map((t, i) => ({ ...t, prob: probs[i], status: 'kept' }));
  if (out.length === 0) return out;
  if (!(s.temperature > 0)) {
    out.forEach((o, i) => {
      o.status = i === 0 ? 'kept' : 'greedy';
    });
    return out;
  }
  const k = s.topK > 0 ? s.topK : Number.POSITIVE_INFINITY;
  const inv = 1 / s.temperature;
  // weights after temperature, relative to the top token (exp((l - l0) / T))
  const w = sorted.map((t) => Math.exp((t.logprob - sorted[0].logprob) * inv));
  const kept = Math.min(out.length, k);
  let listed = 0;
  for (let i = 0; i < kept; i++) listed += w[i];
  // the unlisted tokens that survive top-k: how many, and how much weight they can hold
  const vocab = Math.max(s.vocabSize || 0, out.length);
  const unlistedCount = Math.max(0, Math.min(k, vocab) - out.length);
  let restMax = 0;
  if (unlistedCount > 0) {
    const rawRest = Math.max(0, 1 - probs.reduce((a, b) => a + b, 0));
    const pMin = probs[probs.length - 1];
    if (rawRest > 0 && pMin > 0) {
      // each unlisted p_j <= pMin and sum p_j <= rawRest; bound sum p_j^(1/T), relative to p0^(1/T)
      const bound =
        inv >= 1
          ? rawRest * pMin ** (inv - 1) // convex: largest when the mass sits in few tokens
          : unlistedCount * Math.min(pMin, rawRest / unlistedCount) ** inv; // concave: spread out
      restMax = bound / probs[0] ** inv;
    }
  }
  const p = s.topP > 0 && s.topP < 1 ? s.topP : 1;
  let before = 0;
  out.forEach((o, i) => {
    if (i >= k) {
      o.status = 'top-k';
      return;
    }
    if (p < 1 && i > 0) {
      const fracMax = before / listed; // the normaliser at its smallest
      const fracMin = before / (listed + restMax); // and at its largest
      if (fracMin >= p) o.status = 'top-p';
      else if (fracMax >= p) o.status = 'maybe';
    }
    before += w[i];
  });
  // once a token is cut by top-p, every less likely one is too
  let cut = false;
  for (const o of out) {
    if (o.status === 'top-p') cut = true;
    else if (cut && o.status !== 'top-k') o.status = 'top-p';
  }
  return out;
}

/**
 * About n round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart).
 * @param {number} lo
 * @param {number} hi
 * @param {number} n
 * @returns {number[]}
 */
export function niceTicks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1);
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/**
 * A heat colour for a weight in [0, 1]: near-white to deep blue (monotone in lightness, so it
 * reads in greyscale too).
 * @param {number} v
 * @returns {string}
 */
export function heatColor(v) {
  const x = Math.max(0, Math.min(1, v));
  const light = 97 - 72 * Math.sqrt(x);
  return `hsl(220 70% ${light.toFixed(1)}%)`;
}

/**
 * A token's text for display: whitespace made visible, control characters escaped.
 * @param {string} t
 * @returns {string}
 */
export function showToken(t) {
  return t
    .replace(/ /g, '\u2423')
    .replace(/\n/g, '\u21b5')
    .replace(/\t/g, '\u21e5')
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The label of a token from the server: its text made visible, or, when the text is not whole
 * (a byte-level token holding part of a UTF-8 character decodes to U+FFFD), its bytes in hex.
 * @param {string} token
 * @param {number[] | null | undefined} bytes
 * @returns {string}
 */
export function tokenLabel(token, bytes) {
  if (token.includes('\uFFFD') && Array.isArray(bytes) && bytes.length > 0) {
    // bytes that are only the UTF-8 of the text itself (U+FFFD is EF BF BD) say nothing more
    const own = utf8.encode(token);
    if (own.length !== bytes.length || own.some((b, i) => b !== bytes[i]))
      return bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  }
  return showToken(token);
}

const utf8 = new TextEncoder();
