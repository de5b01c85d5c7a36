/**
 * `xfmr eval [--model DIR] [--sft DIR] [--docs DIR] [--work DIR] [--n N] [--k K] [--dtype D] [--kv-type T] [--json]`: exact
 * match and F1 of a RAG model's answers on held-out questions, without retrieval, with hybrid
 * retrieval over the indexed documents, and with the gold chunk (src/recipe/eval.ts); the SFT
 * model too when --sft is given (default: models/xfmr-rag-tiny-sft when it exists). Prints the
 * table, then the scores as one JSON line (with --json, only the JSON, with samples). --dtype
 * auto|f32|bf16: how the models' weights are held (default auto: what each checkpoint holds;
 * src/cli/dtype.ts), printed on stderr per model. --kv-type f32|f16|q8_0: how the KV cache stores
 * keys and values (default f32; src/cli/kv_type.ts), printed with its largest size per model.
 */
import { existsSync } from 'node:fs';
import { kvCacheBytes } from '../nn/kv_cache.ts';
import { formatTable, runEval, summaryJson } from '../recipe/eval.ts';
import { Progress } from '../train/progress.ts';
import { optInt, optString, parseArgs } from './args.ts';
import { optDtype } from './dtype.ts';
import { kvCacheLine, optKvType } from './kv_type.ts';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: ['model', 'sft', 'docs', 'work', 'n', 'k', 'seed', 'dtype', 'kv-type'],
    flags: ['json'],
  });
  const dtype = optDtype(a);
  const kvType = optKvType(a);
  const model = optString(a, 'model') ?? 'models/xfmr-rag-tiny';
  const sft =
    optString(a, 'sft') ??
    (existsSync('models/xfmr-rag-tiny-sft') && !a.options.has('model')
      ? 'models/xfmr-rag-tiny-sft'
      : undefined);
  const docs = optString(a, 'docs') ?? (existsSync('docs') ? 'docs' : undefined);
  const models = [...(sft ? [{ dir: sft, label: 'sft' }] : []), { dir: model, label: sft ? 'dpo' : 'model' }];
  let progress: Progress | null = null;
  const results = await runEval(models, {
    workDir: optString(a, 'work') ?? 'runs/eval',
    docsDir: docs,
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
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  process.stdout.write(`${formatTable(results)}\n${summaryJson(results)}\n`);
}
