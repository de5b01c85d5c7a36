/**
 * `npm run experiment -- distsem [--split dev|test] [--only SETTING | --match TEXT] [--vectors FILE]
 *   [--window N] [--stopwords yes|no] [--dim N] [--seed N] [--dictionaries wordnet,gcide,foldoc,jargon] [--vectors2 FILE]
 *   [--out FILE] [--dump]`:
 * do word vectors learned from local text (distributional similarity) let retrieval find
 * paraphrased passages (issue 18)?
 *
 * Vectors (src/rag/word_vectors.ts): PPMI of windowed co-occurrence counts, randomized SVD to 200
 * dimensions, over Debian's package descriptions and /usr/share/doc prose, optionally WordNet's and
 * GCIDE's definitions (experiments/distsem_corpus.ts; held-out text kept out), keyed by the hash
 * embedder's stems and cached at --vectors (built when missing; the corpus wants the Translation-en
 * files in --apt, tmp/distsem by default: see distsem_corpus.ts).
 *
 * Retrieval, each passage of eval/paraphrase one unit, every list ranked over all 402 passages in
 * memory and fused with BM25's (the SQLite store's FTS5) by reciprocal rank fusion of the top 50
 * (k 60, weights 1 unless named "x w"), as retriever.ts's hybrid mode does, or ("z:") by a weighted
 * sum of each list's z-normalised scores:
 *   hash     the hash embedder's cosine, the CLI's vector list
 *   expand   the hash embedder's query features get, for each word feature w:s of weight x, related
 *            words t as w:t with weight beta * x * score: the vectors' N nearest (cosine; among the
 *            indexed passages' words when "index"), WordNet's thesaurus (expansion.ts), WordNet's
 *            related words weighted by their cosine ("x sim"), or both added ("wordnet + vectors")
 *   context  a score plus lambda times the question's score against the passage's whole document
 *   sif      the cosine of weighted means of word vectors, question against passage; weights the
 *            hash embedder's (IDF prior damped to power 0.3), "idf1" the undamped prior (power 1),
 *            "collection idf" BM25's IDF over the passages
 *   maxsim   soft term matching: per question word, weight x max over passage words of
 *            (cos - tau) / (1 - tau), summed and divided by the weights
 *
 * Results on dev (experiments/results/distsem.json: 73 paraphrase questions, one is 0.014; BM25
 * recall@5 0.219, the CLI's hash+BM25 hybrid 0.219), vectors from Debian + /usr/share/doc, window
 * 5, content words only (21,719 stems): vector-neighbour expansion 0.22-0.27; WordNet expansion up to
 * 0.301 (context 2); WordNet weighted by cosine no better (<= 0.274); sif alone 0.288 (idf1 0.301,
 * keyword 0.853), sif + hash + BM25 0.288; maxsim <= 0.233; z-fusion keeps keyword recall at 1.000
 * and reaches 0.315; the best row, **sif idf1 + hash + BM25, 0.329 (1.50x), MRR@10 0.196, keyword
 * 1.000**, is the chosen setting (the best of ~140 rows, so optimistic: the same setting gives 0.315
 * and 0.288 with SVD seeds 2 and 3, 0.301 with window 2 and stopwords, 0.274 with windows 10 and 20,
 * 0.247 with WordNet and GCIDE definitions added to the corpus, which pull words to their general
 * English senses: "capitals" -> republic, city).
 *
 * Test, run once for that setting (experiments/results/distsem-test.json, 134 questions): recall@5
 * **0.321 against BM25's 0.254 (1.26x)** and the default hybrid's 0.231 (expansion-test.json), MRR@10
 * 0.218 against 0.184, keyword recall@5 1.000. Short of issue 18's 1.5x: the default retrieval is
 * unchanged. Most dev misses that remain pick the wrong document on an ambiguous word ("the closing
 * twenty rows of a document" -> the GFDL, whose subject is the Document) or need a relation the
 * vectors do not hold (rows/lines: "lines" sits next to "command").
 *
 * Computing dictionaries (experiments/dictd.ts, Debian's dict-foldoc and dict-jargon: FOLDOC lists
 * "folder" as a headword of "directory"), tried on dev after the test run above, neither helps
 * (experiments/results/distsem-foldoc.txt): their headwords and first sentences as a thesaurus for
 * expansion 0.205-0.233 alone with BM25 and 0.260-0.315 beside sif idf1 (0.301 without them on
 * this VM's corpus), and in the vectors' corpus (4.32M tokens) sif idf1 + hash + bm25 0.274.
 *
 * Tuned vectors (`--vectors DIR/vectors.bin` of `xfmr embedder words`: these vectors trained on
 * paraphrase pairs, src/train/word_tuning.ts) lift sif idf1 alone to 0.37-0.43 on dev; "mix g"
 * (one vector per text, cos = (1 - g) cos_sif + g cos_hash, as src/rag/word_embedder.ts builds it)
 * fused with BM25 by RRF chose the default embedder's settings, g 0.35 and k 5
 * (experiments/results/distsem-paragram.txt; its README has the test figures).
 *
 * Commands: `npm run experiment -- distsem --out experiments/results/distsem.json` (dev, every
 * setting), then `npm run experiment -- distsem --split test --only 'sif idf1 + hash + bm25' --out
 * experiments/results/distsem-test.json`. Last line: one JSON object.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Metrics, metricsFromRanks } from '../src/rag/eval.ts';
import { HashEmbedder } from '../src/rag/hash_embedder.ts';
import { goldRank, loadPassageSet, QUESTION_STYLES } from '../src/rag/passage_set.ts';
import { reciprocalRankFusion } from '../src/rag/retriever.ts';
import type { SearchHit } from '../src/rag/store.ts';
import { WordVectors } from '../src/rag/word_vectors.ts';
import { heldOutIndex } from '../src/train/held_out.ts';
import { dictdThesaurus } from './dictd.ts';
import { cachedWordVectors, distsemSources } from './distsem_corpus.ts';
import { paraphraseStore, resultRow } from './paraphrase_store.ts';
import { wordnetThesaurus } from './wordnet_thesaurus.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const ROOT = new URL('../', import.meta.url).pathname;
const SPLIT = arg('split', 'dev');
if (SPLIT !== 'dev' && SPLIT !== 'test') throw new Error(`--split must be dev or test, got ${SPLIT}`);
const VECTORS = arg('vectors', join(ROOT, 'tmp/distsem/vectors-w5-d200.bin'));
const APT = arg('apt', join(ROOT, 'tmp/distsem'));
const OUT = arg('out', '');
const ONLY = arg('only', '');
const MATCH = arg('match', '');
/** Print each question's gold rank and top 3 (with --only), to read the misses. */
const DUMP = argv.includes('--dump');
const WORDNET = arg('wordnet', '/usr/share/wordnet');
const WINDOW = Number(arg('window', '5'));
const SEED = Number(arg('seed', '1'));
const STOPWORDS = arg('stopwords', 'no') === 'yes';
const DIM = Number(arg('dim', '200'));

