/**
 * llama.cpp's pre-tokenizers (`tokenizer.ggml.pre`) for byte-level BPE vocabularies, as
 * tokenizer.json `Split` patterns. llama.cpp (src/llama-vocab.cpp, `llm_tokenizer_bpe`) gives each
 * pre-tokenizer a list of regexes applied one after the other: each regex cuts every piece that the
 * previous ones left into its matches and the text between them (tokenizer.json's `Split` with
 * behavior "Isolated", in a `Sequence`). The patterns below are llama.cpp's own, with two changes of
 * spelling that keep their meaning:
 *
 * - the GPT-2 pattern gets its final `|\s+`: llama.cpp writes it without, but runs its hand-written
 *   GPT-2 splitter (unicode.cpp, `unicode_regex_split_custom_gpt2`), which implements the full
 *   pattern (a lone whitespace before a non-space is a piece of its own either way);
 * - `\s` means Unicode White_Space, as in llama.cpp (its flags table, or U+000B for non-ASCII
 *   whitespace in the text it hands to std::regex); xfmr's pattern translation reads it that way.
 *
 * Where llama.cpp has a hand-written splitter (gpt2, llama3, qwen2, qwen35) it implements exactly its
 * pattern; the others run through std::regex on a "collapsed" text where every non-ASCII character
 * stands for its category (`\p{L}` letter, `\p{N}` number, ...), which is the same as matching the
 * pattern with Unicode properties. Contractions are ASCII-only case-insensitive (`'[sS]`), as
 * llama.cpp rewrote HF's `(?i:'s|...)`: "'ſ" (long s) is not a contraction here, unlike in HF.
 *
 * Not handled (refused with the name): pre-tokenizers whose llama.cpp regexes mix literal non-ASCII
 * ranges with categories or use hand-written splitters of their own (deepseek-llm, deepseek-coder,
 * deepseek-v3, youtu, kimi-k2, afmoe, tiny_aya, superbpe, chameleon, bloom/poro/viking/gpt3-finnish,
 * exaone-moe, granite-embed-multi, whitespace, gemma4, sarvam-moe, and the jina-v2 / modern-bert
 * vocabularies whose `<mask>` token llama.cpp gives an lstrip).
 *
 * Limit: character categories follow Node's Unicode tables and llama.cpp's its own (generated from
 * some Unicode version); characters assigned in the newer of the two can split differently.
 */

/** `(?i:'s|'t|'re|'ve|'m|'ll|'d)` as llama.cpp rewrote it. */
const C = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

export const GPT2_SPLIT =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_SPLIT = `${C}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2_SPLIT = `${C}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN35_SPLIT = `${C}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
/** "Upper" = a letter other than a-z, "lower" = a letter other than A-Z (llama.cpp's o200k/tekken). */
const UP = '((?=[\\p{L}])([^a-z]))';
const LO = '((?=[\\p{L}])([^A-Z]))';
const GPT4O_SPLIT = [
  `[^\\r\\n\\p{L}\\p{N}]?${UP}*${LO}+${C}?`,
  `[^\\r\\n\\p{L}\\p{N}]?${UP}+${LO}*${C}?`,
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');
const TEKKEN_SPLIT = [
  `[^\\r\\n\\p{L}\\p{N}]?${UP}*${LO}+`,
  `[^\\r\\n\\p{L}\\p{N}]?${UP}+${LO}*`,
  '\\p{N}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');
const JAIS2_SPLIT = `${C}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|${[
  512, 256, 128, 64, 32, 16, 8, 4,
]
  .map((n) => `\\s{${n}}(?!\\S)`)
  .join('|')}|\\s{1,2}(?!\\S)|\\s{1}`;

/** How llama.cpp tokenizes for one `tokenizer.ggml.pre` family. */
export interface GgufPreTokenizer {
  /** Regexes applied in order (see the header). */
  splits: readonly string[];
  /** A word that is itself a token is not merged (llama.cpp's `ignore_merges`). */
  ignoreMerges: boolean;
  /** Default of `tokenizer.ggml.add_bos_token` (the key overrides it). */
  addBos: boolean;
  /** No default BOS id (chatglm): only `tokenizer.ggml.bos_token_id` gives one. */
  noDefaultBos?: boolean;
}

const family = (
  names: readonly string[],
  splits: readonly string[],
  opts: Partial<Omit<GgufPreTokenizer, 'splits'>> = {},
): [string, GgufPreTokenizer][] =>
  names.map((n) => [n, { splits, ignoreMerges: false, addBos: false, ...opts }]);

/** Every `tokenizer.ggml.pre` value handled, with llama.cpp's aliases (llama_vocab::impl::load). */
export const GGUF_PRE_TOKENIZERS: ReadonlyMap<string, GgufPreTokenizer> = new Map([
  ...family(['default'], ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_SPLIT, '\\p{N}+', '[0-9][0-9][0-9]']),
  ...family(
    [
      'llama3',
      'llama-v3',
      'llama-bpe',
      'falcon3',
      'falcon-h1',
      'pixtral',
      'midm-2.0',
      'lfm2',
      'jina-v5-nano',
    ],
    [LLAMA3_SPLIT],
    { ignoreMerges: true, addBos: true },
  ),
  ...family(['dbrx', 'smaug-bpe'], [LLAMA3_SPLIT]),
  ...family(['glm4', 'chatglm-bpe'], [LLAMA3_SPLIT], { noDefaultBos: true }),
  ...family(['jais-2'], [JAIS2_SPLIT]),
  ...family(
    [
      'qwen2',
      'deepseek-r1-qwen',
      'kormo',
      'f2llmv2',
      'megrez',
      'stablelm2',
      'hunyuan',
      'solar-open',
      'grok-2',
    ],
    [QWEN2_SPLIT],
  ),
  ...family(['qwen35'], [QWEN35_SPLIT]),
  ...family(
    [
      'gpt-2',
      'phi-2',
      'jina-es',
      'jina-de',
      'gigachat',
      'a.x-4.0',
      'mellum',
      'mpt',
      'olmo',
      'jais',
      'trillion',
      'granite-docling',
      'exaone4',
      'jina-v1-en',
      'roberta-bpe',
    ],
    [GPT2_SPLIT],
  ),
  ...family(
    ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'],
    ['\\p{N}', GPT2_SPLIT],
  ),
  ...family(['gpt-4o', 'llama4', 'kanana2', 'talkie', 'minimax-m2'], [GPT4O_SPLIT]),
  ...family(['tekken'], [TEKKEN_SPLIT], { ignoreMerges: true, addBos: true }),
  ...family(['falcon'], ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2_SPLIT, '[0-9][0-9][0-9]']),
  ...family(
    ['seed-coder'],
    [
      `${C}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
  ),
  ...family(
    ['bailingmoe', 'bailingmoe2', 'llada-moe'],
    [
      "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ],
  ),
  ...family(
    ['minicpm5'],
    [
      '\\p{N}{1,3}',
      `${C}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
    { ignoreMerges: true },
  ),
  ...family(['laguna'], ['[^\\n]+|[\\n]+', QWEN2_SPLIT]),
]);
