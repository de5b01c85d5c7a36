/** Chunking: token budgets, overlap, preferred boundaries, exact spans and positions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkText } from '../../src/rag/chunker.ts';
import { countWords } from '../../src/rag/hash_embedder.ts';

const count = (s: string) => (s.match(/\S+/g) ?? []).length;
const sentence = (i: number, n = 9) => `Sentence ${i} ${'word '.repeat(n - 3).trim()} end.`;

test('chunks are exact spans within the budget, with line numbers', () => {
  const paras = Array.from({ length: 12 }, (_, p) =>
    Array.from({ length: 3 }, (_, s) => sentence(p * 3 + s)).join(' '),
  );
  const text = paras.join('\n\n');
  const chunks = chunkText(text, { maxTokens: 40, overlapTokens: 0, countTokens: count });
  assert.ok(chunks.length > 1);
  for (const c of chunks) {
    assert.equal(c.text, text.slice(c.start, c.end));
    assert.equal(c.tokens, count(c.text));
    assert.ok(c.tokens <= 40, `${c.tokens} tokens`);
    assert.equal(c.line, text.slice(0, c.start).split('\n').length);
    assert.equal(c.text, c.text.trim());
  }
  // without overlap the chunks tile the text: every word appears exactly once
  assert.equal(
    chunks.map((c) => count(c.text)).reduce((a, b) => a + b),
    count(text),
  );
  // cut at paragraph boundaries: every chunk starts a paragraph
  for (const c of chunks) assert.ok(c.start === 0 || text.slice(c.start - 2, c.start) === '\n\n');
});

test('overlap repeats whole sentences from the end of the previous chunk', () => {
  const text = Array.from({ length: 30 }, (_, i) => sentence(i)).join(' ');
  const chunks = chunkText(text, { maxTokens: 40, overlapTokens: 12, countTokens: count });
  for (let i = 1; i < chunks.length; i++) {
    const prev = chunks[i - 1];
    const cur = chunks[i];
    assert.ok(cur.start < prev.end, 'overlaps');
    assert.ok(cur.end > prev.end, 'brings new text');
    assert.ok(count(text.slice(cur.start, prev.end)) <= 12, 'overlap within its budget');
    assert.match(cur.text, /^Sentence \d+/, 'starts at a sentence');
  }
  const none = chunkText(text, { maxTokens: 40, overlapTokens: 0, countTokens: count });
  assert.ok(none.length < chunks.length);
});

test('a heading starts a new chunk once the chunk is half full; no overlap across it', () => {
  const text = `${sentence(1)} ${sentence(2)} ${sentence(3)}\n\n## Next section\n\n${sentence(4)} ${sentence(5)}\n\n${sentence(6)}`;
  const chunks = chunkText(text, { maxTokens: 40, overlapTokens: 10, countTokens: count });
  assert.equal(chunks.length, 2);
  assert.ok(chunks[1].text.startsWith('## Next section'));
  assert.equal(chunks[1].heading, 'Next section');
  assert.equal(chunks[0].heading, undefined);
  assert.ok(chunks[1].start >= chunks[0].end, 'no overlap into the previous section');
});

test('over-long sentences split between words; over-long words split into pieces', () => {
  const long = `${'alpha '.repeat(50).trim()}.`;
  const word = 'x'.repeat(500);
  const chunks = chunkText(`${long}\n\n${word}`, {
    maxTokens: 16,
    overlapTokens: 0,
    countTokens: (s) => Math.ceil(s.length / 8),
  });
  for (const c of chunks) assert.ok(c.tokens <= 16);
  assert.equal(
    chunks
      .map((c) => c.text)
      .join('')
      .replace(/\s/g, '').length,
    `${long}${word}`.replace(/\s/g, '').length,
  );
});

test('fenced code blocks are not cut at their blank lines', () => {
  const code = '```\nline one\n\nline two\n```';
  const text = `${sentence(1)}\n\n${code}\n\n${sentence(2)}`;
  const chunks = chunkText(text, { maxTokens: 14, overlapTokens: 0, countTokens: countWords });
  const start = text.indexOf(code);
  for (const c of chunks) {
    const inside = (p: number) => p > start && p < start + code.length;
    assert.ok(!inside(c.start) && !inside(c.end), JSON.stringify(chunks.map((x) => x.text)));
  }
});

test('options are checked', () => {
  assert.throws(() => chunkText('a', { maxTokens: 0, countTokens: count }), /maxTokens/);
  assert.throws(
    () => chunkText('a', { maxTokens: 8, overlapTokens: 8, countTokens: count }),
    /overlapTokens/,
  );
  assert.deepEqual(chunkText('', { maxTokens: 8, countTokens: count }), []);
});
