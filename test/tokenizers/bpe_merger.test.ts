// The BPE merge loop (bpe_merger.ts) against the textbook loop: look at every adjacent pair, merge the
// one of lowest rank (the leftmost on ties), repeat until none has a rank. Random rule tables and
// words on both sides of the scan/heap switch (256 symbols), with merge rules over ids (and the
// `firsts` that map merged symbols back to their spans) and with tiktoken ranks over bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpeMerger, type MergeRule, rulesFromPairs } from '../../src/tokenizers/bpe_merger.ts';
import { TokenBytes } from '../../src/tokenizers/token_bytes.ts';
import { rng } from './corpus.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);
/** Word lengths around the switch from the O(n^2) scan to the heap (at 256 symbols). */
const LENGTHS = [0, 1, 2, 3, 7, 40, 255, 256, 257, 300, 1000];

/** The textbook loop over merge rules: a pair listed twice has its last rank. */
function naiveRules(
  ids: readonly number[],
  rules: readonly MergeRule[],
): { ids: number[]; firsts: number[] } {
  const rule = new Map<string, { rank: number; merged: number }>();
  for (const [rank, [a, b, merged]] of rules.entries()) rule.set(`${a} ${b}`, { rank, merged });
  const parts = ids.map((id, first) => ({ id, first }));
  for (;;) {
    let at = -1;
    let best = Infinity;
    for (let k = 0; k + 1 < parts.length; k++) {
      const r = rule.get(`${parts[k].id} ${parts[k + 1].id}`);
      if (r && r.rank < best) [at, best] = [k, r.rank];
    }
    if (at < 0) break;
    const merged = rule.get(`${parts[at].id} ${parts[at + 1].id}`)!.merged;
    parts.splice(at, 2, { id: merged, first: parts[at].first });
  }
  return { ids: parts.map((p) => p.id), firsts: parts.map((p) => p.first) };
}

/** The textbook loop with tiktoken ranks: a pair's rank is the id of its joined text, if a token. */
function naiveRanks(text: string, vocab: readonly string[]): number[] {
  const id = new Map(vocab.map((t, i) => [t, i]));
  const parts = [...text];
  for (;;) {
    let at = -1;
    let best = Infinity;
    for (let k = 0; k + 1 < parts.length; k++) {
      const r = id.get(parts[k] + parts[k + 1]);
      if (r !== undefined && r < best) [at, best] = [k, r];
    }
    if (at < 0) break;
    parts.splice(at, 2, parts[at] + parts[at + 1]);
  }
  return parts.map((p) => id.get(p)!);
}

test('the worked examples: "abc" by rank, "aaa" leftmost first, symbols mapped back with firsts', () => {
  const [a, b, c, ab, abc, aa] = [0, 1, 2, 3, 4, 5];
  const merger = BpeMerger.fromRules([
    [a, b, ab],
    [ab, c, abc],
    [a, a, aa],
  ]);
  const run = (word: number[]) => {
    const ids = Int32Array.from(word);
    const firsts = new Int32Array(word.length);
    const m = merger.mergeIds(ids, word.length, firsts);
    return { ids: [...ids.subarray(0, m)], firsts: [...firsts.subarray(0, m)] };
  };
  assert.deepEqual(run([a, b, c]), { ids: [abc], firsts: [0] });
  assert.deepEqual(run([a, a, a]), { ids: [aa, a], firsts: [0, 2] });
  assert.deepEqual(run([a, a, b]), { ids: [a, ab], firsts: [0, 1] }); // (a, b) has rank 0, (a, a) rank 2
  assert.deepEqual(run([c]), { ids: [c], firsts: [0] });
  assert.deepEqual(run([]), { ids: [], firsts: [] });
});

