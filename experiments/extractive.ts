/**
 * `npm run experiment -- extractive [--model DIR] [--k K] [--seed N] [--out FILE]`: when should a
 * grounded answer come from the extractive reader (src/rag/extract.ts) instead of the model's own
 * quote (issue 17)?
 *
 * The shipped model quotes its training distribution well (synthetic lookups) and real prose
 * badly. This reads every question's retrieved chunks (default embedder, hybrid top-k, eval's
 * chunks) and its gold passage once with the model (each chunk alone, its likeliest quote and
 * that quote's mean log-probability per token, as readChunks does), then scores from those reads:
 *   model        the model's quote, chosen across chunks as readChunks does (RANK_PRIOR)
 *   extractive   the extractive reader's best span, ranks weighed by a prior p
 *   switch t, p  the model's quote when its confidence is at least t, else the extractive span
 * and the extractive reader's weights around SPAN_WEIGHTS, with the shipped switch.
 *
 * Sets (tuning data only): the synthetic unseen-name set under --seed (default 7; eval's is
 * 20240), the real-prose dev split, the docs/ questions. EM / F1 with retrieval, and with the gold
 * passage. Writes the table to --out (default experiments/results/extractive.txt); last line: JSON.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optString, parseArgs } from '../src/cli/args.ts';
import { confidenceOf, DEFAULT_CONFIDENCE } from '../src/rag/abstain.ts';
import {
  bestByRank,
  type ChunkRead,
  chunkReads,
  EXTRACT_BELOW,
  EXTRACT_RANK_PRIOR,
  extractiveRead,
  RANK_PRIOR,
} from '../src/rag/answer.ts';
import { createEmbedder, defaultEmbedderSpec } from '../src/rag/embedder.ts';
import { SPAN_WEIGHTS, type SpanWeights } from '../src/rag/extract.ts';
import { LocalGenerator } from '../src/rag/generator.ts';
import { indexPaths } from '../src/rag/indexer.ts';
import { retrieve } from '../src/rag/retriever.ts';
import { SqliteStore } from '../src/rag/sqlite_store.ts';
import {
  bestOf,
  docsEvalSet,
  exactMatch,
  f1Score,
  goldPrompt,
  quotable,
  realProseEvalSet,
  syntheticEvalSet,
} from '../src/recipe/eval.ts';
import { RAG_TEMPLATE } from '../src/recipe/qa_data.ts';

const args = parseArgs(process.argv.slice(2), { values: ['model', 'k', 'seed', 'out'] });
const arg = (name: string, fallback: string): string => optString(args, name) ?? fallback;
const ROOT = new URL('../', import.meta.url).pathname;
const MODEL = arg('model', join(ROOT, 'models/xfmr-rag-tiny'));
const K = Number(arg('k', '3'));
const SEED = Number(arg('seed', '7'));
const OUT = arg('out', join(ROOT, 'experiments/results/extractive.txt'));
const MAX_TOKENS = 24; // eval's
const tmp = mkdtempSync(join(tmpdir(), 'xfmr-exp-extractive-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** A read with the model's quote of it and that quote's mean log-probability per token. */
interface Read extends ChunkRead {
  quote: string;
  confidence: number;
}
interface Question {
  set: string;
  answers: string[];
  retrieved: Read[];
  gold: Read;
}

const gen = LocalGenerator.load(MODEL, { chat: false, abstention: false });
const embedder = createEmbedder(defaultEmbedderSpec().spec);
const fit = {
  template: RAG_TEMPLATE,
  budget: gen.contextTokens - MAX_TOKENS - gen.promptOverhead,
  countTokens: (t: string) => gen.countTokens(t),
  truncate: (t: string, n: number) => gen.truncate(t, n),
};
const decoding = { maxTokens: MAX_TOKENS, temperature: 0 };
async function withQuote(r: ChunkRead): Promise<Read> {
  if (r.text.trim() === '') return { ...r, quote: '', confidence: Number.NEGATIVE_INFINITY };
  const q = await gen.quote(r.prompt, [r.text], decoding);
  const confidence = q.score ? confidenceOf(DEFAULT_CONFIDENCE, q.score) : Number.NEGATIVE_INFINITY;
  return { ...r, quote: q.text.trim(), confidence };
}