const t0 = performance.now();
const DICTS = arg('dictionaries', '').split(',').filter(Boolean);
const DICTD = ['foldoc', 'jargon'];
for (const d of DICTS)
  if (d !== 'wordnet' && d !== 'gcide' && !DICTD.includes(d))
    throw new Error(`--dictionaries: wordnet, gcide, foldoc or jargon, got ${d}`);
const dictdPath = (name: string) => `/usr/share/dictd/${name}.dict.dz`;
const wv = cachedWordVectors(
  VECTORS,
  distsemSources({
    apt: APT,
    wordnet: DICTS.includes('wordnet') ? WORDNET : undefined,
    gcide: DICTS.includes('gcide') ? '/usr/share/dictd/gcide.dict.dz' : undefined,
    dictd: DICTS.filter((d) => DICTD.includes(d)).map(dictdPath),
  }),
  { window: WINDOW, dim: DIM, seed: SEED },
  STOPWORDS,
);
const buildS = (performance.now() - t0) / 1000;
/** A second set of vectors (already built, e.g. another window), for ensembles. */
const VECTORS2 = arg('vectors2', '');
const wv2 = VECTORS2 ? WordVectors.parse(readFileSync(VECTORS2), VECTORS2) : undefined;
const set = loadPassageSet(join(ROOT, 'eval/paraphrase'));
const hash = new HashEmbedder();
const { store, vectors: passageVectors, bm25 } = await paraphraseStore(set, hash, 'xfmr-distsem-');

/** Word features w:s of a text as [stem, weight] (the hash embedder's IDF x (1 + log tf)). */
const wordWeights = (text: string, embedder = hash): [string, number][] =>
  [...embedder.features(text)].filter(([k]) => k.startsWith('w:')).map(([k, x]) => [k.slice(2), x]);
