/**
 * `npm run experiment -- fusion [--embedder DIR] [--seed N] [--out FILE]`: when should hybrid
 * retrieval listen to BM25 (issue 18)?
 *
 * RRF with fixed weights has to choose: BM25 heavy, and questions asked in the asker's own words
 * lose (BM25 ranks passages that share a stray word first); vectors heavy, and lookups of named
 * things lose (the word vectors do not know "quilem"). Which case a question is can be read off
 * BM25's own result: the share of the question's content words that its first hit holds
 * (rag/overlap.ts). This scores, from the same ranked lists, fusions whose BM25 weight depends on
 * that share:
 *   fixed           RRF k 5, vector weight x trust (the embedder's vectorTrust), BM25 weight b
 *   gate c, b       BM25 weight b when the first hit holds at least c of the words, else 0
 *   smooth c, s, b  BM25 weight b * sigmoid((share - c) / s)
 *
 * Sets (dev data only): eval/paraphrase's dev split (paraphrase and keyword questions, recall@5),
 * the shipped SQLite set (69 questions, recall@5), and lookups, as `npm run eval` chunks them:
 * the answer's chunk first / in the top 3 for the synthetic unseen-name set under --seed (default
 * 7; eval's is 20240), the docs/ questions and the real-prose dev split.
 * Writes the table to --out (default experiments/results/fusion.txt). Last line: one JSON object.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optString, parseArgs } from '../src/cli/args.ts';
import { createEmbedder, embedderSpecOf } from '../src/rag/embedder.ts';
import { indexPaths } from '../src/rag/indexer.ts';
import { lexicalOverlap } from '../src/rag/overlap.ts';
import { loadPassageSet } from '../src/rag/passage_set.ts';
import { reciprocalRankFusion, retrieve } from '../src/rag/retriever.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';
import type { SearchHit } from '../src/rag/store.ts';
import { docsEvalSet, realProseEvalSet, syntheticEvalSet } from '../src/recipe/eval.ts';
import { containsAnswer } from '../src/recipe/realprose.ts';
import { paraphraseStore } from './paraphrase_store.ts';

const args = parseArgs(process.argv.slice(2), { values: ['embedder', 'seed', 'out'] });
const arg = (name: string, fallback: string): string => optString(args, name) ?? fallback;
const ROOT = new URL('../', import.meta.url).pathname;
const EMBEDDER = arg('embedder', join(ROOT, 'models/xfmr-embed-words'));
const SEED = Number(arg('seed', '7'));
const OUT = arg('out', join(ROOT, 'experiments/results/fusion.txt'));
const N = 50; // each list's length, as retrieve()'s hybrid mode with k <= 12
const tmp = mkdtempSync(join(tmpdir(), 'xfmr-exp-fusion-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** One question's two ranked lists, with each hit judged relevant or not. */
interface Lists {
  set: string;
  trust: number;
  /** Share of the question's content words in BM25's first hit. */
  coverage: number;
  vector: { hit: SearchHit; relevant: boolean }[];
  bm25: { hit: SearchHit; relevant: boolean }[];
}
const embedder = createEmbedder(embedderSpecOf(EMBEDDER));
const all: Lists[] = [];

async function collect(
  set: string,
  store: SqliteStore,
  question: string,
  relevant: (h: SearchHit) => boolean,
) {
  const v = await retrieve(store, embedder, question, { k: N, mode: 'vector' });
  const t = await retrieve(store, embedder, question, { k: N, mode: 'bm25' });
  all.push({
    set,
    trust: embedder.vectorTrust?.(question) ?? 1,
    coverage: t.length ? lexicalOverlap(question, t[0].text) : 0,
    vector: v.map((hit) => ({ hit, relevant: relevant(hit) })),
    bm25: t.map((hit) => ({ hit, relevant: relevant(hit) })),
  });
}