const sets = [
  syntheticEvalSet(join(tmp, 'synthetic'), 100, SEED),
  realProseEvalSet(join(ROOT, 'eval/realprose'), 'dev'),
  await docsEvalSet(join(ROOT, 'docs')),
];
const questions: Question[] = [];
for (const set of sets) {
  const t0 = performance.now();
  const store = SqliteStore.openOrCreate(join(tmp, `${set.name}.db`), embedder);
  await indexPaths(set.paths, store, embedder, { maxTokens: 80 });
  for (const item of set.items) {
    if (item.answers.length === 0) continue;
    const hits = await retrieve(store, embedder, item.question, { k: K, mode: 'hybrid' });
    const retrieved: Read[] = [];
    for (const r of chunkReads(item.question, hits, fit)) retrieved.push(await withQuote(r));
    const prompt = goldPrompt(item, gen, MAX_TOKENS);
    const gold = await withQuote({
      question: item.question,
      prompt,
      tokens: gen.countTokens(prompt),
      text: quotable(prompt),
      truncated: false,
    });
    questions.push({ set: set.name, answers: item.answers, retrieved, gold });
  }
  await store.close();
  process.stderr.write(`${set.name}: read in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

/** The model's quote across reads, as readChunks chooses it. */
function modelPick(reads: readonly Read[]): Read | null {
  const i = bestByRank(
    reads.map((r) => (r.text.trim() === '' ? null : r.confidence)),
    RANK_PRIOR,
  );
  return i < 0 ? null : reads[i];
}
function extractive(reads: readonly Read[], prior: number, w: SpanWeights): string {
  return extractiveRead(reads, prior, w)?.span.text ?? '';
}
function switched(reads: readonly Read[], below: number, prior: number, w: SpanWeights): string {
  const m = modelPick(reads);
  if (m && m.confidence >= below) return m.quote;
  return extractive(reads, prior, w);
}

type Rule = (reads: readonly Read[]) => string;
const rules: [string, Rule][] = [['model (readChunks before)', (r) => modelPick(r)?.quote ?? '']];
for (const p of [0, 0.5, 1]) rules.push([`extractive, p ${p}`, (r) => extractive(r, p, SPAN_WEIGHTS)]);
for (const t of [-1, -1.25, -1.5, -1.75, -2, -2.5])
  for (const p of [0.5, 1]) rules.push([`switch ${t}, p ${p}`, (r) => switched(r, t, p, SPAN_WEIGHTS)]);
const variants: [string, Partial<SpanWeights>][] = [
  ['sentence 2', { sentence: 2 }],
  ['paragraph 0', { paragraph: 0 }],
  ['paragraph 1', { paragraph: 1 }],
  ['kind 0.5', { kind: 0.5 }],
  ['kind 2', { kind: 2 }],
  ['echo 0', { echo: 0 }],
  ['echo 1', { echo: 1 }],
];
for (const [name, change] of variants)
  rules.push([
    `shipped switch, ${name}`,
    (r) => switched(r, EXTRACT_BELOW, EXTRACT_RANK_PRIOR, { ...SPAN_WEIGHTS, ...change }),
  ]);

const names = sets.map((s) => s.name);
const rows: Record<string, Record<string, { retrieval: number[]; gold: number[] }>> = {};
const pct = (x: number, n: number) => Math.round((1000 * x) / n) / 10;
for (const [name, rule] of rules) {
  rows[name] = {};
  for (const set of names) {
    const qs = questions.filter((q) => q.set === set);
    const score = (pick: (q: Question) => string) => {
      let em = 0;
      let f1 = 0;
      for (const q of qs) {
        const a = pick(q);
        em += bestOf(a, q.answers, exactMatch);
        f1 += bestOf(a, q.answers, f1Score);
      }
      return [pct(em, qs.length), pct(f1, qs.length)];
    };
    rows[name][set] = { retrieval: score((q) => rule(q.retrieved)), gold: score((q) => rule([q.gold])) };
  }
}
const lines = [
  `# ${MODEL}; ${embedder.id}; hybrid top ${K}; synthetic seed ${SEED}; tuning data only`,
  `# EM / F1 with retrieval, then with the gold passage; shipped: switch ${EXTRACT_BELOW}, p ${EXTRACT_RANK_PRIOR}, weights ${JSON.stringify(SPAN_WEIGHTS)}`,
  `| reader | ${names.map((s) => `${s} (${questions.filter((q) => q.set === s).length})`).join(' | ')} |`,
  `|---|${names.map(() => '---').join('|')}|`,
  ...Object.entries(rows).map(
    ([name, r]) =>
      `| ${name} | ${names.map((s) => `${r[s].retrieval.join(' / ')}; gold ${r[s].gold.join(' / ')}`).join(' | ')} |`,
  ),
];
writeFileSync(OUT, `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n${JSON.stringify({ model: MODEL, k: K, seed: SEED, rows })}\n`);
