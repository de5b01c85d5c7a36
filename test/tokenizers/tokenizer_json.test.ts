// tokenizer.json loading: errors that name the field, unknown types named, atomic save, and small
// exact tables for each model (the worked examples in the source comments); the file written for a
// byte-level BPE model (HF tokenizers reading it back: bpe_trainer.test.ts and bpe.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  loadTokenizerJson,
  saveTokenizerJson,
  TokenizerJsonError,
  toTokenizerJson,
} from '../../src/tokenizers/tokenizer_json.ts';

function tiny(model: Record<string, unknown>, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    decoder: null,
    model,
    ...rest,
  };
}

const BPE = {
  type: 'BPE',
  vocab: { a: 0, b: 1, c: 2, ab: 3, abc: 4, aa: 5 },
  merges: ['a b', 'ab c', 'a a'],
};

test('malformed files: the error names the field', () => {
  const cases: [unknown, RegExp][] = [
    [tiny({ type: 'BPE', vocab: [], merges: [] }), /^tokenizer\.json: model\.vocab must be an object$/],
    [{ version: '1.0' }, /tokenizer\.json: model must be an object/],
    [
      tiny({ type: 'BPE', vocab: { a: 'x' }, merges: [] }),
      /model\.vocab\["a"\] must be a non-negative integer id/,
    ],
    // Found by `npm run fuzz` (tokenizer_json target): an id past int32 loaded, then wrapped in the
    // Int32Array of ids and encode failed with a TypeError from inside the post-processor.
    [
      tiny({ ...BPE, vocab: { ...BPE.vocab, c: 1e12 } }),
      /model\.vocab\["c"\] 1000000000000 is too large \(at most 16777215\)/,
    ],
    [tiny({ ...BPE, merges: 'a b' }), /model\.merges must be an array/],
    [tiny({ ...BPE, merges: ['a b c'] }), /model\.merges\[0\] must be "a b"/],
    [tiny({ ...BPE, merges: [['a', 'q']] }), /model\.merges\[0\] uses "q", which is not in model\.vocab/],
    [tiny({ ...BPE, merges: [['b', 'c']] }), /model\.merges\[0\] makes "bc", which is not in model\.vocab/],
    [
      tiny({ type: 'Unigram', vocab: [['a', -1], ['b']] }),
      /model\.vocab\[1\] must be a pair \[piece, score\]/,
    ],
    [tiny({ type: 'Unigram', vocab: [['a', 'x']] }), /model\.vocab\[0\]\[1\] must be a number/],
    [
      tiny({ type: 'Unigram', vocab: [['a', -1]], unk_id: 3 }),
      /model\.unk_id is 3, past the end of model\.vocab/,
    ],
    [tiny(BPE, { added_tokens: [{ id: 9 }] }), /added_tokens\[0\]\.content must be a string/],
    [tiny(BPE, { added_tokens: {} }), /added_tokens must be an array/],
    [
      tiny(BPE, { normalizer: { type: 'Replace', pattern: { Glob: '*' }, content: '' } }),
      /normalizer\.pattern must be/,
    ],
    [
      tiny(BPE, { pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Sideways' } }),
      /pre_tokenizer\.behavior must be one of/,
    ],
    [
      tiny(BPE, { pre_tokenizer: { type: 'Metaspace', replacement: '__' } }),
      /pre_tokenizer\.replacement must be a single character/,
    ],
    [
      tiny(BPE, {
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }],
          special_tokens: {},
        },
      }),
      /post_processor\.single\[0\]\.SpecialToken\.id "<s>" is missing from post_processor\.special_tokens/,
    ],
    [
      tiny(BPE, { decoder: { type: 'Strip', content: ' ', start: -1, stop: 0 } }),
      /decoder\.start must be a non-negative integer/,
    ],
    [
      tiny({ type: 'WordPiece', vocab: { a: 0 }, max_input_chars_per_word: 'many' }),
      /model\.max_input_chars_per_word must be a non-negative integer/,
    ],
    [tiny(BPE, { normalizer: 'NFC' }), /normalizer must be an object or null/],
  ];
  for (const [json, re] of cases) {
    assert.throws(
      () => loadTokenizerJson(json as object),
      (e: Error) => e instanceof TokenizerJsonError && re.test(e.message),
      String(re),
    );
  }
});

