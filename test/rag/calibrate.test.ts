/** The abstention threshold: the documented choice on hand-made scores, and AUROC. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auroc, chooseThreshold, thresholdFigures } from '../../src/rag/calibrate.ts';

test('chooseThreshold: the most abstention with at least 90% answered, midway in the best interval', () => {
  // answerable -1..-10: 9 of 10 must be answered, so t <= -9 (the 9th highest). Unanswerable below
  // -9: -9.5 and -12; the best t lies in (-9.5, -9], and the midpoint is -9.25.
  const a = [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10];
  const u = [-9.5, -8, -12, -5];
  assert.deepEqual(chooseThreshold(a, u, 0.9), { threshold: -9.25, answerRate: 0.9, abstainRate: 0.5 });
  // the order of the inputs does not matter
  assert.deepEqual(chooseThreshold([...a].reverse(), [...u].reverse(), 0.9).threshold, -9.25);
  // answering all: t <= -10; only -12 is below, t = -11
  assert.deepEqual(chooseThreshold(a, u, 1), { threshold: -11, answerRate: 1, abstainRate: 0.25 });
  // 50%: t <= -5 (the 5th highest); the highest unanswerable below it is -8 (-5 itself is not
  // below): t = -6.5, which also answers -6
  assert.deepEqual(chooseThreshold(a, u, 0.5), { threshold: -6.5, answerRate: 0.6, abstainRate: 0.75 });
});

test('chooseThreshold: 90% of a count that is not a multiple of 10 rounds the answers up', () => {
  // 0.9 * 11 = 9.9: 10 answers needed, t <= the 10th highest (-10); -10.5 is below
  const a = [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11];
  const r = chooseThreshold(a, [-10.5, -0.5], 0.9);
  assert.equal(r.threshold, -10.25);
  assert.ok(r.answerRate >= 0.9);
  assert.equal(r.answerRate, 10 / 11);
  assert.equal(r.abstainRate, 0.5);
});

test('chooseThreshold: when no unanswerable score is low enough, it abstains on nothing seen', () => {
  const r = chooseThreshold([-1, -2, -3], [-0.5, 0], 0.9);
  assert.equal(r.abstainRate, 0);
  assert.equal(r.answerRate, 1);
  assert.equal(r.threshold, -3, 'the lowest score seen');
  // -Infinity (a quote that never finished) is never the threshold
  assert.equal(chooseThreshold([-1, Number.NEGATIVE_INFINITY], [0], 0.5).threshold, -1);
});

test('chooseThreshold: bad input is an error', () => {
  assert.throws(() => chooseThreshold([], [-1]), /at least one answerable/);
  assert.throws(() => chooseThreshold([-1], [-1], 0), /answer rate must be in \(0, 1\]/);
  assert.throws(() => chooseThreshold([-1], [-1], 1.5), /answer rate/);
  assert.throws(() => chooseThreshold([Number.NaN], [-1]), /answerable confidence is NaN/);
});

test('thresholdFigures: abstains strictly below the threshold', () => {
  assert.deepEqual(thresholdFigures(-2, [-1, -2, -3], [-2, -2.5]), {
    threshold: -2,
    answerRate: 2 / 3,
    abstainRate: 0.5,
  });
});

test('auroc: 1 when every answerable score is higher, 0.5 for ties, 0 reversed', () => {
  assert.equal(auroc([3, 4], [1, 2]), 1);
  assert.equal(auroc([1, 2], [3, 4]), 0);
  assert.equal(auroc([1, 1], [1]), 0.5);
  // 2 of the 4 pairs ordered, one tie: (2 + 0.5) / 4
  assert.equal(auroc([1, 3], [1, 2]), (2 + 0.5) / 4);
  assert.ok(Number.isNaN(auroc([], [1])));
});