test('a pair listed twice keeps its last rank (as HF tokenizers and GPT-2 encoder.py read merges)', () => {
  const [a, b, c, ab, bc] = [0, 1, 2, 3, 4];
  const merger = BpeMerger.fromRules([
    [a, b, ab],
    [b, c, bc],
    [a, b, ab],
  ]);
  const ids = Int32Array.of(a, b, c);
  assert.deepEqual([...ids.subarray(0, merger.mergeIds(ids, 3))], [a, bc]);
});

test('merge rules = the textbook loop: random rules, words short and long (scan and heap)', () => {
  const r = rng(11);
  for (let table = 0; table < 30; table++) {
    // Symbols 0..4 to start with; rule k makes symbol 5 + k from any two symbols that exist by then,
    // so rules chain, and some pairs repeat.
    const rules: MergeRule[] = [];
    for (let k = 0; k < 40; k++) {
      const pick = () => Math.floor(r() * (5 + k));
      rules.push([pick(), pick(), 5 + k]);
    }
    const merger = BpeMerger.fromRules(rules);
    for (const n of LENGTHS) {
      const word = Array.from({ length: n }, () => Math.floor(r() * 5));
      const ids = Int32Array.from(word);
      const firsts = new Int32Array(n);
      const m = merger.mergeIds(ids, n, firsts);
      const want = naiveRules(word, rules);
      assert.deepEqual([...ids.subarray(0, m)], want.ids, `table ${table}, ${n} symbols`);
      assert.deepEqual([...firsts.subarray(0, m)], want.firsts, `table ${table}, ${n} symbols: firsts`);
    }
  }
});

test('mergeBytes: merge rules over bytes (missing bytes dropped) and tiktoken ranks = the textbook loop', () => {
  const r = rng(12);
  for (let table = 0; table < 20; table++) {
    // A vocabulary over "abcd": the letters, then random strings of 2 to 4 letters (repeats skipped).
    const vocab = ['a', 'b', 'c', 'd'];
    while (vocab.length < 30) {
      const len = 2 + Math.floor(r() * 3);
      const t = Array.from({ length: len }, () => 'abcd'[Math.floor(r() * 4)]).join('');
      if (!vocab.includes(t)) vocab.push(t);
    }
    const tokens = new TokenBytes(vocab.map(utf8));
    const ranks = BpeMerger.fromRanks(tokens);
    for (const n of LENGTHS) {
      const text = Array.from({ length: n }, () => 'abcd'[Math.floor(r() * 4)]).join('');
      const out: number[] = [];
      ranks.mergeBytes(utf8(text), n, tokens.byteIds, out);
      assert.deepEqual(out, naiveRanks(text, vocab), `table ${table}, ${n} bytes`);
    }
  }
  // Merge rules over bytes; "x" is not in the vocabulary and is dropped.
  const tokens = new TokenBytes(['a', 'b', 'ab'].map(utf8));
  const rules = BpeMerger.fromRules(rulesFromPairs(tokens, [[0, 1]]));
  for (const n of [5, 600]) {
    const out: number[] = [];
    rules.mergeBytes(utf8('axb'.repeat(n)), 3 * n, tokens.byteIds, out);
    assert.deepEqual(out, Array(n).fill(2), `${n} repeats`);
  }
});

test('rulesFromPairs joins the bytes; bad pairs and misuse are named', () => {
  const tokens = new TokenBytes([utf8('a'), utf8('b'), utf8('ab'), undefined]);
  assert.deepEqual(rulesFromPairs(tokens, [[0, 1]]), [[0, 1, 2]]);
  assert.throws(() => rulesFromPairs(tokens, [[0, 3]]), /BPE merge 0 \(0, 3\) refers to an id not in the/);
  assert.throws(() => rulesFromPairs(tokens, [[1, 0]]), /merged token is not in the vocabulary/);
  assert.throws(() => BpeMerger.fromRules([[0, -1, 2]]), /ids must be non-negative/);
  assert.throws(() => BpeMerger.fromRanks(tokens).mergeIds(Int32Array.of(0, 1), 2), /needs merge rules/);
});
