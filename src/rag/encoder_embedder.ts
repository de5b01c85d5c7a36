/**
 * A transformer encoder as embedder: a BERT-family model directory in Hugging Face layout
 * (MiniLM, BGE, E5, ...: config.json, model.safetensors, tokenizer.json or vocab.txt).
 *
 *   ids = tokenizer(prefix + text)        [CLS] ... [SEP] from the tokenizer's post-processor,
 *                                         truncated to the context length (keeping the final [SEP])
 *   h   = encoder(ids)                    [T, C]
 *   v   = mean_t h[t]   or   h[0] (CLS)   then v / |v|
 *
 * Mean pooling averages every position, [CLS] and [SEP] included, as sentence-transformers does
 * (one sequence at a time: there is no padding to mask).
 *
 * Settings are read from the directory the way sentence-transformers writes them, and can be
 * overridden: pooling from `1_Pooling/config.json` (`pooling_mode_cls_token` /
 * `pooling_mode_mean_tokens`, default mean); query/passage prefixes from
 * `config_sentence_transformers.json` (`prompts.query`, `prompts.passage` or `prompts.document`),
 * e.g. E5's "query: " / "passage: ", BGE's query instruction. Without a tokenizer.json, a
 * `vocab.txt` (+ `tokenizer_config.json` do_lower_case) gives the standard BERT WordPiece tokenizer.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Encoder, Pooling } from '../models/encoder.ts';
import { loadEncoder } from '../models/load.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { wordPieceJson } from '../tokenizers/wordpiece_trainer.ts';
import type { Embedder, EmbedderSpec, EmbedKind } from './embedder.ts';

export interface EncoderEmbedderOptions {
  /** The model directory. */
  dir: string;
  /** Pooling (default: the directory's 1_Pooling/config.json, else mean). */
  pooling?: Pooling;
  /** Prepended to queries (default: the directory's sentence-transformers prompts, else ''). */
  queryPrefix?: string;
  /** Prepended to passages (default: the directory's sentence-transformers prompts, else ''). */
  passagePrefix?: string;
  /** Chunk budget in tokens (default min(256, what the context length leaves)). */
  maxTokens?: number;
}

const DEFAULT_MAX_TOKENS = 256;

function readJsonObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}

/** Pooling declared by a sentence-transformers directory, if any. */
export function declaredPooling(dir: string): Pooling | undefined {
  const c = readJsonObject(join(dir, '1_Pooling', 'config.json'));
  if (!c) return undefined;
  if (c.pooling_mode_cls_token === true) return 'cls';
  if (c.pooling_mode_mean_tokens === true) return 'mean';
  const modes = Object.entries(c).filter(([k, v]) => k.startsWith('pooling_mode_') && v === true);
  if (modes.length > 0)
    throw new Error(
      `${join(dir, '1_Pooling', 'config.json')}: ${modes[0][0]} is not supported (mean or cls only)`,
    );
  return undefined;
}

/** Query and passage prompts declared by a sentence-transformers directory. */
export function declaredPrefixes(dir: string): { query?: string; passage?: string } {
  const c = readJsonObject(join(dir, 'config_sentence_transformers.json'));
  const p = c?.prompts;
  if (typeof p !== 'object' || p === null) return {};
  const prompts = p as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return { query: str(prompts.query), passage: str(prompts.passage) ?? str(prompts.document) };
}

/** The directory's tokenizer: tokenizer.json, else a BERT WordPiece tokenizer from vocab.txt. */
export function loadDirTokenizer(dir: string, tokenizerJson: unknown): Tokenizer {
  if (tokenizerJson !== undefined) {
    try {
      return loadTokenizerJson(tokenizerJson as object);
    } catch (e) {
      throw new Error(`${join(dir, 'tokenizer.json')}: ${(e as Error).message}`);
    }
  }
  const vocabPath = join(dir, 'vocab.txt');
  if (!existsSync(vocabPath)) throw new Error(`${dir}: no tokenizer.json or vocab.txt`);
  const tokens = readFileSync(vocabPath, 'utf8').split(/\r?\n/);
  while (tokens.length > 0 && tokens[tokens.length - 1] === '') tokens.pop();
  const lower = readJsonObject(join(dir, 'tokenizer_config.json'))?.do_lower_case !== false;
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => tokens.includes(t));
  return loadTokenizerJson(wordPieceJson(tokens, specials, lower));
}