test('unknown component types are named, never ignored', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [tiny({ ...BPE, type: 'Magic' }), /model\.type names an unknown model "Magic"/],
    [tiny(BPE, { normalizer: { type: 'NFX' } }), /normalizer\.type names an unknown normalizer "NFX"/],
    [
      tiny(BPE, { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Upcase' }] } }),
      /normalizer\.normalizers\[1\]\.type names an unknown normalizer "Upcase"/,
    ],
    [
      tiny(BPE, { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'UnicodeScripts' }] } }),
      /pre_tokenizer\.pretokenizers\[0\]\.type names an unknown pre_tokenizer "UnicodeScripts"/,
    ],
    [
      tiny(BPE, { post_processor: { type: 'Glue' } }),
      /post_processor\.type names an unknown post_processor "Glue"/,
    ],
    [
      tiny(BPE, { decoder: { type: 'Sequence', decoders: [{ type: 'Unbyte' }] } }),
      /decoder\.decoders\[0\]\.type names an unknown decoder "Unbyte"/,
    ],
    [tiny(BPE, { decoder: { kind: 'Fuse' } }), /decoder\.type must be a string naming the decoder/],
  ];
  for (const [json, re] of cases) assert.throws(() => loadTokenizerJson(json), re);
});

test('a file that is not JSON, or missing, is reported with its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-tokjson-'));
  try {
    const p = join(dir, 'tokenizer.json');
    writeFileSync(p, '{"model": ');
    assert.throws(() => loadTokenizerJson(p), /tokenizer\.json: .*tokenizer\.json is not valid JSON/);
    assert.throws(() => loadTokenizerJson(join(dir, 'nope.json')), /cannot read tokenizer file .*nope\.json/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('saveTokenizerJson writes atomically and the file loads back equal; a folder path finds tokenizer.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-tokjson-'));
  try {
    const tok = loadTokenizerJson(tiny(BPE, { pre_tokenizer: { type: 'WhitespaceSplit' } }));
    const p = join(dir, 'tokenizer.json');
    saveTokenizerJson(tok, p);
    assert.deepEqual(readdirSync(dir), ['tokenizer.json']); // no temporary file left behind
    const back = loadTokenizerJson(dir);
    assert.deepEqual(back.toJSON(), tok.toJSON());
    assert.deepEqual(back.encode('abc ab aaa'), tok.encode('abc ab aaa'));
    saveTokenizerJson(tok.toJSON(), p, true);
    assert.deepEqual(loadTokenizerJson(p).toJSON(), tok.toJSON());
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('BPE: merges by rank, leftmost first; "a b" strings and ["a","b"] pairs are the same', () => {
  const strings = loadTokenizerJson(tiny(BPE));
  const pairs = loadTokenizerJson(
    tiny({
      ...BPE,
      merges: [
        ['a', 'b'],
        ['ab', 'c'],
        ['a', 'a'],
      ],
    }),
  );
  for (const tok of [strings, pairs]) {
    assert.deepEqual(tok.encode('abc'), [4]); // [a][b][c] -> [ab][c] -> [abc]
    assert.deepEqual(tok.encode('aaa'), [5, 0]); // "a a a" -> [aa][a], not [a][aa]
    assert.deepEqual(tok.encodeWithOffsets('aab').offsets, [
      [0, 1],
      [1, 3],
    ]); // a + ab (rank 0 beats a a)
  }
  assert.throws(() => strings.encode('x'), /not in the vocabulary and the model has no unk_token/);
});

test('BPE byte fallback: unknown characters become <0xNN> tokens and decode back', () => {
  const vocab: Record<string, number> = { '<unk>': 0, '▁': 1, h: 2, i: 3 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 4 + b;
  const tok = loadTokenizerJson(
    tiny(
      { type: 'BPE', vocab, merges: [], unk_token: '<unk>', byte_fallback: true, fuse_unk: true },
      { decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] } },
    ),
  );
  const e = tok.encodeWithOffsets('hi你');
  assert.deepEqual(e.tokens, ['h', 'i', '<0xE4>', '<0xBD>', '<0xA0>']);
  assert.deepEqual(e.offsets, [
    [0, 1],
    [1, 2],
    [2, 3],
    [2, 3],
    [2, 3],
  ]);
  assert.equal(tok.decode(e.ids), 'hi你');
  assert.equal(tok.decode([2, 4 + 0xe4]), 'h\uFFFD'); // a broken byte run decodes to U+FFFD per byte
});

test('WordPiece: greedy longest match, whole word [UNK] when stuck or too long', () => {
  const vocab = { '[UNK]': 0, un: 1, '##aff': 2, '##able': 3, a: 4, '##a': 5, '##ff': 6 };
  const tok = loadTokenizerJson(
    tiny(
      {
        type: 'WordPiece',
        vocab,
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 12,
      },
      {
        pre_tokenizer: { type: 'WhitespaceSplit' },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      },
    ),
  );
  assert.deepEqual(tok.encodeWithOffsets('unaffable').tokens, ['un', '##aff', '##able']);
  assert.deepEqual(tok.encode('unx aff'), [0, 4, 6]); // "unx" -> [UNK]; "aff" -> a ##ff
  assert.deepEqual(tok.encode('unaffableaaaa'), [0]); // 13 characters > 12
  assert.equal(tok.decode(tok.encode('unaffable aff')), 'unaffable aff');
});

test('Unigram: Viterbi picks the best total score; unknowns fuse; the worked example', () => {
  const vocab = [
    ['<unk>', 0],
    ['▁', -1],
    ['a', -2],
    ['b', -2],
    ['ab', -3],
    ['▁ab', -3.5],
  ];
  const tok = loadTokenizerJson(
    tiny(
      { type: 'Unigram', vocab, unk_id: 0 },
      {
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
        decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      },
    ),
  );
  assert.deepEqual(tok.encode('ab'), [5]); // ▁ab (-3.5) beats ▁ + ab (-4) and ▁ + a + b (-5)
  const e = tok.encodeWithOffsets('abxyb');
  assert.deepEqual(e.tokens, ['▁ab', 'xy', 'b']); // "xy" unknown, fused; HF keeps the text as the token
  assert.deepEqual(e.ids, [5, 0, 3]);
  assert.deepEqual(e.offsets, [
    [0, 2],
    [2, 4],
    [4, 5],
  ]);
  assert.equal(tok.decode([5, 4]), 'abab');
});

test('offsets: spans of the original string through normalization (UTF-16 code units)', () => {
  const tok = loadTokenizerJson(
    tiny(
      { type: 'WordLevel', vocab: { '<unk>': 0, ﬁ: 1, fi: 2, café: 3, '😀': 4 }, unk_token: '<unk>' },
      { normalizer: { type: 'NFKC' }, pre_tokenizer: { type: 'WhitespaceSplit' } },
    ),
  );
  const e = tok.encodeWithOffsets('ﬁ  cafe\u0301 😀');
  assert.deepEqual(e.ids, [2, 3, 4]);
  assert.deepEqual(e.offsets, [
    [0, 1],
    [3, 7],
    [9, 11],
  ]);
});

test('toTokenizerJson: byte-level BPE with its special tokens; a Split before ByteLevel unless GPT-2', () => {
  const utf8 = (t: string) => new TextEncoder().encode(t);
  const model = {
    vocab: [undefined, utf8('a'), utf8('b'), utf8(' '), utf8('ab'), utf8(' ab')],
    merges: [
      [1, 2],
      [3, 4],
    ] as [number, number][],
    specialTokens: { '<|endoftext|>': 0 },
    pattern: 'cl100k_base' as const,
  };
  const json = toTokenizerJson(model);
  // The special token is in the vocabulary at its id as well as in added_tokens, as HF's trainer writes.
  assert.deepEqual(json.model.vocab, { '<|endoftext|>': 0, a: 1, b: 2, Ġ: 3, ab: 4, Ġab: 5 });
  assert.deepEqual(json.model.merges, [
    ['a', 'b'],
    ['Ġ', 'ab'],
  ]);
  assert.deepEqual(
    json.added_tokens.map((t) => [t.id, t.content, t.special]),
    [[0, '<|endoftext|>', true]],
  );
  assert.equal(json.pre_tokenizer.type, 'Sequence');
  assert.equal(toTokenizerJson({ ...model, pattern: 'gpt2' }).pre_tokenizer.type, 'ByteLevel');
  assert.equal(json.model.ignore_merges, false);
  assert.equal(toTokenizerJson({ ...model, ignoreMerges: true }).model.ignore_merges, true);
  const tok = loadTokenizerJson(json);
  assert.deepEqual(tok.encode('ab ab<|endoftext|>', { allowedSpecial: 'all' }), [4, 5, 0]);
  assert.equal(tok.decode([4, 5, 0]), 'ab ab<|endoftext|>');
  assert.throws(
    () => toTokenizerJson({ ...model, merges: [[0, 1]] }),
    /merge refers to id 0, which has no bytes/,
  );
});

test('TemplateProcessing around a very long encoding (no call-stack overflow)', () => {
  const tok = loadTokenizerJson(
    tiny(
      { ...BPE, vocab: { ...BPE.vocab, '<s>': 6, ' ': 7 } },
      {
        pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Isolated', invert: false },
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [],
          special_tokens: { '<s>': { id: '<s>', ids: [6], tokens: ['<s>'] } },
        },
      },
    ),
  );
  const ids = tok.encode('abc '.repeat(200_000), { addSpecialTokens: true });
  assert.equal(ids.length, 400_001);
  assert.deepEqual(ids.slice(0, 5), [6, 4, 7, 4, 7]);
});