const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
/** Collection IDF of a stem (BM25's, over the passages); unseen stems weigh as if in one passage. */
const df = new Map<string, number>();
for (const p of set.passages) for (const [st] of wordWeights(p.text)) df.set(st, (df.get(st) ?? 0) + 1);
const idf = (st: string) => {
  const n = df.get(st) ?? 1;
  return Math.log((set.passages.length - n + 0.5) / (n + 0.5) + 1);
};
/** prior: the hash embedder's word weights (IDF prior damped by power 0.3); prior1: undamped (power 1); collection: BM25's IDF. */
type SifWeights = 'prior' | 'prior1' | 'collection';
const hash1 = new HashEmbedder({ idfPower: 1 });
/** Weighted mean of a text's word vectors, unit length (zeros when none has a vector). */
function sifVector(vectors: WordVectors, text: string, weights: SifWeights = 'prior'): Float32Array {
  const v = new Float32Array(vectors.dim);
  for (const [st, x] of wordWeights(text, weights === 'prior1' ? hash1 : hash)) {
    const u = vectors.vector(st);
    const w = weights === 'collection' ? idf(st) : x; // collection: IDF alone, repeats not counted
    if (u) for (let k = 0; k < vectors.dim; k++) v[k] += w * u[k];
  }
  const n = Math.sqrt(dot(v, v));
  if (n > 0) for (let k = 0; k < vectors.dim; k++) v[k] /= n;
  return v;
}

// The collection's vocabulary (for neighbours "among the indexed words") and per-passage word sets.
const passageWords = set.passages.map((p) => wordWeights(p.text).map(([s]) => s));
const indexWords = [...new Set(passageWords.flat())].filter((s) => wv.has(s));
const indexMatrix = new Float32Array(indexWords.length * wv.dim);
indexWords.forEach((s, i) => {
  indexMatrix.set(wv.vector(s) as Float32Array, i * wv.dim);
});
const neighbourCache = new Map<string, [string, number][]>();
/** The `n` nearest content words of stem `s` (all words, or only the indexed passages' words). */
function neighbours(s: string, n: number, index: boolean): [string, number][] {
  const key = `${s}|${n}|${index}`;
  let out = neighbourCache.get(key);
  if (out) return out;
  const q = wv.vector(s);
  if (!q) out = [];
  else if (!index)
    out = wv
      .neighbours(s, n + 20)
      .filter(([t]) => !t.startsWith('_'))
      .slice(0, n);
  else {
    const scored: [string, number][] = indexWords.map((t, i) => {
      let d = 0;
      for (let k = 0; k < wv.dim; k++) d += q[k] * indexMatrix[i * wv.dim + k];
      return [t, d];
    });
    out = scored
      .filter(([t]) => t !== s)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n);
  }
  neighbourCache.set(key, out);
  return out;
}

interface Setting {
  name: string;
  /** Scores of every passage for a question, or undefined for BM25 alone. */
  lists: ((question: string) => Float64Array)[];
  bm25: boolean;
  /** Fusion weights of the lists (BM25's last); default 1 each. */
  weights?: number[];
  /** rrf: reciprocal rank fusion (k 60) of the top 50 of each list; z: weighted sum of each list's scores over all passages, z-normalised. */
  fusion?: 'rrf' | 'z';
  /** RRF's k (default 60). */
  k?: number;
}

/** Related words of a stem with their weights (a thesaurus, the vectors' neighbours or both). */
type Related = (s: string) => readonly (readonly [string, number])[];

/** Hash vector scores of the question expanded by `related`, plus lambda times its document's. */
function hashScorer(related: Related, beta: number, lambda: number): (question: string) => Float64Array {
  return (question) => {
    const f = hash.features(question);
    if (beta > 0) {
      const extra = new Map<string, number>();
      for (const [key, x] of f) {
        if (!key.startsWith('w:')) continue;
        for (const [t, w] of related(key.slice(2)))
          if (w > 0) extra.set(`w:${t}`, (extra.get(`w:${t}`) ?? 0) + beta * x * w);
      }
      for (const [key, x] of extra) f.set(key, (f.get(key) ?? 0) + x);
    }
    const q = hash.embedFeatures(f, 'query');
    return Float64Array.from(
      set.passages,
      (p, i) =>
        dot(q, passageVectors[i]) + (lambda > 0 ? lambda * dot(q, docVectors.get(p.doc) as Float32Array) : 0),
    );
  };
}
const none: Related = () => [];
const nearest =
  (n: number, index: boolean): Related =>
  (s) =>
    neighbours(s, n, index);
