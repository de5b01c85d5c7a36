/**
 * `xfmr generate --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) [options] [--json] [--logits FILE]`
 *
 * Streams the generated text to stdout as it is produced (never half a UTF-8 character). Options:
 *   --max-tokens N         exactly N new tokens unless EOS or a stop string comes first
 *                          (default: 128, or what the context length leaves)
 *   --temperature T        0 is greedy decoding
 *   --top-k K  --top-p P  --min-p P  --repetition-penalty R  --frequency-penalty F
 *   --presence-penalty F   (src/generate/sampler.ts documents the order they apply in)
 *   --seed S               the same seed, prompt and options give the same tokens
 *   --stop STR             a stop string; repeat the option for several (the text ends before it)
 *   --threads N            kernel threads
 *   --dtype auto|f32|bf16  weight matrices in memory (default auto: what the checkpoint holds;
 *                          src/cli/dtype.ts says why an f32 checkpoint stays f32), printed on stderr
 *   --kv-type f32|f16|q8_0 how the KV cache stores keys and values (default f32, exact;
 *                          src/cli/kv_type.ts); its type and bytes are printed on stderr
 *   --json                 print only {"ids": [generated ids], "text": "..."} at the end
 *   --logits FILE          write the logits of the prompt positions: float32 little-endian [T, V]
 *                          (one full forward pass over the prompt; written atomically)
 *
 * The prompt: --prompt TEXT is encoded with the model's tokenizer.json (its post-processor may add
 * BOS, as Hugging Face does; special tokens written in the text are plain text); --prompt-ids are
 * used exactly as given, nothing added. Without a tokenizer.json only --prompt-ids works and the
 * output is the generated ids, space-separated.
 *
 * Defaults come from the model directory: EOS from generation_config.json (eos_token_id, an id or a
 * list) or, when that file is absent, from config.json; temperature / top_k / top_p / min_p /
 * repetition_penalty from generation_config.json when it sets them (do_sample false means greedy);
 * otherwise temperature 1 with no filtering. Timing goes to stderr.
 */
import { endianness } from 'node:os';
import { join } from 'node:path';
import { type GenerateOptions, generateStream, type SamplerOptions } from '../generate/index.ts';
import { writeFileAtomic } from '../io/files.ts';
import { describeWeights, loadDecoder } from '../models/load.ts';
import { kvCacheBytes } from '../nn/kv_cache.ts';
import { noGrad } from '../tensor/index.ts';
import { resolveEos } from '../tokenizers/eos.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import {
  optInt,
  optNumber,
  optString,
  type ParsedArgs,
  parseArgs,
  requireModelPath,
  UsageError,
} from './args.ts';
import { DTYPE_HELP, DTYPE_USAGE, optDtype } from './dtype.ts';
import { KV_TYPE_HELP, KV_TYPE_USAGE, kvCacheLine, optKvType } from './kv_type.ts';

const USAGE =
  'usage: xfmr generate --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) [--max-tokens N] [--temperature T] ' +
  '[--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R] [--seed S] [--stop STR]... [--threads N] [--lora ADAPTER_DIR] ' +
  `${DTYPE_USAGE} ${KV_TYPE_USAGE} [--json] [--logits FILE]`;

const VALUES = [
  'model',
  'prompt',
  'prompt-ids',
  'max-tokens',
  'temperature',
  'top-k',
  'top-p',
  'min-p',
  'repetition-penalty',
  'frequency-penalty',
  'presence-penalty',
  'seed',
  'threads',
  'logits',
  'dtype',
  'kv-type',
  'lora',
];
const FLAGS = ['json'];
const DEFAULT_MAX_TOKENS = 128;

/** Takes every `--stop X` / `--stop=X` out of argv (the parser keeps one value per option). */
function takeStops(argv: string[]): { stops: string[]; rest: string[] } {
  const stops: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--stop') {
      if (i + 1 >= argv.length) throw new UsageError('option --stop needs a value');
      stops.push(argv[++i]);
    } else if (a.startsWith('--stop=')) {
      stops.push(a.slice('--stop='.length));
    } else {
      rest.push(a);
      // a value option's value is never read as an option name
      if (a.startsWith('--') && !a.includes('=') && VALUES.includes(a.slice(2)) && i + 1 < argv.length)
        rest.push(argv[++i]);
    }
  }
  for (const s of stops) if (s === '') throw new UsageError('--stop: a stop string must not be empty');
  return { stops, rest };
}

