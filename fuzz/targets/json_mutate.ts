/**
 * Structure-aware damage to a valid JSON document: each edit picks a node of the document by index
 * (so edits reach every field of a real config or tokenizer.json) and replaces it with a hostile
 * value (huge, negative, fractional, wrong type, deeply nested), deletes it, or gives its object a
 * new key. Shared by the config.json, generation_config.json, tokenizer.json and JSONL targets.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const hostileJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e12,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    1e308,
    '',
    'x',
    '__proto__',
    [],
    {},
    [[[[[]]]]],
    { __proto__: 1 } as unknown as Json,
  ),
  fc.integer().map((n): Json => n),
  fc.string({ maxLength: 12 }).map((s): Json => s),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

export interface JsonEdit {
  node: number;
  op: 'replace' | 'delete' | 'add';
  key: string;
  value: Json;
}

export const jsonEdits = (max = 4): fc.Arbitrary<JsonEdit[]> =>
  fc.array(
    fc.record({
      node: fc.nat(),
      op: fc.constantFrom('replace', 'replace', 'replace', 'delete', 'add'),
      key: fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'type', 'vocab', 'id'),
        fc.string({ maxLength: 6 }),
      ),
      value: hostileJson,
    }),
    { maxLength: max },
  );

/** Containers and keys of every node below the root, depth first. */
function nodes(root: Json): { parent: Json[] | { [k: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [k: string]: Json }; key: string | number }[] = [];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        out.push({ parent: v, key: i });
        walk(v[i]!);
      }
    } else if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        out.push({ parent: v, key: k });
        walk(v[k]!);
      }
    }
  };
  walk(root);
  return out;
}

/** A damaged deep copy of `base`. */
export function applyJsonEdits(base: Json, edits: readonly JsonEdit[]): Json {
  const doc = structuredClone(base);
  for (const e of edits) {
    const all = nodes(doc);
    if (all.length === 0) break;
    const { parent, key } = all[e.node % all.length]!;
    const p = parent as Record<string | number, Json>;
    if (e.op === 'replace') p[key] = structuredClone(e.value);
    else if (e.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
    } else {
      const target = p[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target))
        Object.defineProperty(target, e.key, {
          value: structuredClone(e.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else p[key] = { [e.key]: structuredClone(e.value) };
    }
  }
  return doc;
}
