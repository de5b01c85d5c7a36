/**
 * Hugging Face `tokenizer.json`: load, run, save, and write one for a byte-level BPE model that xfmr
 * trained (or made from tiktoken ranks: `toTokenizerJson`). The pipeline, in HF's order:
 *
 *   text
 *    -> added tokens split out (added_tokens.ts; raw ones first, then normalized ones)
 *    -> normalizer on each remaining piece (normalizers.ts)
 *    -> pre-tokenizer: pieces -> words (pre_tokenizers.ts)
 *    -> model: word -> tokens (models/: BPE, WordPiece, Unigram, WordLevel)
 *    -> post-processor: special tokens around the sequence (post_processors.ts)
 *   ids -> id-to-token -> decoder -> text (decoders.ts)
 *
 * Offsets are UTF-16 code unit spans of the original string (HF reports code point spans; the test
 * converts). `truncation` and `padding` are kept for saving but not applied: xfmr encodes one
 * sequence at a time and callers pad themselves.
 *
 *   const tok = loadTokenizerJson('node_modules/.../tokenizer.json');
 *   tok.encode('Hello world');                         // [1, 15043, 3186] (Llama 2: BOS added)
 *   tok.encode('<s>hi', { allowedSpecial: 'all' });   // "<s>" parsed as the special token
 *   tok.decode(ids, { skipSpecialTokens: true });
 */

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AddedTokenJson,
  AddedVocabulary,
  type SpecialFilter,
  specialTokenJson,
} from './added_tokens.ts';
import { BYTE_TO_CHAR } from './byte_level.ts';
import { type Decoder, decoderFromJSON } from './decoders.ts';
import { asObject, type JsonObject, type JsonValue, TokenizerJsonError } from './json_fields.ts';
import { type Model, modelFromJSON } from './models/model.ts';
import { type Normalizer, normalizerFromJSON } from './normalizers.ts';
import { SPLIT_PATTERNS, type SplitPatternName } from './patterns.ts';
import { type EncodingParts, type PostProcessor, postProcessorFromJSON } from './post_processors.ts';
import { type PreTokenizer, preTokenizerFromJSON } from './pre_tokenizers.ts';
import type { AllowedSpecial, DecodeOptions, EncodeOptions, Encoding, Tokenizer } from './tokenizer.ts';

export { TokenizerJsonError } from './json_fields.ts';

export class HfTokenizer implements Tokenizer {
  readonly added: AddedVocabulary;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly vocabSize: number;

  constructor(
    readonly model: Model,
    readonly normalizer: Normalizer | null,
    readonly preTokenizer: PreTokenizer | null,
    readonly postProcessor: PostProcessor | null,
    readonly decoder: Decoder | null,
    added: AddedVocabulary,
    /** `truncation` / `padding` / `version` as read, written back by toJSON. */
    readonly extra: JsonObject = {},
  ) {
    this.added = added;
    const special = new Map<string, number>();
    let size = model.size;
    for (const t of added.tokens) {
      if (t.special) special.set(t.content, t.id);
      size = Math.max(size, t.id + 1);
    }
    this.specialTokens = special;
    this.vocabSize = size;
  }

  static fromJSON(json: JsonValue): HfTokenizer {
    const o = asObject(json, '(top level)');
    const normalizer = normalizerFromJSON(o.normalizer);
    const preTokenizer = preTokenizerFromJSON(o.pre_tokenizer);
    const model = modelFromJSON(o.model);
    const postProcessor = postProcessorFromJSON(o.post_processor);
    const decoder = decoderFromJSON(o.decoder);
    const added = AddedVocabulary.fromJSON(o.added_tokens, normalizer, model);
    const extra: JsonObject = {
      version: o.version ?? '1.0',
      truncation: o.truncation ?? null,
      padding: o.padding ?? null,
    };
    return new HfTokenizer(model, normalizer, preTokenizer, postProcessor, decoder, added, extra);
  }

  toJSON(): JsonObject {
    return {
      version: this.extra.version ?? '1.0',
      truncation: this.extra.truncation ?? null,
      padding: this.extra.padding ?? null,
      added_tokens: this.added.toJSON(),
      normalizer: this.normalizer?.toJSON() ?? null,
      pre_tokenizer: this.preTokenizer?.toJSON() ?? null,
      post_processor: this.postProcessor?.toJSON() ?? null,
      decoder: this.decoder?.toJSON() ?? null,
      model: this.model.toJSON(),
    };
  }

  private specialFilter(allowed: AllowedSpecial | undefined): SpecialFilter {
    if (allowed === undefined || allowed === 'none') return () => false;
    if (allowed === 'all') return () => true;
    for (const name of allowed) {
      if (!this.specialTokens.has(name)) throw new Error(`allowedSpecial: "${name}" is not a special token`);
    }
    return (t) => allowed.has(t.content);
  }

  encodeWithOffsets(text: string, options: EncodeOptions = {}): Encoding {
    const e: EncodingParts = { ids: [], tokens: [], offsets: [] };
    for (const seg of this.added.extract(text, this.normalizer, this.specialFilter(options.allowedSpecial))) {
      if (seg.kind === 'token') {
        e.ids.push(seg.id);
        e.tokens.push(seg.text);
        e.offsets.push([seg.start, seg.end]);
        continue;
      }
      const words = this.preTokenizer ? this.preTokenizer.split(seg.text) : [seg.text];
      for (const w of words) {
        for (const t of this.model.tokenize(w.text)) {
          e.ids.push(t.id);
          e.tokens.push(t.value);
          e.offsets.push(w.originalSpan(t.start, t.end));
        }
      }
    }
    const addSpecial = options.addSpecialTokens ?? true;
    const out = this.postProcessor ? this.postProcessor.process(e, addSpecial, text) : e;
    return { ids: out.ids, tokens: out.tokens, offsets: out.offsets };
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.encodeWithOffsets(text, options).ids;
  }

