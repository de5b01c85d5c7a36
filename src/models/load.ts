/**
 * Models <-> model directories in Hugging Face layout. The checkpoint layer (src/io) renames HF
 * tensors to the canonical names our modules use, so this file only builds and fills modules.
 *
 * Weight dtype (`dtype` option; only the weight matrices, i.e. Linear and Embedding weights, are
 * affected: norms and biases are always f32):
 *   f32   every matrix expanded to f32 (the default: what training needs)
 *   bf16  every matrix stored bf16 (f32 and F16 files rounded to nearest even; BF16 kept as is)
 *   auto  what the file holds: BF16 matrices stay bf16, F32 stay f32, F16 become f32 (there is no
 *         f16 kernel, and rounding F16 to bf16 would lose 3 mantissa bits nobody asked to lose);
 *         a GGUF file's quantized matrices (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) stay quantized, their
 *         blocks used in place (f32 and bf16 dequantize them, then bf16 rounds)
 * A bf16 matrix is the file's Uint16Array itself, so a BF16 checkpoint takes half the memory of
 * its f32 expansion. Saving writes bf16 matrices as BF16 tensors (a bit-exact round trip).
 *
 * Memory (`map`, default on): the tensors used as stored (`storedAsIs`) are typed-array views into
 * the memory-mapped file (kernels/map_file.ts; the js backend reads the file whole instead), so a
 * loaded model holds no second copy of them: its f32 or bf16 or quantized matrices are the page
 * cache's pages, read from disk as they are first touched and shared with other processes. The
 * model is built with its matrices uninitialised (`DecoderLM(config, 'load')`), since each is
 * replaced next. The mapping is private and copy-on-write: an optimizer step (sft, dpo, reward,
 * pretraining from a checkpoint) writes into the weights in place and so copies the pages it
 * writes, and the file never changes. Copies that remain: norms and biases (copied into their
 * parameters), dtype conversions, GPT-2's transposed Conv1D matrices and split fused QKV, and a
 * GGUF llama file's un-permuted Q/K rows (io/gguf_export.ts).
 */

import { type JsonObject, type JsonValue, loadModelDir, saveModelDir } from '../io/checkpoint.ts';
import { toHfConfig } from '../io/hf_config.ts';
import type { QuantizedTensor } from '../io/quantized.ts';
import { castTensor, type DType as FileDType, type NamedTensor, toFloat32 } from '../io/tensors.ts';
import { fromHf, isVisionTensor, toHf } from '../io/weight_names.ts';
import type { Module } from '../nn/module.ts';
import { type DType, type KVType, quantDTypeOf, Tensor } from '../tensor/index.ts';
import type { ModelConfig } from './config.ts';
import { DecoderLM } from './decoder.ts';
import { Encoder } from './encoder.ts';
import { isGgufPath, loadGgufDecoder } from './load_gguf.ts';

export interface LoadedModel<M extends Module> {
  model: M;
  config: ModelConfig;
  tokenizerJson?: JsonValue;
  chatTemplate?: string;
  generationConfig?: JsonObject;
}

/** How to store a loaded model's weight matrices (see the file comment). */
export type LoadDtype = 'f32' | 'bf16' | 'auto';

export const LOAD_DTYPES: readonly LoadDtype[] = ['auto', 'f32', 'bf16'];

export interface LoadOptions {
  /** Default 'f32'. */
  dtype?: LoadDtype;
  /** How the decoder's KV caches store keys and values (DecoderLM.kvType); default 'f32'. */
  kvType?: KVType;
  /**
   * Default true: weights used as stored are views into the memory-mapped file (see the file
   * comment); false reads each into a private array, as before mapping existed.
   */
  map?: boolean;
}

/**
 * Whether a file tensor of `type` (a safetensors dtype or ggml type name) is used as stored when
 * loading under `want`, so that it may be a view into the mapped file: F32 except under bf16, BF16
 * except under f32, quantized blocks under auto. (F16 is always widened to f32.)
 */
export function storedAsIs(type: string, want: LoadDtype): boolean {
  if (type === 'F32') return want !== 'bf16';
  if (type === 'BF16') return want !== 'f32';
  return want === 'auto' && quantDTypeOf(type) !== undefined;
}

/** The `map` option of the io readers for these load options. */
export function mapOption(options: LoadOptions): false | ((type: string) => boolean) {
  const want = options.dtype ?? 'f32';
  return options.map === false ? false : (type) => storedAsIs(type, want);
}

/** The dtype a matrix stored as `file` in the checkpoint gets under `want`. */
export function matrixDtypeFor(file: FileDType, want: LoadDtype): 'f32' | 'bf16' {
  if (want !== 'auto') return want;
  return file === 'BF16' ? 'bf16' : 'f32';
}

function fill(
  model: Module,
  config: ModelConfig,
  tensors: ReadonlyMap<string, NamedTensor>,
  where: string,
  dtype: LoadDtype,
): void {
  fillCanonical(model, fromHf(config, tensors, where), where, dtype);
}

/**
 * Fills `model` from tensors under the canonical names (weight_names.ts), each matrix in its dtype.
 * `quantized` (a GGUF file's blocks, loaded under dtype auto) become quantized matrices as they are.
 */
