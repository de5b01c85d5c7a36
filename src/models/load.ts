/**
 * Models <-> model directories in Hugging Face layout. The checkpoint layer (src/io) renames HF
 * tensors to the canonical names our modules use, so this file only builds and fills modules.
 */
import { type JsonObject, type JsonValue, loadModelDir, saveModelDir } from '../io/checkpoint.ts';
import { toHfConfig } from '../io/hf_config.ts';
import { type NamedTensor, toFloat32 } from '../io/tensors.ts';
import { fromHf, toHf } from '../io/weight_names.ts';
import type { Module } from '../nn/module.ts';
import type { ModelConfig } from './config.ts';
import { DecoderLM } from './decoder.ts';
import { Encoder } from './encoder.ts';

export interface LoadedModel<M extends Module> {
  model: M;
  config: ModelConfig;
  tokenizerJson?: JsonValue;
  chatTemplate?: string;
  generationConfig?: JsonObject;
}

function fill(
  model: Module,
  config: ModelConfig,
  tensors: ReadonlyMap<string, NamedTensor>,
  where: string,
): void {
  const canonical = fromHf(config, tensors, where);
  const values = new Map<string, Float32Array>();
  for (const [name, t] of canonical) values.set(name, toFloat32(t));
  model.loadStateDict(values, where);
}

/** Loads a decoder LM (gpt2, llama, qwen2, mistral) from a model directory. */
export function loadDecoder(dir: string): LoadedModel<DecoderLM> {
  const d = loadModelDir(dir);
  if (d.config.arch === 'bert') throw new Error(`${dir}: config.json is a BERT encoder, not a decoder LM`);
  const model = new DecoderLM(d.config);
  fill(model, d.config, d.tensors, `${dir}/model.safetensors`);
  return {
    model,
    config: d.config,
    tokenizerJson: d.tokenizerJson,
    chatTemplate: d.chatTemplate,
    generationConfig: d.generationConfig,
  };
}

/** Loads a BERT-style encoder from a model directory. */
export function loadEncoder(dir: string): LoadedModel<Encoder> {
  const d = loadModelDir(dir);
  if (d.config.arch !== 'bert')
    throw new Error(`${dir}: config.json model_type is ${d.config.arch}, not bert`);
  const model = new Encoder(d.config);
  fill(model, d.config, d.tensors, `${dir}/model.safetensors`);
  return { model, config: d.config, tokenizerJson: d.tokenizerJson };
}

/** Writes model + config (+ tokenizer) as a Hugging Face model directory (atomic file writes). */
export function saveModel(
  dir: string,
  model: DecoderLM | Encoder,
  extra: { tokenizerJson?: JsonValue; chatTemplate?: string; generationConfig?: JsonObject } = {},
): void {
  const config = model.config;
  const canonical = new Map<string, NamedTensor>();
  for (const [name, p] of model.namedParameters()) {
    canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
  }
  saveModelDir(dir, {
    config: toHfConfig(config),
    tensors: toHf(config, canonical),
    tokenizerJson: extra.tokenizerJson,
    chatTemplate: extra.chatTemplate,
    generationConfig: extra.generationConfig,
  });
}
