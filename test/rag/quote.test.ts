/** Where a grounded answer came from: the source chunk and the character offsets of the quote. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { locateQuote, quoteSources } from '../../src/rag/quote.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';

const tok = loadTokenizerJson(byteLevelTokenizerJson(40, true));
const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
const decode = (ids: readonly number[]) => tok.decode(ids);

test('locateQuote: the offsets point at the quote, trimmed, in the source that holds it', () => {
  const sources = ['Cats sleep all day.', 'The Danube flows through ten countries. Then the sea.'];
  const ids = sources.map(enc);
  const quote = enc(' ten countries'); // a span of the second source's tokens, as the search quotes
  const at = locateQuote(sources, ids, quote, decode);
  assert.deepEqual(at, { index: 1, start: 25, end: 38 });
  assert.equal(sources[1].slice(25, 38), 'ten countries');
  // a quote at the very start of a source (no leading space)
  assert.deepEqual(locateQuote(sources, ids, enc('Cats sleep'), decode), { index: 0, start: 0, end: 10 });
});

test('locateQuote: of a repeated text, the occurrence its tokens came from', () => {
  const sources = ['port 8080 here, and port 8080 there'];
  const ids = sources.map(enc);
  const first = locateQuote(sources, ids, enc(' 8080 here'), decode);
  assert.deepEqual(first, { index: 0, start: 5, end: 14 });
  const q = enc(' 8080 there');
  const second = locateQuote(sources, ids, q, decode);
  assert.deepEqual(second, { index: 0, start: 25, end: 35 });
  // a quote whose tokens occur twice: the first occurrence, and its text there
  const both = locateQuote(sources, ids, enc(' 8080'), decode);
  assert.deepEqual(both, { index: 0, start: 5, end: 9 });
});

test('locateQuote: an empty, blank or foreign quote is not located', () => {
  const sources = ['alpha beta'];
  const ids = sources.map(enc);
  assert.equal(locateQuote(sources, ids, [], decode), null);
  assert.equal(locateQuote(sources, ids, enc(' gamma'), decode), null);
  assert.equal(locateQuote(['a  b'], [enc('a  b')], enc('  '), decode), null, 'only spaces');
});

test('quoteSources: the decoder gets the sources joined with walls; the quote comes back located', async () => {
  const sources = ['one two', 'three four'];
  let seen: number[] = [];
  const q = await quoteSources(tok, sources, async (source) => {
    seen = source;
    return { tokens: enc(' four'), finished: true, score: null };
  });
  assert.deepEqual(seen, [...enc('one two'), -1, ...enc('three four')]);
  assert.deepEqual(q, {
    text: ' four',
    tokens: enc(' four').length,
    finished: true,
    score: null,
    at: { index: 1, start: 6, end: 10 },
  });
  await assert.rejects(
    quoteSources(tok, [''], async () => ({ tokens: [], finished: false, score: null })),
    /non-empty source/,
  );
});
