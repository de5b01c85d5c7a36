/**
 * `npm run experiment -- reader [--model DIR] [--k K] [--seed N] [--out FILE]`: how should a grounded
 * answer choose among the retrieved chunks (issue 17)?
 *
 * Today's grounded answer puts the top-k chunks in one prompt and takes the likeliest quote of any
 * of them. This measures the alternative a retrieve-then-read system uses: read each chunk alone
 * (the whole window for it, as the gold-chunk condition does), take each chunk's likeliest quote,
 * and pick the quote with the best mean log-probability per token minus w x ln(1 + rank), the
 * chunk's retrieval rank counting as a prior. Every w is scored from the same quotes.
 *
 * Sets (tuning data only): the synthetic unseen-name set under another seed than `npm run eval`'s
 * (--seed, default 7; eval's is 20240), the real-prose dev split, and the docs/ questions.
 * Last line: one JSON object.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { confidenceOf } from '../src/rag/abstain.ts';
import { createEmbedder } from '../src/rag/embedder.ts';
import { LocalGenerator } from '../src/rag/generator.ts';
import { indexPaths } from '../src/rag/indexer.ts';
import { buildPrompt } from '../src/rag/prompt.ts';
import { retrieve } from '../src/rag/retriever.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';
import {
  bestOf,
  docsEvalSet,
  type EvalSet,
  exactMatch,
  f1Score,
  quotable,
  realProseEvalSet,
  syntheticEvalSet,
} from '../src/recipe/eval.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const MODEL = arg('model', 'models/xfmr-rag-tiny');
const K = Number(arg('k', '3'));
const SEED = Number(arg('seed', '7'));
const OUT = arg('out', '');
const WORK = join('runs', 'reader-experiment');
const MAX_TOKENS = 24;
const WEIGHTS = [0, 0.1, 0.25, 0.5, 1, 2, 1e9];

const gen = LocalGenerator.load(MODEL, { chat: false });
const sets: EvalSet[] = [
  syntheticEvalSet(join(WORK, 'synthetic-docs'), 100, SEED),
  realProseEvalSet('eval/realprose', 'dev'),
  await docsEvalSet('docs'),
];
const budget = gen.contextTokens - MAX_TOKENS - gen.promptOverhead;
const fit = {
  budget,
  countTokens: (t: string) => gen.countTokens(t),
  truncate: (t: string, n: number) => gen.truncate(t, n),
};
const decoding = { maxTokens: MAX_TOKENS, temperature: 0 };

interface Row {
  set: string;
  n: number;
  together: { em: number; f1: number };
  perChunk: { w: number; em: number; f1: number }[];
}
const rows: Row[] = [];
for (const set of sets) {
  const db = join(WORK, `${set.name}.sqlite`);
  const embedder = createEmbedder({ type: 'hash' });
  const { rmSync, mkdirSync } = await import('node:fs');
  mkdirSync(WORK, { recursive: true });
  rmSync(db, { force: true });
  const store = SqliteStore.openOrCreate(db, { id: embedder.id, dim: embedder.dim, spec: embedder.spec });
  await indexPaths(set.paths, store, embedder, { maxTokens: 80 });
  const items = set.items.filter((x) => x.answers.length > 0);
  let together = { em: 0, f1: 0 };
  const per = WEIGHTS.map((w) => ({ w, em: 0, f1: 0 }));
  const t0 = performance.now();
  for (const item of items) {
    const hits = await retrieve(store, embedder, item.question, { k: K, mode: 'hybrid' });
    const all = buildPrompt(item.question, hits, fit).prompt;
    const q = await gen.quote(all, [quotable(all)], decoding);
    together = {
      em: together.em + bestOf(q.text.trim(), item.answers, exactMatch),
      f1: together.f1 + bestOf(q.text.trim(), item.answers, f1Score),
    };
    const reads: { text: string; conf: number }[] = [];
    for (const hit of hits) {
      const p = buildPrompt(item.question, [hit], fit).prompt;
      const r = await gen.quote(p, [quotable(p)], decoding);
      reads.push({ text: r.text.trim(), conf: r.score ? confidenceOf('mean_logprob', r.score) : -Infinity });
    }
    for (const s of per) {
      let best = -1;
      reads.forEach((r, i) => {
        const v = r.conf - s.w * Math.log(1 + i);
        if (best < 0 || v > reads[best].conf - s.w * Math.log(1 + best)) best = i;
      });
      const text = best >= 0 ? reads[best].text : '';
      s.em += bestOf(text, item.answers, exactMatch);
      s.f1 += bestOf(text, item.answers, f1Score);
    }
  }
  await store.close();
  const pct = (x: number) => Math.round((1000 * x) / items.length) / 10;
  rows.push({
    set: set.name,
    n: items.length,
    together: { em: pct(together.em), f1: pct(together.f1) },
    perChunk: per.map((s) => ({ w: s.w, em: pct(s.em), f1: pct(s.f1) })),
  });
  console.error(
    `${set.name}: ${items.length} questions in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

console.log(
  `| set | n | k ${K} in one prompt | ${WEIGHTS.map((w) => `each chunk, w ${w >= 1e9 ? 'inf (top-1)' : w}`).join(' | ')} |`,
);
console.log(`|---|---|---|${WEIGHTS.map(() => '---').join('|')}|`);
for (const r of rows)
  console.log(
    `| ${r.set} | ${r.n} | ${r.together.em} / ${r.together.f1} | ${r.perChunk.map((p) => `${p.em} / ${p.f1}`).join(' | ')} |`,
  );
const result = { model: MODEL, k: K, seed: SEED, rows };
if (OUT) writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
