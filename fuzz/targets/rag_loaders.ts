/**
 * The RAG loaders: HTML and Markdown (and plain text) generated from a grammar of tags,
 * attributes, entities, comments, CDATA, script/style, headings, fences, lists and tables, some of
 * it unclosed or broken, as bytes in UTF-8 (sometimes with a BOM, a stray invalid byte or NULs).
 * Fed to parseDocument (decode, kind, HTML to text, title) and the result to chunkText with a
 * word count. The loaders never throw on bad content (they skip a file with a reason): any throw is
 * a crash. Checked on success: every chunk is the exact span of the text it says it is.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { chunkText } from '../../src/rag/chunker.ts';
import { parseDocument } from '../../src/rag/loaders.ts';
import type { FuzzTarget } from '../target.ts';

const word = fc.constantFrom(
  'alpha',
  'beta',
  'Gamma.',
  'δέλτα',
  '日本語',
  '🙂',
  'x',
  '  ',
  '\n',
  '\n\n',
  '\t',
  '.',
);
const entity = fc.constantFrom(
  '&amp;',
  '&lt;',
  '&#x1F600;',
  '&#99999999;',
  '&#0;',
  '&#xD800;',
  '&nbsp;',
  '&bogus;',
  '&',
  '&#;',
  '&#x;',
);
const tagName = fc.constantFrom(
  'p',
  'div',
  'h1',
  'h3',
  'a',
  'pre',
  'code',
  'br',
  'li',
  'ul',
  'table',
  'td',
  'tr',
  'title',
  'script',
  'style',
  'head',
  'body',
  'html',
  'svg',
  'textarea',
  'noscript',
  'X-Y',
);
const attr = fc
  .tuple(
    fc.constantFrom('href', 'class', 'title', 'alt', 'onload'),
    fc.constantFrom('"x"', "'y'", 'z', '"<p>"', '"', ''),
  )
  .map(([k, v]) => ` ${k}=${v}`);

const html: fc.Arbitrary<string> = fc.letrec<{ n: string }>((tie) => ({
  n: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    word,
    entity,
    fc
      .tuple(tagName, fc.array(attr, { maxLength: 2 }), fc.array(tie('n'), { maxLength: 4 }), fc.boolean())
      .map(([t, a, kids, close]) => `<${t}${a.join('')}>${kids.join('')}${close ? `</${t}>` : ''}`),
    fc.constantFrom(
      '<!-- c -->',
      '<!--',
      '-->',
      '<![CDATA[ x ]]>',
      '<!DOCTYPE html>',
      '</p>',
      '<',
      '>',
      '<p',
      '</',
      '<?xml ?>',
      '<script>',
      '</script>',
    ),
  ),
})).n;

const markdown = fc
  .array(
    fc.oneof(
      word,
      fc.constantFrom(
        '# Title',
        '## Sub ##',
        '#',
        '```',
        '~~~',
        '```js',
        '- item',
        '1. one',
        '| a | b |',
        '|---|',
        '> quote',
        '[l](u)',
        '![i](s)',
        '***',
        '    code',
      ),
      fc.string({ maxLength: 10 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(' \n'.slice(0, 1 + (parts.length % 2))));

interface LoaderInput {
  kind: 'html' | 'md' | 'txt';
  text: string;
  bom: boolean;
  junk: number | null;
  maxTokens: number;
}

export const ragLoadersTarget: FuzzTarget<LoaderInput> = {
  name: 'rag_loaders',
  what: 'HTML / Markdown / text bytes -> parseDocument -> chunkText',
  hangMs: 1000,
  arbitrary: fc.oneof(
    fc.record({
      kind: fc.constant('html' as const),
      text: fc.array(html, { maxLength: 8 }).map((a) => a.join('')),
      bom: fc.boolean(),
      junk: fc.option(fc.nat({ max: 255 }), { freq: 8 }),
      maxTokens: fc.integer({ min: 1, max: 64 }),
    }),
    fc.record({
      kind: fc.constant('md' as const),
      text: markdown,
      bom: fc.boolean(),
      junk: fc.option(fc.nat({ max: 255 }), { freq: 8 }),
      maxTokens: fc.integer({ min: 1, max: 64 }),
    }),
    fc.record({
      kind: fc.constant('txt' as const),
      text: fc.string({ unit: 'binary', maxLength: 200 }),
      bom: fc.boolean(),
      junk: fc.option(fc.nat({ max: 255 }), { freq: 4 }),
      maxTokens: fc.integer({ min: 1, max: 64 }),
    }),
  ),
  run(input) {
    let bytes = new Uint8Array(Buffer.from((input.bom ? '\uFEFF' : '') + input.text, 'utf8'));
    if (input.junk !== null)
      bytes = Uint8Array.from([
        ...bytes.subarray(0, bytes.length >> 1),
        input.junk,
        ...bytes.subarray(bytes.length >> 1),
      ]);
    const hash = createHash('sha256').update(bytes).digest('hex');
    const r = parseDocument(`doc.${input.kind}`, bytes, hash);
    if ('skip' in r) return;
    const text = r.doc.text;
    const chunks = chunkText(text, {
      maxTokens: input.maxTokens,
      countTokens: (s) => s.split(/\s+/).filter(Boolean).length,
    });
    for (const c of chunks)
      if (text.slice(c.start, c.end) !== c.text)
        throw new Error(`a chunk is not the span [${c.start}, ${c.end}) of the text`);
  },
  clean: (e) => `the loader threw: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`,
};
