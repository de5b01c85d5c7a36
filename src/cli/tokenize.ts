/**
 * `xfmr tokenize --tokenizer tokenizer.json|gpt2|cl100k_base|o200k_base [--input FILE] [--json]`
 *
 * Prints the ids of the text in FILE (its exact bytes as UTF-8: no trimming, no BOM stripping;
 * invalid UTF-8 becomes U+FFFD) or on standard input: space-separated on one line, or one JSON array
 * with --json. Special tokens written in the text are encoded as plain text, never as their ids.
 * A tokenizer.json keeps its own defaults (e.g. a BERT post-processor adds [CLS] ... [SEP]).
 */
import { existsSync, readFileSync } from 'node:fs';
import { ENCODINGS, getEncoding, isEncodingName } from '../tokenizers/tiktoken.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { optString, parseArgs, UsageError } from './args.ts';

const ENCODING_NAMES = Object.keys(ENCODINGS).join(', ');

/** The tokenizer named on the command line: a built-in encoding or a tokenizer.json path. */
export async function loadTokenizerArg(name: string): Promise<Tokenizer> {
  checkTokenizerArg(name);
  if (isEncodingName(name)) return getEncoding(name);
  // Imported lazily: the tiktoken encodings do not need the tokenizer.json machinery.
  const mod = (await import(new URL('../tokenizers/tokenizer_json.ts', import.meta.url).href)) as {
    loadTokenizerJson?: (path: string) => Tokenizer;
  };
  if (!mod.loadTokenizerJson)
    throw new Error('--tokenizer: tokenizer.json files are not supported in this build');
  try {
    return mod.loadTokenizerJson(name);
  } catch (e) {
    throw new Error(`--tokenizer ${name}: ${(e as Error).message}`);
  }
}

/** Fails early (before any input is read) on a --tokenizer that is neither an encoding nor a file. */
export function checkTokenizerArg(name: string): void {
  if (!isEncodingName(name) && !existsSync(name))
    throw new UsageError(`--tokenizer: "${name}" is neither a file nor a known encoding (${ENCODING_NAMES})`);
}

/** Reads a file's exact bytes, or all of stdin, as UTF-8 text (a BOM is kept as U+FEFF). */
export async function readInputText(path: string | undefined): Promise<string> {
  let bytes: Uint8Array;
  if (path !== undefined) {
    try {
      bytes = readFileSync(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UsageError(
        `--input: cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
      );
    }
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  }
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

/** Writes to stdout and resolves once the data is handed to the OS (so large outputs arrive whole). */
export function writeStdout(s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(s, (err) => (err ? reject(err) : resolve()));
  });
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['tokenizer', 'input'], flags: ['json'] });
  if (args.options.has('help')) {
    await writeStdout(
      `usage: xfmr tokenize --tokenizer tokenizer.json|${ENCODING_NAMES.replaceAll(', ', '|')} [--input FILE] [--json]\n`,
    );
    return;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  const name = optString(args, 'tokenizer');
  if (!name)
    throw new UsageError(`--tokenizer is required (a tokenizer.json path, or one of ${ENCODING_NAMES})`);
  checkTokenizerArg(name);
  const text = await readInputText(optString(args, 'input'));
  const tokenizer = await loadTokenizerArg(name);
  const ids = tokenizer.encode(text);
  await writeStdout(args.options.has('json') ? `${JSON.stringify(ids)}\n` : `${ids.join(' ')}\n`);
}
