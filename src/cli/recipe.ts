/**
 * `xfmr recipe [default|smoke] [--work DIR] [--out DIR] [--out-sft DIR] [--docs DIR] [--seed S]
 * [--threads N] [--dtype f32|bf16|auto] [--reuse-pretrain] [--json]`: trains the shipped RAG model
 * end to end (src/recipe/recipe.ts): tokenizer, pretraining, SFT, DPO (at --dtype, default auto),
 * export and evaluation. Progress and the report go to stderr
 * and to WORK/recipe.log (copied next to the model); --json prints the stage reports and eval
 * scores as one JSON document on stdout.
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summaryJson } from '../recipe/eval.ts';
import { RECIPES, runRecipe } from '../recipe/recipe.ts';
import { optInt, optString, parseArgs, UsageError } from './args.ts';
import { dtypeOption } from './train_options.ts';

export const USAGE =
  'usage: xfmr recipe [default|smoke|prose] [--work DIR] [--out DIR] [--out-sft DIR] [--docs DIR] [--seed S] [--threads N]\n' +
  '                   [--dtype f32|bf16|auto] [--reuse-pretrain] [--json]\n' +
  '  (default writes models/xfmr-rag-tiny and models/xfmr-rag-tiny-sft unless --out / --out-sft say otherwise)';

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: ['work', 'out', 'out-sft', 'docs', 'seed', 'threads', 'kjv', 'dtype'],
    flags: ['json', 'reuse-pretrain'],
  });
  const name = a.positionals[0] ?? 'default';
  const base = RECIPES[name];
  if (!base) throw new UsageError(`unknown recipe "${name}" (expected: ${Object.keys(RECIPES).join(', ')})`);
  const cfg = { ...base, seed: optInt(a, 'seed', base.seed), threads: optInt(a, 'threads', base.threads) };
  const work = optString(a, 'work') ?? `runs/recipe-${name}`;
  const out = optString(a, 'out') ?? (name === 'default' ? 'models/xfmr-rag-tiny' : join(work, 'model'));
  const outSft =
    optString(a, 'out-sft') ?? (name === 'default' ? 'models/xfmr-rag-tiny-sft' : join(work, 'model-sft'));
  const docs = optString(a, 'docs') ?? (existsSync('docs') ? 'docs' : undefined);
  mkdirSync(work, { recursive: true });
  const logPath = join(work, 'recipe.log');
  writeFileSync(logPath, '');
  const t0 = performance.now();
  const log = (line: string) => {
    const stamped = `[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}`;
    process.stderr.write(`${stamped}\n`);
    appendFileSync(logPath, `${stamped}\n`);
  };
  log(`command: xfmr recipe ${argv.join(' ')}`.trimEnd());
  const result = await runRecipe(
    cfg,
    {
      work,
      out,
      outSft,
      docs,
      kjv: optString(a, 'kjv'),
      reusePretrain: a.options.has('reuse-pretrain'),
      dtype: dtypeOption(a),
    },
    log,
  );
  log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  copyFileSync(logPath, join(out, 'recipe.log'));
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${summaryJson(result.eval)}\n`);
}
