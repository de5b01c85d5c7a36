/**
 * One entry point for every tokenizer a command can name: a tiktoken encoding (`gpt2`,
 * `cl100k_base`, `o200k_base`), a Hugging Face tokenizer.json file, or a model directory that
 * holds one.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getEncoding, isEncodingName } from './tiktoken.ts';
import type { Tokenizer } from './tokenizer.ts';
import { loadTokenizerJson } from './tokenizer_json.ts';

export function loadTokenizer(spec: string): Tokenizer {
  if (isEncodingName(spec)) return getEncoding(spec);
  if (!existsSync(spec)) {
    throw new Error(`tokenizer "${spec}": no such file, and not one of gpt2, cl100k_base, o200k_base`);
  }
  const path = statSync(spec).isDirectory() ? join(spec, 'tokenizer.json') : spec;
  if (!existsSync(path)) throw new Error(`${spec}: directory has no tokenizer.json`);
  return loadTokenizerJson(path);
}

/** The id of the first of these special tokens the tokenizer has (an end-of-text marker), or null. */
export function findSpecial(tok: Tokenizer, names: readonly string[]): number | null {
  for (const n of names) {
    const id = tok.specialTokens.get(n) ?? null;
    if (id !== null) return id;
  }
  return null;
}

export const EOS_NAMES = ['<|endoftext|>', '</s>', '<eos>', '<|end_of_text|>', '<|im_end|>', '[SEP]'];

/** End-of-sequence tokens of the common vocabularies (GPT-2/Qwen, Llama 2/Mistral, Llama 3, Gemma). */
const OBVIOUS_EOS = ['<|endoftext|>', '</s>', '<|end_of_text|>', '<eos>'];
/** Beginning-of-sequence tokens (GPT-2 uses <|endoftext|> for both when it has no other). */
const OBVIOUS_BOS = ['<s>', '<|begin_of_text|>', '<bos>'];

/** BOS/EOS ids when a tokenizer's special tokens name them unambiguously (else null). */
export function obviousSpecialIds(tok: Pick<Tokenizer, 'specialTokens'>): {
  bos: number | null;
  eos: number | null;
} {
  const find = (names: string[]): number | null => {
    for (const n of names) {
      const id = tok.specialTokens.get(n);
      if (id !== undefined) return id;
    }
    return null;
  };
  const eos = find(OBVIOUS_EOS);
  let bos = find(OBVIOUS_BOS);
  if (bos === null && eos !== null && tok.specialTokens.get('<|endoftext|>') === eos) bos = eos;
  return { bos, eos };
}