const thesaurus = existsSync(WORDNET) ? wordnetThesaurus(WORDNET) : new Map<string, [string, number][]>();
const wordnet: Related = (s) => thesaurus.get(s) ?? [];
/** WordNet's related words, each weighted by its cosine in the vectors to the power gamma (domain senses first). */
const wordnetBy =
  (gamma: number): Related =>
  (s) =>
    wordnet(s).map(([t, w]) => [t, w * Math.max(0, wv.similarity(s, t)) ** gamma] as const);
/** WordNet's related words and the vectors' n nearest, scores added. */
const union =
  (n: number): Related =>
  (s) => {
    const m = new Map<string, number>(wordnet(s).map(([t, w]) => [t, w]));
    for (const [t, w] of neighbours(s, n, false)) m.set(t, (m.get(t) ?? 0) + w);
    return [...m];
  };
const DICTD_PATHS = DICTD.map(dictdPath).filter((p) => existsSync(p));
const heldOut = heldOutIndex();
const computing = dictdThesaurus(DICTD_PATHS, (text) => !heldOut.find(text));
const foldoc: Related = (s) => computing.get(s) ?? [];
/** The computing dictionaries' related words and WordNet's, scores added. */
const foldocWordnet: Related = (s) => {
  const m = new Map<string, number>(wordnet(s).map(([t, w]) => [t, w]));
  for (const [t, w] of foldoc(s)) m.set(t, (m.get(t) ?? 0) + w);
  return [...m];
};
const docText = (doc: string) =>
  set.passages
    .filter((p) => p.doc === doc)
    .map((p) => p.text)
    .join('\n\n');
const docVectors = new Map<string, Float32Array>();
for (const d of set.docs) docVectors.set(d.id, (await hash.embed([docText(d.id)], 'query'))[0]);
/** Cosine of the question's and the passage's weighted mean vectors, plus lambda times the document's. */
function sifScorer(
  lambda: number,
  vectors = wv,
  weights: SifWeights = 'prior',
): (question: string) => Float64Array {
  const passages = set.passages.map((p) => sifVector(vectors, p.text, weights));
  const docs = new Map(set.docs.map((d) => [d.id, sifVector(vectors, docText(d.id), weights)]));
  return (question) => {
    const q = sifVector(vectors, question, weights);
    return Float64Array.from(
      set.passages,
      (p, i) => dot(q, passages[i]) + (lambda > 0 ? lambda * dot(q, docs.get(p.doc) as Float32Array) : 0),
    );
  };
}
/** maxsim of the file comment, a similarity s counting as max(0, (s - tau) / (1 - tau)) (exact matches 1). */
function maxsimScorer(tau = 0): (question: string) => Float64Array {
  return (question) => {
    const qs = wordWeights(question).filter(([s]) => wv.has(s));
    const total = qs.reduce((a, [, x]) => a + x, 0) || 1;
    return Float64Array.from(set.passages, (_, i) => {
      let score = 0;
      for (const [s, x] of qs) {
        let best = 0;
        for (const t of passageWords[i])
          best = Math.max(best, s === t ? 1 : (wv.similarity(s, t) - tau) / (1 - tau));
        score += x * best;
      }
      return score / total;
    });
  };
}

