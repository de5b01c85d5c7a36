/**
 * A transformer encoder as embedder: a sentence-transformers directory as downloaded from the Hub
 * (all-MiniLM-L6-v2, bge-small-en-v1.5, e5-small-v2, ...) or a plain BERT-family model directory
 * in Hugging Face layout (config.json, model.safetensors, tokenizer.json or vocab.txt).
 *
 *   ids = tokenizer(lower?(prompt + text))   [CLS] ... [SEP] from the tokenizer's post-processor,
 *                                            truncated to max_seq_length (keeping the final [SEP])
 *   h   = encoder(ids)                       [T, C], several texts packed in one pass
 *   v   = pool(h)                            mean / cls / max / ... (concatenated if several)
 *   v   = dense(v) ...                       sentence-transformers Dense modules, if any
 *   v   = v / |v|                            (embed: always, for cosine; encode: if Normalize)
 *
 * Mean pooling averages every real position, [CLS] and [SEP] included, as sentence-transformers
 * does over its attention mask; batches are packed (Encoder.forwardPacked), so nothing is padded.
 *
 * The pipeline is read from the directory as sentence-transformers reads it
 * (sentence_transformers.ts: modules.json, 1_Pooling/config.json, sentence_bert_config.json,
 * config_sentence_transformers.json's prompts), and pooling and prefixes can be overridden: e.g.
 * BGE's query instruction, which its files leave to the user. Without a tokenizer.json, a
 * `vocab.txt` (+ `tokenizer_config.json` do_lower_case) gives the standard BERT WordPiece tokenizer.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Encoder, POOLINGS, type Pooling } from '../models/encoder.ts';
import { loadEncoder } from '../models/load.ts';
import { type DenseWeights, loadDenseWeights } from '../models/load_dense.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { loadTokenizerJson } from '../tokenizers/tokenizer_json.ts';
import { wordPieceJson } from '../tokenizers/wordpiece_trainer.ts';
import type { Embedder, EmbedderSpec, EmbedKind, FusionWeights } from './embedder.ts';
import { l2normalize } from './embedder.ts';
import { readJsonObject, readStLayout, type StDense, type StLayout } from './sentence_transformers.ts';

export interface EncoderEmbedderOptions {
  /** The model directory. */
  dir: string;
  /** Pooling (default: the directory's Pooling module, else mean); several are concatenated. */
  pooling?: Pooling | Pooling[];
  /** Prepended to queries (default: the directory's sentence-transformers prompts, else ''). */
  queryPrefix?: string;
  /** Prepended to passages (default: the directory's sentence-transformers prompts, else ''). */
  passagePrefix?: string;
  /** Chunk budget in tokens (default min(256, what max_seq_length leaves)). */
  maxTokens?: number;
}

const DEFAULT_MAX_TOKENS = 256;
/** Tokens per packed forward pass: bounds the activations ([N, ffn] floats) of one batch. */
const BATCH_TOKENS = 4096;

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

/** xfmr's own file in a model directory: the fusion constants tuned for this embedder. */
export const FUSION_FILE = 'xfmr_retrieval.json';

/**
 * The fusion constants of an xfmr_retrieval.json ({"rrf_k", "vector_weight", "bm25_weight"},
 * each a finite number >= 0, rrf_k > 0; optionally "bm25_min_coverage" in [0, 1]), or undefined
 * when the file is absent.
 */
export function readFusion(path: string): FusionWeights | undefined {
  const c = readJsonObject(path);
  if (!c) return undefined;
  const num = (k: string, min: number): number => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (min === 0 && k === 'rrf_k' && v === 0))
      throw new Error(
        `${path}: ${k} must be a finite number ${k === 'rrf_k' ? '> 0' : '>= 0'}, got ${JSON.stringify(v)}`,
      );
    return v;
  };
  const fusion: FusionWeights = {
    rrfK: num('rrf_k', 0),
    vectorWeight: num('vector_weight', 0),
    bm25Weight: num('bm25_weight', 0),
  };
  if (c.bm25_min_coverage !== undefined) {
    const v = c.bm25_min_coverage;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      throw new Error(`${path}: bm25_min_coverage must be a number in [0, 1], got ${JSON.stringify(v)}`);
    fusion.bm25MinCoverage = v;
  }
  return fusion;
}

