/**
 * `xfmr export --model DIR --format gguf|hf --out PATH [--dtype f32|f16]`
 *
 * gguf: one GGUF file for llama.cpp / Ollama / node-llama-cpp (`src/io/gguf_export.ts`: llama,
 *   mistral and qwen2 as their GGUF architectures, gpt2 too). Matrices take --dtype (default f32);
 *   norms and biases stay f32. The tokenizer metadata comes from DIR/tokenizer.json, which must be a
 *   byte-level BPE (GPT-2, Llama 3, Qwen and `xfmr tokenizer train --type bpe` tokenizers):
 *     tokenizer.ggml.model  gpt2
 *     tokenizer.ggml.pre    from the split pattern: GPT-2's -> gpt-2, cl100k's (Llama 3) -> llama-bpe,
 *                           Qwen2's -> qwen2, o200k's -> gpt-4o; another pattern -> gpt-2 with a
 *                           warning (llama.cpp then splits text as GPT-2 does; generation from ids is
 *                           unaffected)
 *     tokens, token types   model vocabulary (normal), special added tokens (control), other added
 *                           tokens (user-defined), ids without a token up to the model's vocabulary
 *                           size "[PAD<id>]" (unused), as convert_hf_to_gguf.py writes them
 *     merges                "a b" strings
 *     bos/eos ids           generation_config.json, else config.json, else the tokenizer's obvious
 *                           special tokens; without any, the export fails (llama.cpp would otherwise
 *                           stop on its default id 11)
 *   Other tokenizers (WordPiece, Unigram, SentencePiece-style BPE, character level) are refused with
 *   an error: llama.cpp needs a different vocabulary type for them, which xfmr does not write.
 *
 * hf: a copy of the model directory with model.safetensors re-written from the checked weights
 *   (canonical Hugging Face names; --dtype f32|f16|bf16 converts every tensor, default keeps them)
 *   and every other file (tokenizer, generation config, chat template, ...) copied byte for byte;
 *   config.json last.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModelDir, saveModelDir } from '../io/checkpoint.ts';
import type { JsonObject, JsonValue } from '../io/files.ts';
import type { GgufTokenizer } from '../io/gguf_export.ts';
import { castTensor, type FloatDType, type TensorMap } from '../io/tensors.ts';
import { fromHf, toHf } from '../io/weight_names.ts';
import type { ModelConfig } from '../models/config.ts';
import { optString, parseArgs, UsageError } from './args.ts';
import { obviousSpecialIds } from './init.ts';

const USAGE = 'usage: xfmr export --model DIR --format gguf|hf --out PATH [--dtype f32|f16]';

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

const firstId = (v: JsonValue | undefined): number | undefined => {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'number' && Number.isInteger(x) ? x : undefined;
};

/**
 * The GGUF tokenizer metadata of a byte-level BPE tokenizer.json for a model of `config`'s vocabulary
 * size. `where` names the file in errors. `configJson` / `generationConfig` supply bos/eos.
 */