export function fillCanonical(
  model: Module,
  canonical: ReadonlyMap<string, NamedTensor>,
  where: string,
  dtype: LoadDtype,
  quantized: ReadonlyMap<string, QuantizedTensor> = new Map(),
): void {
  if (!LOAD_DTYPES.includes(dtype))
    throw new Error(`dtype must be one of ${LOAD_DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  const matrices = model.matrixNames();
  const values = new Map<string, Tensor>();
  for (const [name, t] of canonical) {
    const want = matrices.has(name) ? matrixDtypeFor(t.dtype, dtype) : 'f32';
    // Both keep the file's array when it is already in the wanted dtype (no copy).
    values.set(
      name,
      want === 'bf16'
        ? Tensor.fromBf16(castTensor(t, 'BF16').data as Uint16Array, t.shape)
        : Tensor.wrap(toFloat32(t), t.shape),
    );
  }
  for (const [name, q] of quantized) {
    const d = quantDTypeOf(q.type);
    if (d === undefined || !matrices.has(name))
      throw new Error(
        `${where}: tensor ${name} is ${q.type}, which only a weight matrix of a linear type may be`,
      );
    values.set(name, Tensor.fromQuant(d, q.data, q.shape));
  }
  model.loadWeights(values, where);
}

/**
 * Loads a decoder LM from a model directory (Hugging Face layout) or a `.gguf` file (its
 * tokenizer and chat template come from the file's metadata: load_gguf.ts).
 */
export function loadDecoder(dir: string, options: LoadOptions = {}): LoadedModel<DecoderLM> {
  if (isGgufPath(dir)) {
    const loaded = loadGgufDecoder(dir, options);
    loaded.model.kvType = options.kvType ?? 'f32';
    return loaded;
  }
  const d = loadModelDir(dir, { map: mapOption(options) });
  if (d.config.arch === 'bert') throw new Error(`${dir}: config.json is a BERT encoder, not a decoder LM`);
  const vision = [...d.tensors.keys()].filter((n) => d.config.arch === 'gemma3' && isVisionTensor(n));
  if (vision.length > 0)
    process.stderr.write(
      `xfmr: ${dir}: multimodal Gemma 3 checkpoint: loading the text model only; its ${vision.length} ` +
        'vision tower and projector tensors are skipped (images are not supported)\n',
    );
  const model = new DecoderLM(d.config, 'load');
  model.kvType = options.kvType ?? 'f32';
  fill(model, d.config, d.tensors, `${dir}/model.safetensors`, options.dtype ?? 'f32');
  return {
    model,
    config: d.config,
    tokenizerJson: d.tokenizerJson,
    chatTemplate: d.chatTemplate,
    generationConfig: d.generationConfig,
  };
}

/** Loads a BERT-style encoder from a model directory. */
export function loadEncoder(dir: string, options: LoadOptions = {}): LoadedModel<Encoder> {
  const d = loadModelDir(dir, { map: mapOption(options) });
  if (d.config.arch !== 'bert')
    throw new Error(`${dir}: config.json model_type is ${d.config.arch}, not bert`);
  const model = new Encoder(d.config, 'load');
  fill(model, d.config, d.tensors, `${dir}/model.safetensors`, options.dtype ?? 'f32');
  return { model, config: d.config, tokenizerJson: d.tokenizerJson };
}

/** Writes model + config (+ tokenizer) as a Hugging Face model directory (atomic file writes). */
export function saveModel(
  dir: string,
  model: DecoderLM | Encoder,
  extra: { tokenizerJson?: JsonValue; chatTemplate?: string; generationConfig?: JsonObject } = {},
): void {
  const canonical = new Map<string, NamedTensor>();
  for (const [name, p] of model.namedParameters()) {
    canonical.set(
      name,
      p.dtype === 'bf16'
        ? { name, shape: [...p.shape], dtype: 'BF16', data: p.bf16Data }
        : // quantized matrices are written dequantized (safetensors has no ggml block types)
          { name, shape: [...p.shape], dtype: 'F32', data: p.dtype === 'f32' ? p.data : p.cast('f32').data },
    );
  }
  // torch_dtype says what the matrices are written in (transformers loads them in it by default).
  const md = model.matrixDtype();
  const config: ModelConfig = {
    ...model.config,
    torchDtype:
      md === 'bf16'
        ? 'bfloat16'
        : md === 'f32' && model.config.torchDtype !== null
          ? 'float32'
          : model.config.torchDtype,
  };
  saveModelDir(dir, {
    config: toHfConfig(config),
    tensors: toHf(config, canonical),
    tokenizerJson: extra.tokenizerJson,
    chatTemplate: extra.chatTemplate,
    generationConfig: extra.generationConfig,
  });
}

/**
 * What a model's weights are in, for the stderr line of the commands: "bf16 (weights 12.34 MiB)";
 * a model with matrices of several dtypes (a Q4_K_M file) lists each with its bytes:
 * "mixed: q4_k 40.50 MiB, q6_k 20.25 MiB, f32 0.10 MiB (weights 60.85 MiB)".
 */
export function describeWeights(model: Module): string {
  const total = `(weights ${(model.parameterBytes() / 2 ** 20).toFixed(2)} MiB)`;
  const md = model.matrixDtype();
  if (md !== 'mixed') return `${md} ${total}`;
  const by = new Map<DType, number>();
  for (const p of model.parameters()) by.set(p.dtype, (by.get(p.dtype) ?? 0) + p.nbytes);
  const parts = [...by].sort((a, b) => b[1] - a[1]).map(([d, b]) => `${d} ${(b / 2 ** 20).toFixed(2)} MiB`);
  return `mixed: ${parts.join(', ')} ${total}`;
}
