/**
 * The tokenizer and chat template of a GGUF file, read from its metadata, as a Hugging Face
 * tokenizer.json object (`loadTokenizerJson` loads it) that tokenizes as llama.cpp does. The reverse
 * of `gguf_tokenizer.ts`. What each key becomes:
 *
 *   tokenizer.ggml.model "gpt2"   byte-level BPE: model BPE (all tokens, merges in file order; a pair
 *                                 listed twice keeps its first rank, as llama.cpp's map does), the
 *                                 pre-tokenizer of tokenizer.ggml.pre as Split regexes then ByteLevel
 *                                 (gguf_pretokenizers.ts), ByteLevel decoder
 *   tokenizer.ggml.model "llama"  SentencePiece vocabulary with scores (Llama 2, Mistral, Gemma,
 *                                 Phi-3): model SentencePieceBPE (merge by piece score, byte
 *                                 fallback; see models/sentencepiece_bpe.ts), normalizer " " -> "▁"
 *                                 with a "▁" prepended to each piece of text between added tokens
 *                                 when tokenizer.ggml.add_space_prefix (default true), decoder
 *                                 "▁" -> " ", bytes, and the prefix space dropped
 *   tokenizer.ggml.token_type     control (3) and unknown (2) -> special added tokens (parsed from
 *                                 text only when special tokens are allowed); user-defined (4) ->
 *                                 added tokens (always parsed, as llama.cpp does); normal, byte,
 *                                 unused -> the model vocabulary only
 *   bos/eos/unknown/padding ids   as llama.cpp resolves them: the key if it is in range, else the
 *                                 model's default (llama: bos 1, eos 2, unk 0; gpt2: 11 and 11)
 *   add_bos_token / add_eos_token a TemplateProcessing post-processor (defaults: true for llama and
 *                                 for llama-bpe / tekken, else false), applied when encoding with
 *                                 addSpecialTokens, as llama.cpp's add_special
 *   tokenizer.chat_template       `chatTemplate` (and `tokenizer.chat_template.NAME` in
 *                                 `chatTemplates`), for chat_template.ts's renderChat
 *
 * llama.cpp also decides some token kinds by their text, and so do we: end-of-turn, fill-in-middle
 * and end-of-generation names ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>",
 * "<|fim_prefix|>", ...) become control tokens whatever their type, and `eosIds` is llama.cpp's
 * end-of-generation set (EOS, EOT, EOM, those names, fim pad/repo/sep), EOS first.
 *
 * Not the same as llama.cpp (each is rare in real vocabularies):
 * - added tokens are found leftmost-longest (HF's rule); llama.cpp looks for the longest token text
 *   first everywhere, then the next, so two added tokens whose texts overlap can split differently;
 *   and a special token that is not allowed hides an added token inside its text (llama.cpp would
 *   still find the inner one);
 * - llama.cpp picks the first fill-in-middle name per kind in hash order when a vocabulary has two
 *   names of one kind; we take every one;
 * - decoding: llama.cpp's detokenizer drops the text of unused/undefined tokens, writes user-defined
 *   tokens unescaped, and for some pre-tokenizers (gpt-2, llama-bpe, default...) removes spaces
 *   before punctuation (clean_spaces); ours writes what the tokenizer.json decoder gives;
 * - Phi-3's rstrip of special tokens and the lstrip of `<mask>` in jina/modern-bert files (set by
 *   llama.cpp from general.name / the pre name) are not applied.
 */

import { BYTE_TO_CHAR } from '../tokenizers/byte_level.ts';
import type { JsonObject, JsonValue } from './files.ts';
import { type GgufFile, GgufKv, openGguf } from './gguf.ts';
import { GGUF_PRE_TOKENIZERS, type GgufPreTokenizer } from './gguf_pretokenizers.ts';

/** llama.cpp token types (`tokenizer.ggml.token_type`). */
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;
const NORMAL = 1;

