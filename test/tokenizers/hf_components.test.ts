// Every normalizer, pre-tokenizer, decoder, post-processor, added-token option and model option that
// tokenizer.json supports, each checked against HF `tokenizers` on generated mixed text. HF reads
// the same JSON (Tokenizer.fromString), so the oracle is HF's own interpretation of each option.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decoderFromJSON } from '../../src/tokenizers/decoders.ts';
import { NormalizedString } from '../../src/tokenizers/normalized_string.ts';
import { normalizerFromJSON } from '../../src/tokenizers/normalizers.ts';
import { preTokenizerFromJSON } from '../../src/tokenizers/pre_tokenizers.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { assertParity, bertUncasedJson, hfFromJson, REAL_FILES, readJson } from './hf_helpers.ts';
import { codePointToUnit, documents, mixedText, rng } from './hf_text.ts';

const TEXTS = documents(mixedText(11, 3000), 12);

/** A tokenizer.json around one component; the model splits nothing (WordLevel, all <unk>). */
function shell(parts: Record<string, unknown>): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: { '<unk>': 0 }, unk_token: '<unk>' },
    ...parts,
  };
}

/** Every character of the normalized text its own token, so offsets check each alignment. */
const EACH_CHAR = { type: 'Split', pattern: { Regex: '[\\s\\S]' }, behavior: 'Isolated', invert: false };

