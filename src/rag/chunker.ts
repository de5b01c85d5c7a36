/**
 * Chunking: a document's text -> spans of at most `maxTokens` tokens (counted by the embedder's
 * tokenizer), overlapping by up to `overlapTokens`, cut preferably at headings, then paragraph
 * breaks, then sentence ends, and only as a last resort between words.
 *
 *   segments: the text cut into sentences (word runs or character runs when a sentence alone is
 *             over the budget); each segment knows how strong the boundary before it is:
 *             3 heading, 2 paragraph (blank line), 1 sentence, 0 word
 *   packing:  take segments while they fit; then cut at the strongest boundary that leaves the
 *             chunk at least `minFill` full (the latest such, on ties); the next chunk starts up to
 *             `overlapTokens` of whole segments before the cut, except after a heading cut (a new
 *             section needs no tail of the previous one)
 *
 * Chunks are exact spans of the text (`text.slice(start, end)`, whitespace trimmed at both ends),
 * so positions stay exact. Headings are Markdown ATX lines (`## Title`, also what the HTML loader
 * writes); fenced code blocks (``` or ~~~) are never cut at their inner blank lines.
 *
 * Token counts: a chunk's count is the sum of its segments' counts. For WordPiece and the default
 * embedder this is exact (segments meet at whitespace); byte-level BPE may merge across a segment
 * edge, so a chunk can be off by a token or two: embedders truncate at their window anyway.
 */

export interface ChunkOptions {
  /** Most tokens in one chunk. */
  maxTokens: number;
  /** Tokens repeated from the end of one chunk at the start of the next (default maxTokens / 8). */
  overlapTokens?: number;
  /** The tokenizer's count for a piece of text. */
  countTokens: (text: string) => number;
  /** A chunk is cut before it is full only at a boundary where it holds this share of the budget (default 0.5). */
  minFill?: number;
}

export interface TextChunk {
  text: string;
  /** [start, end): UTF-16 offsets into the document text. */
  start: number;
  end: number;
  /** 1-based line of `start`. */
  line: number;
  tokens: number;
  /** The heading of the section the chunk starts in, if any. */
  heading?: string;
}

/** Boundary strengths. */
const HEADING = 3;
const PARAGRAPH = 2;
const SENTENCE = 1;
const WORD = 0;

interface Segment {
  start: number;
  /** End of the content (trailing whitespace excluded). */
  end: number;
  tokens: number;
  /** Strength of the boundary before this segment. */
  prio: number;
}

interface Block {
  start: number;
  end: number;
  heading: boolean;
  code: boolean;
}

