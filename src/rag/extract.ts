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
 *   score(span) = overlap(question, sentence) + 0.5 overlap(question, paragraph)
 *               + [kind fits the question] - 0.5 overlap(span, question)
 *
 * overlap is rag/overlap.ts's share of content words. The spans: option flags and option lists at
 * a line's start (man pages), an option's description, numbers, quoted strings, `name=value`
 * defaults (both the value and the pair), capitalised names, identifiers and e-mail addresses,
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
  const paragraphs = pieces(/[^\n]+(?:\n(?![ \t]*\n)[^\n]*)*/g, text);
  const sentences = pieces(/[^.!?\n]+(?:[.!?]+|\n|$)/g, text);
  const out: Span[] = [];
  const add = (kind: SpanKind, start: number, t: string) => {
    const lead = t.length - t.trimStart().length;
    const trimmed = t.trim();
    if (trimmed === '') return;
    const at = start + lead;
    out.push({
      kind,
      start: at,
      end: at + trimmed.length,
      text: trimmed,
      sentence: around(sentences, at),
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
  // what a man page's option line says after the flags: the rest of the line, then its indented lines
  each(
    'description',
    new RegExp(
      String.raw`^[ \t]*${FLAG_ARG}(?:, ${FLAG_ARG})*(?:[ \t]{2,}|\n[ \t]+)([^\n]+(?:\n[ \t]{6,}[^\n-][^\n]*)*)`,
      'gm',
    ),
    1,
  );
  each('number', /(?<![\w.])(\d(?:[\d,.]*\d)?%?)(?!\w)/g, 1);
  each('identifier', /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g);
  each('quoted', /'[^'\n]{1,40}'|"[^"\n]{1,60}"/g);
  each('value', /\b\w+=([^,\s)]+)/g, 1);
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
  // many spans share a sentence and a paragraph: each overlap once (a chunk stays linear)
  const seen = new Map<string, number>();
  const covered = (t: string) => {
    const known = seen.get(t);
    if (known !== undefined) return known;
    const v = lexicalOverlap(question, t);
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