const NORMALIZERS: Record<string, unknown>[] = [
  { type: 'NFC' },
  { type: 'NFD' },
  { type: 'NFKC' },
  { type: 'NFKD' },
  { type: 'Lowercase' },
  { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }] },
  { type: 'Strip', strip_left: true, strip_right: true },
  { type: 'Strip', strip_left: false, strip_right: true },
  { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
  { type: 'Replace', pattern: { String: 'the' }, content: 'THE' },
  { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
  { type: 'Replace', pattern: { Regex: '\\s+' }, content: '' },
  { type: 'Prepend', prepend: '▁' },
  { type: 'Nmt' },
  { type: 'ByteLevel' },
  {
    type: 'BertNormalizer',
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: null,
    lowercase: true,
  },
  {
    type: 'BertNormalizer',
    clean_text: false,
    handle_chinese_chars: false,
    strip_accents: true,
    lowercase: false,
  },
  {
    type: 'BertNormalizer',
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: false,
    lowercase: true,
  },
  {
    type: 'Sequence',
    normalizers: [
      { type: 'NFKC' },
      { type: 'Lowercase' },
      { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
    ],
  },
];

describe('normalizers equal HF (text and per-character offsets)', () => {
  for (const n of NORMALIZERS) {
    test(JSON.stringify(n), async () => {
      const json = shell({ normalizer: n, pre_tokenizer: EACH_CHAR });
      const hf = hfFromJson(json);
      const ours = normalizerFromJSON(n as never)!;
      for (const t of TEXTS) {
        assert.equal(
          ours.normalize(NormalizedString.fromOriginal(t)).text,
          hf.getNormalizer()!.normalizeString(t),
        );
      }
      await assertParity(loadTokenizerJson(json), hf, TEXTS, { decode: false });
    });
  }
});

const PRE_TOKENIZERS: Record<string, unknown>[] = [
  { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: false },
  { type: 'Whitespace' },
  { type: 'WhitespaceSplit' },
  { type: 'BertPreTokenizer' },
  { type: 'Punctuation', behavior: 'Isolated' },
  { type: 'Punctuation', behavior: 'Contiguous' },
  { type: 'Punctuation', behavior: 'MergedWithPrevious' },
  { type: 'Digits', individual_digits: true },
  { type: 'Digits', individual_digits: false },
  { type: 'CharDelimiterSplit', delimiter: ' ' },
  { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
  { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: false },
  { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
  ...(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'] as const).flatMap(
    (behavior) => [
      { type: 'Split', pattern: { String: ' ' }, behavior, invert: false },
      { type: 'Split', pattern: { Regex: '\\s+' }, behavior, invert: false },
      { type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior, invert: true },
    ],
  ),
  {
    type: 'Split',
    pattern: {
      Regex:
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    },
    behavior: 'Isolated',
    invert: false,
  },
  {
    type: 'Sequence',
    pretokenizers: [
      { type: 'WhitespaceSplit' },
      { type: 'Digits', individual_digits: true },
      { type: 'Punctuation' },
    ],
  },
];

describe('pre-tokenizers equal HF (words and offsets)', () => {
  for (const p of PRE_TOKENIZERS) {
    test(JSON.stringify(p), () => {
      const hf = hfFromJson(shell({ pre_tokenizer: p })).getPreTokenizer()!;
      const ours = preTokenizerFromJSON(p as never)!;
      for (const t of TEXTS) {
        const map = codePointToUnit(t);
        const want = hf.preTokenizeString(t).map(([w, [s, e]]) => [w, map[s], map[e]]);
        const got = ours
          .split(NormalizedString.fromOriginal(t))
          .map((w) => [w.text, ...w.originalSpan(0, w.length)]);
        assert.deepEqual(got, want, JSON.stringify(t.slice(0, 80)));
      }
    });
  }
});

describe('decoders equal HF', () => {
  // Token lists from real tokenizers, so they carry Ġ, ▁, ##, <0xNN> and special tokens.
  const mistral = loadTokenizerJson(REAL_FILES.mistral);
  const bert = loadTokenizerJson(bertUncasedJson());
  const r = rng(5);
  const lists: string[][] = [];
  for (const t of TEXTS.slice(0, 60)) {
    lists.push(mistral.encodeWithOffsets(t, { allowedSpecial: 'all' }).tokens);
    lists.push(bert.encodeWithOffsets(t).tokens);
    lists.push(
      Array.from(
        { length: 12 },
        () =>
          [
            'a</w>',
            'b',
            '<pad>',
            '|',
            'x',
            'x',
            '  y ',
            '<0xE4>',
            '<0xBD>',
            '<0xA0>',
            '<0xFF>',
            'Ġhi',
            'ĊĊ',
            'é',
            ' .',
            "n't",
          ][Math.floor(r() * 16)],
      ),
    );
  }
  const DECODERS: Record<string, unknown>[] = [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true },
    { type: 'WordPiece', prefix: '##', cleanup: true },
    { type: 'WordPiece', prefix: '##', cleanup: false },
    { type: 'BPEDecoder', suffix: '</w>' },
    { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
    { type: 'Replace', pattern: { Regex: 'x+' }, content: 'Z' },
    { type: 'Strip', content: ' ', start: 1, stop: 2 },
    { type: 'CTC', pad_token: '<pad>', word_delimiter_token: '|', cleanup: true },
    {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
  ];
  for (const d of DECODERS) {
    test(JSON.stringify(d), () => {
      const hf = hfFromJson(shell({ decoder: d })).getDecoder()!;
      const ours = decoderFromJSON(d as never)!;
      for (const tokens of lists) assert.equal(ours.decodeChain([...tokens]).join(''), hf.decode(tokens));
    });
  }
});

describe('post-processors equal HF (ids and offsets)', () => {
  const bertJson = bertUncasedJson();
  const llama3 = readJson(REAL_FILES.llama3);
  const gpt2Style = {
    ...llama3,
    added_tokens: [],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  };
  const cases: [string, Record<string, unknown>][] = [
    [
      'BertProcessing',
      { ...bertJson, post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] } },
    ],
    [
      'RobertaProcessing (trim_offsets)',
      {
        ...gpt2Style,
        post_processor: {
          type: 'RobertaProcessing',
          sep: ['</s>', 128001],
          cls: ['<s>', 128000],
          trim_offsets: true,
          add_prefix_space: true,
        },
      },
    ],
    [
      'ByteLevel (trim_offsets)',
      {
        ...gpt2Style,
        post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      },
    ],
    [
      'Sequence [ByteLevel, TemplateProcessing with two tokens]',
      {
        ...gpt2Style,
        post_processor: {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
            {
              type: 'TemplateProcessing',
              single: [{ SpecialToken: { id: 'BOS', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
              pair: [],
              special_tokens: {
                BOS: { id: 'BOS', ids: [128000, 128006], tokens: ['<|begin_of_text|>', 'x'] },
              },
            },
          ],
        },
      },
    ],
  ];
  for (const [name, json] of cases) {
    test(name, async () => {
      const ours = loadTokenizerJson(json);
      const hf = hfFromJson(json);
      await assertParity(ours, hf, TEXTS.slice(0, 150), { decode: false });
      await assertParity(ours, hf, TEXTS.slice(0, 30), { addSpecialTokens: false, decode: false });
    });
  }
});

describe('added tokens: lstrip, rstrip, single_word, normalized, special', () => {
  const base = bertUncasedJson();
  const added = [
    ...(base.added_tokens as object[]),
    {
      id: 30522,
      content: '<ls>',
      single_word: false,
      lstrip: true,
      rstrip: false,
      normalized: false,
      special: true,
    },
    {
      id: 30523,
      content: '<rs>',
      single_word: false,
      lstrip: false,
      rstrip: true,
      normalized: false,
      special: true,
    },
    {
      id: 30524,
      content: 'code',
      single_word: true,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: false,
    },
    {
      id: 30525,
      content: 'Hello',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: false,
    },
    {
      id: 30526,
      content: '<both>',
      single_word: false,
      lstrip: true,
      rstrip: true,
      normalized: false,
      special: true,
    },
    {
      id: 30527,
      content: 'ＦＵＬＬ',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: false,
    },
  ];
  const json = {
    ...base,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    added_tokens: added,
  };
  const r = rng(9);
  const pieces = [
    '<ls>',
    '<rs>',
    'code',
    'Hello',
    '<both>',
    'FULL',
    'full',
    'hello',
    'HELLO',
    'encode',
    'codes',
  ];
  const spaces = ['', ' ', '  ', '\n', '\t '];
  const texts = TEXTS.slice(0, 120).map((t) => {
    let s = t;
    for (let k = 0; k < 6; k++) {
      const at = Math.floor(r() * (s.length + 1));
      if ((s.charCodeAt(at) & 0xfc00) === 0xdc00) continue;
      const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
      s = s.slice(0, at) + pick(spaces) + pick(pieces) + pick(spaces) + s.slice(at);
    }
    return s;
  });
  test('ids, offsets and decode equal HF', async () => {
    const ours = loadTokenizerJson(json);
    const hf = hfFromJson(json);
    await assertParity(ours, hf, texts, { allowedSpecial: 'all' });
    const ids = ours.encode(texts.join(' '), { allowedSpecial: 'all' });
    // HF (and xfmr) renumber added tokens: "code" is in the vocabulary, so the others shift down.
    assert.equal(ours.tokenToId('code'), hf.tokenToId('code'));
    assert.equal(ours.tokenToId('ＦＵＬＬ'), 30526);
    for (const t of ['<ls>', '<rs>', 'code', 'Hello', '<both>', 'ＦＵＬＬ']) {
      assert.ok(ids.includes(ours.tokenToId(t)!), `token ${t} used`);
      assert.equal(ours.idToToken(ours.tokenToId(t)!), hf.idToToken(hf.tokenToId(t)!));
    }
  });
});

/** A tiny naive BPE trainer, to make vocabularies with a prefix or suffix convention. */
function naiveBpe(words: string[], merges: number, prefix: string, suffix: string) {
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const seqs = [...counts].map(([w, c]) => {
    const chars = Array.from(w);
    return {
      c,
      s: chars.map((ch, i) => (i > 0 ? prefix : '') + ch + (i === chars.length - 1 ? suffix : '')),
    };
  });
  const vocab = new Map<string, number>();
  for (const { s } of seqs) for (const t of s) if (!vocab.has(t)) vocab.set(t, vocab.size);
  const list: [string, string][] = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map<string, number>();
    for (const { c, s } of seqs)
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]}\u0000${s[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + c);
      }
    let best = '';
    let bestN = 0;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && k < best)) [best, bestN] = [k, n];
    if (bestN < 2) break;
    const [a, b] = best.split('\u0000');
    const merged = a + b.slice(prefix.length);
    list.push([a, b]);
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const q of seqs) {
      const out: string[] = [];
      for (let i = 0; i < q.s.length; i++) {
        if (i + 1 < q.s.length && q.s[i] === a && q.s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(q.s[i]);
      }
      q.s = out;
    }
  }
  return { vocab: Object.fromEntries(vocab), merges: list };
}