const CANDIDATES = 50;
const asked = set.questions.filter((q) => q.split === SPLIT);
/** The ranked passage list of scores, as SearchHits (chunkId = passage index + 1). */
function ranked(scores: Float64Array): SearchHit[] {
  return set.passages
    .map(
      (p, i): SearchHit => ({
        chunkId: i + 1,
        source: p.id,
        text: p.text,
        start: 0,
        end: p.text.length,
        line: 1,
        score: scores[i],
      }),
    )
    .sort((a, b) => b.score - a.score)
    .slice(0, CANDIDATES);
}
async function evaluate(s: Setting): Promise<Record<string, Metrics>> {
  const out: Record<string, Metrics> = {};
  for (const style of QUESTION_STYLES) {
    const ranks: number[] = [];
    for (const q of asked.filter((x) => x.style === style)) {
      if (s.fusion === 'z') {
        const all = s.lists.map((f) => f(q.question));
        if (s.bm25) {
          const b = new Float64Array(set.passages.length);
          for (const h of await bm25(q.question, set.passages.length)) b[h.chunkId - 1] = h.score;
          all.push(b);
        }
        const total = new Float64Array(set.passages.length);
        all.forEach((xs, j) => {
          const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
          const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length) || 1;
          for (let i = 0; i < xs.length; i++) total[i] += ((s.weights?.[j] ?? 1) * (xs[i] - mean)) / sd;
        });
        const top = ranked(total)
          .slice(0, 10)
          .map((h) => h.source);
        ranks.push(goldRank(q.gold, top));
        if (DUMP && s.name !== 'bm25')
          console.log(
            `${goldRank(q.gold, top)}\t${q.question}\t${q.gold.join(',')}\t${top.slice(0, 3).join(',')}`,
          );
        continue;
      }
      const lists = s.lists.map((f) => ranked(f(q.question)));
      if (s.bm25) lists.push(await bm25(q.question, CANDIDATES));
      const fused =
        lists.length === 1
          ? lists[0].map((hit) => ({ hit }))
          : reciprocalRankFusion(lists, s.k ?? 60, s.weights);
      const top = fused.slice(0, 10).map((f) => f.hit.source);
      ranks.push(goldRank(q.gold, top));
      if (DUMP && s.name !== 'bm25')
        console.log(
          `${goldRank(q.gold, top)}\t${q.question}\t${q.gold.join(',')}\t${top.slice(0, 3).join(',')}`,
        );
    }
    out[style] = metricsFromRanks(ranks);
  }
  return out;
}

const settings: Setting[] = [
  { name: 'bm25', lists: [], bm25: true },
  { name: 'hybrid (hash+bm25)', lists: [hashScorer(none, 0, 0)], bm25: true },
  { name: 'hybrid (hash+bm25), context 2', lists: [hashScorer(none, 0, 2)], bm25: true },
];
const sources: [string, Related][] = [
  ['vectors n 5', nearest(5, false)],
  ['vectors n 10', nearest(10, false)],
  ['vectors n 10 index', nearest(10, true)],
  ['wordnet', wordnet],
  ['wordnet x sim', wordnetBy(1)],
  ['wordnet x sim^2', wordnetBy(2)],
  ['wordnet + vectors n 5', union(5)],
];
/** Each source's expansion at each beta and lambda, with BM25, alone and beside the `sifName` list. */
function expansionSettings(
  from: readonly (readonly [string, Related])[],
  sifName: string,
  sif: (question: string) => Float64Array,
): Setting[] {
  const out: Setting[] = [];
  for (const [name, related] of from)
    for (const beta of [0.3, 0.6])
      for (const lambda of [0, 2]) {
        const ctx = lambda ? ` context ${lambda}` : '';
        const expand = hashScorer(related, beta, lambda);
        out.push({ name: `expand ${name} beta ${beta}${ctx} + bm25`, lists: [expand], bm25: true });
        out.push({
          name: `${sifName} + expand ${name} beta ${beta}${ctx} + bm25`,
          lists: [sif, expand],
          bm25: true,
        });
      }
  return out;
}
settings.push(...expansionSettings(sources, 'sif', sifScorer(0)));
for (const lambda of [0, 1, 2]) {
  const ctx = lambda ? ` context ${lambda}` : '';
  settings.push({ name: `sif${ctx}`, lists: [sifScorer(lambda)], bm25: false });
  settings.push({ name: `sif${ctx} + bm25`, lists: [sifScorer(lambda)], bm25: true });
  settings.push({
    name: `sif${ctx} + hash + bm25`,
    lists: [sifScorer(lambda), hashScorer(none, 0, 0)],
    bm25: true,
  });
  settings.push({
    name: `sif${ctx} + hash context 2 + bm25`,
    lists: [sifScorer(lambda), hashScorer(none, 0, 2)],
    bm25: true,
  });
}
for (const tau of [0.3, 0.5]) {
  settings.push({ name: `maxsim tau ${tau}`, lists: [maxsimScorer(tau)], bm25: false });
  settings.push({ name: `maxsim tau ${tau} + bm25`, lists: [maxsimScorer(tau)], bm25: true });
  settings.push({
    name: `maxsim tau ${tau} + hash + bm25`,
    lists: [maxsimScorer(tau), hashScorer(none, 0, 0)],
    bm25: true,
  });
}
for (const lambda of [0, 1, 2])
  for (const wb of [0.2, 0.35, 0.5]) {
    const ctx = lambda ? ` context ${lambda}` : '';
    settings.push({
      name: `sif${ctx} + bm25 x ${wb}`,
      lists: [sifScorer(lambda)],
      bm25: true,
      weights: [1, wb],
    });
    settings.push({
      name: `sif${ctx} + hash x 0.5 + bm25 x ${wb}`,
      lists: [sifScorer(lambda), hashScorer(none, 0, 0)],
      bm25: true,
      weights: [1, 0.5, wb],
    });
    settings.push({
      name: `sif${ctx} + expand wordnet beta 0.3 context 2 x 0.5 + bm25 x ${wb}`,
      lists: [sifScorer(lambda), hashScorer(wordnet, 0.3, 2)],
      bm25: true,
      weights: [1, 0.5, wb],
    });
  }
