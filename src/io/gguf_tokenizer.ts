/**
 * The GGUF tokenizer metadata of a Hugging Face tokenizer.json, for `gguf_export.ts`. Only
 * byte-level BPE is written (GPT-2, Llama 3, Qwen and `xfmr tokenizer train --type bpe`
 * tokenizers); what each key gets:
 *
 *   tokenizer.ggml.model  gpt2
 *   tokenizer.ggml.pre    from the split pattern: GPT-2's -> gpt-2, cl100k's (Llama 3) -> llama-bpe,
 *                         Qwen2's -> qwen2, o200k's -> gpt-4o; another pattern -> gpt-2 with a
 *                         warning (llama.cpp then splits text as GPT-2 does; generation from ids is
 *                         unaffected)
 *   tokens, token types   model vocabulary (normal), special added tokens (control), other added
 *                         tokens (user-defined), ids without a token up to the model's vocabulary
 *                         size "[PAD<id>]" (unused), as convert_hf_to_gguf.py writes them
 *   merges                "a b" strings
 *   bos/eos ids           generation_config.json, else config.json, else the tokenizer's obvious
 *                         special tokens; without any, the export fails (llama.cpp would otherwise
 *                         stop on its default id 11)
 *
 * Not handled: WordPiece, Unigram, SentencePiece-style BPE and character-level tokenizers are
 * refused; llama.cpp needs other vocabulary types for them, which xfmr does not write.
 *
 * The reverse (a GGUF file's tokenizer as a tokenizer.json, gpt2 and llama vocabularies) is
 * gguf_tokenizer_import.ts.
 */
import { obviousSpecialIds } from '../tokenizers/eos.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import type { JsonObject, JsonValue } from './files.ts';
import type { GgufTokenizer } from './gguf_export.ts';

/** GPT-2 (r50k), cl100k (Llama 3), Qwen2 and o200k split patterns, as tokenizer.json files write them. */
const PRE_BY_PATTERN: Record<string, string> = {
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+": 'gpt-2',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'qwen2',
  [[
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    '\\p{N}{1,3}',
    ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
    '\\s*[\\r\\n]+',
    '\\s+(?!\\S)',
    '\\s+',
  ].join('|')]: 'gpt-4o',
};

/** llama.cpp token types. */
const NORMAL = 1;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;

type Obj = Record<string, JsonValue>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pre-tokenizers of a tokenizer.json, flattened out of Sequences. */
function preTokenizers(v: JsonValue | undefined): Obj[] {
  if (!isObj(v)) return [];
  if (v.type === 'Sequence' && Array.isArray(v.pretokenizers)) return v.pretokenizers.flatMap(preTokenizers);
  return [v];
}

/** llama.cpp's pre-tokenizer name for a byte-level BPE tokenizer.json, and a warning if it is a guess. */
function ggufPre(pres: Obj[]): { pre: string; warning?: string } {
  const split = pres.find((p) => p.type === 'Split');
  if (split === undefined) return { pre: 'gpt-2' }; // ByteLevel with use_regex: GPT-2's pattern
  const pat = split.pattern;
  const regex = isObj(pat) && typeof pat.Regex === 'string' ? pat.Regex : undefined;
  const known = regex === undefined ? undefined : PRE_BY_PATTERN[regex];
  if (known) return { pre: known };
  return {
    pre: 'gpt-2',
    warning: `its split pattern ${JSON.stringify(regex ?? pat)} is not one llama.cpp knows by name; writing tokenizer.ggml.pre "gpt-2"`,
  };
}

/** An id, or the first of a list of ids (eos_token_id may be either). */
const firstId = (v: JsonValue | undefined): number | undefined => {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'number' && Number.isInteger(x) ? x : undefined;
};

/** Merges as GGUF's "a b" strings; tokenizer.json has "a b" (older files) or ["a", "b"] (newer). */
function ggufMerges(raw: JsonValue | undefined, where: string): string[] {
  const merges: string[] = [];
  (Array.isArray(raw) ? raw : []).forEach((m, i) => {
    let pair: [string, string];
    if (typeof m === 'string') {
      const sp = m.indexOf(' ');
      if (sp < 0) throw new Error(`${where}: model.merges[${i}] ${JSON.stringify(m)} is not "a b"`);
      pair = [m.slice(0, sp), m.slice(sp + 1)];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      pair = [m[0], m[1]];
    } else throw new Error(`${where}: model.merges[${i}] must be "a b" or ["a", "b"]`);
    if (pair[0].includes(' ') || pair[1].includes(' '))
      throw new Error(
        `${where}: model.merges[${i}] has a space inside a token, which GGUF's "a b" merges cannot hold`,
      );
    merges.push(`${pair[0]} ${pair[1]}`);
  });
  return merges;
}

