/**
 * Post-processors of `tokenizer.json`: add the special tokens a model expects around a sequence
 * (BERT's [CLS] ... [SEP], Llama's <s>, RoBERTa's <s> ... </s>) and adjust offsets. xfmr encodes
 * single sequences, so only the `single` template is used (`pair` is kept for saving).
 *
 *   TemplateProcessing  "single": [{SpecialToken: {id: "<s>"}}, {Sequence: {id: "A"}}]
 *   BertProcessing      [CLS] A [SEP]
 *   RobertaProcessing   <s> A </s>, and trims whitespace from offsets (trim_offsets)
 *   ByteLevel           trims the "Ġ" whitespace from offsets (trim_offsets); ids unchanged
 *   Sequence            in order
 *
 * Special tokens added here get offsets [0, 0), as in HF. With `addSpecialTokens: false` nothing
 * is added, but offset trimming still happens (as in HF).
 */

import { BYTE_TO_CHAR } from './byte_level.ts';
import {
  asArray,
  asInt,
  asObject,
  asString,
  fail,
  isObject,
  type JsonObject,
  type JsonValue,
  optBool,
  sequenceOf,
  typeOf,
} from './json_fields.ts';
import { charWidth, isWhitespaceUnit } from './normalized_string.ts';

/** A single sequence's encoding being built: parallel arrays. */
export interface EncodingParts {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
}

export interface PostProcessor {
  /** `text` is the input, for offset arithmetic. */
  process(e: EncodingParts, addSpecialTokens: boolean, text: string): EncodingParts;
  toJSON(): JsonObject;
}

const TYPES = ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence'] as const;

type Piece = { special: string; typeId: number } | { sequence: 'A' | 'B'; typeId: number };
interface SpecialEntry {
  id: string;
  ids: number[];
  tokens: string[];
}

export class TemplateProcessing implements PostProcessor {
  constructor(
    readonly single: Piece[],
    readonly pair: Piece[],
    readonly specialTokens: Map<string, SpecialEntry>,
  ) {}

  process(e: EncodingParts, addSpecialTokens: boolean): EncodingParts {
    if (!addSpecialTokens) return e;
    const out: EncodingParts = { ids: [], tokens: [], offsets: [] };
    for (const p of this.single) {
      if ('sequence' in p) {
        // concat, not push(...): spreading a million ids overflows the call stack
        out.ids = out.ids.concat(e.ids);
        out.tokens = out.tokens.concat(e.tokens);
        out.offsets = out.offsets.concat(e.offsets);
      } else {
        const s = this.specialTokens.get(p.special)!;
        for (let k = 0; k < s.ids.length; k++) {
          out.ids.push(s.ids[k]);
          out.tokens.push(s.tokens[k]);
          out.offsets.push([0, 0]);
        }
      }
    }
    return out;
  }

  toJSON(): JsonObject {
    const pieces = (list: Piece[]): JsonValue[] =>
      list.map(
        (p): JsonValue =>
          'sequence' in p
            ? { Sequence: { id: p.sequence, type_id: p.typeId } }
            : { SpecialToken: { id: p.special, type_id: p.typeId } },
      );
    const special: JsonObject = {};
    for (const [k, v] of this.specialTokens) special[k] = { id: v.id, ids: v.ids, tokens: v.tokens };
    return {
      type: 'TemplateProcessing',
      single: pieces(this.single),
      pair: pieces(this.pair),
      special_tokens: special,
    };
  }