/** Names llama.cpp treats as end of turn / message / generation, and fill-in-middle tokens. */
const EOT_NAMES = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '<｜end▁of▁sentence｜>',
  '<end_of_utterance>',
];
const FIM_NAMES: Record<string, readonly string[]> = {
  pre: [
    '<|fim_prefix|>',
    '<fim-prefix>',
    '<fim_prefix>',
    '<｜fim▁begin｜>',
    '<PRE>',
    '▁<PRE>',
    '<|code_prefix|>',
    '<|prefix|>',
  ],
  suf: [
    '<|fim_suffix|>',
    '<fim-suffix>',
    '<fim_suffix>',
    '<｜fim▁hole｜>',
    '<SUF>',
    '▁<SUF>',
    '<|code_suffix|>',
    '<|suffix|>',
  ],
  mid: [
    '<|fim_middle|>',
    '<fim-middle>',
    '<fim_middle>',
    '<｜fim▁end｜>',
    '<MID>',
    '▁<MID>',
    '<|code_middle|>',
    '<|middle|>',
  ],
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};
const EOG_NAMES = new Set([
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
]);
/** gpt-oss tokens llama.cpp always renders (made user-defined). */
const ALWAYS_RENDERED = new Set(['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']);

/** What a GGUF file says about its tokenizer. */
export interface GgufTokenizerInfo {
  /** A tokenizer.json object: `loadTokenizerJson(info.tokenizerJson)`. */
  tokenizerJson: JsonObject;
  /** `tokenizer.ggml.model`: 'gpt2' (byte-level BPE) or 'llama' (SentencePiece). */
  model: 'gpt2' | 'llama';
  /** `tokenizer.ggml.pre` as used ('default' when absent; SentencePiece files have none). */
  pre: string;
  /** `tokenizer.chat_template`, or null. */
  chatTemplate: string | null;
  /** Named templates, `tokenizer.chat_template.NAME` (e.g. tool_use). */
  chatTemplates: Record<string, string>;
  bosId: number | null;
  eosId: number | null;
  /** Ids that end generation in llama.cpp, EOS first, then by id. */
  eosIds: number[];
  unkId: number | null;
  padId: number | null;
  /** Whether encoding with special tokens adds BOS / EOS (llama.cpp's add_special). */
  addBos: boolean;
  addEos: boolean;
  /** Token texts of BOS / EOS, for chat templates' bos_token / eos_token. */
  bosToken: string | null;
  eosToken: string | null;
  /** Things a user may want to know (a guessed pre-tokenizer, empty tokens renamed...). */
  warnings: string[];
}

/** One token as llama.cpp sees it after loading. */
interface Tok {
  text: string;
  type: number;
  score: number;
}

/** Reads a GGUF file's tokenizer (see the header). Errors name the file and the key. */
export function tokenizerFromGguf(source: string | GgufFile): GgufTokenizerInfo {
  if (typeof source !== 'string') return fromFile(source);
  const f = openGguf(source);
  try {
    return fromFile(f);
  } finally {
    f.close();
  }
}

