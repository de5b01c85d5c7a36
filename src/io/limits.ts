/**
 * Limits on the sizes a file may declare, checked before anything of that size is allocated: a
 * config.json saying `vocab_size: 1e12` must be refused with a message naming the file and the field,
 * not end in "Invalid typed array length" after trying to allocate 256 TB.
 *
 * Two kinds of check:
 *   - a ceiling per field (`SIZE_LIMITS`), far above every published checkpoint, so a real model is
 *     never refused but a corrupted or hostile number is caught at once;
 *   - the sizes against the bytes that must back them (`checkConfigAgainstWeights`): a model's
 *     matrices must all be in its weight file, so a config whose sizes multiply to more values than
 *     the file holds is refused before the model is built. (The ceilings alone allow
 *     2^24 x 2^16 = 2^40 embedding values; the file is what bounds the product.)
 *
 * The binary readers (safetensors.ts, gguf.ts, gguf_values.ts) check their counts, lengths and
 * offsets against the file's size where they read them; tokenizer.json ids are checked against
 * MAX_VOCAB by the tokenizer readers (tokenizers/models/model.ts, added_tokens.ts).
 */
import type { ModelConfig } from '../models/config.ts';

/**
 * Ceilings per size, each with the largest real value it leaves room for. Ids are int32 and the
 * largest published vocabulary is Gemma 3's 262,144: 2^24 leaves 64x headroom.
 */
export const SIZE_LIMITS = {
  /** Token ids (vocabulary size); Gemma 3: 262,144. */
  vocab: 2 ** 24,
  /** Model width (hidden_size); Llama 3.1 405B: 16,384. */
  width: 2 ** 16,
  /** FFN width (intermediate_size); Llama 3.1 405B: 53,248. */
  ffn: 2 ** 20,
  /** Layers; Llama 3.1 405B: 126. */
  layers: 2 ** 12,
  /** Attention heads (query or KV); Llama 3.1 405B: 128. */
  heads: 2 ** 12,
  /** Width of one head; Gemma: 256. */
  headDim: 2 ** 13,
  /**
   * Context length (max_position_embeddings): the RoPE table is [context, head_dim] and learned
   * positions [context, width], built when the model is; Qwen2.5-1M: 1,010,000.
   */
  context: 2 ** 22,
  /** BERT's token types; 2 in every BERT. */
  typeVocab: 2 ** 16,
} as const;

export type SizeKind = keyof typeof SIZE_LIMITS;

/** Throws "FILE: FIELD VALUE is too large (at most MAX)" when `value` exceeds the ceiling of `kind`. */
export function checkSize(file: string, field: string, value: number, kind: SizeKind): void {
  const max = SIZE_LIMITS[kind];
  if (value > max) throw new Error(`${file}: ${field} ${value} is too large (at most ${max})`);
}

/** The limit kind of each size field of ModelConfig (what checkConfigSizes checks). */
const CONFIG_FIELDS: readonly [keyof ModelConfig, SizeKind][] = [
  ['vocabSize', 'vocab'],
  ['dModel', 'width'],
  ['ffnDim', 'ffn'],
  ['nLayers', 'layers'],
  ['nHeads', 'heads'],
  ['nKvHeads', 'heads'],
  ['headDim', 'headDim'],
  ['contextLength', 'context'],
  ['typeVocabSize', 'typeVocab'],
];

/**
 * Checks every size of a ModelConfig against its ceiling; `names` gives the file's name of a field
 * where it differs (config.json's "vocab_size" for vocabSize), so the message names what the user
 * can find in the file.
 */
export function checkConfigSizes(
  c: ModelConfig,
  file: string,
  names: Partial<Record<keyof ModelConfig, string>> = {},
): void {
  for (const [field, kind] of CONFIG_FIELDS) checkSize(file, names[field] ?? field, c[field] as number, kind);
}

/**
 * The values the matrices of a decoder or encoder of config `c` hold at the least: the token
 * embedding, and per layer the attention projections and the FFN's two (or three, gated)
 * matrices. Norms, biases and position tables are left out, so this never exceeds the true count.
 */
export function matrixValues(c: ModelConfig): number {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const attention = c.dModel * (2 * q + 2 * kv);
  const gated = c.ffnType === 'swiglu' || c.ffnType === 'geglu';
  const ffn = (gated ? 3 : 2) * c.dModel * c.ffnDim;
  return c.vocabSize * c.dModel + c.nLayers * (attention + ffn);
}

/**
 * Refuses a config whose matrices need more values than the weight file holds (`fileValues`: the
 * element count of every tensor in it; a quantized tensor counts its logical elements), before the
 * model is allocated. The message names the config file and the sizes at fault.
 */
export function checkConfigAgainstWeights(
  c: ModelConfig,
  configFile: string,
  weightsFile: string,
  fileValues: number,
): void {
  const embedding = c.vocabSize * c.dModel;
  if (embedding > fileValues)
    throw new Error(
      `${configFile}: vocabulary ${c.vocabSize} x width ${c.dModel} = ${embedding} embedding values, ` +
        `more than the ${fileValues} values in ${weightsFile}`,
    );
  const all = matrixValues(c);
  if (all > fileValues)
    throw new Error(
      `${configFile}: ${c.nLayers} layers of width ${c.dModel} (FFN ${c.ffnDim}, ${c.nHeads} heads of ${c.headDim}) ` +
        `need at least ${all} weight values, more than the ${fileValues} values in ${weightsFile}`,
    );
}
