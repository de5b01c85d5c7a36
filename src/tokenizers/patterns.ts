/**
 * Pre-tokenization split patterns of the byte-level BPE encodings, in JavaScript.
 *
 * The reference patterns are written for Rust's `fancy-regex` (tiktoken) and Oniguruma (Hugging
 * Face tokenizers). JavaScript's `u`-flag regexes express almost all of them; the differences:
 *
 * 1. `\s` / `\S`. In Rust and Oniguruma `\s` is the Unicode White_Space property. JavaScript's
 *    `\s` differs in two code points: it lacks U+0085 (NEL) and includes U+FEFF (BOM). We write
 *    `\p{White_Space}` / `\P{White_Space}`, which is exactly the reference set.
 * 2. Scoped case-insensitivity `(?i:'s|'t|...)`. Node 20's V8 has no inline modifiers, and a
 *    whole-regex `i` flag would change the other classes. We expand each letter to its simple
 *    case-folding orbit under Unicode rules, as the reference engines do: `s` -> `[sSſ]` (U+017F
 *    LATIN SMALL LETTER LONG S folds to `s`), `k` -> `[kKK]` (U+212A KELVIN SIGN); the letters of
 *    the contractions other than `s` have only their two ASCII cases.
 * 3. Possessive quantifiers (`x++`, `x*+`, `x?+`) and atomic groups `(?>x)` do not exist in
 *    JavaScript. A JavaScript lookahead is atomic, so `(?=(x+))\1` matches exactly what `x++`
 *    matches (the lookahead takes the greedy match and the backreference consumes it, never giving
 *    any back). `compileSplitPattern` rewrites them that way, as `(?=(?<aN>x+))\k<aN>`. (Numeric
 *    backreferences in the pattern itself would be shifted by the added groups; no tokenizer uses
 *    them.) The patterns below need none of this: they are the forms without possessives that
 *    tiktoken's registry (npm tiktoken 1.0.22 included) uses. Newer Python tiktoken releases write
 *    cl100k as `...|\s++$|\s*[\r\n]|\s+(?!\S)|\s`, which differs only on whitespace at the very
 *    end of a text ("a  \n  " -> "a", "  \n  " instead of "a", "  \n", "  ").
 * 4. Unicode version: `\p{L}`, `\p{N}` and so on follow the engine's Unicode tables. Node 20.20's
 *    ICU 78 has Unicode 17; tiktoken 1.0.22's Rust tables have Unicode 16 (they know Unicode 16
 *    letters such as U+16100 but not Unicode 17's CJK Extension J, U+323B0..U+3347F). Text with
 *    characters assigned in the newest version can therefore split differently; nothing older does.
 *
 * Every pattern here covers every character (letters, numbers, whitespace and "other" each have an
 * alternative), so the matches tile the text: no character is ever dropped between two pieces.
 */