  /** Ids that are neither in the model nor added tokens are skipped, as HF does. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const a = this.added.idToText.get(id);
      if (a !== undefined) {
        if (!(skip && this.specialTokens.has(a))) tokens.push(a);
        continue;
      }
      const t = this.model.idToToken(id);
      if (t === undefined) continue;
      if (skip && this.specialTokens.has(t)) continue;
      tokens.push(t);
    }
    return this.decoder ? this.decoder.decodeChain(tokens).join('') : tokens.join(' ');
  }

  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token)?.id ?? this.model.tokenToId(token);
  }

  idToToken(id: number): string | undefined {
    return this.added.idToText.get(id) ?? this.model.idToToken(id);
  }
}

/**
 * A tokenizer from a `tokenizer.json` path (or a model directory containing one), or from the
 * parsed object. Errors name the file and field: `tokenizer.json: model.vocab must be an object`.
 */
export function loadTokenizerJson(pathOrObject: string | object): HfTokenizer {
  if (typeof pathOrObject !== 'string') return HfTokenizer.fromJSON(pathOrObject as JsonValue);
  let path = pathOrObject;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EISDIR') throw new Error(`cannot read tokenizer file ${path}: ${err.message}`);
    path = join(path, 'tokenizer.json');
    try {
      text = readFileSync(path, 'utf8');
    } catch (e2) {
      throw new Error(`cannot read tokenizer file ${path}: ${(e2 as Error).message}`);
    }
  }
  let json: JsonValue;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerJsonError(`tokenizer.json: ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return HfTokenizer.fromJSON(json);
}

/** Writes `tokenizer.toJSON()` atomically: a temporary file in the same folder, then rename. */
export function saveTokenizerJson(tokenizer: HfTokenizer | JsonObject, path: string, pretty = false): void {
  const json = tokenizer instanceof HfTokenizer ? tokenizer.toJSON() : tokenizer;
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    writeFileSync(tmp, pretty ? JSON.stringify(json, null, 2) : JSON.stringify(json));
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
}

// -------------------------------------------------------------------------------------------------
// Writing one for a byte-level BPE model

/** A byte-level BPE model as `toTokenizerJson` takes it: what the trainer returns (`TrainedBpe`). */
export interface ByteLevelBpe {
  /** Token bytes by id; special tokens' ids are holes. */
  vocab: ReadonlyArray<Uint8Array | undefined>;
  /** Merge rules as pairs of ids, in order (the merged token is the one of their joined bytes). */
  merges: ReadonlyArray<readonly [number, number]>;
  specialTokens: Readonly<Record<string, number>>;
  pattern: SplitPatternName;
  /** tiktoken semantics: a piece that is a token is not merged (written as `ignore_merges`). */
  ignoreMerges?: boolean;
}

/** The parts of a tokenizer.json that `toTokenizerJson` writes (enough for HF tokenizers to load). */
export interface ByteLevelBpeJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: Record<string, unknown>;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown>;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}

/**
 * A byte-level BPE model as a Hugging Face tokenizer.json object (model BPE with merges as
 * ["a", "b"] pairs, ByteLevel pre-tokenizer and decoder). With the GPT-2 pattern the ByteLevel
 * pre-tokenizer splits by itself (use_regex); with cl100k's or o200k's a Split with the reference
 * pattern comes first, as in Llama 3's file. `ignoreMerges` (tiktoken semantics: a piece that is a
 * token is not merged) is written as the model's `ignore_merges`.
 */
export function toTokenizerJson(model: ByteLevelBpe): ByteLevelBpeJson {
  const str = (id: number) => {
    const t = model.vocab[id];
    if (!t) throw new Error(`toTokenizerJson: merge refers to id ${id}, which has no bytes`);
    let s = '';
    for (const b of t) s += BYTE_TO_CHAR[b];
    return s;
  };
  // Special tokens are in model.vocab at their ids too, as HF's trainer writes them: a loader
  // that ignores added_tokens' ids (HF gives an unknown added token id = vocab length) must find
  // them there, or the vocabulary would have a hole and the next id would collide.
  const vocab: Record<string, number> = {};
  for (const [content, id] of Object.entries(model.specialTokens)) vocab[content] = id;
  model.vocab.forEach((t, id) => {
    if (t) vocab[str(id)] = id;
  });
  const byteLevel = (useRegex: boolean) => ({
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: useRegex,
  });
  const preTokenizer =
    model.pattern === 'gpt2'
      ? byteLevel(true)
      : {
          type: 'Sequence',
          pretokenizers: [
            {
              type: 'Split',
              pattern: { Regex: SPLIT_PATTERNS[model.pattern].ref },
              behavior: 'Isolated',
              invert: false,
            },
            byteLevel(false),
          ],
        };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(model.specialTokens)
      .sort((x, y) => x[1] - y[1])
      .map(([content, id]) => specialTokenJson(content, id)),
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: byteLevel(true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: model.ignoreMerges ?? false,
      vocab,
      merges: model.merges.map(([a, b]) => [str(a), str(b)]),
    },
  };
}
