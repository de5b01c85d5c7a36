/**
 * Evaluation of a RAG model on held-out questions: exact match and F1 of its answers (SQuAD's
 * normalisation) under three conditions, always in the server's prompt format (RAG_TEMPLATE):
 *
 *   none       no retrieval: the question alone, with empty docs ("[ctx: ] Answer the question: q")
 *   retrieval  the documents indexed into a RAG database with the src/rag API; hybrid top-k chunks
 *              best first, trimmed to the model's window by buildPrompt, as /v1/rag/ask does (a
 *              grounded answer reads each chunk alone and picks among their quotes: readRetrieved)
 *   gold       the passage that holds the answer, alone (a grounded answer reads it as one
 *              retrieved chunk: readGold)
 *
 * Question sets: `synthetic` (documents about entities whose names were never in training,
 * written to files and indexed), `docs` (questions a user would ask over the shipped docs/ folder,
 * when given), and `realprose-dev` or `realprose-test` (hand-written questions over manual pages,
 * Python docstrings and license texts: src/recipe/realprose.ts; the test split only when asked
 * for). Answers are generated greedily by the model directory's LocalGenerator.
 *
 * Figures per set and condition, SQuAD-style, over the answerable questions:
 *   EM, F1            exact match and token F1 of the normalised answer, best over the gold answers
 *   answer rate       share of answerable questions answered (not abstained: src/rag/abstain.ts;
 *                     grounded answers abstain below the model's calibrated threshold, as served)
 * and per set:
 *   answer in sources share of answerable questions whose gold answer occurs in the chunks given to
 *                     the model (retrieval condition): what a perfect reader could have quoted
 *   abstain rate      share of the unanswerable questions (answer in no document) on which the model
 *                     abstained, without retrieval and with it (there is no gold passage for those)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadDtype } from '../models/load.ts';
import { isAbstention, NOT_FOUND_ANSWER } from '../rag/abstain.ts';
import { chunkReads, groundedAnswer, type ReadAnswer, readChunks } from '../rag/answer.ts';
import { createEmbedder, defaultEmbedderSpec } from '../rag/embedder.ts';
import { LocalGenerator } from '../rag/generator.ts';
import { indexPaths } from '../rag/indexer.ts';
import { buildPrompt, type PromptChunk } from '../rag/prompt.ts';
import { retrieve } from '../rag/retriever.ts';
import { SqliteStore } from '../rag/sqlite_store.ts';
import type { KVType } from '../tensor/index.ts';
import { Rng } from '../tensor/random.ts';
import { ENTITY_KINDS, fillPrompt, makeEntity, RAG_TEMPLATE, Values } from './qa_data.ts';
import { containsAnswer, findSpan, goldPassage, loadRealProse, type Split } from './realprose.ts';

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
  /** Accepted answers; empty when no document answers the question (the model should abstain). */
  answers: string[];
  /** The passage that holds the answer ('' for an unanswerable question). */
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
  const { DOCS_QUESTIONS, DOCS_UNANSWERABLE } = await import('./docs_questions.ts');
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
  for (const question of DOCS_UNANSWERABLE) items.push({ question, answers: [], gold: '' });
  return { name: 'docs', items, paths: [docsDir] };
}

/**
 * One split of the real-prose set under `dir` (eval/realprose): its documents are indexed, its
 * answerable questions carry the lines around the answer as gold passage, its unanswerable ones
 * none. The test split is for the one final report: never tune on it.
 */
