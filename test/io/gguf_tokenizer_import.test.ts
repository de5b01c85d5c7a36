/**
 * tokenizerFromGguf without llama.cpp: what each tokenizer key becomes (token kinds, special ids,
 * BOS/EOS added or not, end-of-generation ids, chat templates), SentencePiece vocabularies on small
 * worked examples, and the errors for bad files, each naming the file and the key. Exactness
 * against llama.cpp itself is gguf_tokenizer_llama_cpp.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type GgufValue, gv, writeGguf } from '../../src/io/gguf.ts';
import { GGUF_PRE_TOKENIZERS } from '../../src/io/gguf_pretokenizers.ts';
import { GGUF_TOKEN_TYPES as T, tokenizerFromGguf } from '../../src/io/gguf_tokenizer_import.ts';
import { renderChat } from '../../src/tokenizers/chat_template.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { tempDir } from '../cli/helpers.ts';
import { gpt2Vocab, spmVocab, TESTED_PRE, type Vocab, writeVocabGguf } from './gguf_vocab.ts';

const dir = tempDir('xfmr-ggtok-unit-');
let n = 0;
function gguf(v: Vocab, kv: Record<string, GgufValue> = {}): string {
  const path = join(dir, `t${n++}.gguf`);
  writeVocabGguf(path, v, kv);
  return path;
}

/** GPT-2's first 1,000 tokens; then ids 1000.. <|endoftext|>, <|im_start|>, <|im_end|>, <tool_call>, [PAD1004]. */
const SMALL = gpt2Vocab(1000);
const EOT = 1000;
const withTokens = (v: Vocab, extra: [string, number][]): Vocab => ({
  ...v,
  tokens: [...v.tokens, ...extra.map(([t]) => t)],
  types: [...v.types, ...extra.map(([, ty]) => ty)],
});

test('byte-level BPE: GPT-2 ids, token kinds, and the pre-tokenizer named by the file', () => {
  const path = gguf(SMALL, {
    'tokenizer.ggml.pre': gv.str('gpt-2'),
    'tokenizer.ggml.eos_token_id': gv.u32(EOT),
  });
  const info = tokenizerFromGguf(path);
  assert.equal(info.model, 'gpt2');
  assert.equal(info.pre, 'gpt-2');
  assert.deepEqual(info.warnings, []);
  const tok = loadTokenizerJson(info.tokenizerJson);
  // tiktoken gpt2: " the" 262, " of" 286, "," 11, " and" 290, "\n\n" 628
  assert.deepEqual(tok.encode(' the of, and\n\n'), [262, 286, 11, 290, 628]);
  // control tokens only when allowed; the user-defined one always; the unused one never
  const text = '<|im_start|>x<tool_call>[PAD1004]';
  const plain = tok.encode(text);
  assert.ok(!plain.includes(1001) && plain.includes(1003) && !plain.includes(1004));
  assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }).slice(0, 3), [1001, 87, 1003]);
  assert.equal(tok.decode(tok.encode(text, { allowedSpecial: 'all' })), text);
  // gpt2's default BOS/EOS id is 11 (","), as in llama.cpp; the key overrides EOS
  assert.deepEqual([info.bosId, info.eosId, info.unkId, info.padId], [11, EOT, null, null]);
  assert.deepEqual([info.bosToken, info.eosToken], [',', '<|endoftext|>']);
  // EOS first, then "<|im_end|>" (an end-of-generation name)
  assert.deepEqual(info.eosIds, [EOT, 1002]);
});

