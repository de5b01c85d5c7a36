/**
 * The recipe's last stages: what ships, and how well it answers.
 *
 *   export  f16 model directories of the DPO model (paths.out) and the SFT model (paths.outSft),
 *           and WORK/xfmr-rag-tiny.gguf of the DPO model for llama.cpp
 *   eval    EM / F1 of both models on synthetic entity questions and the docs questions: without
 *           retrieval, with retrieval, and with the gold chunk; WORK/eval.json
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportGgufFile, exportHfDir } from '../../io/model_export.ts';
import { type ModelResult, runEval } from '../eval.ts';
import type { StageContext } from '../recipe.ts';

export function exportStage({ paths, log }: StageContext): {
  report: { model_bytes: number; gguf_bytes: number };
} {
  const { work } = paths;
  exportHfDir(join(work, 'dpo'), paths.out, 'F16');
  exportHfDir(join(work, 'sft'), paths.outSft, 'F16');
  const gguf = join(work, 'xfmr-rag-tiny.gguf');
  const { warnings } = exportGgufFile(join(work, 'dpo'), gguf, { dtype: 'F16' });
  for (const w of warnings) log(`export: ${w}`);
  log(`export: ${paths.out}, ${paths.outSft}, ${gguf}`);
  return {
    report: {
      model_bytes: statSync(join(paths.out, 'model.safetensors')).size,
      gguf_bytes: statSync(gguf).size,
    },
  };
}

export async function evalStage({ cfg, paths, log }: StageContext): Promise<ModelResult[]> {
  const { work } = paths;
  let last = 0;
  const r = await runEval(
    [
      { dir: paths.outSft, label: 'sft' },
      { dir: paths.out, label: 'dpo' },
    ],
    {
      workDir: join(work, 'eval'),
      docsDir: paths.docs,
      syntheticDocs: cfg.eval.syntheticDocs,
      k: cfg.eval.k,
      onProgress: (done, total) => {
        if (performance.now() - last > 10000 || done === total) {
          last = performance.now();
          log(`eval ${done}/${total}`);
        }
      },
    },
  );
  writeFileSync(join(work, 'eval.json'), `${JSON.stringify(r, null, 2)}\n`);
  return r;
}