  static fromJSON(o: JsonObject, path: string): TemplateProcessing {
    const specialTokens = new Map<string, SpecialEntry>();
    const st = o.special_tokens === undefined ? {} : asObject(o.special_tokens, `${path}.special_tokens`);
    for (const key in st) {
      const p = `${path}.special_tokens[${JSON.stringify(key)}]`;
      const e = asObject(st[key], p);
      const ids = asArray(e.ids, `${p}.ids`).map((x, i) => asInt(x, `${p}.ids[${i}]`));
      const tokens = asArray(e.tokens, `${p}.tokens`).map((x, i) => asString(x, `${p}.tokens[${i}]`));
      if (ids.length !== tokens.length) fail(p, 'must have as many ids as tokens');
      specialTokens.set(key, { id: e.id === undefined ? key : asString(e.id, `${p}.id`), ids, tokens });
    }
    const parse = (v: JsonValue | undefined, p: string): Piece[] => {
      if (v === undefined || v === null) return [];
      const list = typeof v === 'string' ? v.split(/\s+/).filter((x) => x.length > 0) : asArray(v, p);
      return list.map((item, i): Piece => {
        const ip = `${p}[${i}]`;
        if (typeof item === 'string') {
          // Python's string form: "$A", "$B:1", "[CLS]", "[SEP]:1".
          const m = /^(.*?)(?::(\d+))?$/.exec(item)!;
          const typeId = m[2] === undefined ? 0 : Number(m[2]);
          if (m[1] === '$A' || m[1] === '$B' || m[1] === '$') {
            return { sequence: m[1] === '$B' ? 'B' : 'A', typeId };
          }
          if (!specialTokens.has(m[1]))
            fail(ip, `names special token "${m[1]}", missing from ${path}.special_tokens`);
          return { special: m[1], typeId };
        }
        const o2 = asObject(item, ip);
        if (isObject(o2.Sequence)) {
          const id = o2.Sequence.id;
          if (id !== 'A' && id !== 'B') fail(`${ip}.Sequence.id`, 'must be "A" or "B"');
          return { sequence: id, typeId: asInt(o2.Sequence.type_id ?? 0, `${ip}.Sequence.type_id`) };
        }
        if (isObject(o2.SpecialToken)) {
          const id = asString(o2.SpecialToken.id, `${ip}.SpecialToken.id`);
          if (!specialTokens.has(id))
            fail(`${ip}.SpecialToken.id`, `"${id}" is missing from ${path}.special_tokens`);
          return { special: id, typeId: asInt(o2.SpecialToken.type_id ?? 0, `${ip}.SpecialToken.type_id`) };
        }
        return fail(ip, 'must be {"Sequence": ...} or {"SpecialToken": ...}');
      });
    };
    return new TemplateProcessing(
      parse(o.single, `${path}.single`),
      parse(o.pair, `${path}.pair`),
      specialTokens,
    );
  }
}

const SPACE_CHAR = BYTE_TO_CHAR[0x20]; // 'Ġ'

/** `n` code points forward from unit `i` of `text`. */
function advance(text: string, i: number, n: number): number {
  for (let k = 0; k < n && i < text.length; k++) i += charWidth(text, i);
  return i;
}

/** `n` code points back from unit `i` of `text`. */
function retreat(text: string, i: number, n: number): number {
  for (let k = 0; k < n && i > 0; k++) {
    i -=
      i >= 2 && (text.charCodeAt(i - 1) & 0xfc00) === 0xdc00 && (text.charCodeAt(i - 2) & 0xfc00) === 0xd800
        ? 2
        : 1;
  }
  return i;
}

/**
 * HF's `process_offsets`: shrink each token's offsets past its leading/trailing whitespace ("Ġ" or
 * real whitespace), except the prefix space that add_prefix_space inserted into the first token.
 * HF does this arithmetic on code point offsets, so we step by code points in `text` (this matters
 * when a prefix space sits before an emoji: the start then moves past the whole emoji).
 */
export function trimOffsets(e: EncodingParts, addPrefixSpace: boolean, text: string): void {
  for (let i = 0; i < e.tokens.length; i++) {
    const tok = e.tokens[i];
    const isSpace = (k: number) => tok[k] === SPACE_CHAR || isWhitespaceUnit(tok.charCodeAt(k));
    let lead = 0;
    while (lead < tok.length && isSpace(lead)) lead++;
    let trail = 0;
    while (trail < tok.length && isSpace(tok.length - 1 - trail)) trail++;
    if (lead === 0 && trail === 0) continue;
    const off = e.offsets[i];
    if (lead > 0) {
      const isFirst = i === 0 || off[0] === 0;
      if (isFirst && addPrefixSpace && lead === 1) lead = 0;
      off[0] = Math.min(advance(text, off[0], lead), off[1]);
    }
    if (trail > 0 && off[1] >= trail) off[1] = Math.max(retreat(text, off[1], trail), off[0]);
  }
}

