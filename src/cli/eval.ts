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
 */
import { existsSync } from 'node:fs';
import { kvCacheBytes } from '../nn/kv_cache.ts';
import { formatTable, runEval, SET_NAMES, type SetName, summaryJson } from '../recipe/eval.ts';
import { SPLITS, type Split } from '../recipe/realprose.ts';
import { Progress } from '../train/progress.ts';
import { optInt, optString, parseArgs, UsageError } from './args.ts';
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
    ],
    flags: ['json'],
  });
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
