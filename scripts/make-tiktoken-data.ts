/**
 * Regenerates src/tokenizers/data/{gpt2,cl100k_base,o200k_base}.tiktoken.gz from the rank tables of
 * the installed `tiktoken` dev package (node_modules/tiktoken/encoders/*.json), so that xfmr ships
 * its own copies and depends on no tokenizer package at run time.
 *
 *   npx tsx scripts/make-tiktoken-data.ts
 *
 * Output format: the standard tiktoken file (one "base64(token bytes) rank" line per token, rank
 * order), gzipped at level 9. The package stores the ranks as groups "! <first rank> <b64> <b64> ...",
 * one group per line, consecutive ranks within a group.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const outDir = new URL('../src/tokenizers/data/', import.meta.url);

for (const name of ['gpt2', 'cl100k_base', 'o200k_base']) {
  const file = require.resolve(`tiktoken/encoders/${name}.json`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as { bpe_ranks: string };
  const lines: string[] = [];
  for (const group of json.bpe_ranks.split('\n')) {
    if (!group) continue;
    const [, first, ...tokens] = group.split(' ');
    const base = Number.parseInt(first, 10);
    for (const [k, b64] of tokens.entries()) lines.push(`${b64} ${base + k}`);
  }
  const text = `${lines.join('\n')}\n`;
  const gz = gzipSync(text, { level: 9 });
  writeFileSync(new URL(`${name}.tiktoken.gz`, outDir), gz);
  process.stdout.write(`${name}: ${lines.length} ranks, ${text.length} bytes, ${gz.length} gzipped\n`);
}