test('add_bos_token / add_eos_token: the post-processor adds them with addSpecialTokens, as llama.cpp', () => {
  const base = { 'tokenizer.ggml.pre': gv.str('qwen2'), 'tokenizer.ggml.bos_token_id': gv.u32(EOT) };
  const none = loadTokenizerJson(tokenizerFromGguf(gguf(SMALL, base)).tokenizerJson);
  assert.deepEqual(none.encode(' the'), [262]);
  const both = tokenizerFromGguf(
    gguf(SMALL, {
      ...base,
      'tokenizer.ggml.add_bos_token': gv.bool(true),
      'tokenizer.ggml.add_eos_token': gv.bool(true),
      'tokenizer.ggml.eos_token_id': gv.u32(1002),
    }),
  );
  assert.deepEqual([both.addBos, both.addEos], [true, true]);
  const tok = loadTokenizerJson(both.tokenizerJson);
  assert.deepEqual(tok.encode(' the'), [EOT, 262, 1002]);
  assert.deepEqual(tok.encode(' the', { addSpecialTokens: false }), [262]);
  // llama-bpe adds BOS by default; the key turns it off
  const llama3 = tokenizerFromGguf(gguf(SMALL, { ...base, 'tokenizer.ggml.pre': gv.str('llama-bpe') }));
  assert.equal(llama3.addBos, true);
  const off = tokenizerFromGguf(
    gguf(SMALL, {
      ...base,
      'tokenizer.ggml.pre': gv.str('llama-bpe'),
      'tokenizer.ggml.add_bos_token': gv.bool(false),
    }),
  );
  assert.equal(off.addBos, false);
  assert.equal(off.tokenizerJson.post_processor, null);
});

test('token kinds by name: end-of-turn names become special and end generation; gpt-oss "<|end|>" does not', () => {
  const v = withTokens(SMALL, [
    ['<|eot_id|>', T.NORMAL],
    ['<|end|>', T.CONTROL],
    ['<|return|>', T.CONTROL],
    ['<|call|>', T.CONTROL],
    ['<|channel|>', T.CONTROL],
    ['<|fim_pad|>', T.NORMAL],
  ]);
  const info = tokenizerFromGguf(gguf(v, { 'tokenizer.ggml.eos_token_id': gv.u32(EOT) }));
  const id = (t: string) => v.tokens.indexOf(t);
  const tok = loadTokenizerJson(info.tokenizerJson);
  // "<|eot_id|>" is normal in the file but control for llama.cpp: parsed only when allowed
  assert.equal(tok.specialTokens.get('<|eot_id|>'), id('<|eot_id|>'));
  assert.ok(!tok.encode('<|eot_id|>').includes(id('<|eot_id|>')));
  // "<|end|>" and "<|channel|>" become user-defined: parsed even when specials are not allowed
  assert.equal(tok.encode('<|end|>')[0], id('<|end|>'));
  assert.equal(tok.encode('<|channel|>')[0], id('<|channel|>'));
  // EOS first, then by id; "<|end|>" is not among them
  assert.deepEqual(info.eosIds, [
    EOT,
    1002,
    id('<|eot_id|>'),
    id('<|return|>'),
    id('<|call|>'),
    id('<|fim_pad|>'),
  ]);
});

test('chat templates: tokenizer.chat_template and named ones, rendered with the BOS / EOS strings', () => {
  const template =
    '{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
  const info = tokenizerFromGguf(
    gguf(SMALL, {
      'tokenizer.ggml.pre': gv.str('qwen2'),
      'tokenizer.ggml.bos_token_id': gv.u32(EOT),
      'tokenizer.chat_template': gv.str(template),
      'tokenizer.chat_template.tool_use': gv.str('{{ tools }}'),
    }),
  );
  assert.equal(info.chatTemplate, template);
  assert.deepEqual(info.chatTemplates, { tool_use: '{{ tools }}' });
  const prompt = renderChat(info.chatTemplate!, [{ role: 'user', content: 'Hi' }], {
    addGenerationPrompt: true,
    bosToken: info.bosToken!,
    eosToken: info.eosToken!,
  });
  assert.equal(prompt, '<|endoftext|><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  const ids = loadTokenizerJson(info.tokenizerJson).encode(prompt, {
    allowedSpecial: 'all',
    addSpecialTokens: false,
  });
  assert.deepEqual(ids.slice(0, 2), [EOT, 1001]);
  assert.equal(tokenizerFromGguf(gguf(SMALL, { 'tokenizer.ggml.pre': gv.str('qwen2') })).chatTemplate, null);
});

