/**
 * The one answer to "which token ends a sequence?". The first source that states an EOS decides:
 *
 *   1. generation_config.json's eos_token_id   (what transformers' generate() stops at)
 *   2. config.json's eos_token_id               (as written: no family default)
 *   3. the tokenizer's special tokens, by the names the common vocabularies use (EOS_NAMES)
 *
 * Each file value may be an id or a list (Llama 3 Instruct stops at two); a file that sets it to
 * null states "no EOS" and decides too. Callers pass the sources they have: generation and serving
 * pass a model directory only (a model whose files name no EOS generates up to max tokens), the
 * trainers a directory and its tokenizer, `xfmr init`, `data prepare` and the recipe a tokenizer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from './tokenizer.ts';

/**
 * End-of-text tokens, in order of preference: GPT-2 / Qwen, Llama 2 / Mistral, Gemma, Llama 3,
 * ChatML, BERT's separator.
 */
const EOS_NAMES = ['<|endoftext|>', '</s>', '<eos>', '<|end_of_text|>', '<|im_end|>', '[SEP]'];

export interface EosSources {
  /** A model directory: its generation_config.json, then its config.json. */
  dir?: string;
  /** generation_config.json when the caller has parsed it already (then not read from dir). */
  generationConfig?: Readonly<Record<string, unknown>>;
  /** Asked only when the files state nothing. */
  tokenizer?: Pick<Tokenizer, 'specialTokens'>;
  /** Drops ids outside [0, vocabSize): a family default such as GPT-2's 50256 in a small vocabulary. */
  vocabSize?: number;
}

/** The EOS ids, most preferred first; empty when no source names one. */
export function resolveEos(s: EosSources): number[] {
  const inVocab = (ids: number[]) =>
    ids.filter((id) => Number.isInteger(id) && id >= 0 && (s.vocabSize === undefined || id < s.vocabSize));
  const generation =
    s.generationConfig ?? (s.dir ? readJson(join(s.dir, 'generation_config.json')) : undefined);
  for (const file of [generation, s.dir ? readJson(join(s.dir, 'config.json')) : undefined]) {
    if (file && 'eos_token_id' in file) return inVocab(idList(file.eos_token_id));
  }
  if (s.tokenizer)
    for (const name of EOS_NAMES) {
      const id = s.tokenizer.specialTokens.get(name);
      if (id !== undefined) return inVocab([id]);
    }
  return [];
}

/** Beginning-of-sequence tokens (GPT-2 uses <|endoftext|> for both when it has no other). */
const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>'];

/** BOS/EOS ids when a tokenizer's special tokens name them (else null), for configs and GGUF files. */
export function obviousSpecialIds(tok: Pick<Tokenizer, 'specialTokens'>): {
  bos: number | null;
  eos: number | null;
} {
  const eos = resolveEos({ tokenizer: tok })[0] ?? null;
  let bos = BOS_NAMES.map((n) => tok.specialTokens.get(n)).find((id) => id !== undefined) ?? null;
  if (bos === null && eos !== null && tok.specialTokens.get('<|endoftext|>') === eos) bos = eos;
  return { bos, eos };
}

function idList(v: unknown): number[] {
  const list = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
  return list.filter((x): x is number => typeof x === 'number');
}

/** A JSON object file, or undefined when it is missing or not an object (the loaders report bad files). */
function readJson(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
