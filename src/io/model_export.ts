/**
 * A model directory (Hugging Face layout) exported for other tools:
 *
 *   exportHfDir     another model directory: model.safetensors re-written from the checked weights
 *                   (canonical Hugging Face names; `dtype` casts every tensor, default keeps them),
 *                   every other file (tokenizer, generation config, chat template, ...) copied byte
 *                   for byte; config.json last
 *   exportGgufFile  one GGUF file for llama.cpp / Ollama / node-llama-cpp: the weights as
 *                   `gguf_export.ts` writes them (matrices in `dtype`, default F32; norms and biases
 *                   F32) and the tokenizer metadata of `gguf_tokenizer.ts` (byte-level BPE only)
 *
 * Both read the weights through `fromHf`, so a directory with a missing or mis-shaped tensor is
 * refused before anything is written.
 */
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModelDir, saveModelDir } from './checkpoint.ts';
import type { JsonObject } from './files.ts';
import { openGguf } from './gguf.ts';
import { exportGguf, type GgufExportOptions, importGguf } from './gguf_export.ts';
import { ggufTokenizerFromJson } from './gguf_tokenizer.ts';
import { castTensor, type FloatDType, type TensorMap } from './tensors.ts';
import { fromHf, toHf } from './weight_names.ts';

const TORCH_DTYPE: Record<FloatDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Weight files that exportHfDir re-writes rather than copies (single or sharded safetensors). */
const WEIGHT_FILE = /^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/;

/** Copies model directory `dir` to `out` (created if needed), re-writing the weights, optionally as `dtype`. */
export function exportHfDir(dir: string, out: string, dtype?: FloatDType): void {
  if (resolve(dir) === resolve(out)) throw new Error(`${out}: the export must go to another directory`);
  const d = loadModelDir(dir);
  let canonical: TensorMap = fromHf(d.config, d.tensors, join(dir, 'model.safetensors'));
  if (dtype) {
    const cast: TensorMap = new Map();
    for (const [n, t] of canonical) cast.set(n, castTensor(t, dtype));
    canonical = cast;
  }
  const hfConfig: JsonObject = { ...d.hfConfig };
  if (dtype) hfConfig.torch_dtype = TORCH_DTYPE[dtype];
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'config.json' || WEIGHT_FILE.test(name) || !statSync(p).isFile()) continue;
    copyFileSync(p, join(out, name));
  }
  // saveModelDir writes model.safetensors, then config.json last.
  saveModelDir(out, { config: hfConfig, tensors: toHf(d.config, canonical) });
}

/**
 * Writes model directory `dir` as the GGUF file `out` (`general.name` defaults to the directory's
 * name). Warnings name what llama.cpp may treat differently; the file is written regardless.
 */
export function exportGgufFile(
  dir: string,
  out: string,
  options: GgufExportOptions = {},
): { warnings: string[] } {
  const d = loadModelDir(dir);
  if (d.config.arch === 'bert') throw new Error(`${dir}: a BERT encoder cannot be exported as GGUF`);
  const tokPath = join(dir, 'tokenizer.json');
  if (d.tokenizerJson === undefined)
    throw new Error(`${tokPath}: not found; GGUF export needs the model's byte-level BPE tokenizer`);
  const { tokenizer, warnings } = ggufTokenizerFromJson(d.tokenizerJson, d.config.vocabSize, tokPath, {
    generationConfig: d.generationConfig,
    configJson: d.hfConfig,
  });
  if (d.chatTemplate !== undefined) tokenizer.chatTemplate = d.chatTemplate;
  const canonical = fromHf(d.config, d.tensors, join(dir, 'model.safetensors'));
  exportGguf(out, d.config, canonical, tokenizer, {
    ...options,
    name: options.name ?? basename(resolve(dir)),
  });
  return { warnings };
}

/**
 * Re-writes GGUF file `src` as `out` with other tensor types (xfmr quantize on a .gguf): the
 * weights are read (quantized ones dequantized) and written again with the same metadata-derived
 * config and tokenizer. Quantizing an already quantized file adds the new rounding to the old.
 */
export function requantizeGgufFile(
  src: string,
  out: string,
  options: GgufExportOptions = {},
): { warnings: string[] } {
  const g = importGguf(src);
  const types = new Set([...readGgufTensorTypes(src)]);
  const warnings = [...types].some((t) => t !== 'F32' && t !== 'F16' && t !== 'BF16')
    ? [`${src} is already quantized (${[...types].join(', ')}): its rounding stays in the new file`]
    : [];
  const name = options.name ?? basename(src).replace(/\.gguf$/i, '');
  exportGguf(out, g.config, g.tensors, g.tokenizer, { ...options, name });
  return { warnings };
}

/** The ggml type of every tensor of a GGUF file. */
function readGgufTensorTypes(path: string): string[] {
  const f = openGguf(path);
  try {
    return [...f.tensors.values()].map((t) => t.type);
  } finally {
    f.close();
  }
}
