/**
 * tiktoken rank files and the registry of OpenAI encodings (gpt2, cl100k_base, o200k_base).
 *
 * A rank file has one line per token: the token's bytes in base64, a space, its rank (= its id):
 *
 *   IQ== 0          "!"
 *   IHRoZQ== 262    " the"   (gpt2)
 *
 * xfmr ships the three tables gzipped in ./data (made by scripts/make-tiktoken-data.ts from the
 * `tiktoken` package, which is a dev dependency only) and reads them with node:zlib.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BpeTokenizer } from './bpe.ts';
import {
  CL100K_PAT_STR,
  CL100K_PATTERN,
  GPT2_PAT_STR,
  GPT2_PATTERN,
  O200K_PAT_STR,
  O200K_PATTERN,
} from './patterns.ts';
import { TokenBytes } from './token_bytes.ts';

export interface EncodingSpec {
  /** File in ./data. */
  file: string;
  /** The pattern as the reference writes it. */
  patStr: string;
  /** Its JavaScript form. */
  pattern: string;
  specialTokens: Readonly<Record<string, number>>;
}

export const ENCODINGS = {
  gpt2: {
    file: 'gpt2.tiktoken.gz',
    patStr: GPT2_PAT_STR,
    pattern: GPT2_PATTERN,
    specialTokens: { '<|endoftext|>': 50256 },
  },
  cl100k_base: {
    file: 'cl100k_base.tiktoken.gz',
    patStr: CL100K_PAT_STR,
    pattern: CL100K_PATTERN,
    specialTokens: {
      '<|endoftext|>': 100257,
      '<|fim_prefix|>': 100258,
      '<|fim_middle|>': 100259,
      '<|fim_suffix|>': 100260,
      '<|endofprompt|>': 100276,
    },
  },
  o200k_base: {
    file: 'o200k_base.tiktoken.gz',
    patStr: O200K_PAT_STR,
    pattern: O200K_PATTERN,
    specialTokens: { '<|endoftext|>': 199999, '<|endofprompt|>': 200018 },
  },
} as const satisfies Record<string, EncodingSpec>;

export type EncodingName = keyof typeof ENCODINGS;

export function isEncodingName(name: string): name is EncodingName {
  return Object.hasOwn(ENCODINGS, name);
}

const B64 = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++)
  B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Parses a tiktoken rank file (text, or its bytes; gzipped bytes are recognised) into token bytes
 * indexed by rank. Errors name the line.
 */
export function parseTiktokenRanks(data: string | Uint8Array): (Uint8Array | undefined)[] {
  let text: string;
  if (typeof data === 'string') text = data;
  else text = new TextDecoder().decode(data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data);
  const vocab: (Uint8Array | undefined)[] = [];
  let line = 0;
  let i = 0;
  while (i < text.length) {
    line++;
    let eol = text.indexOf('\n', i);
    if (eol < 0) eol = text.length;
    const sp = text.indexOf(' ', i);
    if (eol === i || (eol === i + 1 && text.charCodeAt(i) === 13)) {
      i = eol + 1;
      continue;
    }
    if (sp < 0 || sp > eol) throw new Error(`tiktoken ranks, line ${line}: expected "<base64> <rank>"`);
    const rank = Number(text.slice(sp + 1, eol).trim());
    if (!Number.isInteger(rank) || rank < 0) throw new Error(`tiktoken ranks, line ${line}: bad rank`);
    const bytes = decodeBase64(text, i, sp);
    if (!bytes) throw new Error(`tiktoken ranks, line ${line}: bad base64`);
    vocab[rank] = bytes;
    i = eol + 1;
  }
  return vocab;
}

function decodeBase64(s: string, start: number, end: number): Uint8Array | undefined {
  while (end > start && s.charCodeAt(end - 1) === 61) end--; // '='
  const n = end - start;
  const out = new Uint8Array((n * 3) >> 2);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64[c] : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** Loads a tiktoken rank file (`.tiktoken` or `.tiktoken.gz`) as a tokenizer with the given split pattern. */
export function loadTiktokenFile(
  path: string,
  options: { pattern: string | RegExp; specialTokens?: Readonly<Record<string, number>> },
): BpeTokenizer {
  return new BpeTokenizer({ vocab: parseTiktokenRanks(readFileSync(path)), ...options });
}

const loaded = new Map<EncodingName, BpeTokenizer>();

/** One of the built-in encodings, loaded from ./data once per process. */
export function getEncoding(name: EncodingName): BpeTokenizer {
  let tok = loaded.get(name);
  if (!tok) {
    const spec: EncodingSpec = ENCODINGS[name];
    if (!spec) throw new Error(`unknown encoding "${name}" (known: ${Object.keys(ENCODINGS).join(', ')})`);
    tok = loadTiktokenFile(new URL(`./data/${spec.file}`, import.meta.url).pathname, spec);
    loaded.set(name, tok);
  }
  return tok;
}

/**
 * Merge rules equivalent to tiktoken ranks, for formats that need them (tokenizer.json): the token
 * of rank r is what BPE makes of its own bytes using only ranks below r, and that ends in exactly
 * two parts, whose merge is rule r. Rules come out in rank order. (This is how GPT-2's merges.txt
 * relates to its ranks; tokens that no two smaller tokens make, such as the 256 bytes, get none.)
 */
export function recoverMerges(vocab: ReadonlyArray<Uint8Array | undefined>): [number, number][] {
  const table = new TokenBytes(vocab);
  const merges: [number, number][] = [];
  const bounds = new Int32Array(257);
  for (let r = 0; r < vocab.length; r++) {
    const t = vocab[r];
    if (!t || t.length < 2 || t.length > 256) continue;
    let n = t.length + 1; // part k is t[bounds[k]..bounds[k+1])
    for (let k = 0; k < n; k++) bounds[k] = k;
    for (;;) {
      let best = r;
      let at = -1;
      for (let k = 0; k + 2 < n; k++) {
        const rank = table.lookup(t, bounds[k], bounds[k + 2]);
        if (rank >= 0 && rank < best) {
          best = rank;
          at = k;
        }
      }
      if (at < 0) break;
      bounds.copyWithin(at + 1, at + 2, n);
      n--;
    }
    if (n !== 3) continue;
    merges.push([table.lookup(t, 0, bounds[1]), table.lookup(t, bounds[1], t.length)]);
  }
  return merges;
}
