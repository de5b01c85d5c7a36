/** Grounded decoding: outputs are spans of a source token sequence, then EOS. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate } from '../../src/generate/index.ts';
import { joinSources, QUOTE_WALL, SpanConstraint } from '../../src/generate/span_constraint.ts';
import { FakeLM, hashLogits } from './fake_lm.ts';

const EOS = 0;

/** Whether `span` occurs contiguously in `source`. */
function isSpan(span: readonly number[], source: readonly number[]): boolean {
  for (let i = 0; i + span.length <= source.length; i++)
    if (span.every((t, j) => source[i + j] === t)) return true;
  return false;
}

test('SpanConstraint: the allowed set follows the spans that match what was generated', () => {
  const c = new SpanConstraint([5, 6, 7, 5, 8], [EOS]);
  assert.deepEqual([...c.allowed()].sort(), [5, 6, 7, 8], 'any source token starts a span; no EOS yet');
  c.push(5);
  assert.deepEqual([...c.allowed()].sort(), [EOS, 6, 8], 'after 5: 6 (at 1) or 8 (at 4), or stop');
  c.push(8);
  assert.deepEqual([...c.allowed()], [EOS], 'the source ends after 5 8: only EOS');
});

test('SpanConstraint with decode: an answer ends only at a word boundary', () => {
  // source text " port 80 80." as tokens: " port"=1, " 8"=2, "0"=3, "."=4
  const text: Record<number, string> = { 1: ' port', 2: ' 8', 3: '0', 4: '.' };
  const decode = (ids: readonly number[]) => ids.map((i) => text[i] ?? '').join('');
  const c = new SpanConstraint([1, 2, 3, 2, 3, 4], [EOS], decode);
  c.push(2); // " 8": followed by "0", inside the word " 80"
  assert.deepEqual([...c.allowed()], [3], 'no EOS inside a word');
  c.push(3); // " 80": next is " 8" (a new word) or "." (punctuation)
  assert.deepEqual([...c.allowed()].sort(), [EOS, 2, 4]);
});

test('SpanConstraint with decode: an answer starts at a word and holds a letter or digit', () => {
  // " port 8080." as " port"=1, " 80"=2, "80"=3, "."=4, "\n"=5, "v"=6 (after a newline)
  const text: Record<number, string> = { 1: ' port', 2: ' 80', 3: '80', 4: '.', 5: '\n', 6: 'v' };
  const decode = (ids: readonly number[]) => ids.map((i) => text[i] ?? '').join('');
  const c = new SpanConstraint([1, 2, 3, 4, 5, 6], [EOS], decode);
  assert.deepEqual([...c.allowed()].sort(), [1, 2, 4, 5, 6], '"80" inside " 8080" starts no answer');
  const dot = c.clone();
  dot.push(4);
  assert.deepEqual([...dot.allowed()], [5], 'a lone "." cannot be an answer (no EOS)');
  dot.push(5);
  dot.push(6);
  assert.deepEqual([...dot.allowed()], [EOS], '".\nv" holds a letter: it may end');
  c.push(2);
  assert.deepEqual([...c.allowed()], [3], 'the clone kept its own state');
});

test('SpanConstraint over joined sources: no quote crosses a wall; one may start after it and end before it', () => {
  const source = joinSources([
    [5, 6],
    [7, 8],
  ]);
  assert.deepEqual(source, [5, 6, QUOTE_WALL, 7, 8]);
  // with decode: "a" tokens carry no leading space, so only a source's start (or a wall) starts a word
  const text: Record<number, string> = { 5: 'a', 6: 'b', 7: 'c', 8: 'd' };
  const decode = (ids: readonly number[]) => ids.map((i) => text[i] ?? '').join('');
  const c = new SpanConstraint(source, [EOS], decode);
  assert.deepEqual([...c.allowed()].sort(), [5, 7], 'the first token of each source, never the wall');
  c.push(5);
  assert.deepEqual([...c.allowed()], [6], '"a" then "b" is one word: no EOS before its end');
  c.push(6);
  assert.deepEqual([...c.allowed()], [EOS], 'the wall ends "ab": EOS, and nothing of the next source');
  // without decode every token is a word: "b" may not run on into "c"
  const free = new SpanConstraint(source, [EOS]);
  free.push(6);
  assert.deepEqual([...free.allowed()], [EOS]);
});

test('SpanConstraint: apply leaves only the allowed logits finite', () => {
  const c = new SpanConstraint([3, 4], [EOS]);
  const logits = new Float32Array([1, 2, 3, 4, 5, 6]);
  c.apply(logits);
  assert.deepEqual(Array.from(logits), [-Infinity, -Infinity, -Infinity, 4, 5, -Infinity]);
  assert.throws(() => new SpanConstraint([], [EOS]), /non-empty source/);
});

test('generate with quoteFrom: every output, greedy or sampled, is a span of the source then EOS', async () => {
  const V = 50;
  const lm = new FakeLM(V, 256, hashLogits(V, 3));
  const source = [11, 12, 13, 14, 12, 15, 16, 17, 18, 19, 20, 12, 13, 30];
  let sawEos = 0;
  for (let seed = 0; seed < 40; seed++) {
    const [r] = await generate(lm, [[1, 2, 3]], {
      maxNewTokens: 8,
      temperature: seed === 0 ? 0 : 1.5,
      seed,
      eos: EOS,
      quoteFrom: source,
    });
    const body = r.finishReason === 'stop' ? r.ids.slice(0, -1) : r.ids;
    if (r.finishReason === 'stop') {
      sawEos++;
      assert.equal(r.ids.at(-1), EOS);
    }
    assert.ok(body.length >= 1, `seed ${seed}: at least one token before EOS`);
    assert.ok(isSpan(body, source), `seed ${seed}: [${body}] is not a span of the source`);
  }
  assert.ok(sawEos > 0, 'some sampled answers stop with EOS');
  // unconstrained, the same model leaves the source
  const [free] = await generate(lm, [[1, 2, 3]], { maxNewTokens: 8, temperature: 1.5, seed: 3, eos: EOS });
  assert.ok(!isSpan(free.ids, source));
});

test('generate with quoteFrom and no EOS: the answer stops at the end of the source', async () => {
  const V = 50;
  const lm = new FakeLM(V, 256, hashLogits(V, 3));
  const source = [21, 22, 23];
  for (let seed = 0; seed < 10; seed++) {
    const [r] = await generate(lm, [[1, 2]], { maxNewTokens: 10, temperature: 1, seed, quoteFrom: source });
    assert.ok(isSpan(r.ids, source), `seed ${seed}: [${r.ids}]`);
    assert.ok(r.ids.length <= 3);
    assert.equal(r.finishReason, 'stop');
  }
});