export function realProseEvalSet(dir: string, split: Split): EvalSet {
  const set = loadRealProse(dir);
  const docs = set.docs.filter((d) => d.split === split);
  const inSplit = new Set(docs.map((d) => d.id));
  const items: EvalItem[] = [];
  for (const q of set.answerable)
    if (inSplit.has(q.doc))
      items.push({
        question: q.question,
        answers: q.answers,
        gold: goldPassage(set.text.get(q.doc)!, q.answers),
      });
  for (const q of set.unanswerable)
    if (inSplit.has(q.doc)) items.push({ question: q.question, answers: [], gold: '' });
  return { name: `realprose-${split}`, items, paths: docs.map((d) => join(dir, 'docs', `${d.id}.txt`)) };
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
/** The conditions an unanswerable question is asked under (it has no gold passage). */
export const UNANSWERABLE_CONDITIONS: readonly Condition[] = ['none', 'retrieval'];

export interface Score {
  /** EM and F1 in percent over the answerable questions. */
  em: number;
  f1: number;
  /** Answerable questions. */
  n: number;
  /** Percent of the answerable questions answered (not abstained). */
  answerRate: number;
}

export interface AbstainScore {
  /** Unanswerable questions. */
  n: number;
  /** Percent of them on which the model abstained. */
  abstainRate: number;
}

export interface SetResult {
  set: string;
  scores: Record<Condition, Score>;
  /** Share of questions whose gold passage text overlaps a retrieved chunk's answer-bearing text. */
  recall: number;
  /** Percent of answerable questions whose gold answer occurs in the chunks given to the model. */
  answerInSources: number;
  /** Abstention on the unanswerable questions, without retrieval and with it. */
  unanswerable: Record<'none' | 'retrieval', AbstainScore>;
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

export interface SetPrompts {
  /** Per item; `gold` is '' for an unanswerable item. */
  prompts: Record<Condition, string>[];
  /** Per item: the retrieved chunks, best first (grounded answers read each alone: readRetrieved). */
  chunks: PromptChunk[][];
  retrievedGold: boolean[];
  /** Per item: a gold answer occurs in the chunks that went into the retrieval prompt. */
  answerInSources: boolean[];
}

/**
 * Indexes each set's files once (the default embedder of `xfmr rag index`, rag/embedder.ts
 * defaultEmbedderSpec; hybrid retrieval) and returns the prompts per condition.
 */
export async function buildPrompts(
  sets: readonly EvalSet[],
  gen: LocalGenerator,
  o: EvalOptions,
): Promise<SetPrompts[]> {
  const maxTokens = o.maxTokens ?? 24;
  const out: SetPrompts[] = [];
  for (const set of sets) {
    mkdirSync(o.workDir, { recursive: true });
    const db = join(o.workDir, `${set.name}.sqlite`);
    rmSync(db, { force: true });
    const embedder = createEmbedder(defaultEmbedderSpec().spec);
    const store = SqliteStore.openOrCreate(db, { id: embedder.id, dim: embedder.dim, spec: embedder.spec });
    const prompts: Record<Condition, string>[] = [];
    const chunks: PromptChunk[][] = [];
    const retrievedGold: boolean[] = [];
    const answerInSources: boolean[] = [];
    try {
      await indexPaths(set.paths, store, embedder, { maxTokens: o.chunkTokens ?? 80 });
      for (const item of set.items) {
        const hits = await retrieve(store, embedder, item.question, { k: o.k ?? 3, mode: 'hybrid' });
        const built = buildPrompt(item.question, hits, {
          budget: gen.contextTokens - maxTokens - gen.promptOverhead,
          countTokens: (t) => gen.countTokens(t),
          truncate: (t, n) => gen.truncate(t, n),
        });
        chunks.push(hits.map((h) => ({ text: h.text, source: h.source })));
        const used = built.used.map((u) => hits[u.index].text);
        retrievedGold.push(
          item.answers.length > 0 &&
            used.some((t) => item.answers.some((a) => t.includes(a)) && overlaps(t, item.gold)),
        );
        const context = used.join('\n\n');
        answerInSources.push(item.answers.some((a) => containsAnswer(context, a)));
        prompts.push({
          none: fillPrompt([], item.question),
          retrieval: built.prompt,
          gold: item.answers.length > 0 ? goldPrompt(item, gen, maxTokens) : '',
        });
      }
    } finally {
      await store.close();
    }
    out.push({ prompts, chunks, retrievedGold, answerInSources });
  }
  return out;
}

/**
 * The grounded answer of the retrieval condition, as /v1/rag/ask gives it: each retrieved chunk
 * read alone (src/rag/answer.ts chunkReads, readChunks), the model's abstention applied.
 */
export async function readRetrieved(
  gen: LocalGenerator,
  question: string,
  chunks: readonly PromptChunk[],
  maxTokens: number,
): Promise<ReadAnswer> {
  const reads = chunkReads(question, chunks, {
    template: RAG_TEMPLATE,
    budget: gen.contextTokens - maxTokens - gen.promptOverhead,
    countTokens: (t) => gen.countTokens(t),
    truncate: (t, n) => gen.truncate(t, n),
  });
  return readChunks(gen, reads, { maxTokens, temperature: 0 });
}

/** The grounded answer of the gold condition: its passage read as one chunk, as readRetrieved reads. */
export async function readGold(
  gen: LocalGenerator,
  question: string,
  prompt: string,
  maxTokens: number,
): Promise<ReadAnswer> {
  const read = {
    question,
    prompt,
    tokens: gen.countTokens(prompt),
    text: quotable(prompt),
    truncated: false,
  };
  return readChunks(gen, [read], { maxTokens, temperature: 0 });
}

/**
 * The gold condition's prompt, within the window: when the passage does not fit, whole lines are
 * dropped from the end farther from the answer (its own lines stay); a passage still too long is
 * cut at the end like a retrieved chunk (buildPrompt). Real-prose passages of 80 words can exceed
 * 512 tokens of the small model's vocabulary (man pages indent with runs of spaces).
 */
export function goldPrompt(item: EvalItem, gen: LocalGenerator, maxTokens: number): string {
  const budget = gen.contextTokens - maxTokens - gen.promptOverhead;
  const fits = (text: string) => gen.countTokens(fillPrompt([text], item.question)) <= budget;
  if (fits(item.gold)) return fillPrompt([item.gold], item.question);
  const lines = item.gold.split('\n');
  const span = [...item.answers]
    .sort((a, b) => b.length - a.length)
    .map((a) => findSpan(item.gold, a))
    .find((s) => s !== undefined);
  const lineOf = (pos: number) => item.gold.slice(0, pos).split('\n').length - 1;
  const first = span ? lineOf(span[0]) : 0;
  const last = span ? lineOf(span[1]) : lines.length - 1;
  let lo = 0;
  let hi = lines.length - 1;
  const text = () => lines.slice(lo, hi + 1).join('\n');
  while (!fits(text()) && (lo < first || hi > last)) {
    if (lo < first && (first - lo >= hi - last || hi <= last)) lo++;
    else hi--;
  }
  if (fits(text())) return fillPrompt([text()], item.question);
  return buildPrompt(item.question, [{ text: text(), source: 'gold' }], {
    budget,
    countTokens: (t) => gen.countTokens(t),
    truncate: (t, n) => gen.truncate(t, n),
  }).prompt;
}

/** Whether two texts share a run of 40 characters (a chunk cut from the gold passage). */
function overlaps(a: string, b: string): boolean {
  const s = a.length < b.length ? a : b;
  const l = a.length < b.length ? b : a;
  if (s.length <= 40) return l.includes(s);
  for (let i = 0; i + 40 <= s.length; i += 20) if (l.includes(s.slice(i, i + 40))) return true;
  return false;
}

const percent = (k: number, n: number) => (n ? (100 * k) / n : 0);

/** Scores one model directory on the sets; prompts come from `buildPrompts` (shared between models). */
export async function evaluateModel(
  gen: LocalGenerator,
  sets: readonly EvalSet[],
  prompts: readonly SetPrompts[],
  o: EvalOptions,
): Promise<SetResult[]> {
  const maxTokens = o.maxTokens ?? 24;
  const conditionsOf = (item: EvalItem) => (item.answers.length > 0 ? CONDITIONS : UNANSWERABLE_CONDITIONS);
  const total = sets.reduce((n, s) => n + s.items.reduce((m, item) => m + conditionsOf(item).length, 0), 0);
  let done = 0;
  const results: SetResult[] = [];
  for (const [si, set] of sets.entries()) {
    const sums = {} as Record<Condition, Score>;
    for (const c of CONDITIONS) sums[c] = { em: 0, f1: 0, n: 0, answerRate: 0 };
    const abstain = { none: { n: 0, abstainRate: 0 }, retrieval: { n: 0, abstainRate: 0 } };
    const samples: SetResult['samples'] = [];
    for (const [i, item] of set.items.entries()) {
      const answers: Record<Condition, string> = { none: '', retrieval: '', gold: '' };
      for (const c of conditionsOf(item)) {
        const prompt = prompts[si].prompts[i][c];
        // grounded: the real decision of /v1/rag/ask, the model's abstention threshold included
        const chunks = prompts[si].chunks[i];
        const text = (
          !o.grounded
            ? await gen.complete(prompt, { maxTokens, temperature: 0 })
            : c === 'retrieval'
              ? chunks.some((x) => x.text.trim() !== '')
                ? (await readRetrieved(gen, item.question, chunks, maxTokens)).answer
                : NOT_FOUND_ANSWER // as the server: nothing retrieved, nothing to quote
              : c === 'gold'
                ? (await readGold(gen, item.question, prompt, maxTokens)).answer
                : (await groundedAnswer(gen, prompt, [quotable(prompt)], { maxTokens, temperature: 0 }))
                    .answer
        ).trim();
        answers[c] = text;
        if (item.answers.length > 0) {
          sums[c].em += bestOf(text, item.answers, exactMatch);
          sums[c].f1 += bestOf(text, item.answers, f1Score);
          sums[c].answerRate += isAbstention(text) ? 0 : 1;
          sums[c].n++;
        } else {
          const a = abstain[c as 'none' | 'retrieval'];
          a.abstainRate += isAbstention(text) ? 1 : 0;
          a.n++;
        }
        o.onProgress?.(++done, total);
      }
      samples.push({ question: item.question, answers: item.answers, ...answers });
    }
    for (const c of CONDITIONS) {
      const s = sums[c];
      s.em = percent(s.em, s.n);
      s.f1 = percent(s.f1, s.n);
      s.answerRate = percent(s.answerRate, s.n);
    }
    for (const a of Object.values(abstain)) a.abstainRate = percent(a.abstainRate, a.n);
    const answerable = set.items.map((item) => item.answers.length > 0);
    const count = (flags: readonly boolean[]) => flags.filter((f, i) => f && answerable[i]).length;
    const nAnswerable = answerable.filter(Boolean).length;
    results.push({
      set: set.name,
      scores: sums,
      recall: percent(count(prompts[si].retrievedGold), nAnswerable),
      answerInSources: percent(count(prompts[si].answerInSources), nAnswerable),
      unanswerable: abstain,
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

/**
 * The table: one row per model and set: EM / F1 per condition, then the answer rate with
 * retrieval, the answer in sources, the retrieval recall, and the abstain rate with retrieval on
 * the unanswerable questions (with their count).
 */
export function formatTable(results: readonly ModelResult[]): string {
  const head = `${'model'.padEnd(6)} ${'decoding'.padEnd(9)} ${'set'.padEnd(14)} ${'n'.padStart(4)}  ${CONDITIONS.map((c) => `${c} EM/F1`.padStart(18)).join(' ')}  ${'answered'.padStart(8)}  ${'in sources'.padStart(10)}  ${'recall'.padStart(6)}  ${'abstain (n)'.padStart(13)}`;
  const rows = [head, '-'.repeat(head.length)];
  for (const r of results)
    for (const s of r.sets) {
      const u = s.unanswerable.retrieval;
      rows.push(
        `${r.label.padEnd(6)} ${r.decoding.padEnd(9)} ${s.set.padEnd(14)} ${String(s.scores.none.n).padStart(4)}  ${CONDITIONS.map(
          (c) => `${s.scores[c].em.toFixed(1)} / ${s.scores[c].f1.toFixed(1)}`.padStart(18),
        ).join(
          ' ',
        )}  ${`${s.scores.retrieval.answerRate.toFixed(1)}%`.padStart(8)}  ${`${s.answerInSources.toFixed(1)}%`.padStart(10)}  ${`${s.recall.toFixed(1)}%`.padStart(6)}  ${(u.n ? `${u.abstainRate.toFixed(1)}% (${u.n})` : '-').padStart(13)}`,
      );
    }
  return rows.join('\n');
}

/**
 * The JSON summary line: scores only (no samples). Per model/decoding and set: each condition's
 * { em, f1, n, answer_rate }, retrieval_recall, answer_in_sources, and unanswerable { n, none:
 * { abstain_rate }, retrieval: { abstain_rate } }; `split` says which real-prose split was run.
 */
export function summaryJson(results: readonly ModelResult[], split?: Split): string {
  const cond = (s: Score) => ({ em: s.em, f1: s.f1, n: s.n, answer_rate: s.answerRate });
  return JSON.stringify({
    ...(split ? { split } : {}),
    ...Object.fromEntries(
      results.map((r) => [
        `${r.label}/${r.decoding}`,
        Object.fromEntries(
          r.sets.map((s) => [
            s.set,
            {
              none: cond(s.scores.none),
              retrieval: cond(s.scores.retrieval),
              gold: cond(s.scores.gold),
              retrieval_recall: s.recall,
              answer_in_sources: s.answerInSources,
              unanswerable: {
                n: s.unanswerable.retrieval.n,
                none: { abstain_rate: s.unanswerable.none.abstainRate },
                retrieval: { abstain_rate: s.unanswerable.retrieval.abstainRate },
              },
            },
          ]),
        ),
      ]),
    ),
  });
}

/** The question sets `runEval` can run. */
export type SetName = 'synthetic' | 'docs' | 'realprose';
export const SET_NAMES: readonly SetName[] = ['synthetic', 'docs', 'realprose'];

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
    /** The real-prose set's folder (eval/realprose); its `split` is run (default dev). */
    realproseDir?: string;
    split?: Split;
    /** Which sets to run (default: every set whose input is given; synthetic always). */
    sets?: readonly SetName[];
    dtype?: LoadDtype;
    /** How the KV cache stores keys and values (default f32). */
    kvType?: KVType;
    onLoad?: (dir: string, weights: string, generator: LocalGenerator) => void;
  },
): Promise<ModelResult[]> {
  const want = (name: SetName) => !o.sets || o.sets.includes(name);
  const sets: EvalSet[] = [];
  if (want('synthetic'))
    sets.push(syntheticEvalSet(join(o.workDir, 'eval-docs'), o.syntheticDocs ?? 120, o.seed ?? 20240));
  if (o.docsDir && want('docs')) {
    const docs = await docsEvalSet(o.docsDir);
    if (docs.items.length > 0) sets.push(docs);
  }
  if (o.realproseDir && want('realprose')) sets.push(realProseEvalSet(o.realproseDir, o.split ?? 'dev'));
  if (sets.length === 0)
    throw new Error('eval: no question set to run (check --sets, --docs and --realprose)');
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
