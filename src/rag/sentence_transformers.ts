/**
 * A sentence-transformers directory as downloaded from the Hub (all-MiniLM-L6-v2,
 * bge-small-en-v1.5, e5-small-v2, ...), read the way sentence-transformers reads it:
 *
 *   modules.json                       the pipeline, in order: Transformer, Pooling, then
 *                                      optionally Dense (one or more) and Normalize
 *   <transformer>/sentence_bert_config.json   max_seq_length (tokens, specials included),
 *                                      do_lower_case (lowercase the text before tokenizing)
 *   <pooling>/config.json              pooling_mode_* (several true modes are concatenated in
 *                                      sentence-transformers' order: cls, max, mean,
 *                                      mean_sqrt_len, weightedmean, lasttoken)
 *   <dense>/config.json                in_features, out_features, bias, activation_function
 *                                      (Identity or Tanh), weights in <dense>/model.safetensors
 *   config_sentence_transformers.json  prompts {"query": ..., "document"/"passage"/"corpus": ...}
 *                                      and default_prompt_name
 *
 * Prompts as sentence-transformers applies them: a question gets prompts.query, a passage the
 * first of prompts.document, prompts.passage, prompts.corpus (encode_query / encode_document);
 * where that prompt is absent, the default prompt (default_prompt_name) if any, else none.
 * The prompt is prepended to the text before lowercasing and tokenizing.
 *
 * A directory without modules.json (a plain Hugging Face BERT) reads as Transformer + the
 * 1_Pooling/config.json it may have; what is not given stays undefined for the caller's default.
 * Not handled, and refused with the file and field named: other module types (CNN, LSTM,
 * WordEmbeddings, StaticEmbedding, LayerNorm, ...), Dense activations other than Identity and
 * Tanh, and Pooling's include_prompt: false (INSTRUCTOR-style prompt exclusion).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POOLINGS, type Pooling } from '../models/encoder.ts';

export interface StDense {
  /** The module's folder (holds model.safetensors). */
  dir: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  activation: 'identity' | 'tanh';
}

export interface StLayout {
  /** modules.json was there (else the layout is inferred). */
  declared: boolean;
  /** The folder of the Transformer module (config.json, model.safetensors, tokenizer.json). */
  transformerDir: string;
  /** Pooling modes in concatenation order; undefined when the directory declares none. */
  pooling?: Pooling[];
  /** Dense modules after pooling, in order. */
  dense: StDense[];
  /** A Normalize module ends the pipeline. */
  normalize: boolean;
  /** sentence_bert_config.json's max_seq_length. */
  maxSeqLength?: number;
  /** sentence_bert_config.json's do_lower_case. */
  doLowerCase: boolean;
  /** The prompt of each kind (undefined: none declared). */
  queryPrompt?: string;
  passagePrompt?: string;
}

type Json = Record<string, unknown>;