function fromFile(f: GgufFile): GgufTokenizerInfo {
  const file = f.path;
  const k = new GgufKv(f.kv, file);
  const warnings: string[] = [];
  const model = k.str('tokenizer.ggml.model');
  if (model !== 'gpt2' && model !== 'llama') {
    throw new Error(
      `${file}: tokenizer.ggml.model "${model}" is not supported (gpt2 = byte-level BPE and llama = SentencePiece are)`,
    );
  }
  const texts = k.strs('tokenizer.ggml.tokens');
  const n = texts.length;
  if (n === 0) throw new Error(`${file}: tokenizer.ggml.tokens is empty`);
  const emb = f.tensors.get('token_embd.weight');
  if (emb !== undefined && emb.shape[0] !== n) {
    throw new Error(
      `${file}: tokenizer.ggml.tokens has ${n} tokens but token_embd.weight has ${emb.shape[0]} rows`,
    );
  }
  const perToken = (key: string): number[] | undefined => {
    if (!k.has(key)) return undefined;
    const v = k.nums(key);
    if (v.length < n) throw new Error(`${file}: ${key} has ${v.length} entries for ${n} tokens`);
    return v;
  };
  const types = perToken('tokenizer.ggml.token_type');
  const scores = perToken('tokenizer.ggml.scores');
  const toks: Tok[] = [];
  const byText = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let text = texts[i];
    if (text.length === 0) {
      text = `[EMPTY_${i}]`; // as llama.cpp renames it
      warnings.push(`${file}: tokenizer.ggml.tokens[${i}] is empty; named ${text} as llama.cpp does`);
    }
    const prev = byText.get(text);
    if (prev !== undefined) {
      throw new Error(
        `${file}: tokenizer.ggml.tokens has ${JSON.stringify(text)} twice (ids ${prev} and ${i}); llama.cpp refuses such a vocabulary`,
      );
    }
    byText.set(text, i);
    toks.push({ text, type: types?.[i] ?? NORMAL, score: scores?.[i] ?? 0 });
  }

  let pre = 'default';
  let preInfo: GgufPreTokenizer | undefined;
  if (model === 'gpt2') {
    if (k.has('tokenizer.ggml.pre')) pre = k.str('tokenizer.ggml.pre');
    else warnings.push(`${file}: no tokenizer.ggml.pre; using llama.cpp's "default" pre-tokenizer`);
    preInfo = GGUF_PRE_TOKENIZERS.get(pre);
    if (preInfo === undefined) {
      throw new Error(
        `${file}: tokenizer.ggml.pre "${pre}" is not supported (supported: ${[...GGUF_PRE_TOKENIZERS.keys()].join(', ')})`,
      );
    }
  }
  // Special ids: the model's defaults, then the keys (an out-of-range key keeps the default).
  const inRange = (id: number | null): number | null => (id !== null && id >= 0 && id < n ? id : null);
  const specialId = (key: string, dflt: number | null): number | null => {
    const base = inRange(dflt);
    const full = `tokenizer.ggml.${key}`;
    if (!k.has(full)) return base;
    const id = k.num(full);
    if (Number.isInteger(id) && id >= 0 && id < n) return id;
    warnings.push(
      `${file}: ${full} = ${id} is outside the vocabulary; using ${base ?? 'none'}, as llama.cpp does`,
    );
    return base;
  };
  const spm = model === 'llama';
  const bosId = specialId('bos_token_id', spm ? 1 : preInfo?.noDefaultBos ? null : 11);
  const eosId = specialId('eos_token_id', spm ? 2 : 11);
  const unkId = specialId('unknown_token_id', spm ? 0 : null);
  const padId = specialId('padding_token_id', null);
  const eotId = specialId('eot_token_id', null);
  const eomId = specialId('eom_token_id', null);
  const fim: Record<string, number | null> = {
    pre: specialId('prefix_token_id', specialId('fim_pre_token_id', null)),
    suf: specialId('suffix_token_id', specialId('fim_suf_token_id', null)),
    mid: specialId('middle_token_id', specialId('fim_mid_token_id', null)),
    pad: specialId('fim_pad_token_id', null),
    rep: specialId('fim_rep_token_id', null),
    sep: specialId('fim_sep_token_id', null),
  };
  const addBos = k.has('tokenizer.ggml.add_bos_token')
    ? k.bool('tokenizer.ggml.add_bos_token')
    : spm || (preInfo?.addBos ?? false);
  const addEos = k.has('tokenizer.ggml.add_eos_token') ? k.bool('tokenizer.ggml.add_eos_token') : false;
  if (addBos && bosId === null)
    throw new Error(`${file}: tokenizer.ggml.add_bos_token is set but there is no BOS token`);
  if (addEos && eosId === null)
    throw new Error(`${file}: tokenizer.ggml.add_eos_token is set but there is no EOS token`);

  const eog = kindsByName(toks, byText, { eos: eosId, eot: eotId, eom: eomId, fim });

  const tokenizerJson =
    model === 'gpt2'
      ? byteLevelJson(k, file, toks, byText, preInfo!, warnings)
      : sentencePieceJson(k, toks, unkId, warnings, file);
  const post = postProcessor(toks, addBos ? bosId : null, addEos ? eosId : null);
  if (post !== null) tokenizerJson.post_processor = post;

  const chatTemplates: Record<string, string> = {};
  for (const key of f.kv.keys()) {
    if (key.startsWith('tokenizer.chat_template.')) chatTemplates[key.slice(24)] = k.str(key);
  }
  const eosIds = [...eog].filter((id) => id !== eosId).sort((a, b) => a - b);
  if (eosId !== null) eosIds.unshift(eosId);
  return {
    tokenizerJson,
    model,
    pre: spm ? 'default' : pre,
    chatTemplate: k.has('tokenizer.chat_template') ? k.str('tokenizer.chat_template') : null,
    chatTemplates,
    bosId,
    eosId,
    eosIds,
    unkId,
    padId,
    addBos,
    addEos,
    bosToken: bosId === null ? null : toks[bosId].text,
    eosToken: eosId === null ? null : toks[eosId].text,
    warnings,
  };
}

