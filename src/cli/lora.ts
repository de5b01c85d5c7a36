/**
 * `xfmr lora merge --model BASE --adapter DIR --out DIR`: folds a PEFT LoRA adapter into its base,
 * W += (lora_alpha / r) B A for every adapted layer, and writes a plain model directory (the base's
 * tokenizer and chat template copied along). The base is loaded in f32 (a bf16 or quantized base
 * is widened first); the merged weights are written in f32.
 *
 * `xfmr lora export --model BASE --adapter DIR --out FILE.gguf`: the adapter as a GGUF LoRA
 * adapter (io/gguf_lora.ts) that llama.cpp loads beside BASE exported to GGUF (`xfmr export`).
 */

import type { JsonValue } from '../io/files.ts';
import { describeWeights, loadDecoder, saveModel } from '../models/load.ts';
import { loadLoraAdapter, saveLoraGguf } from '../models/load_lora.ts';
import { mergeLora } from '../models/lora.ts';
import { optString, parseArgs, UsageError } from './args.ts';

export const USAGE =
  'usage: xfmr lora merge --model BASE --adapter DIR --out DIR | xfmr lora export --model BASE --adapter DIR --out FILE.gguf';

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'merge' && sub !== 'export')
    throw new UsageError(sub ? `unknown lora command "${sub}" (${USAGE})` : USAGE);
  const a = parseArgs(rest, { values: ['model', 'adapter', 'out'] });
  const base = optString(a, 'model');
  const adapterDir = optString(a, 'adapter');
  const out = optString(a, 'out');
  if (!base) throw new UsageError(`--model is required (${USAGE})`);
  if (!adapterDir) throw new UsageError(`--adapter is required (${USAGE})`);
  if (!out) throw new UsageError(`--out is required (${USAGE})`);
  if (sub === 'export') {
    const { model } = loadDecoder(base, { dtype: 'auto' });
    saveLoraGguf(out, loadLoraAdapter(adapterDir, model), model);
    process.stderr.write(`xfmr lora export: GGUF LoRA adapter in ${out}\n`);
    return;
  }
  const loaded = loadDecoder(base, { dtype: 'f32' });
  if (loaded.model.matrixDtype() !== 'f32') loaded.model.castMatrices('f32');
  const adapters = loadLoraAdapter(adapterDir, loaded.model);
  const n = adapters.entries.size;
  mergeLora(adapters);
  saveModel(out, loaded.model, {
    tokenizerJson: loaded.tokenizerJson as JsonValue | undefined,
    chatTemplate: loaded.chatTemplate,
    generationConfig: loaded.generationConfig,
  });
  process.stderr.write(
    `xfmr lora merge: ${n} adapted layers merged; ${describeWeights(loaded.model)} in ${out}\n`,
  );
}