/** A JSON object from `path`, undefined when the file is absent; errors name the file. */
export function readJsonObject(path: string): Json | undefined {
  if (!existsSync(path)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${path}: expected a JSON object`);
  return v as Json;
}

/** Pooling config key -> mode, in sentence-transformers' concatenation order. */
const POOLING_KEYS: readonly [string, Pooling][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

/** The modes a Pooling config.json declares (newer files may name one in `pooling_mode`). */
export function readPooling(path: string): Pooling[] | undefined {
  const c = readJsonObject(path);
  if (!c) return undefined;
  if (c.include_prompt === false)
    throw new Error(`${path}: include_prompt false (pooling without the prompt tokens) is not supported`);
  const known = new Set(POOLING_KEYS.map(([k]) => k));
  for (const [k, v] of Object.entries(c)) {
    if (!k.startsWith('pooling_mode_')) continue;
    if (typeof v !== 'boolean')
      throw new Error(`${path}: ${k} must be true or false, got ${JSON.stringify(v)}`);
    if (v && !known.has(k))
      throw new Error(
        `${path}: ${k} is not supported (supported: ${POOLING_KEYS.map(([n]) => n).join(', ')})`,
      );
  }
  const modes = POOLING_KEYS.filter(([k]) => c[k] === true).map(([, m]) => m);
  if (modes.length === 0 && typeof c.pooling_mode === 'string') {
    const m = c.pooling_mode === 'mean_sqrt_len_tokens' ? 'mean_sqrt_len' : c.pooling_mode;
    if (!(POOLINGS as readonly string[]).includes(m))
      throw new Error(`${path}: pooling_mode ${JSON.stringify(c.pooling_mode)} is not supported`);
    modes.push(m as Pooling);
  }
  if (modes.length === 0) throw new Error(`${path}: no pooling_mode_* is true`);
  return modes;
}

/** Prompts of config_sentence_transformers.json, checked; the prompt each kind gets. */
export function readPrompts(dir: string): { query?: string; passage?: string } {
  const path = join(dir, 'config_sentence_transformers.json');
  const c = readJsonObject(path);
  if (!c) return {};
  const p = c.prompts ?? {};
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw new Error(`${path}: prompts must be an object of name -> prompt string, got ${JSON.stringify(p)}`);
  const prompts = p as Json;
  for (const [k, v] of Object.entries(prompts))
    if (typeof v !== 'string')
      throw new Error(`${path}: prompts.${k} must be a string, got ${JSON.stringify(v)}`);
  const name = c.default_prompt_name ?? null;
  if (name !== null && (typeof name !== 'string' || !(name in prompts)))
    throw new Error(
      `${path}: default_prompt_name ${JSON.stringify(name)} is not one of prompts (${Object.keys(prompts).join(', ') || 'none'})`,
    );
  const fallback = name === null ? undefined : (prompts[name] as string);
  const first = (...keys: string[]) =>
    keys.map((k) => prompts[k] as string | undefined).find((v) => v !== undefined);
  return { query: first('query') ?? fallback, passage: first('document', 'passage', 'corpus') ?? fallback };
}

function readDense(dir: string): StDense {
  const path = join(dir, 'config.json');
  const c = readJsonObject(path);
  if (!c) throw new Error(`${path}: no such file (the Dense module's config)`);
  const int = (k: string): number => {
    const v = c[k];
    if (!Number.isSafeInteger(v) || (v as number) < 1)
      throw new Error(`${path}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const act = String(c.activation_function ?? 'torch.nn.modules.linear.Identity');
  const short = act.slice(act.lastIndexOf('.') + 1);
  if (short !== 'Identity' && short !== 'Tanh')
    throw new Error(
      `${path}: activation_function ${JSON.stringify(act)} is not supported (Identity or Tanh)`,
    );
  return {
    dir,
    inFeatures: int('in_features'),
    outFeatures: int('out_features'),
    bias: c.bias !== false,
    activation: short === 'Tanh' ? 'tanh' : 'identity',
  };
}

/** The layout of a sentence-transformers (or plain BERT) directory; errors name file and field. */
export function readStLayout(dir: string): StLayout {
  const modulesPath = join(dir, 'modules.json');
  let transformerDir = dir;
  let pooling: Pooling[] | undefined;
  const dense: StDense[] = [];
  let normalize = false;
  let declared = false;
  if (existsSync(modulesPath)) {
    declared = true;
    let list: unknown;
    try {
      list = JSON.parse(readFileSync(modulesPath, 'utf8'));
    } catch (e) {
      throw new Error(`${modulesPath}: invalid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(list) || list.length === 0)
      throw new Error(`${modulesPath}: expected a non-empty list of modules`);
    const order: string[] = [];
    for (const [i, m] of list.entries()) {
      const mod = (typeof m === 'object' && m !== null ? m : {}) as Json;
      const type = typeof mod.type === 'string' ? mod.type : '';
      const path = typeof mod.path === 'string' ? mod.path : '';
      if (type === '') throw new Error(`${modulesPath}: module ${i} has no "type"`);
      const kind = type.slice(type.lastIndexOf('.') + 1);
      const at = join(dir, path);
      if (kind === 'Transformer') transformerDir = at;
      else if (kind === 'Pooling') pooling = readPooling(join(at, 'config.json'));
      else if (kind === 'Dense') dense.push(readDense(at));
      else if (kind === 'Normalize') normalize = true;
      else
        throw new Error(
          `${modulesPath}: module ${i} type ${JSON.stringify(type)} is not supported (Transformer, Pooling, Dense, Normalize)`,
        );
      order.push(kind);
    }
    const expected = /^Transformer,Pooling(,Dense)*(,Normalize)?$/;
    if (!expected.test(order.join(',')))
      throw new Error(
        `${modulesPath}: modules ${order.join(', ')} are not in a supported order ` +
          '(Transformer, Pooling, Dense..., Normalize)',
      );
  } else pooling = readPooling(join(dir, '1_Pooling', 'config.json'));
  const sbert = readJsonObject(join(transformerDir, 'sentence_bert_config.json')) ?? {};
  const sbertPath = join(transformerDir, 'sentence_bert_config.json');
  const msl = sbert.max_seq_length;
  if (msl !== undefined && msl !== null && !(Number.isSafeInteger(msl) && (msl as number) > 0))
    throw new Error(`${sbertPath}: max_seq_length must be a positive integer, got ${JSON.stringify(msl)}`);
  if (sbert.do_lower_case !== undefined && typeof sbert.do_lower_case !== 'boolean')
    throw new Error(
      `${sbertPath}: do_lower_case must be true or false, got ${JSON.stringify(sbert.do_lower_case)}`,
    );
  const prompts = readPrompts(dir);
  return {
    declared,
    transformerDir,
    pooling,
    dense,
    normalize,
    maxSeqLength: (msl as number | null | undefined) ?? undefined,
    doLowerCase: sbert.do_lower_case === true,
    queryPrompt: prompts.query,
    passagePrompt: prompts.passage,
  };
}