describe('model options equal HF', () => {
  const words = mixedText(21, 4000, false)
    .split(/\s+/)
    .filter((w) => /^[a-z]+$/i.test(w));
  const texts = TEXTS.slice(0, 150);

  for (const [prefix, suffix] of [
    ['##', ''],
    ['', '</w>'],
  ]) {
    for (const fuseUnk of [false, true]) {
      test(`BPE continuing_subword_prefix "${prefix}", end_of_word_suffix "${suffix}", unk, fuse_unk ${fuseUnk}`, async () => {
        const { vocab, merges } = naiveBpe(words, 300, prefix, suffix);
        const json = shell({
          pre_tokenizer: { type: 'Whitespace' },
          decoder: suffix ? { type: 'BPEDecoder', suffix } : { type: 'WordPiece', prefix, cleanup: false },
          model: {
            type: 'BPE',
            unk_token: '<unk>',
            continuing_subword_prefix: prefix || null,
            end_of_word_suffix: suffix || null,
            fuse_unk: fuseUnk,
            byte_fallback: false,
            vocab: { ...vocab, '<unk>': Object.keys(vocab).length },
            merges: merges.map(([a, b]) => `${a} ${b}`), // the older "a b" form
          },
        });
        await assertParity(loadTokenizerJson(json), hfFromJson(json), texts);
      });
    }
  }

  test('BPE ignore_merges: a word in the vocabulary is one token', async () => {
    const { vocab, merges } = naiveBpe(words, 200, '', '');
    const v = {
      ...vocab,
      '<unk>': Object.keys(vocab).length,
      internationalization: Object.keys(vocab).length + 1,
    };
    for (const ignore of [false, true]) {
      const json = shell({
        pre_tokenizer: { type: 'Whitespace' },
        model: { type: 'BPE', unk_token: '<unk>', ignore_merges: ignore, vocab: v, merges },
      });
      const ours = loadTokenizerJson(json);
      await assertParity(ours, hfFromJson(json), texts, { decode: false });
      assert.equal(ours.encode('internationalization').length === 1, ignore);
    }
  });

  test('WordPiece max_input_chars_per_word and a custom prefix', async () => {
    const base = bertUncasedJson();
    const model = base.model as { vocab: Record<string, number> };
    const vocab = Object.fromEntries(
      Object.entries(model.vocab).map(([k, v]) => [k.replace(/^##/, '@@'), v]),
    );
    const json = {
      ...base,
      decoder: { type: 'WordPiece', prefix: '@@', cleanup: true },
      model: { ...model, vocab, continuing_subword_prefix: '@@', max_input_chars_per_word: 6 },
    };
    const ours = loadTokenizerJson(json);
    await assertParity(ours, hfFromJson(json), texts);
    assert.deepEqual(ours.encode('internationalization', { addSpecialTokens: false }), [100]);
  });

  test('Unigram with unk_id and byte_fallback', async () => {
    const r = rng(3);
    const vocab: [string, number][] = [['<unk>', 0]];
    for (let b = 0; b < 256; b++) vocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
    const seen = new Set<string>();
    for (const w of words.slice(0, 3000)) {
      const ms = `▁${w.toLowerCase()}`;
      for (let i = 0; i < ms.length; i++) {
        for (let j = i + 1; j <= Math.min(ms.length, i + 6); j++) {
          const p = ms.slice(i, j);
          if (!seen.has(p) && r() < 0.3) {
            seen.add(p);
            vocab.push([p, -2 - 10 * r()]);
          }
        }
      }
    }
    for (const byteFallback of [false, true]) {
      const json = shell({
        normalizer: { type: 'Lowercase' },
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'ByteFallback' },
            { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
          ],
        },
        model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: byteFallback },
      });
      await assertParity(loadTokenizerJson(json), hfFromJson(json), texts);
    }
  });
});

