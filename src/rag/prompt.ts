/**
 * Prompt assembly: the retrieved chunks and the question in a template, trimmed to fit the
 * generator's window.
 *
 *   template  "[ctx: {docs}] Answer the question: {query}"      (DEFAULT_TEMPLATE, configurable)
 *   {docs}    the chunk texts, best first, separated by a blank line
 *   {query}   the question
 *
 * Trimming: the question is never cut. Chunks are added best first while the whole prompt fits
 * in `budget` tokens; the first chunk that does not fit is cut at a token boundary (if at least
 * `minPartialTokens` of it fit) and the rest are dropped. Placeholders are filled in one pass, so
 * a question or a chunk that contains "{docs}" is left as written.
 */

export const DEFAULT_TEMPLATE = '[ctx: {docs}] Answer the question: {query}';
const DOC_SEPARATOR = '\n\n';

export interface PromptChunk {
  text: string;
  source: string;
}

export interface PromptOptions {
  template?: string;
  /** Most tokens the prompt may have. */
  budget: number;
  countTokens: (text: string) => number;
  /** The first `n` tokens of a text (default: a share of its words). */
  truncate?: (text: string, n: number) => string;
  /** The smallest part of a chunk worth including (default 16 tokens). */
  minPartialTokens?: number;
}

export interface BuiltPrompt {
  prompt: string;
  tokens: number;
  /** The chunks in the prompt, in order, with their `text` as it is there; `truncated` when only its start fitted. */
  used: { index: number; truncated: boolean; text: string }[];
}

/** Checks a template: it needs {docs} and {query}. */
export function checkTemplate(template: string): void {
  for (const p of ['{docs}', '{query}'])
    if (!template.includes(p))
      throw new Error(`the prompt template must contain ${p}: ${JSON.stringify(template)}`);
}

/** Fills {docs} and {query} in one pass. */
export function fillTemplate(template: string, docs: string, query: string): string {
  return template.replace(/\{(docs|query)\}/g, (_, name: string) => (name === 'docs' ? docs : query));
}

function truncateWords(text: string, n: number, count: (s: string) => number): string {
  // Binary search on a word prefix: the longest one that counts at most n tokens.
  const ends: number[] = [];
  for (const m of text.matchAll(/\S+/g)) ends.push(m.index + m[0].length);
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (count(text.slice(0, ends[mid - 1])) <= n) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? '' : text.slice(0, ends[lo - 1]);
}

/** Builds the prompt (see the file comment); throws if the question alone does not fit. */
export function buildPrompt(
  query: string,
  chunks: readonly PromptChunk[],
  options: PromptOptions,
): BuiltPrompt {
  const template = options.template ?? DEFAULT_TEMPLATE;
  checkTemplate(template);
  const count = options.countTokens;
  const truncate = options.truncate ?? ((t: string, n: number) => truncateWords(t, n, count));
  const minPartial = options.minPartialTokens ?? 16;
  const budget = options.budget;
  const bare = fillTemplate(template, '', query);
  const bareTokens = count(bare);
  if (bareTokens > budget)
    throw new Error(
      `the question and template need ${bareTokens} tokens, more than the ${budget} the model's window leaves for the prompt`,
    );
  const parts: string[] = [];
  const used: BuiltPrompt['used'] = [];
  let tokens = bareTokens;
  for (let i = 0; i < chunks.length; i++) {
    const tryParts = [...parts, chunks[i].text];
    const p = fillTemplate(template, tryParts.join(DOC_SEPARATOR), query);
    const n = count(p);
    if (n <= budget) {
      parts.push(chunks[i].text);
      used.push({ index: i, truncated: false, text: chunks[i].text });
      tokens = n;
      continue;
    }
    // Cut this chunk to what is left (re-checking the whole prompt: tokens merge at the joins).
    let room = budget - tokens - count(parts.length > 0 ? DOC_SEPARATOR : '');
    while (room >= minPartial) {
      const cut = truncate(chunks[i].text, room);
      const q = fillTemplate(template, [...parts, cut].join(DOC_SEPARATOR), query);
      const m = count(q);
      if (cut.trim() !== '' && m <= budget) {
        parts.push(cut);
        used.push({ index: i, truncated: true, text: cut });
        tokens = m;
        break;
      }
      room -= Math.max(1, m - budget);
    }
    break;
  }
  return { prompt: fillTemplate(template, parts.join(DOC_SEPARATOR), query), tokens, used };
}