for (const lambda of [0, 1, 2])
  for (const wb of [0.5, 1]) {
    const ctx = lambda ? ` context ${lambda}` : '';
    settings.push({
      name: `z: sif${ctx} + bm25 x ${wb}`,
      lists: [sifScorer(lambda)],
      bm25: true,
      weights: [1, wb],
      fusion: 'z',
    });
    settings.push({
      name: `z: sif${ctx} + hash + bm25 x ${wb}`,
      lists: [sifScorer(lambda), hashScorer(none, 0, 0)],
      bm25: true,
      weights: [1, 1, wb],
      fusion: 'z',
    });
    settings.push({
      name: `z: sif${ctx} + hash context 2 + bm25 x ${wb}`,
      lists: [sifScorer(lambda), hashScorer(none, 0, 2)],
      bm25: true,
      weights: [1, 1, wb],
      fusion: 'z',
    });
    settings.push({
      name: `z: sif${ctx} + expand wordnet beta 0.3 context 2 + bm25 x ${wb}`,
      lists: [sifScorer(lambda), hashScorer(wordnet, 0.3, 2)],
      bm25: true,
      weights: [1, 1, wb],
      fusion: 'z',
    });
  }
for (const lambda of [0, 2]) {
  const ctx = lambda ? ` context ${lambda}` : '';
  settings.push({ name: `sif idf1${ctx}`, lists: [sifScorer(lambda, wv, 'prior1')], bm25: false });
  settings.push({
    name: `sif idf1${ctx} + hash + bm25`,
    lists: [sifScorer(lambda, wv, 'prior1'), hashScorer(none, 0, 0)],
    bm25: true,
  });
  settings.push({
    name: `z: sif idf1${ctx} + expand wordnet beta 0.3 context 2 + bm25 x 0.5`,
    lists: [sifScorer(lambda, wv, 'prior1'), hashScorer(wordnet, 0.3, 2)],
    bm25: true,
    weights: [1, 1, 0.5],
    fusion: 'z',
  });
  settings.push({
    name: `z: sif idf1${ctx} + hash context 2 + bm25 x 0.5`,
    lists: [sifScorer(lambda, wv, 'prior1'), hashScorer(none, 0, 2)],
    bm25: true,
    weights: [1, 1, 0.5],
    fusion: 'z',
  });
}
for (const wb of [0.35, 0.5]) {
  settings.push({
    name: `sif idf1 + bm25 x ${wb}`,
    lists: [sifScorer(0, wv, 'prior1')],
    bm25: true,
    weights: [1, wb],
  });
  settings.push({
    name: `sif idf1 + hash x 0.5 + bm25 x ${wb}`,
    lists: [sifScorer(0, wv, 'prior1'), hashScorer(none, 0, 0)],
    bm25: true,
    weights: [1, 0.5, wb],
  });
}
for (const k of [5, 10, 30])
  for (const wb of [0.2, 0.35, 0.5, 1])
    settings.push({
      name: `rrf k ${k}: sif idf1 + bm25 x ${wb}`,
      lists: [sifScorer(0, wv, 'prior1')],
      bm25: true,
      weights: [1, wb],
      k,
    });
for (const k of [5, 10])
  for (const wh of [0.2, 0.35])
    for (const wb of [0.2, 0.35])
      settings.push({
        name: `rrf k ${k}: sif idf1 + hash x ${wh} + bm25 x ${wb}`,
        lists: [sifScorer(0, wv, 'prior1'), hashScorer(none, 0, 0)],
        bm25: true,
        weights: [1, wh, wb],
        k,
      });