/**
 * A SentencePiece `precompiled_charsmap` for a few rules, built here the way SentencePiece stores
 * one: u32 LE trie size, a darts-clone double array over UTF-8 keys, then NUL-terminated strings.
 * Layout used: every trie node with children gets its own 256-unit block (base = 256 * k), a child
 * with label c sits at base + c, and a key's value sits in the child's own block at label 0.
 */
function buildCharsmap(rules: [string, string][]): string {
  const enc = new TextEncoder();
  type Node = { children: Map<number, Node>; value?: number };
  const root: Node = { children: new Map() };
  const strings: number[] = [];
  for (const [from, to] of rules) {
    let n = root;
    for (const b of enc.encode(from)) {
      if (!n.children.has(b)) n.children.set(b, { children: new Map() });
      n = n.children.get(b)!;
    }
    n.value = strings.length;
    strings.push(...enc.encode(to), 0);
  }
  const units: number[] = [0];
  const alloc = () => {
    const base = units.length + ((256 - (units.length % 256)) % 256);
    while (units.length < base + 256) units.push(0);
    return base;
  };
  alloc(); // block 0 holds the root unit only
  const place = (n: Node, pos: number, label: number) => {
    const base = alloc();
    const off = pos ^ base;
    if (off >= 1 << 21) throw new Error('charsmap test builder: offset too large');
    units[pos] = (label & 0xff) | (off << 10) | (n.value !== undefined ? 1 << 8 : 0);
    if (n.value !== undefined) units[base] = (n.value | 0x80000000) >>> 0;
    for (const [c, child] of n.children) place(child, base ^ c, c);
  };
  place(root, 0, 0);
  const buf = Buffer.alloc(4 + 4 * units.length + strings.length);
  buf.writeUInt32LE(4 * units.length, 0);
  units.forEach((u, i) => {
    buf.writeUInt32LE(u >>> 0, 4 + 4 * i);
  });
  Buffer.from(strings).copy(buf, 4 + 4 * units.length);
  return buf.toString('base64');
}

