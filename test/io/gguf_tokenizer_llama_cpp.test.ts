/**
 * Exactness against llama.cpp (node-llama-cpp 3.21.1, vocab-only loads): GGUF files carry a
 * tokenizer in their metadata; `tokenizerFromGguf` turns it into a tokenizer.json and xfmr's
 * tokenizer must give the ids llama.cpp's `tokenize` gives, with special tokens parsed and not, on
 * hand-picked strings (digits, contractions, accents, CJK, emoji, whitespace runs, special tokens in
 * the text) and seeded mixed documents. Decoding: ours gives the text back, and llama.cpp's
 * detokenizer (special tokens written out) gives the same string, except where its clean-up of
 * spaces before punctuation applies (see gguf_tokenizer_import.ts).
 *
 *   byte-level BPE   GPT-2's vocabulary under every pre-tokenizer family of gguf_pretokenizers.ts
 *                    (with two words only ignore_merges finds whole); Qwen3's real vocabulary and
 *                    special tokens under qwen2
 *   SentencePiece    Mistral 7B's vocabulary, with and without add_space_prefix; seeded random
 *                    vocabularies with many equal scores (the merge-order rule), 400 random texts
 *
 * Skipped, with the reason, when node-llama-cpp or its prebuilt binary cannot load here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp';
import { type GgufValue, gv } from '../../src/io/gguf.ts';
import { tokenizerFromGguf } from '../../src/io/gguf_tokenizer_import.ts';
import { type HfTokenizer, loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { tempDir } from '../cli/helpers.ts';
import { documents, mixedText, rng } from '../tokenizers/hf_text.ts';
import {
  gpt2Vocab,
  mistralSpm,
  realByteLevel,
  seededSpm,
  seededSpmText,
  TESTED_PRE,
  UNMERGED_WORDS,
  type Vocab,
  writeVocabGguf,
} from './gguf_vocab.ts';

const TEXTS = [
  '',
  'a',
  'Hello world',
  "I'm here; they'RE done, we'll see. It's 1234567 o'clock, isn't it",
  "ſ's and \u212A'S and 'T",
  'héllo naïve café — Ærøskøbing, e\u0301 (decomposed)',
  '你好，世界！こんにちは 안녕하세요',
  'emoji 🎉🎉 👩‍👩‍👧 ok 🇫🇷',
  '\n\n  \t  a\r\n b   \n',
  '    indented code():\n\treturn x+1;  \n\n\n',
  ' leading and trailing spaces  ',
  'numbers 3.14159 1,000,000 and 2024-12-07; $100 + 50% ~ ^_^ | `x` <=> a/b',
  'UPPERCASE lowercase MixedCase CamelCaseWord HTTPServer iPhone',
  '\u00a0nbsp\u2003emsp\u3000ideographic\u0085nel\ufeffbom',
  'Ελληνικά Русский العربية हिन्दी ไทย',
  'Tôi làm việc ở Việt Nam',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  'text with <tool_call>{"a": 1}</tool_call> and <|endoftext|> inside<|endoftext|>',
  '<s>hi</s> <unk> <s> [INST] x [/INST]',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  '▁ already ▁▁ spaced',
  ...documents(mixedText(7, 500), 8),
];

/** Pre-tokenizers whose llama.cpp detokenizer removes spaces before punctuation (clean_spaces). */
const CLEANS = new Set([
  'default',
  'gpt-2',
  'llama-bpe',
  'dbrx',
  'chatglm-bpe',
  'jais-2',
  'falcon',
  'minicpm5',
]);

let mod: typeof import('node-llama-cpp') | undefined;
let llama: Llama | undefined;
let skipReason: string | undefined;

before(async () => {
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    skipReason = `node-llama-cpp is not installed (${(e as Error).message.split('\n')[0]})`;
    return;
  }
  try {
    llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.disabled });
  } catch (e) {
    skipReason = `node-llama-cpp's native binary cannot load here (${(e as Error).message.split('\n')[0]})`;
  }
});
after(async () => {
  await llama?.dispose();
});

const dir = tempDir('xfmr-ggtok-');
let files = 0;

interface Both {
  ours: HfTokenizer;
  theirs: LlamaModel;
  info: ReturnType<typeof tokenizerFromGguf>;
}

async function open(v: Vocab, kv: Record<string, GgufValue>): Promise<Both> {
  const path = join(dir, `v${files++}.gguf`);
  writeVocabGguf(path, v, kv);
  const info = tokenizerFromGguf(path);
  const ours = loadTokenizerJson(info.tokenizerJson);
  const theirs = await llama!.loadModel({ modelPath: path, vocabOnly: true });
  return { ours, theirs, info };
}