/** "1,2,3" (or space-separated) -> ids; every id checked against the vocabulary. */
export function parsePromptIds(s: string, vocabSize: number): number[] {
  const parts = s.trim().split(/[\s,]+/);
  if (s.trim() === '') throw new UsageError('--prompt-ids: give at least one token id');
  if (!parts.every((p) => /^-?\d+$/.test(p)))
    throw new UsageError(`--prompt-ids: "${s}" is not a list of integers`);
  const ids = parts.map(Number);
  ids.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize)
      throw new UsageError(`--prompt-ids: token id ${parts[i]} at position ${i} is not in [0, ${vocabSize})`);
  });
  return ids;
}

const SAMPLER_FLAGS: Record<string, string> = {
  temperature: '--temperature',
  topK: '--top-k',
  topP: '--top-p',
  minP: '--min-p',
  repetitionPenalty: '--repetition-penalty',
  frequencyPenalty: '--frequency-penalty',
  presencePenalty: '--presence-penalty',
  seed: '--seed',
};

/** Sampler options: command line over generation_config.json over the defaults. */
function samplerOptions(a: ParsedArgs, gc: Record<string, unknown>): SamplerOptions {
  const num = (k: string): number | undefined => (typeof gc[k] === 'number' ? (gc[k] as number) : undefined);
  const o: SamplerOptions = {
    temperature: gc.do_sample === false ? 0 : num('temperature'),
    topK: num('top_k'),
    topP: num('top_p'),
    minP: num('min_p'),
    repetitionPenalty: num('repetition_penalty'),
  };
  const set = (flag: string, key: keyof SamplerOptions, int = false): void => {
    if (a.options.has(flag)) o[key] = int ? optInt(a, flag, 0) : optNumber(a, flag, 0);
  };
  set('temperature', 'temperature');
  set('top-k', 'topK', true);
  set('top-p', 'topP');
  set('min-p', 'minP');
  set('repetition-penalty', 'repetitionPenalty');
  set('frequency-penalty', 'frequencyPenalty');
  set('presence-penalty', 'presencePenalty');
  set('seed', 'seed', true);
  for (const k of Object.keys(o) as (keyof SamplerOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Writes to stdout and resolves once the data is handed to the OS. */
function writeStdout(s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(s, (err) => (err ? reject(err) : resolve()));
  });
}

export async function run(argv: string[]): Promise<void> {
  const { stops, rest } = takeStops(argv);
  const a = parseArgs(rest, { values: VALUES, flags: FLAGS });
  if (a.options.has('help')) {
    await writeStdout(`${USAGE}\n  ${DTYPE_HELP}\n  ${KV_TYPE_HELP}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const dir = optString(a, 'model');
  if (!dir) throw new UsageError(`--model is required (${USAGE})`);
  requireModelPath(dir);
  const promptText = optString(a, 'prompt');
  const promptIds = optString(a, 'prompt-ids');
  if (promptText !== undefined && promptIds !== undefined)
    throw new UsageError('give --prompt or --prompt-ids, not both');
  if (promptText === undefined && promptIds === undefined)
    throw new UsageError(`--prompt or --prompt-ids is required (${USAGE})`);
  const json = a.options.has('json');
  const logitsPath = optString(a, 'logits');
  const dtype = optDtype(a);
  const kvType = optKvType(a);
  if (a.options.has('threads')) {
    const n = optInt(a, 'threads', 1);
    if (n < 1) throw new UsageError(`--threads must be at least 1, got ${n}`);
    (await import('../kernels/index.ts')).kernels().setThreads(n);
  }

  const loaded = loadDecoder(dir, { dtype, kvType });
  const { model, config } = loaded;
  // A PEFT adapter directory rides on the base as loaded (not merged: the base keeps its dtype).
  const loraDir = optString(a, 'lora');
  if (loraDir !== undefined) {
    const { loadLoraAdapter } = await import('../models/load_lora.ts');
    loadLoraAdapter(loraDir, model);
  }
  let tokenizer: Tokenizer | null = null;
  if (loaded.tokenizerJson !== undefined) {
    const { loadTokenizerJson } = await import('../tokenizers/tokenizer_json.ts');
    try {
      tokenizer = loadTokenizerJson(loaded.tokenizerJson as object);
    } catch (e) {
      throw new Error(`${join(dir, 'tokenizer.json')}: ${(e as Error).message}`);
    }
  }

  let prompt: number[];
  if (promptIds !== undefined) {
    prompt = parsePromptIds(promptIds, config.vocabSize);
  } else {
    if (!tokenizer)
      throw new UsageError(`--prompt: ${dir} has no tokenizer.json; give the prompt as --prompt-ids`);
    prompt = tokenizer.encode(promptText as string);
    if (prompt.length === 0)
      throw new UsageError('--prompt: the text encodes to no tokens; give --prompt-ids');
    const bad = prompt.findIndex((id) => id >= config.vocabSize);
    if (bad >= 0)
      throw new Error(
        `--prompt: the tokenizer gives id ${prompt[bad]}, beyond the model's vocabulary size ${config.vocabSize}`,
      );
  }
  const T = prompt.length;
  const ctx = config.contextLength;
  if (T > ctx) throw new UsageError(`the prompt has ${T} tokens, more than the context length ${ctx}`);
  const room = ctx - T;
  let maxTokens = Math.min(DEFAULT_MAX_TOKENS, room);
  if (a.options.has('max-tokens')) {
    maxTokens = optInt(a, 'max-tokens', 0);
    if (maxTokens < 0) throw new UsageError(`--max-tokens must be >= 0, got ${maxTokens}`);
    if (maxTokens > room)
      throw new UsageError(
        `--max-tokens: the prompt has ${T} tokens and ${maxTokens} more exceed the context length ${ctx}; ` +
          `use at most ${room}`,
      );
  }
  if (stops.length > 0 && !tokenizer)
    throw new UsageError(`--stop: ${dir} has no tokenizer.json to decode text with`);

  const gc = (loaded.generationConfig ?? {}) as Record<string, unknown>;
  const sampler = samplerOptions(a, gc);
  const options: GenerateOptions = {
    ...sampler,
    maxNewTokens: maxTokens,
    eos: resolveEos({ dir, generationConfig: loaded.generationConfig }),
    stop: stops,
  };
  if (tokenizer) {
    const tok = tokenizer;
    options.decode = (ids) => tok.decode(ids);
  }
  try {
    const { Sampler } = await import('../generate/index.ts');
    new Sampler({ ...options, seed: options.seed ?? 0 });
  } catch (e) {
    const msg = (e as Error).message;
    const key = Object.keys(SAMPLER_FLAGS).find((k) => msg.startsWith(`${k} `));
    throw new UsageError(key ? `${SAMPLER_FLAGS[key]}${msg.slice(key.length)}` : msg);
  }

  // After every check, so that a usage error stays the one line on stderr.
  process.stderr.write(`xfmr generate: dtype ${describeWeights(model)}\n`);
  // the cache generateStream allocates: prompt + new tokens, one sequence
  const kvBytes = kvCacheBytes(config, kvType, T + maxTokens, 1);
  process.stderr.write(kvCacheLine('generate', kvType, T + maxTokens, 1, kvBytes));
  if (logitsPath !== undefined) {
    const ids = Int32Array.from(prompt);
    const logits = noGrad(() => model.forward(ids, 1, T).data);
    const bytes = new Uint8Array(logits.buffer, logits.byteOffset, T * config.vocabSize * 4);
    if (endianness() !== 'LE') {
      const dv = new DataView(new ArrayBuffer(bytes.length));
      for (let i = 0; i < T * config.vocabSize; i++) dv.setFloat32(i * 4, logits[i], true);
      writeFileAtomic(logitsPath, new Uint8Array(dv.buffer));
    } else {
      writeFileAtomic(logitsPath, bytes.slice());
    }
  }

  const ids: number[] = [];
  let text = '';
  let finish = 'length';
  const t0 = performance.now();
  let tFirst = t0;
  for await (const piece of generateStream(model, [prompt], options)) {
    if (piece.tokenId !== null) {
      if (ids.length === 0) tFirst = performance.now();
      ids.push(piece.tokenId);
      if (!json && !tokenizer) process.stdout.write(`${ids.length > 1 ? ' ' : ''}${piece.tokenId}`);
    }
    if (piece.text) {
      text += piece.text;
      if (!json) process.stdout.write(piece.text);
    }
    if (piece.finishReason) finish = piece.finishReason;
  }
  const t1 = performance.now();
  if (json) await writeStdout(`${JSON.stringify({ ids, text })}\n`);
  else await writeStdout(!tokenizer || process.stdout.isTTY ? '\n' : '');
  const decodeRate = ids.length > 1 ? ((ids.length - 1) / ((t1 - tFirst) / 1000)).toFixed(1) : 'n/a';
  process.stderr.write(
    `xfmr generate: ${T} prompt tokens in ${((tFirst - t0) / 1000).toFixed(2)} s, ${ids.length} new tokens ` +
      `(${finish}), decode ${decodeRate} tok/s\n`,
  );
}
