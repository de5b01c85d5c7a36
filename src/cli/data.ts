/**
 * `xfmr data prepare --tokenizer T --out DIR [--text-field text] [--val-fraction 0.1] FILES...`:
 * tokenizes plain text files (one document each) and JSONL files (one document per line, the
 * text in --text-field) into train.bin / val.bin token shards with a manifest.json. Documents are
 * separated by the tokenizer's end-of-text token when it has one.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolveEos } from '../tokenizers/eos.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import { writeShards } from '../train/data.ts';
import { Progress } from '../train/progress.ts';
import { optNumber, optString, parseArgs, UsageError } from './args.ts';

export const USAGE =
  'usage: xfmr data prepare --tokenizer T --out DIR [--text-field text] [--val-fraction F] [--json] FILES...';

export async function run(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb !== 'prepare') throw new UsageError(USAGE);
  const a = parseArgs(rest, { values: ['tokenizer', 'out', 'text-field', 'val-fraction'], flags: ['json'] });
  const spec = optString(a, 'tokenizer');
  const out = optString(a, 'out');
  if (!spec || !out || a.positionals.length === 0) throw new UsageError(USAGE);
  const field = optString(a, 'text-field') ?? 'text';
  const tok = loadTokenizer(spec);
  const sep = resolveEos({ tokenizer: tok })[0] ?? null;
  const tokens: number[] = [];
  const sources: { path: string; documents: number; tokens: number }[] = [];
  const total = a.positionals.reduce((n, f) => {
    try {
      return n + statSync(f).size;
    } catch {
      throw new Error(`${f}: cannot read (no such file)`);
    }
  }, 0);
  const progress = new Progress('tokenize', total);
  let done = 0;
  for (const file of a.positionals) {
    const text = readFileSync(file, 'utf8');
    const docs: string[] = [];
    if (file.endsWith('.jsonl')) {
      text.split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        let o: unknown;
        try {
          o = JSON.parse(line);
        } catch (e) {
          throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
        }
        const v = (o as Record<string, unknown>)[field];
        if (typeof v !== 'string')
          throw new Error(`${file}:${i + 1}: field "${field}" is missing or not a string`);
        docs.push(v);
      });
    } else docs.push(text);
    const before = tokens.length;
    for (const d of docs) {
      for (const id of tok.encode(d)) tokens.push(id);
      if (sep !== null) tokens.push(sep);
    }
    sources.push({ path: file, documents: docs.length, tokens: tokens.length - before });
    done += Buffer.byteLength(text);
    progress.update(done, `${tokens.length} tokens`);
  }
  const m = writeShards(
    out,
    tokens,
    { vocabSize: tok.vocabSize, separatorId: sep, tokenizer: spec, sources },
    optNumber(a, 'val-fraction', 0.1),
  );
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(m)}\n`);
  else {
    process.stdout.write(
      `${m.splits.train.tokens} train + ${m.splits.val.tokens} val tokens (${m.dtype}, vocab ${m.vocabSize}) in ${out}\n`,
    );
  }
}
