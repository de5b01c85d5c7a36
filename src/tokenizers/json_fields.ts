/**
 * Reading fields of a parsed `tokenizer.json` with errors that name the field, e.g.
 * `tokenizer.json: model.vocab must be an object`. Every component's `fromJSON` takes the value and
 * its path ("model", "pre_tokenizer.pretokenizers[1]") and reads it through these helpers.
 */

import { SIZE_LIMITS } from '../io/limits.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A malformed tokenizer.json (or tokenizer_config.json): the message names the file and field. */
export class TokenizerJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerJsonError';
  }
}

export function fail(path: string, what: string): never {
  throw new TokenizerJsonError(`tokenizer.json: ${path} ${what}`);
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) fail(path, 'must be an object');
  return v;
}

export function asArray(v: unknown, path: string): JsonValue[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  return v;
}

export function asString(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'must be a string');
  return v;
}

export function asNumber(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a number');
  return v;
}

export function asInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(path, 'must be a non-negative integer');
  return v;
}

/** A token id: a non-negative integer below the vocabulary ceiling (io/limits.ts), checked before any table of that size exists. */
export function asId(v: unknown, path: string): number {
  const id = asInt(v, path);
  if (id >= SIZE_LIMITS.vocab) fail(path, `${id} is too large (at most ${SIZE_LIMITS.vocab - 1})`);
  return id;
}

export function asBool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'must be a boolean');
  return v;
}

/** A field that may be absent or null: `dflt` then. */
export function optString(o: JsonObject, key: string, path: string, dflt: string): string;
export function optString(o: JsonObject, key: string, path: string, dflt: null): string | null;
export function optString(o: JsonObject, key: string, path: string, dflt: string | null): string | null {
  const v = o[key];
  return v === undefined || v === null ? dflt : asString(v, `${path}.${key}`);
}

export function optBool(o: JsonObject, key: string, path: string, dflt: boolean): boolean {
  const v = o[key];
  return v === undefined || v === null ? dflt : asBool(v, `${path}.${key}`);
}

export function optInt(o: JsonObject, key: string, path: string, dflt: number): number;
export function optInt(o: JsonObject, key: string, path: string, dflt: null): number | null;
export function optInt(o: JsonObject, key: string, path: string, dflt: number | null): number | null {
  const v = o[key];
  return v === undefined || v === null ? dflt : asInt(v, `${path}.${key}`);
}

/** The `type` field of a component, checked against the known ones (an unknown type is named). */
export function typeOf(o: JsonObject, path: string, kind: string, known: readonly string[]): string {
  const t = o.type;
  if (typeof t !== 'string') fail(`${path}.type`, `must be a string naming the ${kind}`);
  if (!known.includes(t))
    fail(`${path}.type`, `names an unknown ${kind} "${t}" (known: ${known.join(', ')})`);
  return t;
}

/** `{"String": "x"}` or `{"Regex": "x"}`, the pattern of Split, Replace (normalizer and decoder). */
export type PatternJson = { String: string } | { Regex: string };

export function asPattern(v: unknown, path: string): PatternJson {
  const o = asObject(v, path);
  if (typeof o.String === 'string') return { String: o.String };
  if (typeof o.Regex === 'string') return { Regex: o.Regex };
  fail(path, 'must be {"String": ...} or {"Regex": ...}');
}

/**
 * The members of a `Sequence` component: `o[key]` must be an array whose every element parses to
 * a component (`parse` returns null for a JSON null, which a Sequence does not allow).
 */
export function sequenceOf<T>(
  o: JsonObject,
  key: string,
  path: string,
  parse: (v: JsonValue, path: string) => T | null,
): T[] {
  return asArray(o[key], `${path}.${key}`).map((item, i) => {
    const r = parse(item, `${path}.${key}[${i}]`);
    if (r === null) fail(`${path}.${key}[${i}]`, 'must be an object');
    return r;
  });
}
