/**
 * `xfmr quantize --model DIR|FILE.gguf --type q8_0|q4_0|q4_k_m|q5_k_m|... --out FILE.gguf`
 *
 * Writes a GGUF file whose weight matrices are quantized as llama.cpp's `llama-quantize` does:
 * the single types (q8_0, q4_0, q4_k, q5_k, q6_k, and f16, bf16, f32) for every matrix, or the
 * _M mixes (q4_k_m, q5_k_m) with llama.cpp's per-tensor choices (which tensors get Q6_K:
 * src/io/gguf_file_types.ts). Norms and biases stay f32. The model may be a directory (a model
 * xfmr trained, or a Hugging Face checkpoint of a supported family) or a GGUF file.
 */
import { existsSync, statSync } from 'node:fs';
import { GGUF_FILE_TYPES, type GgufFileType } from '../io/gguf_file_types.ts';
import { exportGgufFile, requantizeGgufFile } from '../io/model_export.ts';
import { isGgufPath } from '../models/load_gguf.ts';
import { optString, parseArgs, UsageError } from './args.ts';

const TYPES = GGUF_FILE_TYPES.map((t) => t.toLowerCase());
const USAGE = `usage: xfmr quantize --model DIR|FILE.gguf --type ${TYPES.join('|')} --out FILE.gguf`;

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['model', 'type', 'out'] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const model = optString(a, 'model');
  const type = optString(a, 'type');
  const out = optString(a, 'out');
  if (!model) throw new UsageError(`--model is required (${USAGE})`);
  if (!type) throw new UsageError(`--type is required: one of ${TYPES.join(', ')}`);
  if (!out) throw new UsageError(`--out is required (${USAGE})`);
  const ftype = type.toUpperCase() as GgufFileType;
  if (!GGUF_FILE_TYPES.includes(ftype))
    throw new UsageError(`--type must be one of ${TYPES.join(', ')}, got "${type}"`);
  if (!existsSync(model)) throw new UsageError(`--model: ${model}: no such directory or .gguf file`);
  const gguf = isGgufPath(model);
  if (!gguf && !statSync(model).isDirectory())
    throw new UsageError(`--model: ${model} is a file; give a model directory or a .gguf file`);
  if (existsSync(out) && statSync(out).isDirectory())
    throw new UsageError(`--out: ${out} is a directory; give a file path`);
  if (!out.toLowerCase().endsWith('.gguf')) throw new UsageError(`--out: ${out} must end in .gguf`);
  const t0 = performance.now();
  const { warnings } = gguf
    ? requantizeGgufFile(model, out, { dtype: ftype })
    : exportGgufFile(model, out, { dtype: ftype });
  for (const w of warnings) process.stderr.write(`xfmr quantize: ${w}\n`);
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  const mb = (statSync(out).size / 2 ** 20).toFixed(1);
  process.stderr.write(`xfmr quantize: ${ftype} -> ${out} (${mb} MiB, ${s} s)\n`);
}
