/**
 * Extractive reading: the answer to a question as a span of a chunk, found without the language
 * model, by where the question's words are and what kind of thing the question asks for. The
 * sliding-window readers of early reading-comprehension work (Richardson et al. 2013) did the same.
 *
 *   question  "How do I show hidden files with ls?"          asks for: option
 *   chunk     "-a, --all\n       do not ignore entries starting with ."
 *   spans     "-a, --all" (option), "-a" (option), "do not ignore entries..." (description), ...
 *   answer    the span whose sentence and paragraph hold most of the question's content words,
 *             of a kind the question asks for, that repeats least of the question
 *
 *   score(span) = covered(sentence) + 0.5 covered(paragraph)
 *               + [kind fits the question] - 0.5 overlap(span, question)
 *
 *   covered(t)  = sum of idf(w) over the question's content words w in t / sum of idf(w) over all
 *   idf(w)      = ln(1 + P / (1 + the number of the chunk's P paragraphs holding w))
 *
 * Words match as rag/overlap.ts matches them (stems; overlap is its share of content words). The
 * IDF is the chunk's own: a man page names its program in every paragraph, so the program's name
 * says little about which paragraph answers. An option's sentence is its block: the flags' line
 * and the indented lines describing them. The spans: option flags and option lists at a line's
 * start (man pages), an option's description, numbers, quoted strings, `name=value` defaults (the
 * value and the pair) and "default N" values, capitalised names, identifiers and e-mail addresses,
 * the runs of a sentence's words that the question does not have ("Bodael was founded in 1710"
 * for "In what year was Bodael founded?" -> "1710"), and whole sentences (for yes/no questions).
 * The weights (SPAN_WEIGHTS) were chosen on tuning data only (`npm run experiment -- extractive`).
 *
 * The shipped model reads its own training distribution well and real prose badly; answer.ts
 * uses this reader where the model's own quote is not confident (EXTRACT_BELOW).
 */
import { contentStems, lexicalOverlap, StemSet } from './overlap.ts';
import { STOPWORDS } from './word_prior.ts';

export type SpanKind =
  | 'option'
  | 'description'
  | 'number'
  | 'quoted'
  | 'value'
  | 'name'
  | 'identifier'
  | 'gap'
  | 'sentence';

/** A candidate answer: text[start, end) of the chunk, with the sentence and paragraph around it. */
export interface Span {
  kind: SpanKind;
  start: number;
  end: number;
  text: string;
  sentence: string;
  paragraph: string;
}

/** The extractive answer of a chunk: its best span and that span's score. */
export interface Extracted extends Span {
  score: number;
}

/** The score's weights (the file comment's formula). */
export interface SpanWeights {
  sentence: number;
  paragraph: number;
  kind: number;
  echo: number;
}
export const SPAN_WEIGHTS: SpanWeights = { sentence: 1, paragraph: 0.5, kind: 1, echo: 0.5 };

/** Longest sentence (in words) offered whole as an answer. */
const MAX_SENTENCE_WORDS = 40;
const FLAG = String.raw`--?[A-Za-z0-9][\w-]*`;
/** One flag with its argument as a man page writes it: -n, --lines=NUM, --sort WORD. */
const FLAG_ARG = `${FLAG}(?:[ =][A-Z]+)?`;

/** Lines up to a blank line. */
const PARAGRAPH = /[^\n]+(?:\n(?![ \t]*\n)[^\n]*)*/g;

/**
 * A man page's option block: the flags at a line's start (group 1, with the indent), then what
 * they do (group 2): the rest of the line after two spaces, or the indented lines below.
 */
const OPTION_BLOCK = new RegExp(
  String.raw`^([ \t]*${FLAG_ARG}(?:, ${FLAG_ARG})*)(?:[ \t]{2,}|\n[ \t]+)([^\n]+(?:\n[ \t]{6,}[^\n-][^\n]*)*)`,
  'gm',
);