const HEADING_LINE = /^ {0,3}#{1,6}(?:\s|$)/;
const FENCE = /^ {0,3}(```|~~~)/;

/** Blocks: runs of non-blank lines; a heading line is a block of its own; a fenced code block is one block. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  let cur: Block | null = null;
  let fence: string | null = null;
  let pos = 0;
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    const lineEnd = pos + line.replace(/\s+$/, '').length;
    if (fence !== null) {
      if (cur) cur.end = Math.max(cur.end, lineEnd);
      if (line.trimStart().startsWith(fence)) {
        fence = null;
        cur = null;
      }
    } else if (line.trim() === '') {
      cur = null;
    } else {
      const f = FENCE.exec(line);
      if (f) {
        cur = {
          start: pos + line.length - line.trimStart().length,
          end: lineEnd,
          heading: false,
          code: true,
        };
        out.push(cur);
        fence = f[1];
      } else if (HEADING_LINE.test(line)) {
        out.push({
          start: pos + line.length - line.trimStart().length,
          end: lineEnd,
          heading: true,
          code: false,
        });
        cur = null;
      } else if (cur && !cur.code) {
        cur.end = lineEnd;
      } else {
        cur = {
          start: pos + line.length - line.trimStart().length,
          end: lineEnd,
          heading: false,
          code: false,
        };
        out.push(cur);
      }
    }
    pos = nl + 1;
  }
  return out;
}

/** Sentence starts inside [start, end): after . ! ? (and closing quotes/brackets) and whitespace. */
function sentenceStarts(text: string, start: number, end: number): number[] {
  const out = [start];
  const re = /[.!?]["')\]\u201d\u2019]*\s+(?=\S)/g;
  re.lastIndex = start;
  for (let m = re.exec(text); m !== null && re.lastIndex < end; m = re.exec(text)) out.push(re.lastIndex);
  return out;
}

/** Splits [start, end) into pieces of at most `max` tokens at whitespace (characters if a word is too long). */
function splitWords(
  text: string,
  start: number,
  end: number,
  max: number,
  count: (s: string) => number,
  first: number,
): Segment[] {
  const out: Segment[] = [];
  const re = /\S+/g;
  re.lastIndex = start;
  let cur: Segment | null = null;
  for (let m = re.exec(text); m !== null && m.index < end; m = re.exec(text)) {
    const wEnd = Math.min(m.index + m[0].length, end);
    const n = count(text.slice(m.index, wEnd));
    if (n > max) {
      // One "word" over the budget (a URL, base64...): fixed character runs that surely fit
      // (a token covers at least one character; allow 4 tokens per character for byte-level BPE).
      const step = Math.max(1, Math.floor(max / 4));
      for (let s = m.index; s < wEnd; s += step) {
        const e = Math.min(s + step, wEnd);
        out.push({
          start: s,
          end: e,
          tokens: count(text.slice(s, e)),
          prio: out.length === 0 ? first : WORD,
        });
      }
      cur = null;
      continue;
    }
    if (cur && cur.tokens + n <= max) {
      cur.end = wEnd;
      cur.tokens += n;
    } else {
      cur = { start: m.index, end: wEnd, tokens: n, prio: out.length === 0 ? first : WORD };
      out.push(cur);
    }
  }
  return out;
}

/** The text cut into segments with boundary strengths (see the file comment). */
export function segment(text: string, maxTokens: number, count: (s: string) => number): Segment[] {
  const out: Segment[] = [];
  for (const b of blocks(text)) {
    const prio = b.heading ? HEADING : PARAGRAPH;
    const starts = b.heading || b.code ? [b.start] : sentenceStarts(text, b.start, b.end);
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i];
      const e = i + 1 < starts.length ? starts[i + 1] : b.end;
      const contentEnd = s + text.slice(s, e).trimEnd().length;
      const p = i === 0 ? prio : SENTENCE;
      const n = count(text.slice(s, contentEnd));
      if (n <= maxTokens) out.push({ start: s, end: contentEnd, tokens: n, prio: p });
      else out.push(...splitWords(text, s, contentEnd, maxTokens, count, p));
    }
  }
  return out;
}

function lineStarts(text: string): number[] {
  const out = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out.push(i + 1);
  return out;
}

/** 1-based line of offset `pos` (binary search over line starts). */
function lineOf(starts: readonly number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** Cuts a document's text into chunks (see the file comment). */
export function chunkText(text: string, options: ChunkOptions): TextChunk[] {
  const max = options.maxTokens;
  if (!Number.isInteger(max) || max < 1)
    throw new Error(`chunkText: maxTokens must be a positive integer, got ${max}`);
  const overlap = options.overlapTokens ?? Math.floor(max / 8);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= max)
    throw new Error(`chunkText: overlapTokens must be an integer in [0, maxTokens), got ${overlap}`);
  const minFill = options.minFill ?? 0.5;
  const segs = segment(text, max, options.countTokens);
  const lines = lineStarts(text);
  const headingAt: { pos: number; text: string }[] = segs
    .filter((s) => s.prio === HEADING)
    .map((s) => ({
      pos: s.start,
      text: text
        .slice(s.start, s.end)
        .replace(/^\s*#+\s*/, '')
        .replace(/\s*#+\s*$/, ''),
    }));
  const chunks: TextChunk[] = [];
  let h = -1;
  let i = 0;
  while (i < segs.length) {
    // Take segments while they fit (at least one).
    let j = i;
    let total = 0;
    while (j < segs.length && total + segs[j].tokens <= max) total += segs[j++].tokens;
    if (j === i) j = i + 1;
    // Cut at the strongest boundary in (i, j] past minFill (j itself when everything is taken).
    let cut = j;
    if (j < segs.length) {
      let best = -1;
      let cum = 0;
      for (let k = i + 1; k <= j; k++) {
        cum += segs[k - 1].tokens;
        if (cum < minFill * max && k < j) continue;
        if (segs[k].prio >= best) {
          best = segs[k].prio;
          cut = k;
        }
      }
    }
    const start = segs[i].start;
    const end = segs[cut - 1].end;
    let tokens = 0;
    for (let k = i; k < cut; k++) tokens += segs[k].tokens;
    while (h + 1 < headingAt.length && headingAt[h + 1].pos <= start) h++;
    const chunk: TextChunk = { text: text.slice(start, end), start, end, line: lineOf(lines, start), tokens };
    if (h >= 0 && headingAt[h].text) chunk.heading = headingAt[h].text;
    chunks.push(chunk);
    if (cut >= segs.length) break;
    // Overlap: whole segments before the cut, up to `overlap` tokens, never back to i, and
    // leaving room for the first new segment (so every chunk brings new text).
    let next = cut;
    if (segs[cut].prio < HEADING) {
      let ov = 0;
      const room = max - segs[cut].tokens;
      while (next - 1 > i && ov + segs[next - 1].tokens <= Math.min(overlap, room)) {
        next--;
        ov += segs[next].tokens;
      }
    }
    i = next;
  }
  return chunks;
}
