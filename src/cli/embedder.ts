/**
 * `xfmr embedder pairs --out PAIRS.jsonl [--debian FILE]... [--wordnet DIR] [--docs DIR]...`
 *   Builds query/passage pairs (train/embed_pairs.ts): Debian synopsis vs long description (apt's
 *   Translation-en, decompressed; scripts/corpus/embed_pairs.sh fetches it), WordNet synonyms and
 *   definitions, Markdown headings vs sections. Held-out sources are refused or dropped.
 *
 * `xfmr embedder train --pairs PAIRS.jsonl --out DIR [--minutes N | --steps N] [options]`
 *   Trains a sentence embedder from scratch: a WordPiece vocabulary on the pairs' text, a small
 *   BERT-style encoder (--layers, --dim, --heads, --ffn), mean pooled, trained with InfoNCE over
 *   in-batch and BM25-mined hard negatives (train/contrastive.ts, rag/bm25_negatives.ts). DIR is a
 *   sentence-transformers directory (`xfmr rag index --embedder DIR` and sentence-transformers load
 *   it), with metrics.jsonl and checkpoints (--checkpoint-every, --resume continues a run).
 *   --minutes N sets the step count from the time of two probe steps before training.
 *   Options: --vocab 12000 --layers 2 --dim 256 --heads 4 --ffn 512 --max-len 128 --max-seq 256
 *   --batch-size 64 --lr 5e-4 --temperature 0.05 --seed 0 --max-pairs N --vocab-texts 40000.
 *
 * `xfmr embedder words --pairs PAIRS.jsonl --out DIR (--apt DIR | --vectors FILE) [options]`
 *   Trains the word-vector embedder (rag/word_embedder.ts, the default of `rag index`): word vectors
 *   by PPMI + SVD of Debian's package descriptions (--apt: a folder of decompressed Translation-en
 *   files) and /usr/share/doc prose (rag/word_corpus.ts; cached at --vectors when it is given), then
 *   tuned on the pairs' train split with InfoNCE (train/word_tuning.ts). DIR gets the vectors,
 *   xfmr_words.json and xfmr_retrieval.json (the fusion constants given), and prints MRR@10 on the
 *   pairs' dev split before and after. Options: --epochs 2 --lr 0.05 --tau 0.05 --batch-size 256
 *   --lambda 1e-3 --seed 1 --hash-weight 0.35 --trust-power 2 --rrf-k 5 --vector-weight 1
 *   --bm25-weight 2 --bm25-min-coverage 0.5 (--trust-power: hybrid retrieval scales the vector
 *   list's weight by the share of a question's word weight that has vectors, to this power; 0 turns
 *   it off. --bm25-min-coverage: the BM25 list counts only when its first hit holds that share of
 *   the question's content words; 0 turns it off).
 *   scripts/train_word_embedder.sh runs it all from a bare Debian machine.
 *
 * `xfmr embedder tune --model DIR --pairs PAIRS.jsonl [--max-dev N] [--json]`
 *   Tunes hybrid retrieval's fusion for the embedder DIR on the pairs' dev split (rag/fusion_tune.ts:
 *   each dev source kind, e.g. debian and wordnet, is one retrieval set over its own passages) and
 *   writes DIR/xfmr_retrieval.json (the constants `rag query` then uses) and DIR/dev_eval.json
 *   (recall@5 and MRR@10 of vector, BM25, RRF k=60 and the tuned RRF per set).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonFile } from '../io/files.ts';
import { Encoder } from '../models/encoder.ts';
import { saveSentenceTransformer } from '../models/load_st.ts';
import { bertConfig } from '../models/presets.ts';
import { mineBm25Negatives } from '../rag/bm25_negatives.ts';
import { backward, noGrad, Rng, tidy } from '../tensor/index.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { trainWordPiece } from '../tokenizers/wordpiece_trainer.ts';
import { contrastiveBatchLoss } from '../train/contrastive.ts';
import { buildPairs, type EmbedPair, parsePairsJsonl } from '../train/embed_pairs.ts';
import { embedIds, type TokenizedPairs, trainEmbedder, tripletBatch } from '../train/embedder_train.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { LOOP_FLAGS, LOOP_VALUES, runOptions } from './train_options.ts';

export const USAGE =
  'usage: xfmr embedder pairs --out PAIRS.jsonl [--debian FILE]... [--wordnet DIR] [--docs DIR]...\n' +
  '       xfmr embedder train --pairs PAIRS.jsonl --out DIR [--minutes N | --steps N] [--layers 2] [--dim 256] ...\n' +
  '       xfmr embedder words --pairs PAIRS.jsonl --out DIR (--apt DIR | --vectors FILE) [--epochs 2] [--hash-weight 0.35] ...\n' +
  '       xfmr embedder tune --model DIR --pairs PAIRS.jsonl [--max-dev N] [--json]';

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'pairs') return pairsCommand(rest);
  if (sub === 'train') return trainCommand(rest);
  if (sub === 'tune') return tuneCommand(rest);
  if (sub === 'words') return wordsCommand(rest);
  throw new UsageError(sub === undefined ? USAGE : `unknown embedder command "${sub}"\n${USAGE}`);
}

/** Every value of a repeatable option, in order (parseArgs keeps the last; read argv directly). */
function repeated(argv: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}` && i + 1 < argv.length) out.push(argv[++i]);
    else if (argv[i].startsWith(`--${name}=`)) out.push(argv[i].slice(name.length + 3));
  }
  return out;
}

async function pairsCommand(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['out', 'debian', 'wordnet', 'docs', 'dev-every'] });
  const out = optString(a, 'out');
  if (!out) throw new UsageError('embedder pairs: --out PAIRS.jsonl is required');
  const debian = repeated(argv, 'debian');
  const docs = repeated(argv, 'docs');
  for (const f of [...debian, ...docs])
    if (!existsSync(f)) throw new UsageError(`embedder pairs: ${f}: no such file or folder`);
  const { pairs, counts } = buildPairs({
    debian,
    wordnet: optString(a, 'wordnet'),
    docs,
    devEvery: optInt(a, 'dev-every', 50),
  });
  writeFileAtomic(out, pairs.map((p) => `${JSON.stringify(p)}\n`).join(''));
  const by = new Map<string, number>();
  for (const p of pairs) {
    const k = `${p.source.slice(0, p.source.indexOf(':'))}/${p.split}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  process.stderr.write(
    `embedder pairs: wrote ${counts.pairs} pairs to ${out} (${[...by].map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
      `dropped ${counts.heldOut} repeating held-out text, ${counts.duplicates} duplicate passages\n`,
  );
}

/** Reads --pairs; the train split, shuffled by `seed` and cut to maxPairs. */
function readTrainPairs(path: string, maxPairs: number, seed: number): EmbedPair[] {
  if (!existsSync(path)) throw new UsageError(`--pairs ${path}: no such file`);
  const all = parsePairsJsonl(readFileSync(path, 'utf8'), path).filter((p) => p.split === 'train');
  if (all.length < 2) throw new Error(`--pairs ${path}: fewer than 2 training pairs`);
  const rng = new Rng(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, maxPairs);
}

async function trainCommand(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      'pairs',
      'out',
      'minutes',
      'steps',
      'vocab',
      'vocab-texts',
      'layers',
      'dim',
      'heads',
      'ffn',
      'max-len',
      'max-seq',
      'batch-size',
      'lr',
      'temperature',
      'seed',
      'max-pairs',
      ...LOOP_VALUES,
    ],
    flags: [...LOOP_FLAGS],
  });
  const pairsPath = optString(a, 'pairs');
  const out = optString(a, 'out');
  if (!pairsPath || !out)
    throw new UsageError('embedder train: --pairs PAIRS.jsonl and --out DIR are required');
  const positive = (name: string, v: number) => {
    if (!(v > 0)) throw new UsageError(`--${name} must be > 0, got ${v}`);
    return v;
  };
  const seed = optInt(a, 'seed', 0);
  const maxLen = positive('max-len', optInt(a, 'max-len', 128));
  const maxSeq = positive('max-seq', optInt(a, 'max-seq', 256));
  const dim = positive('dim', optInt(a, 'dim', 256));
  const heads = positive('heads', optInt(a, 'heads', 4));
  if (dim % heads !== 0) throw new UsageError(`--dim ${dim} is not a multiple of --heads ${heads}`);
  const layers = optInt(a, 'layers', 2);
  if (layers < 0) throw new UsageError(`--layers must be >= 0, got ${layers}`);
  const batchSize = positive('batch-size', optInt(a, 'batch-size', 64));
  const lr = positive('lr', optNumber(a, 'lr', 5e-4));
  const temperature = positive('temperature', optNumber(a, 'temperature', 0.05));
  const minutes = optString(a, 'minutes') === undefined ? 0 : positive('minutes', optNumber(a, 'minutes', 0));
  let steps = optString(a, 'steps') === undefined ? 0 : positive('steps', optInt(a, 'steps', 0));
  if (minutes > 0 === steps > 0) throw new UsageError('embedder train: give one of --minutes N or --steps N');
  const run = runOptions(a, out, optInt(a, 'checkpoint-every', 200));

  const pairs = readTrainPairs(pairsPath, optInt(a, 'max-pairs', Number.MAX_SAFE_INTEGER), seed);
  const say = (s: string) => process.stderr.write(`embedder: ${s}\n`);
  say(`${pairs.length} training pairs from ${pairsPath}`);

  // The vocabulary: trained once and kept in OUT, so a resumed run tokenizes as the first did.
  mkdirSync(out, { recursive: true });
  const tokPath = join(out, 'tokenizer.json');
  let tokenizerJson: object;
  if (run.resume && existsSync(tokPath)) tokenizerJson = JSON.parse(readFileSync(tokPath, 'utf8')) as object;
  else {
    const nTexts = optInt(a, 'vocab-texts', 40000);
    const texts = pairs.slice(0, nTexts).flatMap((p) => [p.query, p.passage]);
    const t0 = performance.now();
    tokenizerJson = trainWordPiece(texts, { vocabSize: positive('vocab', optInt(a, 'vocab', 12000)) });
    say(
      `WordPiece vocabulary trained on ${texts.length} texts in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    writeJsonFile(tokPath, tokenizerJson);
  }
  const tokenizer = loadTokenizerJson(tokenizerJson);
  const t1 = performance.now();
  const data: TokenizedPairs = {
    queries: pairs.map((p) => embedIds(tokenizer, p.query, maxLen)),
    passages: pairs.map((p) => embedIds(tokenizer, p.passage, maxLen)),
    negatives: new Int32Array(0),
  };
  say(`tokenized in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
  // Hard negatives for the pairs whose query is a sentence, among those pairs' passages: a WordNet
  // word's BM25 neighbours are its other senses, which are not wrong answers to the bare word.
  const mined = [...pairs.keys()].filter((i) => !pairs[i].source.startsWith('wordnet:'));
  const t2 = performance.now();
  const local = mineBm25Negatives(
    mined.map((i) => pairs[i].query),
    mined.map((i) => pairs[i].passage),
    Int32Array.from(mined.keys()),
    { onProgress: (d, t) => say(`mining hard negatives: ${d} of ${t} queries`) },
  );
  const negs = new Int32Array(pairs.length).fill(-1);
  mined.forEach((i, k) => {
    if (local[k] >= 0) negs[i] = mined[local[k]];
  });
  data.negatives = negs;
  say(
    `BM25 hard negatives for ${negs.filter((n) => n >= 0).length} of ${pairs.length} pairs in ${((performance.now() - t2) / 1000).toFixed(0)} s`,
  );

  const vocabSize = (tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab;
  const config = bertConfig({
    vocabSize: Object.keys(vocabSize).length,
    dModel: dim,
    nHeads: heads,
    nLayers: layers,
    ffnDim: optInt(a, 'ffn', 2 * dim),
    contextLength: maxSeq,
  });
  const model = new Encoder(config, seed);
  const nParams = model.parameters().reduce((s, p) => s + p.size, 0);
  say(
    `encoder: ${layers} layers, d ${dim}, ${heads} heads, vocab ${config.vocabSize}: ${(nParams / 1e6).toFixed(2)}M parameters`,
  );

  if (minutes > 0) {
    // Two probe steps (forward + backward, no update) time a batch; the schedule needs the count.
    const rng = new Rng(seed + 1);
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      const idx = Array.from({ length: batchSize }, () => rng.int(pairs.length));
      const t = performance.now();
      tidy(() => backward(contrastiveBatchLoss(model, tripletBatch(data, idx), temperature).loss));
      times.push(performance.now() - t);
      for (const p of model.parameters()) p.grad?.data.fill(0);
    }
    const perStep = Math.min(...times.slice(1)) * 1.15; // + the optimizer and loop
    steps = Math.max(1, Math.floor((minutes * 60000) / perStep));
    say(`a step takes ~${(perStep / 1000).toPrecision(3)} s: ${steps} steps in ${minutes} minutes`);
  }
  await trainEmbedder(model, data, { ...run, steps, batchSize, lr, maxLen, temperature, seed });
  noGrad(() => saveSentenceTransformer(out, model, tokenizerJson as never, maxSeq));
  say(`wrote the sentence-transformers directory ${out}`);
}

async function tuneCommand(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['model', 'pairs', 'max-dev'], flags: ['json'] });
  const dir = optString(a, 'model');
  const pairsPath = optString(a, 'pairs');
  if (!dir || !pairsPath)
    throw new UsageError('embedder tune: --model DIR and --pairs PAIRS.jsonl are required');
  if (!existsSync(pairsPath)) throw new UsageError(`--pairs ${pairsPath}: no such file`);
  const maxDev = optInt(a, 'max-dev', 2000);
  const dev = parsePairsJsonl(readFileSync(pairsPath, 'utf8'), pairsPath).filter((p) => p.split === 'dev');
  if (dev.length === 0) throw new Error(`--pairs ${pairsPath}: no dev pairs (split "dev")`);
  const { EncoderEmbedder, FUSION_FILE } = await import('../rag/encoder_embedder.ts');
  const { devRankedLists, tuneFusion } = await import('../rag/fusion_tune.ts');
  const embedder = EncoderEmbedder.load({ dir });
  const bySet = new Map<string, EmbedPair[]>();
  for (const p of dev) {
    const k = p.source.slice(0, Math.max(0, p.source.indexOf(':'))) || 'dev';
    const l = bySet.get(k) ?? [];
    if (l.length < maxDev) l.push(p);
    bySet.set(k, l);
  }
  const lists: Record<string, Awaited<ReturnType<typeof devRankedLists>>> = {};
  for (const [k, ps] of bySet) {
    lists[k] = await devRankedLists(
      embedder,
      ps.map((p) => p.query),
      ps.map((p) => p.passage),
    );
  }
  const r = tuneFusion(lists);
  writeJsonFile(join(dir, FUSION_FILE), {
    rrf_k: r.fusion.rrfK,
    vector_weight: r.fusion.vectorWeight,
    bm25_weight: r.fusion.bm25Weight,
    tuned_on: `the dev split of ${pairsPath} (${[...bySet].map(([k, v]) => `${k} ${v.length}`).join(', ')}): best mean MRR@10 on the grid of src/rag/fusion_tune.ts`,
  });
  const report = { fusion: r.fusion, sets: r.sets };
  writeJsonFile(join(dir, 'dev_eval.json'), report);
  if (a.options.has('json')) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const f = (x: number) => x.toFixed(3);
  const lines = [`fusion: rrf_k ${r.fusion.rrfK}, vector weight ${r.fusion.vectorWeight}, bm25 weight 1`];
  for (const [k, m] of Object.entries(r.sets))
    for (const [name, x] of Object.entries(m))
      lines.push(
        `${k.padEnd(8)} ${name.padEnd(9)} recall@5 ${f(x.recallAt5)}  MRR@10 ${f(x.mrrAt10)}  (${x.questions} queries)`,
      );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `embedder words`: the word-vector embedder (file comment). */
async function wordsCommand(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      'pairs',
      'out',
      'apt',
      'vectors',
      'epochs',
      'lr',
      'tau',
      'batch-size',
      'lambda',
      'seed',
      'hash-weight',
      'trust-power',
      'rrf-k',
      'vector-weight',
      'bm25-weight',
      'bm25-min-coverage',
    ],
    flags: [],
  });
  const pairsPath = optString(a, 'pairs');
  const out = optString(a, 'out');
  if (!pairsPath || !out)
    throw new UsageError('embedder words: --pairs PAIRS.jsonl and --out DIR are required');
  if (!existsSync(pairsPath)) throw new UsageError(`--pairs ${pairsPath}: no such file`);
  const apt = optString(a, 'apt');
  const vectorsPath = optString(a, 'vectors');
  if (!apt && !(vectorsPath && existsSync(vectorsPath)))
    throw new UsageError(
      'embedder words: give --apt DIR (Translation-en files) or an existing --vectors FILE',
    );
  const num = (name: string, fallback: number, ok: (v: number) => boolean, what: string): number => {
    const v = optNumber(a, name, fallback);
    if (!ok(v)) throw new UsageError(`--${name} must be ${what}, got ${v}`);
    return v;
  };
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  const tuning = {
    epochs: num('epochs', 2, (v) => Number.isInteger(v) && v > 0, 'a positive integer'),
    lr: num('lr', 0.05, positive, '> 0'),
    tau: num('tau', 0.05, positive, '> 0'),
    batchSize: num('batch-size', 256, (v) => Number.isInteger(v) && v > 1, 'an integer > 1'),
    lambda: num('lambda', 1e-3, (v) => Number.isFinite(v) && v >= 0, '>= 0'),
    seed: num('seed', 1, Number.isInteger, 'an integer'),
  };
  const hashWeight = num('hash-weight', 0.35, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  const trustPower = num('trust-power', 2, (v) => Number.isFinite(v) && v >= 0, '>= 0');
  const fusion = {
    rrf_k: num('rrf-k', 5, positive, '> 0'),
    vector_weight: num('vector-weight', 1, (v) => Number.isFinite(v) && v >= 0, '>= 0'),
    bm25_weight: num('bm25-weight', 2, (v) => Number.isFinite(v) && v >= 0, '>= 0'),
    bm25_min_coverage: num('bm25-min-coverage', 0.5, (v) => v >= 0 && v <= 1, 'in [0, 1]'),
  };
  const { cachedWordVectors } = await import('../rag/word_corpus.ts');
  const { WordVectors } = await import('../rag/word_vectors.ts');
  const { HashEmbedder } = await import('../rag/hash_embedder.ts');
  const { bagVector, tuneWordVectors } = await import('../train/word_tuning.ts');
  const t0 = performance.now();
  const start =
    vectorsPath && existsSync(vectorsPath)
      ? WordVectors.parse(readFileSync(vectorsPath), vectorsPath)
      : cachedWordVectors(vectorsPath ?? join(out, 'start-vectors.bin'), { apt: apt as string }, {});
  process.stderr.write(
    `embedder words: ${start.words.length} starting word vectors x ${start.dim} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
  );
  // a text's bag: its stems with vectors, weighted as the embedder weighs them (idf power 1), the 64 heaviest
  const IDF_POWER = 1;
  const weigher = new HashEmbedder({ idfPower: IDF_POWER });
  const row = new Map(start.words.map((w, i) => [w, i]));
  const bag = (text: string) => {
    const items: [number, number][] = [];
    for (const [key, x] of weigher.features(text)) {
      const i = key.startsWith('w:') ? row.get(key.slice(2)) : undefined;
      if (i !== undefined) items.push([i, x]);
    }
    const kept = items.sort((p, q) => q[1] - p[1]).slice(0, 64);
    return { ids: Int32Array.from(kept, ([i]) => i), weights: Float32Array.from(kept, ([, x]) => x) };
  };
  const all = parsePairsJsonl(readFileSync(pairsPath, 'utf8'), pairsPath)
    .map((p) => ({ ...p, q: bag(p.query), p: bag(p.passage) }))
    .filter((p) => p.q.ids.length > 0 && p.p.ids.length > 0);
  const train = all.filter((p) => p.split === 'train');
  const dev = all.filter((p) => p.split !== 'train');
  /** MRR@10 of each dev source kind's queries against that kind's passages. */
  const devMrr = (W: Float32Array): Record<string, number> => {
    const dim = start.dim;
    const kinds = new Map<string, typeof dev>();
    for (const p of dev) {
      const k = p.source.slice(0, Math.max(0, p.source.indexOf(':'))) || 'dev';
      kinds.set(k, [...(kinds.get(k) ?? []), p]);
    }
    const outM: Record<string, number> = {};
    for (const [k, set] of kinds) {
      const P = new Float32Array(set.length * dim);
      set.forEach((x, i) => {
        bagVector(W, dim, x.p, P, i * dim);
      });
      const q = new Float32Array(dim);
      let mrr = 0;
      set.forEach((x, i) => {
        bagVector(W, dim, x.q, q);
        const score = (j: number) => {
          let s = 0;
          for (let d = 0; d < dim; d++) s += q[d] * P[j * dim + d];
          return s;
        };
        const own = score(i);
        let rank = 0;
        for (let j = 0; j < set.length && rank < 10; j++) if (j !== i && score(j) > own) rank++;
        if (rank < 10) mrr += 1 / (rank + 1);
      });
      outM[k] = Math.round((1000 * mrr) / set.length) / 1000;
    }
    return outM;
  };
  const before = devMrr(start.vectors);
  process.stderr.write(
    `embedder words: ${train.length} training pairs; dev MRR@10 before ${JSON.stringify(before)}\n`,
  );
  const t1 = performance.now();
  const W = tuneWordVectors(start.vectors, start.dim, train, {
    ...tuning,
    onStep: (step, epoch, loss) => {
      if (step % 100 === 0)
        process.stderr.write(
          `embedder words: epoch ${epoch + 1} step ${step} loss ${loss.toFixed(4)} (${((performance.now() - t1) / 1000).toFixed(0)} s)\n`,
        );
    },
  });
  const after = devMrr(W);
  mkdirSync(out, { recursive: true });
  // the rows as trained (not unit length): the embedder's weighted mean is the model trained
  writeFileAtomic(join(out, 'vectors.bin'), new WordVectors(start.words, start.dim, W).serialize());
  writeJsonFile(join(out, 'xfmr_words.json'), {
    format: 'xfmr-words',
    vectors: 'vectors.bin',
    hash_weight: hashWeight,
    idf_power: IDF_POWER,
    hash: {},
    trust_power: trustPower,
    trained: {
      pairs: pairsPath,
      train_pairs: train.length,
      ...tuning,
      dev_mrr_before: before,
      dev_mrr_after: after,
    },
  });
  const { FUSION_FILE } = await import('../rag/encoder_embedder.ts');
  writeJsonFile(join(out, FUSION_FILE), {
    ...fusion,
    tuned_on: 'the given --rrf-k, --vector-weight, --bm25-weight and --bm25-min-coverage',
  });
  const report = {
    out,
    words: start.words.length,
    dim: start.dim,
    train: train.length,
    devMrrBefore: before,
    devMrrAfter: after,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
