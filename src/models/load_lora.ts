/**
 * LoRA adapters on disk in PEFT's layout, so Python's PEFT loads what xfmr trains and the reverse:
 *
 *   DIR/adapter_config.json        {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r", "lora_alpha",
 *                                   "lora_dropout", "target_modules": ["q_proj", ...],
 *                                   "base_model_name_or_path", "bias": "none", ...}
 *   DIR/adapter_model.safetensors  base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in]
 *                                  ... .lora_B.weight [out, r], F32 (BF16/F16 files are read too)
 *
 * GPT-2 (models/lora.ts): target_modules "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"
 * (read too: bare c_attn, c_fc, and c_proj for both c_projs), fan_in_fan_out true (Conv1D), tensors
 * base_model.model.transformer.h.N.attn.c_attn.lora_A.weight [r, C], .lora_B.weight [3C, r].
 *
 * Not read: PEFT's rank_pattern/alpha_pattern (per-layer ranks), use_rslora (alpha / sqrt(r)),
 * DoRA, bias other than "none", layers_to_transform: a file that sets them is refused by name.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isJsonObject, readJsonFile, writeJsonFile } from '../io/files.ts';
import { writeLoraGguf } from '../io/gguf_lora.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { type NamedTensor, toFloat32 } from '../io/tensors.ts';
import type { DecoderLM } from './decoder.ts';
import {
  applyLora,
  fromPeftName,
  gpt2TargetsOf,
  LORA_TARGETS,
  type LoraAdapters,
  type LoraConfig,
  type LoraFamily,
  type LoraTarget,
  loraFamily,
  PEFT_MODULE,
  peftModules,
  peftName,
} from './lora.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** Writes the adapters (atomically, file by file) as a PEFT adapter directory. */
export function saveLoraAdapter(dir: string, adapters: LoraAdapters, baseModel: string): void {
  mkdirSync(dir, { recursive: true });
  const c = adapters.config;
  const tensors: NamedTensor[] = [];
  for (const [name, p] of adapters.namedParameters())
    tensors.push({ name: peftName(name, adapters.family), shape: [...p.shape], dtype: 'F32', data: p.data });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeJsonFile(join(dir, ADAPTER_CONFIG), {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: peftModules(c.targets, adapters.family),
    bias: 'none',
    // GPT-2's Conv1D stores W as [in, out]; A and B are [r, in] and [out, r] either way
    fan_in_fan_out: adapters.family === 'gpt2',
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
  });
}

/**
 * The LoraConfig of DIR/adapter_config.json and whose module names it uses (null: no modules);
 * errors name the file and field.
 */
export function readLoraConfig(dir: string): {
  config: LoraConfig;
  baseModel: string | null;
  family: LoraFamily | null;
} {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new Error(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter directory)`);
  const j = readJsonFile(path);
  if (!isJsonObject(j)) throw new Error(`${path}: expected a JSON object`);
  if (j.peft_type !== 'LORA')
    throw new Error(`${path}: peft_type is ${JSON.stringify(j.peft_type)}, expected "LORA"`);
  for (const f of ['use_rslora', 'use_dora'])
    if (j[f] === true) throw new Error(`${path}: ${f} is not supported`);
  for (const f of ['rank_pattern', 'alpha_pattern'])
    if (isJsonObject(j[f]) && Object.keys(j[f]).length > 0) throw new Error(`${path}: ${f} is not supported`);
  if (j.bias !== undefined && j.bias !== 'none')
    throw new Error(`${path}: bias ${JSON.stringify(j.bias)} is not supported`);
  const r = j.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1)
    throw new Error(`${path}: r must be a positive integer`);
  const alpha = j.lora_alpha ?? r;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new Error(`${path}: lora_alpha must be a number > 0`);
  const dropout = j.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw new Error(`${path}: lora_dropout must be in [0, 1)`);
  const mods = j.target_modules;
  if (!Array.isArray(mods) || mods.some((m) => typeof m !== 'string'))
    throw new Error(`${path}: target_modules must be a list of module names`);
  const targets: LoraTarget[] = [];
  let family: LoraFamily | null = null;
  for (const m of mods as string[]) {
    const t = LORA_TARGETS.find((k) => PEFT_MODULE[k] === m);
    const g = t ? null : gpt2TargetsOf(m);
    if (!t && !g)
      throw new Error(
        `${path}: target_modules has "${m}"; supported: ${LORA_TARGETS.map((k) => PEFT_MODULE[k]).join(', ')} (Llama family), c_attn, c_proj, c_fc (GPT-2)`,
      );
    const f: LoraFamily = t ? 'llama' : 'gpt2';
    if (family !== null && f !== family)
      throw new Error(
        `${path}: target_modules mixes Llama-family and GPT-2 module names (${mods.join(', ')})`,
      );
    family = f;
    for (const x of t ? [t] : (g as LoraTarget[])) if (!targets.includes(x)) targets.push(x);
  }
  const base = typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : null;
  return { config: { r, alpha, dropout, targets }, baseModel: base, family };
}

/**
 * Reads a PEFT adapter directory and attaches it to `model` (freezing the base): every adapter
 * tensor must be in the file with its shape, and the file may hold no other tensor.
 */
export function loadLoraAdapter(dir: string, model: DecoderLM): LoraAdapters {
  const { config, family } = readLoraConfig(dir);
  const arch = model.config.arch;
  if (family !== null && family !== loraFamily(arch))
    throw new Error(
      `${join(dir, ADAPTER_CONFIG)}: target_modules name ${family === 'gpt2' ? 'GPT-2' : 'Llama-family'} modules; the model is ${arch}`,
    );
  const path = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(path)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}`);
  const { tensors } = readSafetensors(path);
  const adapters = applyLora(model, config);
  const params = adapters.namedParameters();
  for (const [name, t] of tensors) {
    const canon = fromPeftName(name, adapters.family);
    const p = canon === null ? undefined : params.get(canon);
    if (!p)
      throw new Error(`${path}: unexpected tensor ${name} (not an adapter of ${config.targets.join(',')})`);
    if (t.shape.length !== 2 || t.shape[0] !== p.shape[0] || t.shape[1] !== p.shape[1])
      throw new Error(`${path}: ${name} has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`);
    p.data.set(toFloat32(t));
  }
  for (const name of params.keys()) {
    const peft = peftName(name, adapters.family);
    if (!tensors.has(peft)) throw new Error(`${path}: missing tensor ${peft}`);
  }
  return adapters;
}

/** Writes the adapters as a GGUF LoRA adapter for llama.cpp (io/gguf_lora.ts) beside `model`'s GGUF. */
export function saveLoraGguf(path: string, adapters: LoraAdapters, model: DecoderLM): void {
  const tensors: NamedTensor[] = [...adapters.namedParameters()].map(([name, p]) => ({
    name,
    shape: [...p.shape],
    dtype: 'F32',
    data: p.data,
  }));
  writeLoraGguf(path, model.config, adapters.config.alpha, tensors);
}