test('Precompiled (SentencePiece charsmap) equals HF, text and offsets', async () => {
  const rules: [string, string][] = [
    ['ﬁ', 'fi'],
    ['Ａ', 'A'],
    ['①', '1'],
    ['\u3000', ' '],
    ['e\u0301', 'é'],
    ['\u200b', ''],
    ['™', 'TM'],
    ['…', '...'],
    ['Å', 'Å'],
    ['ǆ', 'dž'],
    ['😀', ':)'],
    ['\t', ' '],
  ];
  const precompiled = { type: 'Precompiled', precompiled_charsmap: buildCharsmap(rules) };
  const extra = 'ﬁle Ａ① x\u3000y cafe\u0301 a\u200bb ™… Å ǆ 😀\t😀👍🏽 e\u0301\u0301';
  const texts = [...TEXTS.slice(0, 100), extra, extra.repeat(3)];
  const hf = hfFromJson(shell({ normalizer: precompiled, pre_tokenizer: EACH_CHAR }));
  const ours = normalizerFromJSON(precompiled as never)!;
  for (const t of texts) {
    assert.equal(
      ours.normalize(NormalizedString.fromOriginal(t)).text,
      hf.getNormalizer()!.normalizeString(t),
    );
  }
  assert.equal(ours.normalize(NormalizedString.fromOriginal('ﬁ①')).text, 'fi1');
  await assertParity(
    loadTokenizerJson(shell({ normalizer: precompiled, pre_tokenizer: EACH_CHAR })),
    hf,
    texts,
    {
      decode: false,
    },
  );
});
