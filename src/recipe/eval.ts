/**
 * Evaluation of a RAG model on held-out questions: exact match and F1 of its answers (SQuAD's
 * normalisation) under three conditions, always in the server's prompt format (RAG_TEMPLATE):
 *
 *   none       no retrieval: the question alone, with empty docs ("[ctx: ] Answer the question: q")
 *   retrieval  the documents indexed into a RAG database with the src/rag API; hybrid top-k chunks
 *              best first, trimmed to the model's window by buildPrompt, as /v1/rag/ask does
 *   gold       the passage that holds the answer, alone
 *
 * Question sets: `synthetic` (documents about entities whose names were never in training,
 * written to files and indexed), and `docs` (hand-written questions over the shipped docs/ folder,
 * when given). Answers are generated greedily by the model directory's LocalGenerator.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadDtype } from '../models/load.ts';
import { createEmbedder } from '../rag/embedder.ts';
import { LocalGenerator } from '../rag/generator.ts';
import { indexPaths } from '../rag/indexer.ts';
import { buildPrompt } from '../rag/prompt.ts';
import { retrieve } from '../rag/retriever.ts';
import { SqliteStore } from '../rag/sqlite_store.ts';
import type { KVType } from '../tensor/index.ts';
import { Rng } from '../tensor/random.ts';
import { ENTITY_KINDS, fillPrompt, makeEntity, RAG_TEMPLATE, Values } from './qa_data.ts';

// ---------------------------------------------------------------------------------------------
// Metrics (SQuAD v1.1 evaluate script)

/** Lower case, no punctuation, no articles (a, an, the), single spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .join(' ');
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

/** Token-overlap F1 of the normalised answers. */
export function f1Score(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const w of g) counts.set(w, (counts.get(w) ?? 0) + 1);
  let same = 0;
  for (const w of p) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      same++;
      counts.set(w, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Best score over the accepted answers. */
export function bestOf(
  prediction: string,
  golds: readonly string[],
  score: (p: string, g: string) => number,
): number {
  return Math.max(...golds.map((g) => score(prediction, g)));
}

// ---------------------------------------------------------------------------------------------
// Question sets

export interface EvalItem {
  question: string;
  answers: string[];
  /** The passage that holds the answer. */
  gold: string;
}

export interface EvalSet {
  name: string;
  items: EvalItem[];
  /** Files to index for the retrieval condition. */
  paths: string[];
}

/**
 * Held-out synthetic documents (one file each, under `dir`) and one question per document: names
 * from the evaluation split only, values from a separate seed.
 */
export function syntheticEvalSet(dir: string, nDocs: number, seed: number): EvalSet {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const vals = new Values(rng, 'eval');
  const items: EvalItem[] = [];
  const paths: string[] = [];
  const seen = new Set<string>();
  while (items.length < nDocs) {
    const e = makeEntity(vals, ENTITY_KINDS[items.length % ENTITY_KINDS.length]);
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    const text = e.text.startsWith('# ') ? e.text : `# ${e.name}\n\n${e.text}`;
    const path = join(dir, `${String(items.length).padStart(3, '0')}-${e.name.replace(/\W+/g, '-')}.md`);
    writeFileSync(path, `${text}\n`);
    paths.push(path);
    const fact = vals.pick(e.facts);
    items.push({ question: vals.pick(fact.questions), answers: [fact.value], gold: e.text });
  }
  return { name: 'synthetic', items, paths };
}

/** The hand-written questions over docs/ (gold passage: the paragraph holding the evidence). */
export async function docsEvalSet(docsDir: string): Promise<EvalSet> {
  // Loaded when asked for, so the question list can change while a long recipe runs.
  const { DOCS_QUESTIONS } = await import('./docs_questions.ts');
  const items: EvalItem[] = [];
  const files = new Set<string>();
  for (const q of DOCS_QUESTIONS) {
    const path = join(docsDir, q.file);
    const text = readFileSync(path, 'utf8');
    const para = text.split(/\n\s*\n/).find((p) => p.includes(q.evidence));
    if (!para) throw new Error(`${path}: no paragraph contains the evidence ${JSON.stringify(q.evidence)}`);
    for (const a of q.answers)
      if (!para.includes(a))
        throw new Error(`${path}: the answer ${JSON.stringify(a)} is not in its paragraph`);
    items.push({ question: q.question, answers: q.answers, gold: para.trim() });
    files.add(path);
  }
  return { name: 'docs', items, paths: [docsDir] };
}

// ---------------------------------------------------------------------------------------------
// Running

/** RAG_TEMPLATE's text before {docs}, then the docs, then its text up to {query}. */
const CONTEXT_OF_PROMPT = (() => {
  const [before, between] = RAG_TEMPLATE.split(/\{docs\}|\{query\}/);
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc(before)}([\\s\\S]*)${esc(between)}`);
})();

/** What a grounded answer may quote: the prompt's context, or the whole prompt when it has none. */
export function quotable(prompt: string): string {
  const m = CONTEXT_OF_PROMPT.exec(prompt);
  return m?.[1].trim() ? m[1] : prompt;
}

export type Condition = 'none' | 'retrieval' | 'gold';
export const CONDITIONS: readonly Condition[] = ['none', 'retrieval', 'gold'];

export interface Score {
  em: number;
  f1: number;
  n: number;
}

export interface SetResult {
  set: string;
  scores: Record<Condition, Score>;
  /** Share of questions whose gold passage text overlaps a retrieved chunk's answer-bearing text. */
  recall: number;
  samples: { question: string; answers: string[]; none: string; retrieval: string; gold: string }[];
}

export interface EvalOptions {
  /** Chunks retrieved (default 3). */
  k?: number;
  /** Chunk budget in the embedder's tokens (default 80). */
  chunkTokens?: number;
  /** Most answer tokens (default 24). */
  maxTokens?: number;
  /** Where the RAG databases go. */
  workDir: string;
  onProgress?: (done: number, total: number) => void;
  /** Grounded decoding: answers must quote a span of their prompt (the context or the question). */
  grounded?: boolean;
}

/** Indexes each set's files once (hash embedder, hybrid retrieval) and returns the prompts per condition. */
export async function buildPrompts(
  sets: readonly EvalSet[],
  gen: LocalGenerator,
  o: EvalOptions,
): Promise<{ prompts: Record<Condition, string>[]; retrievedGold: boolean[] }[]> {
  const maxTokens = o.maxTokens ?? 24;
  const out = [];
  for (const set of sets) {
    mkdirSync(o.workDir, { recursive: true });
    const db = join(o.workDir, `${set.name}.sqlite`);
    rmSync(db, { force: true });
    const embedder = createEmbedder({ type: 'hash' });
    const store = SqliteStore.openOrCreate(db, { id: embedder.id, dim: embedder.dim, spec: embedder.spec });
    const prompts: Record<Condition, string>[] = [];
    const retrievedGold: boolean[] = [];
    try {
      await indexPaths(set.paths, store, embedder, { maxTokens: o.chunkTokens ?? 80 });
      for (const item of set.items) {
        const hits = await retrieve(store, embedder, item.question, { k: o.k ?? 3, mode: 'hybrid' });
        const built = buildPrompt(item.question, hits, {
          budget: gen.contextTokens - maxTokens - gen.promptOverhead,
          countTokens: (t) => gen.countTokens(t),
          truncate: (t, n) => gen.truncate(t, n),
        });
        const used = built.used.map((u) => hits[u.index].text);
        retrievedGold.push(
          used.some((t) => item.answers.some((a) => t.includes(a)) && overlaps(t, item.gold)),
        );
        prompts.push({
          none: fillPrompt([], item.question),
          retrieval: built.prompt,
          gold: fillPrompt([item.gold], item.question),
        });
      }
    } finally {
      await store.close();
    }
    out.push({ prompts, retrievedGold });
  }
  return out;
}

/** Whether two texts share a run of 40 characters (a chunk cut from the gold passage). */
function overlaps(a: string, b: string): boolean {
  const s = a.length < b.length ? a : b;
  const l = a.length < b.length ? b : a;
  if (s.length <= 40) return l.includes(s);
  for (let i = 0; i + 40 <= s.length; i += 20) if (l.includes(s.slice(i, i + 40))) return true;
  return false;
}

/** Scores one model directory on the sets; prompts come from `buildPrompts` (shared between models). */
export async function evaluateModel(
  gen: LocalGenerator,
  sets: readonly EvalSet[],
  prompts: Awaited<ReturnType<typeof buildPrompts>>,
  o: EvalOptions,
): Promise<SetResult[]> {
  const maxTokens = o.maxTokens ?? 24;
  const total = sets.reduce((n, s) => n + s.items.length, 0) * CONDITIONS.length;
  let done = 0;
  const results: SetResult[] = [];
  for (const [si, set] of sets.entries()) {
    const sums: Record<Condition, Score> = {
      none: { em: 0, f1: 0, n: 0 },
      retrieval: { em: 0, f1: 0, n: 0 },
      gold: { em: 0, f1: 0, n: 0 },
    };
    const samples: SetResult['samples'] = [];
    for (const [i, item] of set.items.entries()) {
      const answers = {} as Record<Condition, string>;
      for (const c of CONDITIONS) {
        const text = (
          await gen.complete(prompts[si].prompts[i][c], {
            maxTokens,
            temperature: 0,
            quote: o.grounded ? quotable(prompts[si].prompts[i][c]) : undefined,
          })
        ).trim();
        answers[c] = text;
        sums[c].em += bestOf(text, item.answers, exactMatch);
        sums[c].f1 += bestOf(text, item.answers, f1Score);
        sums[c].n++;
        o.onProgress?.(++done, total);
      }
      samples.push({ question: item.question, answers: item.answers, ...answers });
    }
    for (const c of CONDITIONS) {
      const s = sums[c];
      s.em = s.n ? (100 * s.em) / s.n : 0;
      s.f1 = s.n ? (100 * s.f1) / s.n : 0;
    }
    const rg = prompts[si].retrievedGold;
    results.push({
      set: set.name,
      scores: sums,
      recall: rg.length ? (100 * rg.filter(Boolean).length) / rg.length : 0,
      samples,
    });
  }
  return results;
}

export interface ModelResult {
  model: string;
  label: string;
  /** free: plain greedy decoding; grounded: greedy over spans of the prompt (span_constraint.ts). */
  decoding: 'free' | 'grounded';
  sets: SetResult[];
}

/** The table: one row per model and set, EM / F1 per condition. */
export function formatTable(results: readonly ModelResult[]): string {
  const head = `${'model'.padEnd(6)} ${'decoding'.padEnd(9)} ${'set'.padEnd(10)} ${'n'.padStart(4)}  ${CONDITIONS.map((c) => `${c} EM/F1`.padStart(18)).join(' ')}  retrieval recall`;
  const rows = [head, '-'.repeat(head.length)];
  for (const r of results)
    for (const s of r.sets)
      rows.push(
        `${r.label.padEnd(6)} ${r.decoding.padEnd(9)} ${s.set.padEnd(10)} ${String(s.scores.none.n).padStart(4)}  ${CONDITIONS.map(
          (c) => `${s.scores[c].em.toFixed(1)} / ${s.scores[c].f1.toFixed(1)}`.padStart(18),
        ).join(' ')}  ${s.recall.toFixed(1)}%`,
      );
  return rows.join('\n');
}

/** The JSON summary line: scores only (no samples). */
export function summaryJson(results: readonly ModelResult[]): string {
  return JSON.stringify(
    Object.fromEntries(
      results.map((r) => [
        `${r.label}/${r.decoding}`,
        Object.fromEntries(r.sets.map((s) => [s.set, { ...s.scores, retrieval_recall: s.recall }])),
      ]),
    ),
  );
}

/**
 * Evaluates the given model directories (e.g. SFT and DPO) on the same prompts. `dtype`: how each
 * model's weights are held, `kvType` its KV cache (models/load.ts; default f32 both); `onLoad`
 * hears what the weights became.
 */
export async function runEval(
  models: readonly { dir: string; label: string }[],
  o: EvalOptions & {
    docsDir?: string;
    syntheticDocs?: number;
    seed?: number;
    dtype?: LoadDtype;
    /** How the KV cache stores keys and values (default f32). */
    kvType?: KVType;
    onLoad?: (dir: string, weights: string, generator: LocalGenerator) => void;
  },
): Promise<ModelResult[]> {
  const sets = [syntheticEvalSet(join(o.workDir, 'eval-docs'), o.syntheticDocs ?? 120, o.seed ?? 20240)];
  if (o.docsDir) {
    const docs = await docsEvalSet(o.docsDir);
    if (docs.items.length > 0) sets.push(docs);
  }
  const load = (dir: string): LocalGenerator => {
    const g = LocalGenerator.load(dir, { chat: false, dtype: o.dtype, kvType: o.kvType });
    o.onLoad?.(dir, g.weights, g);
    return g;
  };
  const first = load(models[0].dir);
  const prompts = await buildPrompts(sets, first, o);
  const results: ModelResult[] = [];
  for (const m of models) {
    const gen = m === models[0] ? first : load(m.dir);
    for (const decoding of ['free', 'grounded'] as const)
      results.push({
        model: m.dir,
        label: m.label,
        decoding,
        sets: await evaluateModel(gen, sets, prompts, { ...o, grounded: decoding === 'grounded' }),
      });
  }
  return results;
}