/**
 * Token kinds llama.cpp decides by text (llama_vocab::impl::load, in its order), changing
 * `toks[i].type`, and its end-of-generation ids. Names found without a key become control tokens.
 */
function kindsByName(
  toks: Tok[],
  byText: ReadonlyMap<string, number>,
  ids: { eos: number | null; eot: number | null; eom: number | null; fim: Record<string, number | null> },
): Set<number> {
  const control = (id: number) => {
    const t = toks[id];
    if (t.type !== CONTROL && t.type !== UNKNOWN) t.type = CONTROL;
  };
  const firstNamed = (names: readonly string[]): number | null => {
    for (const name of names) {
      const id = byText.get(name);
      if (id !== undefined) return id;
    }
    return null;
  };
  // found by name (not by key): made control
  let eot = ids.eot;
  if (eot === null) {
    eot = firstNamed(EOT_NAMES);
    if (eot !== null) control(eot);
  }
  let eom = ids.eom;
  if (eom === null) {
    eom = firstNamed(['<|eom_id|>']);
    if (eom !== null) control(eom);
  }
  const fim = { ...ids.fim };
  for (const kind of Object.keys(FIM_NAMES)) {
    if (fim[kind] !== null) continue;
    const id = firstNamed(FIM_NAMES[kind]);
    if (id !== null) control(id);
    fim[kind] = id;
  }
  const eog = new Set<number>();
  for (const id of [fim.pad, fim.rep, fim.sep]) if (id !== null) eog.add(id);
  toks.forEach((t, id) => {
    if (EOG_NAMES.has(t.text)) {
      eog.add(id);
      control(id);
    }
  });
  for (const name of ALWAYS_RENDERED) {
    const id = byText.get(name);
    if (id !== undefined) toks[id].type = USER_DEFINED;
  }
  for (const id of [ids.eos, eot, eom]) if (id !== null) eog.add(id);
  const eogText = new Set([...eog].map((id) => toks[id].text));
  // gpt-oss / solar-open: "<|end|>" ends a message, not the generation
  const hasCall = eogText.has('<|call|>') || eogText.has('<|calls|>');
  if (eogText.has('<|end|>') && hasCall && (eogText.has('<|return|>') || eogText.has('<|flush|>'))) {
    const id = byText.get('<|end|>')!;
    eog.delete(id);
    toks[id].type = USER_DEFINED;
  }
  if (eogText.has('<|tool_response>') && eogText.has('</s>')) {
    // Gemma 4 / PaddleOCR: "</s>" is plain text there
    const id = byText.get('</s>')!;
    eog.delete(id);
    toks[id].type = NORMAL;
  }
  return eog;
}

