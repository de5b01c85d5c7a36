/**
 * Model directories in Hugging Face layout, and the atomic write every writer in `src/io/` uses.
 *
 *   config.json                    model config (`hf_config.ts`)
 *   model.safetensors              weights with HF names (or model.safetensors.index.json + shards)
 *   tokenizer.json                 tokenizer (parsed by `src/tokenizers/`, passed through here)
 *   tokenizer_config.json          optional; `chat_template` may live here...
 *   chat_template.jinja            ...or here (preferred when both exist, as transformers does)
 *   generation_config.json         optional
 *
 * Every file is written atomically (temp file + fsync + rename), config.json last, so a
 * directory whose config.json is present has the weights that go with it. Sharded writing and
 * `pytorch_model.bin` reading are not supported (reading sharded safetensors is).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../models/config.ts';
import {
  isJsonObject,
  type JsonObject,
  type JsonValue,
  readJsonFile,
  writeFileAtomic,
  writeJsonFile,
} from './files.ts';
import { parseHfConfig } from './hf_config.ts';
import { checkConfigAgainstWeights } from './limits.ts';
import { openSafetensors, type SafetensorsOpenOptions, writeSafetensors } from './safetensors.ts';
import { asTensorMap, type NamedTensor, numel, type TensorMap } from './tensors.ts';

export { type JsonObject, type JsonValue, writeFileAtomic } from './files.ts';

export interface ModelDirContents {
  /** config.json as written (HF keys). */
  config: JsonObject;
  /** Tensors with HF names (e.g. from `toHf`). */
  tensors: ReadonlyMap<string, NamedTensor> | Iterable<NamedTensor>;
  tokenizerJson?: JsonValue;
  tokenizerConfig?: JsonObject;
  generationConfig?: JsonObject;
  /** Written to chat_template.jinja. */
  chatTemplate?: string;
}

export interface LoadedModelDir {
  hfConfig: JsonObject;
  config: ModelConfig;
  /** Tensors with the names found in the file(s). */
  tensors: TensorMap;
  tokenizerJson?: JsonValue;
  tokenizerConfig?: JsonObject;
  generationConfig?: JsonObject;
  chatTemplate?: string;
}

/**
 * Writes a model directory (created if needed). The config is validated by parsing it first, so
 * an unsupported config.json is refused before anything is written.
 */
export function saveModelDir(dir: string, contents: ModelDirContents): void {
  parseHfConfig(contents.config, join(dir, 'config.json'));
  mkdirSync(dir, { recursive: true });
  // The safetensors metadata `format: pt` is what transformers expects from PyTorch weights.
  writeSafetensors(join(dir, 'model.safetensors'), asTensorMap(contents.tensors), { format: 'pt' });
  if (contents.tokenizerJson !== undefined)
    writeJsonFile(join(dir, 'tokenizer.json'), contents.tokenizerJson);
  if (contents.tokenizerConfig !== undefined) {
    writeJsonFile(join(dir, 'tokenizer_config.json'), contents.tokenizerConfig);
  }
  if (contents.generationConfig !== undefined) {
    writeJsonFile(join(dir, 'generation_config.json'), contents.generationConfig);
  }
  if (contents.chatTemplate !== undefined)
    writeFileAtomic(join(dir, 'chat_template.jinja'), contents.chatTemplate);
  writeJsonFile(join(dir, 'config.json'), contents.config);
}

function optionalJsonObject(path: string): JsonObject | undefined {
  if (!existsSync(path)) return undefined;
  const v = readJsonFile(path);
  if (!isJsonObject(v)) throw new Error(`${path}: expected a JSON object`);
  return v;
}

/** chat_template in tokenizer_config.json: a string, or a list of {name, template} (uses "default"). */
function templateFromTokenizerConfig(tc: JsonObject, file: string): string | undefined {
  const t = tc.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter(isJsonObject);
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    if (pick !== undefined && typeof pick.template === 'string') return pick.template;
  }
  throw new Error(`${file}: chat_template must be a string or a list of {name, template}`);
}

/**
 * Reads the weights: model.safetensors, or the shards listed in model.safetensors.index.json;
 * under `map`, tensors are views into the mapped files (io/safetensors.ts).
 */
function loadWeights(dir: string, map: SafetensorsOpenOptions['map']): TensorMap {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const tensors: TensorMap = new Map();
  let files: { path: string; names?: string[] }[];
  if (existsSync(single)) {
    files = [{ path: single }];
  } else if (existsSync(index)) {
    const idx = readJsonFile(index);
    const map = isJsonObject(idx) ? idx.weight_map : undefined;
    if (!isJsonObject(map)) throw new Error(`${index}: missing weight_map`);
    const byFile = new Map<string, string[]>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
        throw new Error(`${index}: weight_map.${name} must be a file name in the directory`);
      }
      byFile.set(file, [...(byFile.get(file) ?? []), name]);
    }
    files = [...byFile].map(([f, names]) => ({ path: join(dir, f), names }));
  } else {
    const bin = existsSync(join(dir, 'pytorch_model.bin'));
    throw new Error(
      `${single}: not found${bin ? ' (pytorch_model.bin is not supported: convert it to safetensors)' : ''}`,
    );
  }
  for (const { path, names } of files) {
    const f = openSafetensors(path, { map });
    try {
      for (const name of names ?? f.entries.keys()) {
        if (!f.entries.has(name)) throw new Error(`${path}: tensor ${name} listed in the index is missing`);
        if (tensors.has(name)) throw new Error(`${path}: tensor ${name} appears in more than one file`);
        tensors.set(name, f.read(name));
      }
    } finally {
      f.close();
    }
  }
  return tensors;
}

/**
 * Reads a model directory in Hugging Face layout. Errors name the file at fault. `options.map`:
 * which weights are views into the mapped safetensors files instead of copies (by dtype, or all).
 */
export function loadModelDir(
  dir: string,
  options: { map?: SafetensorsOpenOptions['map'] } = {},
): LoadedModelDir {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath}: not found`);
  const hfConfig = readJsonFile(configPath);
  if (!isJsonObject(hfConfig)) throw new Error(`${configPath}: expected a JSON object`);
  const config = parseHfConfig(hfConfig, configPath);
  const out: LoadedModelDir = { hfConfig, config, tensors: loadWeights(dir, options.map) };
  // the model is built from the config before its weights are compared to it: its sizes must fit
  // the weights read (each bounded by its file) before anything of those sizes is allocated
  let values = 0;
  for (const t of out.tensors.values()) values += numel(t.shape);
  checkConfigAgainstWeights(config, configPath, join(dir, 'model.safetensors'), values);
  const tokPath = join(dir, 'tokenizer.json');
  if (existsSync(tokPath)) out.tokenizerJson = readJsonFile(tokPath);
  const tcPath = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = optionalJsonObject(tcPath);
  if (tokenizerConfig !== undefined) out.tokenizerConfig = tokenizerConfig;
  const generationConfig = optionalJsonObject(join(dir, 'generation_config.json'));
  if (generationConfig !== undefined) out.generationConfig = generationConfig;
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) out.chatTemplate = readFileSync(jinja, 'utf8');
  else if (tokenizerConfig !== undefined) {
    const t = templateFromTokenizerConfig(tokenizerConfig, tcPath);
    if (t !== undefined) out.chatTemplate = t;
  }
  return out;
}