export class ByteLevelProcessing implements PostProcessor {
  constructor(
    readonly addPrefixSpace = true,
    readonly trimOffsetsOn = true,
    readonly useRegex = true,
  ) {}
  process(e: EncodingParts, _addSpecialTokens: boolean, text: string): EncodingParts {
    if (this.trimOffsetsOn) trimOffsets(e, this.addPrefixSpace, text);
    return e;
  }
  toJSON(): JsonObject {
    return {
      type: 'ByteLevel',
      add_prefix_space: this.addPrefixSpace,
      trim_offsets: this.trimOffsetsOn,
      use_regex: this.useRegex,
    };
  }
}

type TokId = [string, number];

function surround(e: EncodingParts, cls: TokId, sep: TokId): EncodingParts {
  return {
    ids: [cls[1], ...e.ids, sep[1]],
    tokens: [cls[0], ...e.tokens, sep[0]],
    offsets: [[0, 0], ...e.offsets, [0, 0]],
  };
}

export class BertProcessing implements PostProcessor {
  constructor(
    readonly sep: TokId,
    readonly cls: TokId,
  ) {}
  process(e: EncodingParts, addSpecialTokens: boolean): EncodingParts {
    return addSpecialTokens ? surround(e, this.cls, this.sep) : e;
  }
  toJSON(): JsonObject {
    return { type: 'BertProcessing', sep: this.sep, cls: this.cls };
  }
}

export class RobertaProcessing implements PostProcessor {
  constructor(
    readonly sep: TokId,
    readonly cls: TokId,
    readonly trimOffsetsOn = true,
    readonly addPrefixSpace = true,
  ) {}
  process(e: EncodingParts, addSpecialTokens: boolean, text: string): EncodingParts {
    if (this.trimOffsetsOn) trimOffsets(e, this.addPrefixSpace, text);
    return addSpecialTokens ? surround(e, this.cls, this.sep) : e;
  }
  toJSON(): JsonObject {
    return {
      type: 'RobertaProcessing',
      sep: this.sep,
      cls: this.cls,
      trim_offsets: this.trimOffsetsOn,
      add_prefix_space: this.addPrefixSpace,
    };
  }
}

export class PostProcessorSequence implements PostProcessor {
  constructor(readonly processors: PostProcessor[]) {}
  process(e: EncodingParts, addSpecialTokens: boolean, text: string): EncodingParts {
    for (const p of this.processors) e = p.process(e, addSpecialTokens, text);
    return e;
  }
  toJSON(): JsonObject {
    return { type: 'Sequence', processors: this.processors.map((p) => p.toJSON()) };
  }
}

function tokId(v: JsonValue | undefined, path: string): TokId {
  const a = asArray(v, path);
  if (a.length !== 2) fail(path, 'must be a pair [token, id]');
  return [asString(a[0], `${path}[0]`), asInt(a[1], `${path}[1]`)];
}

export function postProcessorFromJSON(
  v: JsonValue | undefined,
  path = 'post_processor',
): PostProcessor | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) fail(path, 'must be an object or null');
  const type = typeOf(v, path, 'post_processor', TYPES);
  switch (type) {
    case 'TemplateProcessing':
      return TemplateProcessing.fromJSON(v, path);
    case 'BertProcessing':
      return new BertProcessing(tokId(v.sep, `${path}.sep`), tokId(v.cls, `${path}.cls`));
    case 'RobertaProcessing':
      return new RobertaProcessing(
        tokId(v.sep, `${path}.sep`),
        tokId(v.cls, `${path}.cls`),
        optBool(v, 'trim_offsets', path, true),
        optBool(v, 'add_prefix_space', path, true),
      );
    case 'ByteLevel':
      return new ByteLevelProcessing(
        optBool(v, 'add_prefix_space', path, true),
        optBool(v, 'trim_offsets', path, true),
        optBool(v, 'use_regex', path, true),
      );
    case 'Sequence': {
      return new PostProcessorSequence(sequenceOf(v, 'processors', path, postProcessorFromJSON));
    }
  }
  fail(`${path}.type`, `names an unknown post_processor "${type}"`);
}
