/**
 * `xfmr init --config PRESET|FILE.json --tokenizer FILE --out DIR [--seed S]`: writes a randomly
 * initialised model directory (Hugging Face layout) that `xfmr generate`, `xfmr export` and the
 * trainers read:
 *
 *   DIR/tokenizer.json          the --tokenizer file, copied byte for byte
 *   DIR/model.safetensors       random weights (the config's initStd, seeded: same seed, same bytes)
 *   DIR/generation_config.json  bos/eos ids when the tokenizer's special tokens make them obvious
 *   DIR/config.json             written last (a directory with config.json is complete)
 *
 * The vocabulary size comes from the tokenizer. A config FILE that states its own vocabulary size
 * keeps it when it is at least the tokenizer's (padded vocabularies are common) and is refused when
 * it is smaller. Without --tokenizer the config must state a vocabulary size (every preset does); the
 * directory then has no tokenizer.json and `generate` needs --prompt-ids.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../io/files.ts';
import type { ModelConfig } from '../models/config.ts';
import { DecoderLM } from '../models/decoder.ts';
import { Encoder } from '../models/encoder.ts';
import { saveModel } from '../models/load.ts';
import { resolveConfig } from '../models/load_config.ts';
import { PRESETS } from '../models/presets.ts';
import { obviousSpecialIds } from '../tokenizers/eos.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { optInt, optString, parseArgs, UsageError } from './args.ts';

const USAGE = 'usage: xfmr init --config PRESET|FILE.json [--tokenizer tokenizer.json] --out DIR [--seed S]';

/** The vocabulary size a config FILE states itself (vocabSize or vocab_size), if any. */
function statedVocabSize(spec: string): number | undefined {
  if (PRESETS[spec]) return PRESETS[spec]().vocabSize;
  try {
    const j = JSON.parse(readFileSync(spec, 'utf8')) as Record<string, unknown>;
    const v = j.vocabSize ?? j.vocab_size;
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined; // resolveConfig has already reported unreadable files
  }
}

async function loadTokenizerFile(path: string): Promise<Tokenizer> {
  if (!existsSync(path)) throw new UsageError(`--tokenizer: ${path}: no such file`);
  const { loadTokenizerJson } = await import('../tokenizers/tokenizer_json.ts');
  try {
    return loadTokenizerJson(path);
  } catch (e) {
    throw new Error(`--tokenizer ${path}: ${(e as Error).message}`);
  }
}

/** Copies a file into place atomically (temp file in the same folder, then rename). */
function copyAtomic(from: string, to: string): void {
  const tmp = `${to}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    copyFileSync(from, tmp);
    renameSync(tmp, to);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['config', 'tokenizer', 'out', 'seed'] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const spec = optString(a, 'config');
  const out = optString(a, 'out');
  const tokPath = optString(a, 'tokenizer');
  if (!spec) throw new UsageError(`--config is required (${USAGE})`);
  if (!out) throw new UsageError(`--out is required (${USAGE})`);
  const seed = optInt(a, 'seed', 0);
  if (existsSync(join(out, 'config.json')))
    throw new UsageError(`--out: ${out} already holds a model (config.json); choose a new directory`);
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new UsageError(`--out: ${out} is not a directory`);

  const base: ModelConfig = resolveConfig(spec);
  const stated = statedVocabSize(spec);
  let config: ModelConfig = { ...base };
  let tokenizer: Tokenizer | null = null;
  if (tokPath) {
    tokenizer = await loadTokenizerFile(tokPath);
    const V = tokenizer.vocabSize;
    if (V <= 0) throw new Error(`--tokenizer ${tokPath}: the tokenizer has no tokens`);
    const fileStated = PRESETS[spec] ? undefined : stated;
    if (fileStated !== undefined && fileStated < V) {
      throw new UsageError(
        `--tokenizer ${tokPath}: ${V} tokens do not fit the vocabulary size ${fileStated} of --config ${spec}`,
      );
    }
    config.vocabSize = fileStated ?? V;
    const { bos, eos } = obviousSpecialIds(tokenizer);
    config = { ...config, bosTokenId: bos, eosTokenId: eos };
    if (config.padTokenId !== null && config.padTokenId >= config.vocabSize) config.padTokenId = null;
  } else {
    if (stated === undefined)
      throw new UsageError(`--tokenizer is required: --config ${spec} states no vocabulary size (${USAGE})`);
    config = { ...config, bosTokenId: null, eosTokenId: null };
    process.stderr.write(
      `xfmr init: no --tokenizer: ${out} gets no tokenizer.json (vocabulary size ${config.vocabSize}); ` +
        'generate will need --prompt-ids\n',
    );
  }

  const model = config.arch === 'bert' ? new Encoder(config, seed) : new DecoderLM(config, seed);
  mkdirSync(out, { recursive: true });
  if (tokPath) {
    const src = statSync(tokPath).isDirectory() ? join(tokPath, 'tokenizer.json') : tokPath;
    copyAtomic(src, join(out, 'tokenizer.json'));
  }
  const generationConfig: JsonObject = {};
  if (config.bosTokenId !== null) generationConfig.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== null) generationConfig.eos_token_id = config.eosTokenId;
  saveModel(out, model, config.arch === 'bert' ? {} : { generationConfig });
  const special =
    config.arch === 'bert'
      ? ''
      : `, bos ${config.bosTokenId ?? 'none'}, eos ${config.eosTokenId === null ? 'none' : JSON.stringify(config.eosTokenId)}`;
  process.stderr.write(
    `xfmr init: ${config.arch}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ` +
      `vocab ${config.vocabSize}${special}, seed ${seed} -> ${out}\n`,
  );
  if (tokenizer && config.arch !== 'bert' && config.eosTokenId === null)
    process.stderr.write(
      'xfmr init: no obvious EOS token in the tokenizer: generation stops only at --max-tokens\n',
    );
}