test('every pre-tokenizer name is one of the families the llama.cpp test runs', () => {
  const tested = TESTED_PRE.map((p) => GGUF_PRE_TOKENIZERS.get(p)!);
  for (const [name, pre] of GGUF_PRE_TOKENIZERS) {
    const same = tested.find(
      (t) =>
        t.splits.join('\n') === pre.splits.join('\n') &&
        t.ignoreMerges === pre.ignoreMerges &&
        t.addBos === pre.addBos &&
        (t.noDefaultBos ?? false) === (pre.noDefaultBos ?? false),
    );
    assert.ok(same, `${name} behaves like none of the tested pre-tokenizers`);
  }
  // "default" splits punctuation runs, then GPT-2 words, numbers, then three ASCII digits at a time
  const info = tokenizerFromGguf(gguf(SMALL));
  assert.equal(info.pre, 'default');
  assert.match(info.warnings[0], /t\d+\.gguf: no tokenizer\.ggml\.pre; using llama\.cpp's "default"/);
});

test('SentencePiece: "▁" for spaces, a prefix space per piece of text, BOS added, bytes for the rest', () => {
  const v = spmVocab([
    ['▁', -1],
    ['a', -1],
    ['b', -1],
    ['▁a', -2],
    ['ab', -3],
    ['<x>', 0, T.USER_DEFINED],
  ]);
  const id = (t: string) => v.tokens.indexOf(t);
  const info = tokenizerFromGguf(gguf(v));
  assert.deepEqual([info.model, info.bosId, info.eosId, info.unkId, info.addBos], ['llama', 1, 2, 0, true]);
  assert.deepEqual(info.eosIds, [2]);
  const tok = loadTokenizerJson(info.tokenizerJson);
  // "▁a" (-2) merges before "ab" (-3), so " ab" is [▁a][b], not [▁][ab]; "z" is byte 0x7A
  assert.deepEqual(tok.encode('ab z'), [1, id('▁a'), id('b'), id('▁'), 3 + 0x7a]);
  // the user-defined "<x>" is cut out first; the text after it gets its own prefix space
  assert.deepEqual(tok.encode('a<x>a', { addSpecialTokens: false }), [id('▁a'), id('<x>'), id('▁a')]);
  assert.equal(tok.decode(tok.encode('ab z', { addSpecialTokens: false })), 'ab z');
  // without the prefix: "ab" is one piece, and decoding keeps a leading space
  const bare = loadTokenizerJson(
    tokenizerFromGguf(gguf(v, { 'tokenizer.ggml.add_space_prefix': gv.bool(false) })).tokenizerJson,
  );
  assert.deepEqual(bare.encode('ab b', { addSpecialTokens: false }), [id('ab'), id('▁'), id('b')]);
  assert.equal(bare.decode([id('▁a')]), ' a');
  // <s> and <unk> are parsed only when allowed
  assert.deepEqual(tok.encode('<s>', { allowedSpecial: 'all', addSpecialTokens: false }), [1]);
  assert.ok(!tok.encode('<s>', { addSpecialTokens: false }).includes(1));
});

test('a token that starts with U+FEFF keeps it (the reader must not strip a BOM)', () => {
  const v = spmVocab([['\ufeff', -1]]);
  const info = tokenizerFromGguf(gguf(v, { 'tokenizer.ggml.add_space_prefix': gv.bool(false) }));
  assert.deepEqual(info.warnings, []);
  const tok = loadTokenizerJson(info.tokenizerJson);
  assert.deepEqual(tok.encode('\ufeff', { addSpecialTokens: false }), [v.tokens.length - 1]);
});

test('special ids outside the vocabulary keep the default, with a warning; empty tokens get llama.cpp names', () => {
  const v = spmVocab([['', -1]]);
  const info = tokenizerFromGguf(gguf(v, { 'tokenizer.ggml.eos_token_id': gv.u32(99999) }));
  assert.equal(info.eosId, 2);
  assert.ok(
    info.warnings.some((w) =>
      /tokenizer\.ggml\.eos_token_id = 99999 is outside the vocabulary; using 2/.test(w),
    ),
  );
  const empty = v.tokens.length - 1;
  assert.ok(
    info.warnings.some((w) => w.includes(`tokenizer.ggml.tokens[${empty}] is empty; named [EMPTY_${empty}]`)),
  );
});

test('bad files: errors name the file and the key', () => {
  const err = (v: Vocab, kv: Record<string, GgufValue>, re: RegExp) => {
    const path = gguf(v, kv);
    assert.throws(
      () => tokenizerFromGguf(path),
      (e: Error) => {
        assert.ok(e.message.startsWith(`${path}: `), e.message);
        assert.match(e.message, re);
        return true;
      },
    );
  };
  err(
    SMALL,
    { 'tokenizer.ggml.pre': gv.str('deepseek-llm') },
    /tokenizer\.ggml\.pre "deepseek-llm" is not supported \(supported: default, llama3/,
  );
  err(SMALL, { 'tokenizer.ggml.model': gv.str('bert') }, /tokenizer\.ggml\.model "bert" is not supported/);
  err(
    { ...SMALL, merges: [...SMALL.merges!, 'Ġthe Ġqqq'] },
    {},
    /tokenizer\.ggml\.merges\[\d+\] "Ġthe Ġqqq" uses "Ġqqq", which is not in tokenizer\.ggml\.tokens/,
  );
  err(
    { ...SMALL, merges: ['q ~'] },
    {},
    /tokenizer\.ggml\.merges\[0\] "q ~" makes "q~", which is not in tokenizer\.ggml\.tokens/,
  );
  err({ ...SMALL, merges: ['abc'] }, {}, /tokenizer\.ggml\.merges\[0\] "abc" is not "a b"/);
  err(
    { ...SMALL, tokens: [...SMALL.tokens.slice(0, -1), 'a'] },
    {},
    /tokenizer\.ggml\.tokens has "a" twice \(ids 64 and 1006\)/,
  );
  err(
    { ...SMALL, types: SMALL.types.slice(0, 10) },
    {},
    /tokenizer\.ggml\.token_type has 10 entries for 1007 tokens/,
  );
  err(
    spmVocab([]),
    { 'tokenizer.ggml.scores': gv.f32s([0]) },
    /tokenizer\.ggml\.scores has 1 entries for 259 tokens/,
  );
  err(
    SMALL,
    { 'tokenizer.ggml.pre': gv.str('chatglm-bpe'), 'tokenizer.ggml.add_bos_token': gv.bool(true) },
    /add_bos_token is set but there is no BOS token/,
  );
  err({ ...SMALL, merges: undefined }, {}, /missing key tokenizer\.ggml\.merges/);

  const noTokens = join(dir, 'no-tokens.gguf');
  writeGguf(noTokens, new Map([['tokenizer.ggml.model', gv.str('gpt2')]]), []);
  assert.throws(
    () => tokenizerFromGguf(noTokens),
    new RegExp(`^Error: ${noTokens}: missing key tokenizer\\.ggml\\.tokens$`),
  );

  // the embedding must have one row per token
  const rows = join(dir, 'rows.gguf');
  const kv = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.strs(['<unk>', '<s>', '</s>'])],
  ]);
  writeGguf(rows, kv, [
    { name: 'token_embd.weight', shape: [4, 2], dtype: 'F32', data: new Float32Array(8) },
  ]);
  assert.throws(
    () => tokenizerFromGguf(rows),
    /rows\.gguf: tokenizer\.ggml\.tokens has 3 tokens but token_embd\.weight has 4 rows/,
  );
});