/** The kinds of span a question asks for, from its form (first match wins). */
export function expectedKinds(question: string): readonly SpanKind[] {
  const q = question.toLowerCase();
  if (/^what does .*(--?\w|option|flag).* do\b|^what is .* for\b/.test(q)) return ['description'];
  if (
    /\b(flag|option|switch)\b/.test(q) ||
    /^how (do|can|would|should|could) (i|you|we)\b|^how to\b|what do i (use|pass|type|run)/.test(q)
  )
    return ['option'];
  if (/how many|how much|what (number|size|percent)|how long|exit status|exit code/.test(q))
    return ['number'];
  if (/^who\b/.test(q)) return ['name'];
  if (/\bdefault\b/.test(q)) return ['value', 'number', 'quoted', 'gap'];
  if (/^when\b|\b(what|which) (year|date)\b/.test(q)) return ['number', 'name'];
  if (/^(can|may|does|do|is|are|must|will|should)\b/.test(q)) return ['sentence'];
  return ['gap', 'name', 'quoted', 'identifier'];
}

/** [start, text] of each match of `re` (global) in `text`. */
function pieces(re: RegExp, text: string): [number, string][] {
  return [...text.matchAll(re)].filter((m) => m[0].trim() !== '').map((m) => [m.index ?? 0, m[0]]);
}

/** The piece that contains offset `at` (pieces in order). */
function around(list: readonly [number, string][], at: number): string {
  let found = '';
  for (const [start, t] of list) {
    if (start > at) break;
    found = t;
  }
  return found;
}

/**
 * The runs of a sentence's words that are neither stopwords nor the question's words ("of" and
 * "and" may join two words of a run), with their offsets in the sentence.
 */
function gaps(sentence: string, question: StemSet): { at: number; text: string }[] {
  const out: { at: number; text: string }[] = [];
  let run: { start: number; end: number } | null = null;
  const close = () => {
    if (run) out.push({ at: run.start, text: sentence.slice(run.start, run.end) });
    run = null;
  };
  for (const m of sentence.matchAll(/[\p{L}\p{N}][\p{L}\p{N}_'.-]*[\p{L}\p{N}]|[\p{L}\p{N}]/gu)) {
    const word = m[0].toLowerCase();
    const start = m.index ?? 0;
    const asked = contentStems(word).some((s) => question.has(s));
    if (asked || STOPWORDS.has(word)) {
      if (run && !asked && (word === 'of' || word === 'and')) continue;
      close();
      continue;
    }
    if (run) run.end = start + m[0].length;
    else run = { start, end: start + m[0].length };
  }
  close();
  return out;
}

/** Every candidate span of a chunk, for a question whose content words are `question`. */
export function spans(text: string, question: StemSet): Span[] {
  const paragraphs = pieces(PARAGRAPH, text);
  // a sentence ends at . ! ? before a space or the end (not inside gnu.org, 2.5, e.g.) or a line's end
  const sentences = pieces(/(?:[^.!?\n]|[.!?]+(?=[^\s.!?]))+(?:[.!?]+|\n|$)/g, text);
  // a man page's option block: the flags' line and the indented lines that describe them, which
  // are the flags' sentence (what the question's words are matched against)
  const blocks = [...text.matchAll(OPTION_BLOCK)].map((m) => ({
    start: m.index ?? 0,
    flagsEnd: (m.index ?? 0) + m[1].length,
    text: m[0],
    description: m[2],
  }));
  const blockOf = (at: number) => blocks.find((b) => b.start <= at && at < b.flagsEnd);
  const out: Span[] = [];
  const add = (kind: SpanKind, start: number, t: string) => {
    const lead = t.length - t.trimStart().length;
    const trimmed = t.trim();
    if (trimmed === '') return;
    const at = start + lead;
    const block = kind === 'option' || kind === 'description' ? blockOf(at) : undefined;
    out.push({
      kind,
      start: at,
      end: at + trimmed.length,
      text: trimmed,
      sentence: block ? block.text : around(sentences, at),
      paragraph: around(paragraphs, at),
    });
  };
  const each = (kind: SpanKind, re: RegExp, group = 0) => {
    for (const m of text.matchAll(re)) {
      const t = m[group];
      if (t) add(kind, (m.index ?? 0) + m[0].indexOf(t), t);
    }
  };
  each('option', new RegExp(String.raw`(?<![\w-])(${FLAG}(?:=[\w-]+)?)`, 'g'), 1);
  each('option', new RegExp(String.raw`^[ \t]*(${FLAG_ARG}(?:, ${FLAG_ARG})+)`, 'gm'), 1);
  // what a man page's option line says after the flags
  for (const b of blocks) add('description', b.start + b.text.lastIndexOf(b.description), b.description);
  each('number', /(?<![\w.])(\d(?:[\d,.]*\d)?%?)(?!\w)/g, 1);
  each('identifier', /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g);
  each('quoted', /'[^'\n]{1,40}'|"[^"\n]{1,60}"/g);
  each('value', /\b\w+=([^,\s)]+)/g, 1);
  each('value', /\bdefault(?:s to| is|:)?[ \t]+([^\s,;)]+)/gi, 1); // "(default 130)", "defaults to utf-8"
  each('value', /\b\w+=[^,\s)]+/g);
  // capitalised words in a row, initials and "and" between them, within a sentence (no full stop)
  each('name', /\b([A-Z][a-z]+(?:[ \t]+(?:[A-Z][a-z]+|[A-Z]\.|and|van|de))*[ \t]+[A-Z][a-z]+)\b/g, 1);
  each('identifier', /\b[a-z]+_[a-z_]+\b(?:\(\))?/g);
  for (const [start, s] of sentences) for (const g of gaps(s, question)) add('gap', start + g.at, g.text);
  for (const [start, s] of sentences)
    if (s.trim().split(/\s+/).length <= MAX_SENTENCE_WORDS)
      add('sentence', start, s.replace(/\.(\s*)$/, '$1'));
  return out;
}