/** Where the bos/eos/pad ids may be stated, before the tokenizer's own special tokens. */
export interface SpecialIdSources {
  generationConfig?: JsonObject;
  /** config.json as written (HF keys). */
  configJson?: JsonObject;
}

/**
 * The GGUF tokenizer metadata of a byte-level BPE tokenizer.json for a model of `vocabSize` ids.
 * `where` names the file in errors and warnings; a warning means the file is written but llama.cpp
 * may tokenize text differently from us.
 */
export function ggufTokenizerFromJson(
  json: JsonValue,
  vocabSize: number,
  where: string,
  ids: SpecialIdSources = {},
): { tokenizer: GgufTokenizer; warnings: string[] } {
  if (!isObj(json)) throw new Error(`${where}: expected a JSON object`);
  const model = json.model;
  if (!isObj(model)) throw new Error(`${where}: model must be an object`);
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  const pres = preTokenizers(json.pre_tokenizer);
  const byteLevel =
    pres.some((p) => p.type === 'ByteLevel') || (isObj(json.decoder) && json.decoder.type === 'ByteLevel');
  if (type !== 'BPE' || !byteLevel) {
    const what =
      type !== 'BPE' ? `a ${String(type)} tokenizer` : 'a BPE tokenizer without a ByteLevel pre-tokenizer';
    throw new Error(
      `${where}: ${what}; GGUF export supports byte-level BPE tokenizers only (tokenizer.ggml.model gpt2)`,
    );
  }

  const V = vocabSize;
  const tokens: (string | undefined)[] = new Array(V).fill(undefined);
  const types = new Array<number>(V).fill(NORMAL);
  const vocab = model.vocab;
  if (!isObj(vocab)) throw new Error(`${where}: model.vocab must be an object`);
  for (const [tok, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      throw new Error(`${where}: model.vocab[${JSON.stringify(tok)}] is not a token id`);
    if (id >= V)
      throw new Error(
        `${where}: token ${JSON.stringify(tok)} has id ${id}, beyond the model's vocabulary size ${V}`,
      );
    tokens[id] = tok;
  }
  const added = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  for (const t of added) {
    if (!isObj(t) || typeof t.id !== 'number' || typeof t.content !== 'string') continue;
    if (t.id >= V)
      throw new Error(
        `${where}: added token ${JSON.stringify(t.content)} has id ${t.id}, beyond the model's vocabulary size ${V}`,
      );
    tokens[t.id] = t.content;
    types[t.id] = t.special === true ? CONTROL : USER_DEFINED;
  }
  const filled = tokens.map((t, i) => {
    if (t !== undefined) return t;
    types[i] = UNUSED;
    return `[PAD${i}]`;
  });
  const merges = ggufMerges(model.merges, where);

  const hf = loadTokenizerJson(json);
  const obvious = obviousSpecialIds(hf);
  const gc = ids.generationConfig ?? {};
  const cj = ids.configJson ?? {};
  const eosId = firstId(gc.eos_token_id) ?? firstId(cj.eos_token_id) ?? obvious.eos ?? undefined;
  const bosId = firstId(gc.bos_token_id) ?? firstId(cj.bos_token_id) ?? obvious.bos ?? eosId;
  if (eosId === undefined || bosId === undefined) {
    throw new Error(
      `${where}: no EOS token id (generation_config.json, config.json eos_token_id, or a special token ` +
        `such as <|endoftext|> or </s>): llama.cpp needs one`,
    );
  }
  const { pre, warning } = ggufPre(pres);
  // Does encoding add BOS (a post-processor template)? llama.cpp should then do the same.
  const withSpecial = hf.encode('a', { addSpecialTokens: true });
  const plain = hf.encode('a', { addSpecialTokens: false });
  const addBos = withSpecial.length > plain.length && withSpecial[0] === bosId;
  const pad = firstId(gc.pad_token_id) ?? firstId(cj.pad_token_id);
  const tokenizer: GgufTokenizer = {
    tokens: filled,
    tokenTypes: types,
    merges,
    bosId,
    eosId,
    model: 'gpt2',
    pre,
    addBos,
  };
  if (pad !== undefined && pad < V) tokenizer.padId = pad;
  return { tokenizer, warnings: warning ? [`${where}: ${warning}`] : [] };
}
