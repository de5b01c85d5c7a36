/**
 * resolveEos, table-driven: generation_config.json before config.json before the tokenizer's
 * special-token names; ids or lists; an explicit null decides; ids outside the vocabulary dropped.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveEos } from '../../src/tokenizers/eos.ts';
import { tempDir } from '../cli/helpers.ts';

interface Row {
  name: string;
  generationConfig?: unknown;
  config?: unknown;
  /** Special tokens of the tokenizer (none: no tokenizer is passed). */
  specials?: Record<string, number>;
  vocabSize?: number;
  expected: number[];
}

const ROWS: Row[] = [
  { name: 'nothing anywhere', expected: [] },
  {
    name: 'generation_config id',
    generationConfig: { eos_token_id: 7 },
    config: { eos_token_id: 3 },
    expected: [7],
  },
  {
    name: 'generation_config list (Llama 3 Instruct)',
    generationConfig: { eos_token_id: [128001, 128009] },
    expected: [128001, 128009],
  },
  {
    name: 'generation_config without eos: config.json',
    generationConfig: { bos_token_id: 1 },
    config: { eos_token_id: 2 },
    expected: [2],
  },
  { name: 'config.json list', config: { eos_token_id: [5, 6] }, expected: [5, 6] },
  {
    name: 'an explicit null decides',
    generationConfig: { eos_token_id: null },
    config: { eos_token_id: 2 },
    expected: [],
  },
  {
    name: 'files before the tokenizer',
    config: { eos_token_id: 4 },
    specials: { '<|endoftext|>': 9 },
    expected: [4],
  },
  { name: 'tokenizer: GPT-2', specials: { '<|endoftext|>': 50256 }, expected: [50256] },
  { name: 'tokenizer: Llama 2', specials: { '<s>': 1, '</s>': 2, '<unk>': 0 }, expected: [2] },
  { name: 'tokenizer: Gemma', specials: { '<bos>': 2, '<eos>': 1 }, expected: [1] },
  {
    name: 'tokenizer: Llama 3',
    specials: { '<|begin_of_text|>': 128000, '<|end_of_text|>': 128001 },
    expected: [128001],
  },
  {
    name: 'tokenizer: Qwen prefers <|endoftext|> to <|im_end|>',
    specials: { '<|im_end|>': 151645, '<|endoftext|>': 151643 },
    expected: [151643],
  },
  { name: 'tokenizer: ChatML only', specials: { '<|im_start|>': 3, '<|im_end|>': 4 }, expected: [4] },
  { name: 'tokenizer: BERT separator', specials: { '[CLS]': 101, '[SEP]': 102 }, expected: [102] },
  { name: 'tokenizer without any known name', specials: { '<pad>': 0 }, expected: [] },
  {
    name: 'a family default outside the vocabulary',
    config: { eos_token_id: 50256 },
    vocabSize: 40,
    expected: [],
  },
  {
    name: 'outside ids dropped from a list',
    config: { eos_token_id: [50256, 3] },
    vocabSize: 40,
    expected: [3],
  },
  { name: 'non-ids ignored', config: { eos_token_id: [-1, 2.5, '3', 4] }, expected: [4] },
];

test('resolveEos: the first source that states an EOS decides', () => {
  const root = tempDir('xfmr-eos-');
  ROWS.forEach((r, i) => {
    const dir = join(root, String(i));
    mkdirSync(dir);
    if (r.generationConfig !== undefined)
      writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(r.generationConfig));
    if (r.config !== undefined) writeFileSync(join(dir, 'config.json'), JSON.stringify(r.config));
    const tokenizer = r.specials ? { specialTokens: new Map(Object.entries(r.specials)) } : undefined;
    assert.deepEqual(resolveEos({ dir, tokenizer, vocabSize: r.vocabSize }), r.expected, r.name);
    // A parsed generation_config stands in for the file.
    if (r.generationConfig !== undefined)
      assert.deepEqual(
        resolveEos({
          dir,
          generationConfig: r.generationConfig as Record<string, unknown>,
          tokenizer,
          vocabSize: r.vocabSize,
        }),
        r.expected,
        `${r.name} (parsed generation_config)`,
      );
  });
  assert.deepEqual(resolveEos({ dir: join(root, 'missing') }), [], 'a directory without files');
});
