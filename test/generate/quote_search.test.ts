/**
 * Grounded answers by beam search: the likeliest quote of the source, ranked by mean
 * log-probability (or total, with lengthPenalty 0), checked against brute force over every span.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { searchQuote } from '../../src/generate/quote_search.ts';
import { logSumExp } from '../../src/generate/sampler.ts';
import { FakeLM, hashLogits } from './fake_lm.ts';

const EOS = 0;
const V = 12;

/** log P(span, EOS | prompt) under the fake model, by direct evaluation. */
function logProb(next: (p: readonly number[]) => Float32Array, prompt: number[], span: number[]): number {
  let lp = 0;
  const seq = [...prompt];
  for (const t of [...span, EOS]) {
    const l = next(seq);
    lp += l[t] - logSumExp(l);
    seq.push(t);
  }
  return lp;
}

function isSpan(span: readonly number[], source: readonly number[]): boolean {
  for (let i = 0; i + span.length <= source.length; i++)
    if (span.every((t, j) => source[i + j] === t)) return true;
  return false;
}

/** Every span of the source (no decode: any start, any end). */
function spans(source: number[], maxLen: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < source.length; i++)
    for (let j = i + 1; j <= Math.min(source.length, i + maxLen); j++) out.push(source.slice(i, j));
  return out;
}

test('searchQuote finds the best span of brute force, mean and total log-probability', async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const next = hashLogits(V, 3);
    const lm = new FakeLM(V, 64, (p) => next([seed, ...p]));
    const at = (p: readonly number[]) => next([seed, ...p]);
    const source = [3, 5, 7, 5, 9, 2, 11];
    const prompt = [1, 4, 6];
    for (const lengthPenalty of [0, 1]) {
      let best = { span: [] as number[], rank: Number.NEGATIVE_INFINITY, lp: 0 };
      for (const s of spans(source, 4)) {
        const lp = logProb(at, prompt, s);
        const rank = lp / (s.length + 1) ** lengthPenalty;
        if (rank > best.rank) best = { span: s, rank, lp };
      }
      // 64 beams hold every span of 4 tokens: the search is exhaustive.
      const q = await searchQuote(lm, prompt, source, { eos: [EOS], maxTokens: 4, beams: 64, lengthPenalty });
      assert.deepEqual(q.tokens, best.span, `seed ${seed}, lengthPenalty ${lengthPenalty}`);
      assert.ok(q.finished);
      assert.ok(Math.abs(q.logprob - best.lp) < 1e-4);
    }
  }
});

test('searchQuote beats greedy where a likely first token leads nowhere', async () => {
  // After the prompt, " the"=2 is the likeliest first token, but nothing after it is likely and
  // EOS after it is not either; "8080"=7 is less likely first, then EOS is almost certain.
  const source = [2, 3, 7];
  const lm = new FakeLM(V, 32, (p) => {
    const l = new Float32Array(V);
    const last = p.at(-1);
    if (last === 1) {
      l[2] = 3;
      l[7] = 2;
    } else if (last === 7) l[EOS] = 10;
    return l;
  });
  const q = await searchQuote(lm, [1], source, { eos: [EOS], maxTokens: 3, beams: 4 });
  assert.deepEqual(q.tokens, [7]);
  // One prefill of the prompt, then one token per live hypothesis per step.
  assert.deepEqual(lm.calls[0], [1, 0, 0, 0]);
  assert.ok(lm.calls.slice(1).every((c) => c.every((n) => n <= 1)));
});

test('searchQuote: finishedLogprob sums the probability of every finished quote, and bounds the chosen one', async () => {
  const next = hashLogits(V, 3);
  const lm = new FakeLM(V, 64, (p) => next([9, ...p]));
  const source = [3, 5, 7, 5, 9, 2, 11];
  const prompt = [1, 4, 6];
  // maxTokens 4 counts the EOS: quotes of 1..3 tokens finish. 64 beams keep every distinct span of
  // up to 3 tokens (at most 7 + 6 + 5), so every one of them is met; [5] occurs twice but is one
  // token sequence, counted once.
  const distinct = new Map<string, number[]>();
  for (const s of spans(source, 3)) distinct.set(s.join(','), s);
  const lps = [...distinct.values()].map((s) => logProb((p) => next([9, ...p]), prompt, s));
  const q = await searchQuote(lm, prompt, source, { eos: [EOS], maxTokens: 4, beams: 64 });
  assert.ok(Math.abs(q.finishedLogprob - logSumExp(lps)) < 1e-4, `${q.finishedLogprob} vs ${logSumExp(lps)}`);
  assert.ok(q.logprob <= q.finishedLogprob, 'the chosen quote is one of them');
  // no EOS: nothing finishes
  const open = await searchQuote(lm, prompt, source, { eos: [], maxTokens: 3, beams: 4 });
  assert.equal(open.finished, false);
  assert.equal(open.finishedLogprob, Number.NEGATIVE_INFINITY);
  // no EOS and a budget longer than the source: every span runs into the source's end, and the
  // likeliest of the last open ones is the answer (not an empty one)
  const short = [3, 5];
  const ran = await searchQuote(lm, prompt, short, { eos: [], maxTokens: 10, beams: 4 });
  assert.equal(ran.finished, false);
  assert.ok(ran.tokens.length > 0 && isSpan(ran.tokens, short), `${ran.tokens}`);
});

test('searchQuote: errors and an aborted search', async () => {
  const lm = new FakeLM(V, 8, hashLogits(V));
  await assert.rejects(searchQuote(lm, [], [3], { eos: [EOS], maxTokens: 2 }), /empty prompt/);
  await assert.rejects(
    searchQuote(lm, [1, 2, 3, 4, 5, 6, 7, 8], [3], { eos: [EOS], maxTokens: 2 }),
    /window 8/,
  );
  const ac = new AbortController();
  ac.abort();
  const q = await searchQuote(lm, [1], [3, 4, 5], { eos: [EOS], maxTokens: 3, signal: ac.signal });
  assert.equal(q.finished, false);
});
