/**
 * Abstention: what counts as one (silence or a refusal in words; a real answer, even a short one,
 * does not), the confidences of a quote, the decision against a model's threshold, and its file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CONFIDENCE_KINDS,
  confidenceOf,
  decide,
  isAbstention,
  NOT_FOUND_ANSWER,
  POLICY_FILE,
  readAbstainPolicy,
} from '../../src/rag/abstain.ts';

test('isAbstention: empty answers and refusals abstain', () => {
  for (const a of [
    '',
    '   \n',
    NOT_FOUND_ANSWER,
    'Not found.',
    "I don't know",
    'I do not know',
    'cannot answer that',
    "couldn't find it",
  ])
    assert.equal(isAbstention(a), true, JSON.stringify(a));
});

test('isAbstention: answers, including ones about finding things, do not abstain', () => {
  for (const a of [
    '--reverse',
    '0',
    'no',
    '127',
    'if COMMAND cannot be found',
    'find',
    'known',
    'the foundation',
  ])
    assert.equal(isAbstention(a), false, JSON.stringify(a));
});

test('confidenceOf: mean log-probability per token (EOS counted), total, and share of the finished mass', () => {
  const s = { tokens: 3, logprob: -2, finishedLogprob: Math.log(0.5), finished: true };
  assert.equal(confidenceOf('mean_logprob', s), -0.5);
  assert.equal(confidenceOf('logprob', s), -2);
  assert.ok(Math.abs(confidenceOf('beam_share', s) - Math.exp(-2) / 0.5) < 1e-12);
  for (const kind of CONFIDENCE_KINDS)
    assert.equal(confidenceOf(kind, { ...s, finished: false }), Number.NEGATIVE_INFINITY, kind);
});

test('decide: abstains only with a policy, strictly below its threshold; a sampled quote never', () => {
  const s = { tokens: 1, logprob: -1, finishedLogprob: -1, finished: true }; // mean -0.5
  const policy = (abstainBelow: number) => ({
    abstainBelow,
    confidence: 'mean_logprob' as const,
    calibratedOn: 'test',
    date: '',
    file: '',
  });
  assert.deepEqual(decide(null, s), { confidence: -0.5, abstained: false });
  assert.deepEqual(decide(policy(-0.4), s), { confidence: -0.5, abstained: true });
  assert.deepEqual(decide(policy(-0.5), s), { confidence: -0.5, abstained: false });
  assert.deepEqual(decide({ ...policy(0.9), confidence: 'beam_share' }, s), {
    confidence: 1,
    abstained: false,
  });
  assert.deepEqual(decide(policy(-0.4), null), { confidence: null, abstained: false });
  assert.equal(decide(policy(-1e9), { ...s, finished: false }).abstained, true, 'no whole quote: abstain');
});

test('readAbstainPolicy: null without the file; errors name the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-abstain-'));
  try {
    assert.equal(readAbstainPolicy(dir), null);
    assert.equal(readAbstainPolicy(join(dir, 'model.gguf')), null, 'a model file has no directory');
    const file = join(dir, POLICY_FILE);
    const write = (v: unknown) => writeFileSync(file, typeof v === 'string' ? v : JSON.stringify(v));
    write({
      abstain_below: -1.25,
      confidence: 'mean_logprob',
      calibrated_on: 'realprose-dev',
      date: '2026-12-07',
    });
    assert.deepEqual(readAbstainPolicy(dir), {
      abstainBelow: -1.25,
      confidence: 'mean_logprob',
      calibratedOn: 'realprose-dev',
      date: '2026-12-07',
      file,
    });
    const cases: [unknown, RegExp][] = [
      ['{"abstain_below": ', /not JSON/],
      [[1], /expected a JSON object/],
      [{ confidence: 'mean_logprob' }, /"abstain_below" must be a finite number, got undefined/],
      [
        { abstain_below: 'high', confidence: 'mean_logprob' },
        /"abstain_below" must be a finite number, got "high"/,
      ],
      [{ abstain_below: -1 }, /"confidence" must be one of mean_logprob, logprob, beam_share, got undefined/],
      [{ abstain_below: -1, confidence: 'vibes' }, /"confidence" must be one of .*, got "vibes"/],
      [{ abstain_below: -1, confidence: 'logprob', date: 5 }, /"date" must be a string, got 5/],
    ];
    for (const [v, re] of cases) {
      write(v);
      assert.throws(
        () => readAbstainPolicy(dir),
        (e: Error) => e.message.startsWith(`${file}: `) && re.test(e.message),
        JSON.stringify(v),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
