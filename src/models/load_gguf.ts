/**
 * A decoder LM from one `.gguf` file, the format people download (llama.cpp, Ollama, LM Studio):
 * the architecture and hyperparameters from its metadata, the weights (F32/F16/BF16 as stored;
 * quantized matrices kept quantized under dtype auto (the CLI's default) and computed with by
 * linearQuant, llama-quantize's Q5_0/Q5_1 fallbacks and old Q4_1 included; dequantized under
 * f32 and bf16), the tokenizer and chat template from
 * `tokenizer.ggml.*` (io/gguf_tokenizer_import.ts, exact to llama.cpp's tokenization), and the
 * end-of-generation ids llama.cpp stops on as the generation config's eos_token_id.
 */
import { existsSync, statSync } from 'node:fs';
import { openGguf } from '../io/gguf.ts';
import { importGguf } from '../io/gguf_export.ts';
import { tokenizerFromGguf } from '../io/gguf_tokenizer_import.ts';
import type { ModelConfig } from './config.ts';
import { DecoderLM } from './decoder.ts';
import { fillCanonical, type LoadedModel, type LoadOptions, mapOption } from './load.ts';

/** Whether `path` names a GGUF file (by its extension; a directory never is). */
export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf') && !(existsSync(path) && statSync(path).isDirectory());
}

/**
 * Why `path` cannot name a decoder model, or null when it can: a model directory or a `.gguf`
 * file, the two things every `--model` option takes.
 */
export function modelPathProblem(path: string): string | null {
  if (!existsSync(path)) return `${path}: no such directory or .gguf file`;
  if (statSync(path).isDirectory() || isGgufPath(path)) return null;
  return `${path} is a file; give a model directory or a .gguf file`;
}

export function loadGgufDecoder(path: string, options: LoadOptions = {}): LoadedModel<DecoderLM> {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  const dtype = options.dtype ?? 'f32';
  // One parse of the header serves the weights and the tokenizer; weights used as stored are views
  // into the mapped file (load.ts), and stay valid after close().
  const f = openGguf(path, { map: mapOption(options) });
  let g: ReturnType<typeof importGguf>;
  let tok: ReturnType<typeof tokenizerFromGguf>;
  try {
    g = importGguf(f, { keepQuantized: dtype === 'auto' });
    tok = tokenizerFromGguf(f);
  } finally {
    f.close();
  }
  for (const w of tok.warnings) process.stderr.write(`xfmr: ${path}: ${w}\n`);
  const eos = tok.eosIds.length > 1 ? tok.eosIds : (tok.eosIds[0] ?? g.config.eosTokenId);
  const config: ModelConfig = { ...g.config, bosTokenId: tok.bosId ?? g.config.bosTokenId, eosTokenId: eos };
  const model = new DecoderLM(config, 'load');
  fillCanonical(model, g.tensors, path, dtype, g.quantized);
  return {
    model,
    config,
    tokenizerJson: tok.tokenizerJson,
    chatTemplate: tok.chatTemplate ?? undefined,
    generationConfig: { bos_token_id: tok.bosId, eos_token_id: tok.eosIds },
  };
}