/** A cheap fingerprint of the weights: size and the first and last MiB of each weight file. */
function weightsFingerprint(dir: string): string {
  const h = createHash('sha256');
  for (const name of ['config.json', 'model.safetensors', 'model.safetensors.index.json']) {
    const p = join(dir, name);
    if (!existsSync(p)) continue;
    const size = statSync(p).size;
    h.update(`${name}:${size}:`);
    const fd = openSync(p, 'r');
    try {
      const n = Math.min(size, 1 << 20);
      const buf = new Uint8Array(n);
      readSync(fd, buf, 0, n, 0);
      h.update(buf);
      if (size > n) {
        readSync(fd, buf, 0, n, size - n);
        h.update(buf);
      }
    } finally {
      closeSync(fd);
    }
  }
  return h.digest('hex').slice(0, 16);
}

export class EncoderEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly maxTokens: number;
  readonly spec: EmbedderSpec;
  readonly pooling: Pooling;
  readonly queryPrefix: string;
  readonly passagePrefix: string;
  /** Tokens the post-processor adds ([CLS], [SEP]). */
  private readonly nSpecial: number;
  private readonly contextLength: number;

  constructor(
    readonly model: Encoder,
    readonly tokenizer: Tokenizer,
    options: EncoderEmbedderOptions & { fingerprint?: string },
  ) {
    const d = readDirDefaults(options.dir);
    this.pooling = options.pooling ?? d.pooling ?? 'mean';
    if (this.pooling !== 'mean' && this.pooling !== 'cls')
      throw new Error(`pooling must be "mean" or "cls", got ${JSON.stringify(this.pooling)}`);
    this.queryPrefix = options.queryPrefix ?? d.queryPrefix ?? '';
    this.passagePrefix = options.passagePrefix ?? d.passagePrefix ?? '';
    this.dim = model.config.dModel;
    this.contextLength = model.config.contextLength;
    this.nSpecial = tokenizer.encode('').length;
    const room = this.contextLength - this.nSpecial - this.countTokens(this.passagePrefix);
    if (room < 1)
      throw new Error(`${options.dir}: the context length ${this.contextLength} leaves no room for text`);
    this.maxTokens = Math.min(options.maxTokens ?? DEFAULT_MAX_TOKENS, room);
    const dir = resolve(options.dir);
    this.spec = {
      type: 'encoder',
      dir,
      pooling: this.pooling,
      queryPrefix: this.queryPrefix,
      passagePrefix: this.passagePrefix,
      maxTokens: this.maxTokens,
    };
    this.id =
      `encoder:${options.fingerprint ?? 'unfingerprinted'}:${this.pooling}:` +
      `q=${JSON.stringify(this.queryPrefix)}:p=${JSON.stringify(this.passagePrefix)}`;
  }

  /** Loads the model and tokenizer of a directory (errors name the directory or file). */
  static load(options: EncoderEmbedderOptions): EncoderEmbedder {
    const dir = options.dir;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such model directory`);
    const loaded = loadEncoder(dir);
    const tokenizer = loadDirTokenizer(dir, loaded.tokenizerJson);
    return new EncoderEmbedder(loaded.model, tokenizer, { ...options, fingerprint: weightsFingerprint(dir) });
  }

  countTokens(text: string): number {
    return this.tokenizer.encode(text, { addSpecialTokens: false }).length;
  }

  /** The ids the model sees for a text: prefix, special tokens, truncation to the context length. */
  ids(text: string, kind: EmbedKind): Int32Array {
    const prefix = kind === 'query' ? this.queryPrefix : this.passagePrefix;
    const ids = this.tokenizer.encode(prefix + text);
    const V = this.model.config.vocabSize;
    const bad = ids.find((id) => id < 0 || id >= V);
    if (bad !== undefined) throw new Error(`tokenizer id ${bad} is outside the model's vocabulary (${V})`);
    const T = this.contextLength;
    if (ids.length <= T) return Int32Array.from(ids);
    // Keep the start and the closing special token(s) the post-processor added (BERT's [SEP]).
    const tail = this.nSpecial > 1 ? ids.slice(ids.length - (this.nSpecial - 1)) : [];
    return Int32Array.from([...ids.slice(0, T - tail.length), ...tail]);
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    return texts.map((t) => this.model.embed(this.ids(t, kind), this.pooling, true));
  }
}

function readDirDefaults(dir: string): { pooling?: Pooling; queryPrefix?: string; passagePrefix?: string } {
  const p = declaredPrefixes(dir);
  return { pooling: declaredPooling(dir), queryPrefix: p.query, passagePrefix: p.passage };
}