/** Ids and decoded text of every text, both ways of treating special tokens; fails at the first difference. */
function compare(b: Both, texts: readonly string[], label: string, cleans = false): void {
  for (const special of [false, true]) {
    for (const text of texts) {
      const theirs = Array.from(b.theirs.tokenize(text, special));
      const ours = b.ours.encode(text, { allowedSpecial: special ? 'all' : 'none', addSpecialTokens: false });
      if (ours.join() !== theirs.join()) {
        assert.fail(
          `${label}, special ${special}, text ${JSON.stringify(text.slice(0, 200))}\n` +
            `llama.cpp ${theirs.join(',')}\nxfmr      ${ours.join(',')}`,
        );
      }
      const decoded = b.ours.decode(ours);
      // SentencePiece adds a space after each added token, so only plain pieces come back exactly.
      const plain = b.info.model === 'gpt2' || !ours.some((id) => b.ours.added.byId.has(id));
      if (plain) {
        assert.equal(
          decoded,
          b.info.model === 'llama' ? text.replaceAll('▁', ' ') : text,
          `${label}: decode`,
        );
      }
      if (!cleans || !/ [?!.,']/.test(decoded)) {
        assert.equal(
          b.theirs.detokenize(theirs as Token[], true),
          decoded,
          `${label}: detokenize ${JSON.stringify(text)}`,
        );
      }
    }
  }
}

let gpt2: Vocab | undefined;
const gpt2Once = () => {
  gpt2 ??= gpt2Vocab();
  return gpt2;
};

test('every tokenizer.ggml.pre family tokenizes as llama.cpp does (GPT-2 vocabulary)', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const v = gpt2Once();
  const eos = v.tokens.indexOf('<|endoftext|>');
  const unmerged = v.tokens.length - UNMERGED_WORDS.length;
  const vietnamese = new Map<string, number[]>();
  for (const pre of TESTED_PRE) {
    const b = await open(v, {
      'tokenizer.ggml.pre': gv.str(pre),
      'tokenizer.ggml.bos_token_id': gv.u32(eos),
      'tokenizer.ggml.eos_token_id': gv.u32(eos),
    });
    assert.equal(b.info.addBos, b.theirs.tokens.shouldPrependBosToken, `${pre}: add_bos`);
    assert.equal(b.info.addEos, b.theirs.tokens.shouldAppendEosToken, `${pre}: add_eos`);
    assert.equal(b.info.bosId, b.theirs.tokens.bos, `${pre}: bos`);
    compare(b, TEXTS, pre, CLEANS.has(pre));
    vietnamese.set(pre, b.ours.encode('Tôi làm việc ở Việt Nam', { addSpecialTokens: false }));
    await b.theirs.dispose();
  }
  // ignore_merges matters: llama-bpe finds the unmerged words whole, dbrx (same split) does not
  assert.ok(vietnamese.get('llama-bpe')!.includes(unmerged));
  assert.ok(!vietnamese.get('dbrx')!.includes(unmerged));
});

test('a real vocabulary: Qwen3 (151,669 tokens) under qwen2, and its end-of-generation tokens', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const v = realByteLevel('qwen3');
  const b = await open(v, { 'tokenizer.ggml.pre': gv.str('qwen2') });
  for (const id of b.info.eosIds) assert.ok(b.theirs.isEogToken(id as Token), `${id} ends generation`);
  for (let id = 0; id < v.tokens.length; id += 97) {
    assert.equal(b.info.eosIds.includes(id), b.theirs.isEogToken(id as Token), `is ${id} EOG`);
  }
  compare(b, TEXTS, 'qwen3');
  await b.theirs.dispose();
});

test('SentencePiece: Mistral 7B vocabulary with and without add_space_prefix', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const v = mistralSpm();
  for (const prefix of [true, false]) {
    const b = await open(v, { 'tokenizer.ggml.add_space_prefix': gv.bool(prefix) });
    assert.equal(b.info.addBos, b.theirs.tokens.shouldPrependBosToken);
    assert.equal(b.info.bosId, b.theirs.tokens.bos);
    assert.equal(b.info.eosId, b.theirs.tokens.eos);
    compare(b, TEXTS, `mistral prefix ${prefix}`);
    await b.theirs.dispose();
  }
});

test('SentencePiece: seeded vocabularies with equal scores merge in llama.cpp order', async (t) => {
  if (skipReason) return t.skip(skipReason);
  for (const seed of [1, 2, 3]) {
    const r = rng(100 + seed);
    const texts = Array.from({ length: 400 }, () => seededSpmText(r));
    for (const prefix of [true, false]) {
      const b = await open(seededSpm(seed), { 'tokenizer.ggml.add_space_prefix': gv.bool(prefix) });
      compare(b, texts, `seeded ${seed} prefix ${prefix}`);
      await b.theirs.dispose();
    }
  }
});