/** One vector per text: the sif idf1 mean and the hash vector, concatenated with weights, so cos = (1 - g) cos_sif + g cos_hash. */
function mixScorer(g: number): (question: string) => Float64Array {
  const sif = sifScorer(0, wv, 'prior1');
  const h = hashScorer(none, 0, 0);
  return (question) => {
    const a = sif(question);
    const b = h(question);
    return a.map((x, i) => (1 - g) * x + g * b[i]);
  };
}
for (const g of [0.2, 0.35, 0.5])
  for (const k of [5, 10, 60])
    for (const wb of [0.2, 0.35, 0.5, 1])
      settings.push({
        name: `mix ${g}: rrf k ${k} + bm25 x ${wb}`,
        lists: [mixScorer(g)],
        bm25: true,
        weights: [1, wb],
        k,
      });
for (const wb of [0.5, 1])
  settings.push({
    name: `z: sif idf1 + bm25 x ${wb}`,
    lists: [sifScorer(0, wv, 'prior1')],
    bm25: true,
    weights: [1, wb],
    fusion: 'z',
  });
settings.push({ name: 'sif collection idf', lists: [sifScorer(0, wv, 'collection')], bm25: false });
settings.push({
  name: 'sif collection idf + hash + bm25',
  lists: [sifScorer(0, wv, 'collection'), hashScorer(none, 0, 0)],
  bm25: true,
});
if (wv2) {
  settings.push({ name: 'sif2', lists: [sifScorer(0, wv2)], bm25: false });
  settings.push({
    name: 'sif2 + hash + bm25',
    lists: [sifScorer(0, wv2), hashScorer(none, 0, 0)],
    bm25: true,
  });
  settings.push({
    name: 'sif + sif2 + hash + bm25',
    lists: [sifScorer(0), sifScorer(0, wv2), hashScorer(none, 0, 0)],
    bm25: true,
  });
  for (const lambda of [0, 2])
    settings.push({
      name: `sif + sif2 + expand wordnet beta 0.3${lambda ? ` context ${lambda}` : ''} + bm25`,
      lists: [sifScorer(0), sifScorer(0, wv2), hashScorer(wordnet, 0.3, lambda)],
      bm25: true,
    });
}
settings.push(
  ...expansionSettings(
    [
      ['foldoc', foldoc],
      ['foldoc + wordnet', foldocWordnet],
    ],
    'sif idf1',
    sifScorer(0, wv, 'prior1'),
  ),
);
settings.push({ name: 'maxsim', lists: [maxsimScorer()], bm25: false });
settings.push({ name: 'maxsim + hash + bm25', lists: [maxsimScorer(), hashScorer(none, 0, 0)], bm25: true });

const chosen = settings.filter((s) => s.name === 'bm25' || (ONLY ? s.name === ONLY : s.name.includes(MATCH)));
if (ONLY && chosen.length < 2) throw new Error(`--only: no setting named "${ONLY}"`);
const rows: { method: string; metrics: Record<string, Metrics> }[] = [];
for (const s of chosen) rows.push({ method: s.name, metrics: await evaluate(s) });
await store.close();

const count = (style: string) => asked.filter((q) => q.style === style).length;
console.log(
  `word vectors: ${wv.words.length} words x ${wv.dim} (${VECTORS}, ${buildS.toFixed(1)} s); eval/paraphrase ${SPLIT}: ` +
    `${count('paraphrase')} paraphrase, ${count('keyword')} keyword questions over ${set.passages.length} passages\n`,
);
console.log(`| ${SPLIT} | paraphrase recall@5 | x BM25 | paraphrase MRR@10 | keyword recall@5 |`);
console.log('|---|---|---|---|---|');
const base = rows[0].metrics.paraphrase.recallAt5;
for (const r of rows)
  console.log(
    `| ${r.method} | ${r.metrics.paraphrase.recallAt5.toFixed(3)} | ${(r.metrics.paraphrase.recallAt5 / base).toFixed(2)} | ` +
      `${r.metrics.paraphrase.mrrAt10.toFixed(3)} | ${r.metrics.keyword.recallAt5.toFixed(3)} |`,
  );
const result = {
  split: SPLIT,
  vectors: { words: wv.words.length, dim: wv.dim, window: WINDOW, stopwords: STOPWORDS },
  rows: rows.map(resultRow),
};
if (OUT) writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
