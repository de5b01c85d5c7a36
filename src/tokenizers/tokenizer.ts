/**
 * The interface every xfmr tokenizer implements, whatever its model (byte-level BPE, WordPiece,
 * Unigram, SentencePiece BPE). Three verbs, as in minbpe: train (in the trainers), encode, decode.
 */

/** Which special tokens may be parsed from text. Default: none (they are encoded as plain text). */
export type AllowedSpecial = 'all' | 'none' | ReadonlySet<string>;

export interface EncodeOptions {
  /** Special tokens recognised in the input text (default 'none': never parsed from user text). */
  allowedSpecial?: AllowedSpecial;
  /** Apply the post-processor (e.g. BERT's [CLS] ... [SEP], Llama's BOS). Default true where the format has one. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens from the output text. Default false. */
  skipSpecialTokens?: boolean;
}

/** A token's character span in the input string: [start, end) in UTF-16 code units. */
export type Offset = readonly [number, number];

export interface Encoding {
  ids: number[];
  tokens: string[];
  offsets: Offset[];
}

export interface Tokenizer {
  /** Number of ids (the largest id + 1, including special and added tokens). */
  readonly vocabSize: number;
  encode(text: string, options?: EncodeOptions): number[];
  /** Ids with their token strings and character offsets. */
  encodeWithOffsets(text: string, options?: EncodeOptions): Encoding;
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Special tokens by name, e.g. '<|endoftext|>' -> 50256. */
  readonly specialTokens: ReadonlyMap<string, number>;
}