/**
 * The best span of a chunk for a question (the file comment's score; the first of equals), or
 * null when the chunk has none that is not the question's own words.
 */
export function extractSpan(question: string, text: string, w: SpanWeights = SPAN_WEIGHTS): Extracted | null {
  const asked = new StemSet(contentStems(question));
  const fits = expectedKinds(question);
  // The question's words weighed by how few of the chunk's paragraphs hold them (IDF within the
  // chunk): the program's name, in every paragraph of its man page, says little about which one.
  const words = [...new Set(contentStems(question))];
  const paragraphs = pieces(PARAGRAPH, text).map(([, p]) => new StemSet(contentStems(p)));
  const idf = words.map((q) =>
    Math.log(1 + paragraphs.length / (1 + paragraphs.filter((p) => p.has(q)).length)),
  );
  const total = idf.reduce((a, b) => a + b, 0);
  // many spans share a sentence and a paragraph: each overlap once (a chunk stays linear)
  const seen = new Map<string, number>();
  const covered = (t: string) => {
    const known = seen.get(t);
    if (known !== undefined) return known;
    const has = new StemSet(contentStems(t));
    const v = total > 0 ? words.reduce((a, q, i) => a + (has.has(q) ? idf[i] : 0), 0) / total : 0;
    seen.set(t, v);
    return v;
  };
  let best: Extracted | null = null;
  for (const span of spans(text, asked)) {
    const echo = lexicalOverlap(span.text, question);
    if (echo >= 0.99) continue; // only repeats the question
    const score =
      w.sentence * covered(span.sentence) +
      w.paragraph * covered(span.paragraph) +
      (fits.includes(span.kind) ? w.kind : 0) -
      w.echo * echo;
    if (best === null || score > best.score) best = { ...span, score };
  }
  return best;
}
