/**
 * `xfmr export --model DIR --format gguf|hf --out PATH [--dtype f32|f16]`
 *
 * gguf: one GGUF file for llama.cpp / Ollama / node-llama-cpp; --dtype f32|f16 for the matrices
 *   (default f32). The tokenizer must be a byte-level BPE (what is written and what is refused:
 *   src/io/gguf_tokenizer.ts).
 * hf: a copy of the model directory with model.safetensors re-written from the checked weights;
 *   --dtype f32|f16|bf16 converts every tensor (default keeps them).
 *
 * The work is src/io/model_export.ts; this file checks the arguments and reports.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { exportGgufFile, exportHfDir } from '../io/model_export.ts';
import type { FloatDType } from '../io/tensors.ts';
import { optString, parseArgs, UsageError } from './args.ts';

const USAGE = 'usage: xfmr export --model DIR --format gguf|hf --out PATH [--dtype f32|f16]';

function parseDtype(v: string | undefined, allowed: string[]): FloatDType | undefined {
  if (v === undefined) return undefined;
  const d = v.toLowerCase();
  if (!allowed.includes(d)) throw new UsageError(`--dtype must be ${allowed.join(' or ')}, got "${v}"`);
  return d.toUpperCase() as FloatDType;
}

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['model', 'format', 'out', 'dtype'] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const dir = optString(a, 'model');
  const format = optString(a, 'format');
  const out = optString(a, 'out');
  if (!dir) throw new UsageError(`--model is required (${USAGE})`);
  if (!format) throw new UsageError(`--format is required: gguf or hf (${USAGE})`);
  if (!out) throw new UsageError(`--out is required (${USAGE})`);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--model: ${dir}: no such directory`);
  const t0 = performance.now();
  if (format === 'hf') {
    const dtype = parseDtype(optString(a, 'dtype'), ['f32', 'f16', 'bf16']);
    if (resolve(dir) === resolve(out)) throw new UsageError('--out: must differ from --model');
    if (existsSync(out) && !statSync(out).isDirectory())
      throw new UsageError(`--out: ${out} is not a directory`);
    exportHfDir(dir, out, dtype);
  } else if (format === 'gguf') {
    const dtype = (parseDtype(optString(a, 'dtype'), ['f32', 'f16']) ?? 'F32') as 'F32' | 'F16';
    if (existsSync(out) && statSync(out).isDirectory())
      throw new UsageError(`--out: ${out} is a directory; give a file path`);
    const { warnings } = exportGgufFile(dir, out, { dtype });
    for (const w of warnings) process.stderr.write(`xfmr export: ${w}\n`);
  } else {
    throw new UsageError(`--format must be gguf or hf, got "${format}"`);
  }
  process.stderr.write(
    `xfmr export: ${format} -> ${out} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}