/** A cheap fingerprint of the weights: size and the first and last MiB of each weight file. */
function weightsFingerprint(dirs: readonly string[]): string {
  const h = createHash('sha256');
  for (const dir of dirs)
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

/** One Dense module, loaded. */
interface Dense extends StDense {
  weights: DenseWeights;
}

export class EncoderEmbedder implements Embedder {
  readonly id: string;
  /** Length of every vector: the pooled width (modes x hidden), or the last Dense's output. */
  readonly dim: number;
  readonly maxTokens: number;
  readonly spec: EmbedderSpec;
  readonly pooling: Pooling[];
  readonly queryPrefix: string;
  readonly passagePrefix: string;
  /** Token limit of one input, specials included: min(max_seq_length, max_position_embeddings). */
  readonly maxSeqLength: number;
  /** The pipeline as the directory declares it (modules.json and the files beside it). */
  readonly layout: StLayout;
  /** Texts cut to maxSeqLength so far (the CLI says so once after indexing). */
  truncated = 0;
  /** Hybrid retrieval's tuned fusion constants, from the directory's xfmr_retrieval.json. */
  readonly fusion?: FusionWeights;
  /** Tokens the post-processor adds ([CLS], [SEP]). */
  private readonly nSpecial: number;
  private readonly dense: Dense[];

  constructor(
    readonly model: Encoder,
    readonly tokenizer: Tokenizer,
    options: EncoderEmbedderOptions & {
      fingerprint?: string;
      layout?: StLayout;
      dense?: Dense[];
      fusion?: FusionWeights;
    },
  ) {
    const layout = options.layout ?? readStLayout(options.dir);
    this.layout = layout;
    if (options.fusion) this.fusion = options.fusion;
    const pooling = options.pooling ?? layout.pooling ?? 'mean';
    const given = typeof pooling === 'string' ? [pooling] : pooling;
    for (const p of given)
      if (!POOLINGS.includes(p))
        throw new Error(`pooling must be one of ${POOLINGS.join(', ')}, got ${JSON.stringify(p)}`);
    // several modes concatenate in sentence-transformers' order, whatever order they come in
    this.pooling = POOLINGS.filter((p) => given.includes(p));
    if (this.pooling.length === 0) throw new Error('pooling: give at least one mode');
    this.queryPrefix = options.queryPrefix ?? layout.queryPrompt ?? '';
    this.passagePrefix = options.passagePrefix ?? layout.passagePrompt ?? '';
    this.dense = options.dense ?? [];
    let width = this.pooling.length * model.config.dModel;
    for (const d of this.dense) {
      if (d.inFeatures !== width)
        throw new Error(
          `${join(d.dir, 'config.json')}: in_features ${d.inFeatures} but the vector before it has ${width}`,
        );
      width = d.outFeatures;
    }
    this.dim = width;
    const ctx = model.config.contextLength;
    this.maxSeqLength = Math.min(layout.maxSeqLength ?? ctx, ctx);
    this.nSpecial = tokenizer.encode('').length;
    const room = this.maxSeqLength - this.nSpecial - this.countTokens(this.passagePrefix);
    if (room < 1)
      throw new Error(`${options.dir}: the sequence length ${this.maxSeqLength} leaves no room for text`);
    this.maxTokens = Math.min(options.maxTokens ?? DEFAULT_MAX_TOKENS, room);
    const dir = resolve(options.dir);
    this.spec = {
      type: 'encoder',
      dir,
      pooling: this.pooling.length === 1 ? this.pooling[0] : this.pooling,
      queryPrefix: this.queryPrefix,
      passagePrefix: this.passagePrefix,
      maxTokens: this.maxTokens,
    };
    // Besides weights, pooling and prefixes, what changes vectors: the pipeline after pooling,
    // lowercasing and the sequence limit (named only where set, so older ids stay as they were).
    const extra = [
      ...this.dense.map((d) => `dense${d.outFeatures}${d.activation === 'tanh' ? 't' : ''}`),
      ...(layout.doLowerCase ? ['lower'] : []),
      ...(this.maxSeqLength < ctx ? [`len=${this.maxSeqLength}`] : []),
    ];
    this.id =
      `encoder:${options.fingerprint ?? 'unfingerprinted'}:${this.pooling.join('+')}:` +
      `q=${JSON.stringify(this.queryPrefix)}:p=${JSON.stringify(this.passagePrefix)}` +
      extra.map((e) => `:${e}`).join('');
  }

  /** Loads the model and tokenizer of a directory (errors name the directory or file). */
  static load(options: EncoderEmbedderOptions): EncoderEmbedder {
    const dir = options.dir;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such model directory`);
    const layout = readStLayout(dir);
    const loaded = loadEncoder(layout.transformerDir);
    const tokenizer = loadDirTokenizer(layout.transformerDir, loaded.tokenizerJson);
    const dense = layout.dense.map((d) => ({
      ...d,
      weights: loadDenseWeights(d.dir, d.inFeatures, d.outFeatures, d.bias),
    }));
    const fingerprint = weightsFingerprint([layout.transformerDir, ...layout.dense.map((d) => d.dir)]);
    const fusion = readFusion(join(dir, FUSION_FILE));
    return new EncoderEmbedder(loaded.model, tokenizer, { ...options, fingerprint, layout, dense, fusion });
  }

  /** The text the tokenizer sees: sentence-transformers lowercases it when do_lower_case. */
  private prepare(text: string): string {
    return this.layout.doLowerCase ? text.toLowerCase() : text;
  }

  countTokens(text: string): number {
    return this.tokenizer.encode(this.prepare(text), { addSpecialTokens: false }).length;
  }

  /** The ids the model sees for a text: prompt, special tokens, truncation to maxSeqLength. */
  ids(text: string, kind: EmbedKind): Int32Array {
    const prefix = kind === 'query' ? this.queryPrefix : this.passagePrefix;
    const ids = this.tokenizer.encode(this.prepare(prefix + text));
    const V = this.model.config.vocabSize;
    const bad = ids.find((id) => id < 0 || id >= V);
    if (bad !== undefined) throw new Error(`tokenizer id ${bad} is outside the model's vocabulary (${V})`);
    const T = this.maxSeqLength;
    if (ids.length <= T) return Int32Array.from(ids);
    this.truncated++;
    // Keep the start and the closing special token(s) the post-processor added (BERT's [SEP]),
    // as Hugging Face truncates before adding them.
    const tail = this.nSpecial > 1 ? ids.slice(ids.length - (this.nSpecial - 1)) : [];
    return Int32Array.from([...ids.slice(0, T - tail.length), ...tail]);
  }

  /**
   * What sentence-transformers' encode returns for these texts (prompt of `kind`): pooled, through
   * the Dense modules, normalised only when the directory ends with Normalize. [dim] each.
   */
  encode(texts: readonly string[], kind: EmbedKind): Float32Array[] {
    const out: Float32Array[] = [];
    let batch: Int32Array[] = [];
    let tokens = 0;
    const flush = () => {
      for (const v of this.model.embedBatch(batch, this.pooling, false)) out.push(this.afterPooling(v));
      batch = [];
      tokens = 0;
    };
    for (const t of texts) {
      const ids = this.ids(t, kind);
      if (tokens + ids.length > BATCH_TOKENS && batch.length > 0) flush();
      batch.push(ids);
      tokens += ids.length;
    }
    if (batch.length > 0) flush();
    return out;
  }

  /** Dense modules (y = act(W v + b), W: [out, in]) then Normalize, as the directory declares. */
  private afterPooling(v: Float32Array): Float32Array {
    for (const d of this.dense) {
      const { weight: W, bias } = d.weights;
      const y = new Float32Array(d.outFeatures);
      for (let o = 0; o < d.outFeatures; o++) {
        let s = bias ? bias[o] : 0;
        const row = o * d.inFeatures;
        for (let i = 0; i < d.inFeatures; i++) s += W[row + i] * v[i];
        y[o] = d.activation === 'tanh' ? Math.tanh(s) : s;
      }
      v = y;
    }
    return this.layout.normalize ? l2normalize(v) : v;
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    return this.encode(texts, kind).map((v) => l2normalize(v));
  }
}