const para = loadPassageSet(join(ROOT, 'eval/paraphrase'));
const { store: paraStore } = await paraphraseStore(para, embedder, 'xfmr-exp-fusion-para-');
for (const q of para.questions) {
  if (q.split !== 'dev') continue;
  const gold = new Set(q.gold);
  await collect(`paraphrase dev, ${q.style}`, paraStore, q.question, (h) => gold.has(h.source));
}
const sqlite = JSON.parse(readFileSync(join(ROOT, 'test/rag/fixtures/sqlite-questions.json'), 'utf8')) as {
  questions: { q: string; answer: string }[];
};
const squash = (s: string) => s.replace(/\s+/g, ' ').toLowerCase();
const sqliteStore = SqliteStore.openOrCreate(join(tmp, 'sqlite.db'), embedder);
await indexPaths([join(ROOT, 'test/rag/fixtures/sqlite-docs')], sqliteStore, embedder);
for (const q of sqlite.questions)
  await collect('SQLite', sqliteStore, q.q, (h) => squash(h.text).includes(squash(q.answer)));
const lookups = [
  syntheticEvalSet(join(tmp, 'synthetic'), 100, SEED),
  await docsEvalSet(join(ROOT, 'docs')),
  realProseEvalSet(join(ROOT, 'eval/realprose'), 'dev'),
];
for (const set of lookups) {
  const store = SqliteStore.openOrCreate(join(tmp, `${set.name}.db`), embedder);
  await indexPaths(set.paths, store, embedder, { maxTokens: 80 }); // eval's chunks
  for (const item of set.items)
    if (item.answers.length)
      await collect(set.name, store, item.question, (h) =>
        item.answers.some((a) => containsAnswer(h.text, a)),
      );
}

type Rule = (q: Lists) => number; // the BM25 list's weight for this question
const rules: [string, Rule][] = [];
for (const b of [0.2, 0.5, 1, 2]) rules.push([`fixed, BM25 x ${b}`, () => b]);
for (const c of [0.4, 0.5, 0.6, 0.7])
  for (const b of [1, 2]) rules.push([`gate ${c}, BM25 x ${b}`, (q) => (q.coverage >= c ? b : 0)]);
for (const c of [0.4, 0.5, 0.6])
  for (const s of [0.05, 0.1])
    rules.push([`smooth ${c}, s ${s}, BM25 x 2`, (q) => 2 / (1 + Math.exp(-(q.coverage - c) / s))]);

const sets = [...new Set(all.map((q) => q.set))];
const isLookup = (set: string) => lookups.some((l) => l.name === set);
const rows: Record<string, Record<string, number[]>> = {};
for (const [name, bm25Weight] of rules) {
  rows[name] = {};
  for (const set of sets) {
    const qs = all.filter((q) => q.set === set);
    const firstRelevant = qs.map((q) => {
      const fused = reciprocalRankFusion([q.vector.map((x) => x.hit), q.bm25.map((x) => x.hit)], 5, [
        q.trust,
        bm25Weight(q),
      ]);
      const rel = new Set([...q.vector, ...q.bm25].filter((x) => x.relevant).map((x) => x.hit.chunkId));
      return fused.findIndex((f) => rel.has(f.hit.chunkId)) + 1; // 0: none
    });
    const at = (k: number) => firstRelevant.filter((r) => r >= 1 && r <= k).length / qs.length;
    rows[name][set] = isLookup(set) ? [at(1), at(3)] : [at(5)];
  }
}
const cell = (set: string, v: number[]) =>
  isLookup(set) ? v.map((x) => (100 * x).toFixed(0)).join(' / ') : v[0].toFixed(3);
const lines = [
  `# ${EMBEDDER} (${embedder.id}); RRF k 5, vector weight x trust; ${all.length} questions, dev data only`,
  `# shipped (the embedder's xfmr_retrieval.json): ${JSON.stringify(embedder.fusion ?? null)}; why: models/xfmr-embed-words/README.md`,
  `# paraphrase and SQLite: recall@5; lookups (${lookups.map((l) => l.name).join(', ')}): answer's chunk first / in top 3, %`,
  `# BM25 first hit's share of the question's content words, median: ${sets
    .map((s) => {
      const c = all
        .filter((q) => q.set === s)
        .map((q) => q.coverage)
        .sort((a, b) => a - b);
      return `${s} ${c[Math.floor(c.length / 2)].toFixed(2)}`;
    })
    .join(', ')}`,
  `| fusion | ${sets.join(' | ')} |`,
  `|---|${sets.map(() => '---').join('|')}|`,
  ...Object.entries(rows).map(([name, r]) => `| ${name} | ${sets.map((s) => cell(s, r[s])).join(' | ')} |`),
];
writeFileSync(OUT, `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n${JSON.stringify({ embedder: embedder.id, seed: SEED, rows })}\n`);
