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
