/**
 * config.json and generation_config.json: the config.json of each supported family (toHfConfig of
 * a preset) and a generation_config.json, damaged by JSON edits (json_mutate.ts), and sometimes
 * replaced by raw text. config.json goes through readHfConfig (the file, as model loading reads
 * it); generation_config.json through resolveEos on the model folder (as generate and serve read
 * it). Clean: an Error naming the file (config.json or generation_config.json).
 */
import fc from 'fast-check';
import { readHfConfig, toHfConfig } from '../../src/io/hf_config.ts';
import { PRESETS } from '../../src/models/presets.ts';
import { resolveEos } from '../../src/tokenizers/eos.ts';
import { type FuzzTarget, namedError } from '../target.ts';
import { removeScratch, scratchDir, scratchFile } from './files.ts';
import { applyJsonEdits, type Json, type JsonEdit, jsonEdits } from './json_mutate.ts';

const BASES: Json[] = Object.values(PRESETS).map((p) => toHfConfig(p()) as Json);
const GENERATION: Json = {
  bos_token_id: 1,
  eos_token_id: [2, 3],
  do_sample: true,
  temperature: 0.7,
  top_p: 0.9,
};

interface ConfigInput {
  base: number;
  config: JsonEdit[];
  generation: JsonEdit[];
  raw: string | null;
}

export const configJsonTarget: FuzzTarget<ConfigInput> = {
  name: 'config_json',
  what: 'config.json -> readHfConfig; generation_config.json -> resolveEos',
  hangMs: 1000,
  arbitrary: fc.record({
    base: fc.nat(),
    config: jsonEdits(),
    generation: jsonEdits(3),
    raw: fc.option(
      fc.oneof(fc.string(), fc.constantFrom('{', '[]', 'null', '{"model_type": "llama"', '\uFEFF{}')),
      { freq: 8 },
    ),
  }),
  run(input) {
    const base = BASES[input.base % BASES.length]!;
    const config = input.raw ?? JSON.stringify(applyJsonEdits(base, input.config));
    const path = scratchFile('config.json', config);
    scratchFile(
      'generation_config.json',
      input.raw ?? JSON.stringify(applyJsonEdits(GENERATION, input.generation)),
    );
    let vocabSize: number | undefined;
    let refused: unknown = null;
    try {
      vocabSize = readHfConfig(path).config.vocabSize;
    } catch (e) {
      refused = e;
    }
    const eos = resolveEos({ dir: scratchDir(), vocabSize });
    if (!eos.every((id) => Number.isInteger(id) && id >= 0)) throw new TypeError(`resolveEos gave ${eos}`);
    if (refused !== null) throw refused;
  },
  clean: (e) => namedError(e, 'config.json', 'generation_config.json'),
  teardown: removeScratch,
};
