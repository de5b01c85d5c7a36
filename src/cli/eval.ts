/**
 * `xfmr eval [--model DIR] [--sft DIR] [--docs DIR] [--realprose DIR] [--split dev|test]
 * [--sets LIST] [--work DIR] [--n N] [--k K] [--dtype D] [--kv-type T] [--json]`: exact match, F1, answer rate,
 * answer-in-sources and abstention of a RAG model on held-out questions, without retrieval, with
 * hybrid retrieval over the indexed documents, and with the gold chunk (src/recipe/eval.ts); the
 * SFT model too when --sft is given (default: models/xfmr-rag-tiny-sft when it exists).
 *
 * Sets (--sets, comma-separated, default all): synthetic (unseen entity names), docs (questions
 * over --docs, default docs/), realprose (manual pages, docstrings and license texts under
 * --realprose, default eval/realprose). --split picks the real-prose split: dev (default) is for
 * tuning; test is the split reported once, and a warning on stderr says so.
 *
 * Prints the table, then the scores as one JSON line (with --json, only the JSON, with samples).
 * --dtype auto|f32|bf16: how the models' weights are held (default auto: what each checkpoint
 * holds; src/cli/dtype.ts), printed on stderr per model. --kv-type f32|f16|q8_0: how the KV cache
 * stores keys and values (default f32; src/cli/kv_type.ts), printed with its largest size per model.
 *
 * `xfmr eval --calibrate [--model DIR] [--realprose DIR] [--confidence KIND] [--min-answer-rate R]
 * [--dry-run] [--json]`: calibrates the model's abstention on the real-prose DEV split only
 * (src/recipe/calibrate.ts) and writes DIR/xfmr_rag.json, which `xfmr rag ask`, `/v1/rag/ask` and
 * this eval then apply to grounded answers; prints the dev figures of every confidence kind.
 */
import { existsSync } from 'node:fs';
import { kvCacheBytes } from '../nn/kv_cache.ts';
import { formatTable, runEval, SET_NAMES, type SetName, summaryJson } from '../recipe/eval.ts';
import { SPLITS, type Split } from '../recipe/realprose.ts';
import { Progress } from '../train/progress.ts';
import { optInt, optNumber, optString, type ParsedArgs, parseArgs, UsageError } from './args.ts';
import { optDtype } from './dtype.ts';
import { kvCacheLine, optKvType } from './kv_type.ts';

function optSplit(v: string | undefined): Split {
  if (v === undefined) return 'dev';
  if (!(SPLITS as readonly string[]).includes(v))
    throw new UsageError(`--split must be dev or test, got "${v}"`);
  return v as Split;
}

