/**
 * `xfmr tokenizer train --type bpe|wordpiece|unigram --vocab-size N --out tokenizer.json FILES...`
 *
 * Trains a tokenizer on the files (read as exact UTF-8 bytes, fed line by line with the line endings
 * kept, as Hugging Face tokenizers' `train(files)` does) and writes a Hugging Face tokenizer.json
 * atomically (a temporary file, then rename). Progress goes to stderr.
 *
 * Options: --min-frequency N (bpe; default 2), --pattern gpt2|cl100k_base|o200k_base (bpe split
 * pattern; default gpt2), --special-tokens a,b,c (comma-separated; bpe default <|endoftext|>, the
 * other trainers choose their own defaults when it is absent).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { BpeTrainer } from '../tokenizers/bpe_trainer.ts';
import type { SplitPatternName } from '../tokenizers/patterns.ts';
import { toTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { optInt, optString, parseArgs, UsageError } from './args.ts';

type TrainFn = (texts: string[], opts: { vocabSize: number; specialTokens?: string[] }) => object;

const USAGE =
  'usage: xfmr tokenizer train --type bpe|wordpiece|unigram --vocab-size N --out tokenizer.json ' +
  '[--min-frequency N] [--pattern gpt2|cl100k_base|o200k_base] [--special-tokens a,b] FILES...\n';

/** Progress on stderr: a bar redrawn in place on a TTY, otherwise a line every few seconds. */
export class Progress {
  private last = 0;
  private lastLine = '';
  private readonly tty = process.stderr.isTTY === true;
  constructor(private readonly label: string) {}

  update(done: number, total: number, unit = ''): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 3000)) return;
    this.last = now;
    this.write(done, total, unit);
  }

  done(done: number, total: number, unit = ''): void {
    this.write(done, total, unit);
    if (this.tty) process.stderr.write('\n');
  }

  private write(done: number, total: number, unit: string): void {
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const counts = `${done}${total > 0 ? `/${total}` : ''}${unit}`;
    if (this.tty) {
      const width = 30;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      process.stderr.write(`\r${this.label} [${bar}] ${counts}`);
    } else {
      const line = `${this.label}: ${counts}${total > 0 ? ` (${Math.round(frac * 100)}%)` : ''}\n`;
      if (line !== this.lastLine) process.stderr.write(line);
      this.lastLine = line;
    }
  }
}

/** Each file's text split into lines, line endings kept. */
function* lines(text: string): Generator<string> {
  let i = 0;
  while (i < text.length) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? text.length : nl + 1;
    yield text.slice(i, end);
    i = end;
  }
}

function readText(path: string): string {
  try {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(readFileSync(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(
      `cannot read training file ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
    );
  }
}

/** Writes JSON to path through a temporary file and a rename, so a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    writeFileSync(tmp, JSON.stringify(value));
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to remove
    }
    throw new Error(`--out: cannot write ${path}: ${(e as Error).message}`);
  }
}

async function loadTrainer(file: string, name: string): Promise<TrainFn> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(`../tokenizers/${file}`, import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--type: the ${name} trainer is not available (${(e as Error).message})`);
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new Error(`--type: the ${name} trainer is not available`);
  return fn as TrainFn;
}

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === 'help') {
    // asked for: stdout; missing subcommand: stderr and a usage exit code
    (sub ? process.stdout : process.stderr).write(USAGE);
    if (!sub) process.exitCode = 2;
    return;
  }
  if (sub !== 'train') throw new UsageError(`unknown tokenizer subcommand "${sub}" (expected: train)`);
  const args = parseArgs(rest, {
    values: ['type', 'vocab-size', 'out', 'min-frequency', 'pattern', 'special-tokens'],
  });
  if (args.options.has('help')) {
    process.stdout.write(USAGE);
    return;
  }
  const type = optString(args, 'type') ?? 'bpe';
  if (type !== 'bpe' && type !== 'wordpiece' && type !== 'unigram')
    throw new UsageError(`--type must be bpe, wordpiece or unigram, got "${type}"`);
  if (!args.options.has('vocab-size')) throw new UsageError('--vocab-size is required');
  const vocabSize = optInt(args, 'vocab-size', 0);
  if (vocabSize < 1) throw new UsageError(`--vocab-size must be a positive integer, got ${vocabSize}`);
  const out = optString(args, 'out');
  if (!out) throw new UsageError('--out is required (the tokenizer.json to write)');
  const files = args.positionals;
  if (files.length === 0) throw new UsageError('no training files given');
  const specialArg = optString(args, 'special-tokens');
  const specialTokens =
    specialArg === undefined ? undefined : specialArg.split(',').filter((s) => s.length > 0);
  const t0 = Date.now();

  let json: object;
  if (type === 'bpe') {
    const pattern = (optString(args, 'pattern') ?? 'gpt2') as SplitPatternName;
    if (!['gpt2', 'cl100k_base', 'o200k_base'].includes(pattern))
      throw new UsageError(`--pattern must be gpt2, cl100k_base or o200k_base, got "${pattern}"`);
    const minFrequency = optInt(args, 'min-frequency', 2);
    const merging = new Progress('merges');
    const trainer = new BpeTrainer({
      vocabSize,
      minFrequency,
      pattern,
      specialTokens: specialTokens ?? ['<|endoftext|>'],
      onProgress: (_stage, done, total) => merging.update(done, total),
    });
    const counting = new Progress('reading');
    for (const [k, file] of files.entries()) {
      for (const line of lines(readText(file))) trainer.feed(line);
      counting.update(k + 1, files.length, ' files');
    }
    counting.done(files.length, files.length, ' files');
    process.stderr.write(`${trainer.distinctWords} distinct pieces\n`);
    const model = trainer.train();
    merging.done(model.merges.length, model.merges.length);
    json = toTokenizerJson(model);
  } else {
    if (args.options.has('pattern') || args.options.has('min-frequency'))
      throw new UsageError(`--pattern and --min-frequency apply to --type bpe only`);
    const train =
      type === 'wordpiece'
        ? await loadTrainer('wordpiece_trainer.ts', 'trainWordPiece')
        : await loadTrainer('unigram_trainer.ts', 'trainUnigram');
    const texts: string[] = [];
    for (const file of files) for (const line of lines(readText(file))) texts.push(line);
    process.stderr.write(`training ${type} on ${texts.length} lines...\n`);
    json = train(texts, specialTokens === undefined ? { vocabSize } : { vocabSize, specialTokens });
  }
  writeJsonAtomic(out, json);
  process.stderr.write(`wrote ${out} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}
