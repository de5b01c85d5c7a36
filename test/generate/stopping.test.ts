/** Stop strings found in text that arrives in pieces; the EOS and max-new-tokens criteria. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EosCriterion, MaxNewTokensCriterion, StopStringMatcher } from '../../src/generate/stopping.ts';

/** Feeds pieces; returns the emitted pieces and whether it stopped (flushing if not). */
function feed(stops: string[], pieces: string[]): { out: string[]; stopped: boolean } {
  const m = new StopStringMatcher(stops);
  const out: string[] = [];
  for (const p of pieces) {
    const r = m.push(p);
    out.push(r.text);
    if (r.stopped) return { out, stopped: true };
  }
  out.push(m.flush());
  return { out, stopped: false };
}

test('a stop string inside one piece cuts the text before it', () => {
  assert.deepEqual(feed(['STOP'], ['abcSTOPdef']), { out: ['abc'], stopped: true });
  assert.deepEqual(feed(['STOP'], ['STOP']), { out: [''], stopped: true });
});

test('a stop string spanning pieces is found, and its start was held back', () => {
  const r = feed(['\nUser:'], ['Hi', '\n', 'Us', 'er', ': more']);
  assert.deepEqual(r, { out: ['Hi', '', '', '', ''], stopped: true });
  const r2 = feed(['STOP'], ['xS', 'T', 'OP']);
  assert.deepEqual(r2, { out: ['x', '', ''], stopped: true });
});

test('held-back text is released when it turns out not to be a stop string', () => {
  const r = feed(['\nUser:'], ['a\nUs', 'ex', '\nUser', ': b']);
  assert.deepEqual(r, { out: ['a', '\nUsex', '', ''], stopped: true });
  assert.equal(r.out.join(''), 'a\nUsex');
  // At the end, a held prefix is flushed as ordinary text.
  assert.deepEqual(feed(['STOP'], ['abc', 'ST']), { out: ['abc', '', 'ST'], stopped: false });
});

test('the earliest of several stop strings wins, also when one is a prefix of another', () => {
  assert.deepEqual(feed(['abc', 'bcd'], ['xab', 'cd']), { out: ['x', ''], stopped: true });
  assert.deepEqual(feed(['bcd', 'abc'], ['xabcd']), { out: ['x'], stopped: true });
  assert.deepEqual(feed(['ab', 'abc'], ['zab']), { out: ['z'], stopped: true });
  // "aab" with stop "ab": the held "a" is released, the second "a" starts the match.
  assert.deepEqual(feed(['ab'], ['a', 'a', 'b']), { out: ['', 'a', ''], stopped: true });
});

test('no stop strings: everything passes at once; empty stop strings are refused', () => {
  assert.deepEqual(feed([], ['a', 'b']), { out: ['a', 'b', ''], stopped: false });
  assert.throws(() => new StopStringMatcher(['']), /non-empty/);
});

test('EOS accepts one id or a list; max new tokens counts exactly', () => {
  assert.equal(new EosCriterion(7).isEos(7), true);
  assert.equal(new EosCriterion([2, 7]).isEos(2), true);
  assert.equal(new EosCriterion([2, 7]).isEos(3), false);
  assert.equal(new EosCriterion().isEos(0), false);
  const m = new MaxNewTokensCriterion(3);
  assert.deepEqual(
    [1, 2, 3].map((n) => m.isDone(n)),
    [false, false, true],
  );
  assert.throws(() => new MaxNewTokensCriterion(-1), /max_tokens/);
});
