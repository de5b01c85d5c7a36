/** Model configs named on the command line: a preset, a Hugging Face config.json, or our fields. */
import { existsSync, readFileSync } from 'node:fs';
import { parseHfConfig } from '../io/hf_config.ts';
import { checkConfigSizes } from '../io/limits.ts';
import { checkModelConfig, type ModelConfig } from './config.ts';
import { FAMILY, PRESETS } from './presets.ts';

/**
 * A config from a preset name, a Hugging Face config.json, or a JSON file of ModelConfig fields
 * (`{"arch": "llama", "dModel": 256, ...}`: unspecified fields come from that family's preset).
 */
export function resolveConfig(spec: string): ModelConfig {
  const preset = PRESETS[spec];
  if (preset) return preset();
  if (!existsSync(spec)) {
    throw new Error(
      `--config: "${spec}" is neither a preset (${Object.keys(PRESETS).join(', ')}) nor a file`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw new Error(`${spec}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${spec}: must hold a JSON object`);
  if ('model_type' in json) {
    return parseHfConfig(json, spec);
  }
  const partial = json as Partial<ModelConfig>;
  const family = FAMILY[partial.arch ?? 'gpt2'];
  if (!family) throw new Error(`${spec}: unknown arch ${JSON.stringify(partial.arch)}`);
  const c = family(partial);
  checkModelConfig(c, spec);
  checkConfigSizes(c, spec);
  return c;
}