/** GPT-2 (also r50k_base / p50k_base) as tiktoken and OpenAI's encoder.py write it. */
export const GPT2_PAT_STR =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** cl100k_base (GPT-3.5/4; also Llama 3's pre-tokenizer) as the tiktoken registry writes it. */
export const CL100K_PAT_STR =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** o200k_base (GPT-4o) as the tiktoken registry writes it. */
export const O200K_PAT_STR = [
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');

const WS = '\\p{White_Space}';
const NOT_WS = '\\P{White_Space}';
/** `(?i:'s|'t|'re|'ve|'m|'ll|'d)` with each letter expanded to its case-folding orbit. */
const CONTRACTIONS = "'(?:[sS\\u017F]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])";
const UPPER = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWER = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';

/** The JavaScript form of GPT2_PAT_STR (flags `gu`). */
export const GPT2_PATTERN = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|${WS}+(?!${NOT_WS})|${WS}+`;

/** The JavaScript form of CL100K_PAT_STR (flags `gu`). */
export const CL100K_PATTERN = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${WS}*[\\r\\n]+|${WS}+(?!${NOT_WS})|${WS}+`;

/** The JavaScript form of O200K_PAT_STR (flags `gu`). */
export const O200K_PATTERN = [
  `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+(?:${CONTRACTIONS})?`,
  `[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*(?:${CONTRACTIONS})?`,
  '\\p{N}{1,3}',
  ` ?[^${WS}\\p{L}\\p{N}]+[\\r\\n/]*`,
  `${WS}*[\\r\\n]+`,
  `${WS}+(?!${NOT_WS})`,
  `${WS}+`,
].join('|');

/** The split patterns known by name (the BPE trainer's choice, and what the tokenizer.json writer names). */
export type SplitPatternName = 'gpt2' | 'cl100k_base' | 'o200k_base';

/** Each named pattern as the reference writes it (tiktoken, tokenizer.json) and in JavaScript. */
export const SPLIT_PATTERNS: Readonly<
  Record<SplitPatternName, { readonly ref: string; readonly js: string }>
> = {
  gpt2: { ref: GPT2_PAT_STR, js: GPT2_PATTERN },
  cl100k_base: { ref: CL100K_PAT_STR, js: CL100K_PATTERN },
  o200k_base: { ref: O200K_PAT_STR, js: O200K_PATTERN },
};

/** A fresh global unicode RegExp for a JavaScript pattern source (each user needs its own lastIndex). */
export function splitRegExp(source: string): RegExp {
  return new RegExp(source, 'gu');
}

// ---------------------------------------------------------------------------------------------
// Translating reference (Rust / Oniguruma / Python `regex`) patterns, as found in tokenizer.json
// `Split` pre-tokenizers and tiktoken files, to JavaScript.

/** Characters that fold together with an ASCII letter under Unicode simple case folding. */
function foldOrbit(ch: string): string {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  let extra = '';
  if (lower === 's') extra = '\\u017F';
  else if (lower === 'k') extra = '\\u212A';
  return lower === upper ? ch : `${lower}${upper}${extra}`;
}

/**
 * Rewrites a reference-engine pattern into a JavaScript `u`-flag source. Handles: `\s \S` (White_Space),
 * `\d \D` (`\p{Nd}`), `\w \W` (Unicode word characters), `\A \z \Z`, scoped `(?i:...)` on ASCII
 * letters, possessive quantifiers and atomic groups (as `(?=(?<aN>x))\k<aN>`, see the header). Anything else
 * passes through unchanged; a pattern JavaScript rejects throws with the translated source in the
 * message. Global inline flags such as a leading `(?i)` are rejected: no real tokenizer uses them.
 */
export function translatePattern(pattern: string): string {
  // One left-to-right pass; `lastAtom` is where the most recent atom starts in `out`, which is what a
  // possessive quantifier applies to.
  let out = '';
  let groups = 0; // named groups a1, a2, ... added for possessives and atomic groups
  const groupStack: { outStart: number; caseless: boolean; atomic: boolean }[] = [];
  let caseless = 0;
  let lastAtom = -1;
  let i = 0;
  const translateEscape = (c: string, inClass: boolean): string => {
    switch (c) {
      case 's':
        return inClass ? WS : `[${WS}]`;
      case 'S':
        return inClass ? NOT_WS : `[${NOT_WS}]`;
      case 'd':
        return inClass ? '\\p{Nd}' : '[\\p{Nd}]';
      case 'D':
        return inClass ? '\\P{Nd}' : '[\\P{Nd}]';
      case 'w':
        return inClass ? '\\p{L}\\p{M}\\p{Nd}\\p{Pc}' : '[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]';
      case 'W':
        return '[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]';
      case 'A':
        return '^';
      case 'z':
        return '$';
      case 'Z':
        return '(?=\\n?$)';
      default:
        return `\\${c}`;
    }
  };
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '\\') {
      const e = pattern[i + 1];
      lastAtom = out.length;
      if ((e === 'p' || e === 'P') && pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i);
        out += pattern.slice(i, close + 1);
        i = close + 1;
      } else if (e === 'x' && pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i);
        out += `\\u{${pattern.slice(i + 3, close)}}`;
        i = close + 1;
      } else {
        out += translateEscape(e, false);
        i += 2;
      }
      continue;
    }
    if (c === '[') {
      lastAtom = out.length;
      let j = i + 1;
      let cls = '[';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      if (pattern[j] === ']') {
        cls += '\\]';
        j++;
      }
      while (j < pattern.length && pattern[j] !== ']') {
        const d = pattern[j];
        if (d === '\\') {
          const e = pattern[j + 1];
          if ((e === 'p' || e === 'P') && pattern[j + 2] === '{') {
            const close = pattern.indexOf('}', j);
            cls += pattern.slice(j, close + 1);
            j = close + 1;
          } else {
            cls += translateEscape(e, true);
            j += 2;
          }
        } else if (d === '[') {
          cls += '\\[';
          j++;
        } else {
          cls += caseless > 0 && /[A-Za-z]/.test(d) ? foldOrbit(d) : d;
          j++;
        }
      }
      out += `${cls}]`;
      i = j + 1;
      continue;
    }
    if (c === '(') {
      const isCaseless = pattern.startsWith('(?i:', i);
      const isAtomic = pattern.startsWith('(?>', i);
      groupStack.push({ outStart: out.length, caseless: isCaseless, atomic: isAtomic });
      if (isCaseless) {
        caseless++;
        out += '(?:';
        i += 4;
      } else if (isAtomic) {
        out += '(?:';
        i += 3;
      } else if (pattern.startsWith('(?i)', i)) {
        throw new Error(`split pattern: global inline flags are not supported: ${pattern}`);
      } else {
        // Copy the group opener: "(", "(?:", "(?=", "(?!", "(?<=", "(?<!", "(?<name>".
        const m = /^\((\?(?::|=|!|<=|<!|<[A-Za-z_][A-Za-z0-9_]*>))?/.exec(pattern.slice(i))!;
        out += m[0];
        i += m[0].length;
      }
      continue;
    }
    if (c === ')') {
      const g = groupStack.pop();
      if (!g) throw new Error(`split pattern: unbalanced ")" in ${pattern}`);
      if (g.caseless) caseless--;
      out += ')';
      if (g.atomic) {
        // (?>x) == (?=(x))\N
        const name = `a${++groups}`;
        out = `${out.slice(0, g.outStart)}(?=(?<${name}>${out.slice(g.outStart)}))\\k<${name}>`;
      }
      lastAtom = g.outStart;
      i++;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      // Copy the quantifier (and a lazy '?'); rewrite a possessive '+'.
      let q = c;
      let j = i + 1;
      if (c === '{') {
        const close = pattern.indexOf('}', i);
        if (close < 0 || !/^\{\d*(,\d*)?\}$/.test(pattern.slice(i, close + 1))) {
          out += '\\{';
          i++;
          continue;
        }
        q = pattern.slice(i, close + 1);
        j = close + 1;
      }
      if (pattern[j] === '+') {
        if (lastAtom < 0)
          throw new Error(`split pattern: possessive quantifier without an atom in ${pattern}`);
        const name = `a${++groups}`;
        out = `${out.slice(0, lastAtom)}(?=(?<${name}>${out.slice(lastAtom)}${q}))\\k<${name}>`;
        lastAtom = -1;
        i = j + 1;
        continue;
      }
      out += q;
      i = j;
      continue;
    }
    lastAtom = out.length;
    if (caseless > 0 && /[A-Za-z]/.test(c)) {
      const orbit = foldOrbit(c);
      out += orbit.length > 1 ? `[${orbit}]` : orbit;
    } else {
      out += c;
    }
    i++;
  }
  try {
    new RegExp(out, 'u');
  } catch (e) {
    throw new Error(
      `split pattern "${pattern}" has no JavaScript equivalent (translated: ${out}): ${(e as Error).message}`,
    );
  }
  return out;
}

/** `translatePattern` compiled to a global unicode RegExp. */
export function compileSplitPattern(pattern: string): RegExp {
  return splitRegExp(translatePattern(pattern));
}