/** Control and unknown tokens are special (parsed only when allowed); user-defined ones always. */
function addedTokens(toks: readonly Tok[]): JsonValue[] {
  const out: JsonValue[] = [];
  toks.forEach((t, id) => {
    const special = t.type === CONTROL || t.type === UNKNOWN;
    if (!special && t.type !== USER_DEFINED) return;
    out.push({
      id,
      content: t.text,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    });
  });
  return out;
}

/** BOS / EOS around the sequence, as llama.cpp's add_special does; null when neither is added. */
function postProcessor(toks: readonly Tok[], bos: number | null, eos: number | null): JsonObject | null {
  if (bos === null && eos === null) return null;
  const single: JsonValue[] = [];
  const special: JsonObject = Object.create(null);
  const add = (id: number) => {
    const name = toks[id].text;
    single.push({ SpecialToken: { id: name, type_id: 0 } });
    special[name] = { id: name, ids: [id], tokens: [name] };
  };
  if (bos !== null) add(bos);
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (eos !== null) add(eos);
  return { type: 'TemplateProcessing', single, pair: single, special_tokens: special };
}

function byteLevelJson(
  k: GgufKv,
  file: string,
  toks: readonly Tok[],
  byText: ReadonlyMap<string, number>,
  pre: GgufPreTokenizer,
  warnings: string[],
): JsonObject {
  const raw = k.strs('tokenizer.ggml.merges');
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  raw.forEach((m, i) => {
    // llama.cpp splits at the first space after the first character
    const sp = m.indexOf(' ', 1);
    if (sp < 0) throw new Error(`${file}: tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} is not "a b"`);
    const a = m.slice(0, sp);
    const b = m.slice(sp + 1);
    for (const part of [a, b, a + b]) {
      if (!byText.has(part)) {
        throw new Error(
          `${file}: tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} ${part === a + b ? 'makes' : 'uses'} ${JSON.stringify(part)}, which is not in tokenizer.ggml.tokens`,
        );
      }
    }
    if (seen.has(m)) return; // llama.cpp keeps a pair's first rank
    seen.add(m);
    merges.push([a, b]);
  });
  const missing = BYTE_TO_CHAR.map((c, b) => (byText.has(c) ? -1 : b)).filter((b) => b >= 0);
  if (missing.length > 0) {
    warnings.push(
      `${file}: the vocabulary has no token for byte(s) ${missing.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ')}; text containing them cannot be tokenized`,
    );
  }
  const vocab: JsonObject = Object.create(null); // a token may be "__proto__"
  toks.forEach((t, id) => {
    vocab[t.text] = id;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(toks),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...pre.splits.map((r) => ({
          type: 'Split',
          pattern: { Regex: r },
          behavior: 'Isolated',
          invert: false,
        })),
        byteLevel,
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges,
      vocab,
      merges,
    },
  };
}

function sentencePieceJson(
  k: GgufKv,
  toks: readonly Tok[],
  unkId: number | null,
  warnings: string[],
  file: string,
): JsonObject {
  const prefix = k.has('tokenizer.ggml.add_space_prefix') ? k.bool('tokenizer.ggml.add_space_prefix') : true;
  const hasBytes = toks.some((t) => t.type === BYTE);
  if (!hasBytes) {
    warnings.push(
      `${file}: no byte tokens (<0xNN>); characters missing from the vocabulary become ${unkId === null ? 'an error' : 'the unknown token'}`,
    );
  }
  const space = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
  const unspace = { type: 'Replace', pattern: { String: '▁' }, content: ' ' };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(toks),
    normalizer: prefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, space] }
      : space,
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        unspace,
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'SentencePieceBPE',
      unk_id: unkId,
      byte_fallback: true,
      vocab: toks.map((t) => [t.text, t.score]),
    },
  };
}

export const GGUF_TOKEN_TYPES = { NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE } as const;