export async function ggufTokenizerFromJson(
  json: JsonValue,
  config: ModelConfig,
  where: string,
  ids: { generationConfig?: JsonObject; configJson?: JsonObject } = {},
  warn: (msg: string) => void = (m) => process.stderr.write(`xfmr export: ${m}\n`),
): Promise<GgufTokenizer> {
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
  const V = config.vocabSize;
  const tokens: (string | undefined)[] = new Array(V).fill(undefined);
  const types = new Array<number>(V).fill(1);
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
    types[t.id] = t.special === true ? 3 : 4;
  }
  const filled = tokens.map((t, i) => {
    if (t !== undefined) return t;
    types[i] = 5;
    return `[PAD${i}]`;
  });
  const merges: string[] = [];
  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  rawMerges.forEach((m, i) => {
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
  const { loadTokenizerJson } = await import('../tokenizers/tokenizer_json.ts');
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
  if (warning) warn(`${where}: ${warning}`);
  // Does encoding add BOS (a post-processor template)? llama.cpp should then do the same.
  const withSpecial = hf.encode('a', { addSpecialTokens: true });
  const plain = hf.encode('a', { addSpecialTokens: false });
  const addBos = withSpecial.length > plain.length && withSpecial[0] === bosId;
  const pad = firstId(gc.pad_token_id) ?? firstId(cj.pad_token_id);
  const out: GgufTokenizer = {
    tokens: filled,
    tokenTypes: types,
    merges,
    bosId,
    eosId,
    model: 'gpt2',
    pre,
    addBos,
  };
  if (pad !== undefined && pad < V) out.padId = pad;
  return out;
}

function parseDtype(v: string | undefined, allowed: string[]): FloatDType | undefined {
  if (v === undefined) return undefined;
  const d = v.toLowerCase();
  if (!allowed.includes(d)) throw new UsageError(`--dtype must be ${allowed.join(' or ')}, got "${v}"`);
  return d.toUpperCase() as FloatDType;
}

function exportHf(dir: string, out: string, dtype: FloatDType | undefined): void {
  if (resolve(dir) === resolve(out)) throw new UsageError('--out: must differ from --model');
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new UsageError(`--out: ${out} is not a directory`);
  const d = loadModelDir(dir);
  let canonical: TensorMap = fromHf(d.config, d.tensors, join(dir, 'model.safetensors'));
  if (dtype) {
    const cast: TensorMap = new Map();
    for (const [n, t] of canonical) cast.set(n, castTensor(t, dtype));
    canonical = cast;
  }
  const hfConfig: JsonObject = { ...d.hfConfig };
  if (dtype) hfConfig.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  mkdirSync(out, { recursive: true });
  const weights = /^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'config.json' || weights.test(name) || !statSync(p).isFile()) continue;
    copyFileSync(p, join(out, name));
  }
  // saveModelDir writes model.safetensors, then config.json last.
  saveModelDir(out, { config: hfConfig, tensors: toHf(d.config, canonical) });
}

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { values: ['model', 'format', 'out', 'dtype'] });
  if (a.options.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const dir = optString(a, 'model');
  const format = optString(a, 'format');
  const out = optString(a, 'out');
  if (!dir) throw new UsageError(`--model is required (${USAGE})`);
  if (!format) throw new UsageError(`--format is required: gguf or hf (${USAGE})`);
  if (!out) throw new UsageError(`--out is required (${USAGE})`);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--model: ${dir}: no such directory`);
  const t0 = performance.now();
  if (format === 'hf') {
    exportHf(dir, out, parseDtype(optString(a, 'dtype'), ['f32', 'f16', 'bf16']));
  } else if (format === 'gguf') {
    const dtype = (parseDtype(optString(a, 'dtype'), ['f32', 'f16']) ?? 'F32') as 'F32' | 'F16';
    if (existsSync(out) && statSync(out).isDirectory())
      throw new UsageError(`--out: ${out} is a directory; give a file path`);
    const d = loadModelDir(dir);
    if (d.config.arch === 'bert') throw new Error(`${dir}: a BERT encoder cannot be exported as GGUF`);
    const tokPath = join(dir, 'tokenizer.json');
    if (d.tokenizerJson === undefined)
      throw new Error(`${tokPath}: not found; GGUF export needs the model's byte-level BPE tokenizer`);
    const tokenizer = await ggufTokenizerFromJson(d.tokenizerJson, d.config, tokPath, {
      generationConfig: d.generationConfig,
      configJson: d.hfConfig,
    });
    if (d.chatTemplate !== undefined) tokenizer.chatTemplate = d.chatTemplate;
    const canonical = fromHf(d.config, d.tensors, join(dir, 'model.safetensors'));
    const { exportGguf } = await import('../io/gguf_export.ts');
    exportGguf(out, d.config, canonical, tokenizer, { dtype, name: basename(resolve(dir)) });
  } else {
    throw new UsageError(`--format must be gguf or hf, got "${format}"`);
  }
  process.stderr.write(
    `xfmr export: ${format} -> ${out} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
}