function optSets(v: string | undefined): SetName[] | undefined {
  if (v === undefined) return undefined;
  const names = v.split(',').map((s) => s.trim());
  for (const n of names)
    if (!(SET_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--sets: unknown set "${n}" (known: ${SET_NAMES.join(', ')})`);
  return names as SetName[];
}

export const USAGE =
  'usage: xfmr eval [--model DIR] [--sft DIR] [--docs DIR] [--realprose DIR] [--split dev|test] [--sets LIST] [--work DIR]\n' +
  '                 [--n N] [--k K] [--dtype D] [--kv-type T] [--json]\n' +
  '       xfmr eval --calibrate [--model DIR] [--realprose DIR] [--confidence KIND] [--min-answer-rate R] [--dry-run] [--json]';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: [
      'model',
      'sft',
      'docs',
      'realprose',
      'split',
      'sets',
      'work',
      'n',
      'k',
      'seed',
      'dtype',
      'kv-type',
      'confidence',
      'min-answer-rate',
    ],
    flags: ['json', 'calibrate', 'dry-run'],
  });
  if (a.options.has('calibrate')) return runCalibrate(a);
  for (const o of ['confidence', 'min-answer-rate', 'dry-run'])
    if (a.options.has(o)) throw new UsageError(`--${o} applies to --calibrate`);
  const dtype = optDtype(a);
  const kvType = optKvType(a);
  const split = optSplit(optString(a, 'split'));
  const sets = optSets(optString(a, 'sets'));
  const model = optString(a, 'model') ?? 'models/xfmr-rag-tiny';
  const sft =
    optString(a, 'sft') ??
    (existsSync('models/xfmr-rag-tiny-sft') && !a.options.has('model')
      ? 'models/xfmr-rag-tiny-sft'
      : undefined);
  const docs = optString(a, 'docs') ?? (existsSync('docs') ? 'docs' : undefined);
  const realprose =
    optString(a, 'realprose') ?? (existsSync('eval/realprose') ? 'eval/realprose' : undefined);
  for (const [flag, dir] of [
    ['docs', docs],
    ['realprose', realprose],
  ] as const)
    if (a.options.has(flag) && dir && !existsSync(dir))
      throw new UsageError(`--${flag}: ${dir} does not exist`);
  if (split === 'test' && realprose && (!sets || sets.includes('realprose')))
    process.stderr.write(
      'xfmr eval: WARNING: the real-prose TEST split is reported once, for the final figures; never tune on it (use --split dev)\n',
    );
  const models = [...(sft ? [{ dir: sft, label: 'sft' }] : []), { dir: model, label: sft ? 'dpo' : 'model' }];
  let progress: Progress | null = null;
  const results = await runEval(models, {
    workDir: optString(a, 'work') ?? 'runs/eval',
    docsDir: docs,
    realproseDir: realprose,
    split,
    sets,
    syntheticDocs: optInt(a, 'n', 100),
    k: optInt(a, 'k', 3),
    seed: optInt(a, 'seed', 20240),
    dtype,
    kvType,
    onLoad: (dir, weights, g) => {
      process.stderr.write(`xfmr eval: ${dir}: dtype ${weights}\n`);
      const bytes = kvCacheBytes(g.model.config, kvType, g.contextTokens, 1);
      process.stderr.write(kvCacheLine('eval', kvType, g.contextTokens, 1, bytes, true));
    },
    onProgress: (done, total) => {
      progress ??= new Progress('eval', total);
      progress.update(done);
    },
  });
  if (a.options.has('json')) {
    process.stdout.write(`${JSON.stringify({ split, results })}\n`);
    return;
  }
  process.stdout.write(`${formatTable(results)}\n${summaryJson(results, split)}\n`);
}

/** `--calibrate`: the abstention threshold of --model from the real-prose dev split. */
async function runCalibrate(a: ParsedArgs): Promise<void> {
  for (const o of ['sft', 'docs', 'sets', 'n', 'seed'])
    if (a.options.has(o))
      throw new UsageError(`--${o} does not apply to --calibrate (it uses the real-prose dev split)`);
  if (a.options.has('split') && optString(a, 'split') !== 'dev')
    throw new UsageError('--calibrate uses the dev split only: never calibrate on the test split');
  const { CONFIDENCE_KINDS } = await import('../rag/abstain.ts');
  const confidence = optString(a, 'confidence');
  if (confidence !== undefined && !(CONFIDENCE_KINDS as readonly string[]).includes(confidence))
    throw new UsageError(`--confidence must be one of ${CONFIDENCE_KINDS.join(', ')}, got "${confidence}"`);
  const minAnswerRate = optNumber(a, 'min-answer-rate', 0.9);
  if (!(minAnswerRate > 0 && minAnswerRate <= 1))
    throw new UsageError(`--min-answer-rate must be in (0, 1], got ${minAnswerRate}`);
  const model = optString(a, 'model') ?? 'models/xfmr-rag-tiny';
  const realprose = optString(a, 'realprose') ?? 'eval/realprose';
  if (!existsSync(realprose)) throw new UsageError(`--realprose: ${realprose} does not exist`);
  const { calibrateModel, formatCalibration } = await import('../recipe/calibrate.ts');
  let progress: Progress | null = null;
  const report = await calibrateModel(model, {
    workDir: optString(a, 'work') ?? 'runs/eval',
    realproseDir: realprose,
    k: optInt(a, 'k', 3),
    confidence: confidence as import('../rag/abstain.ts').ConfidenceKind | undefined,
    minAnswerRate,
    dryRun: a.options.has('dry-run'),
    dtype: optDtype(a),
    kvType: optKvType(a),
    onProgress: (done, total) => {
      progress ??= new Progress('calibrate', total);
      progress.update(done);
    },
  });
  process.stdout.write(
    a.options.has('json') ? `${JSON.stringify(report)}\n` : `${formatCalibration(report)}\n`,
  );
}
