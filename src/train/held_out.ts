/**
 * Held-out text: the documentation users ask about, kept out of every training corpus (the
 * tokenizer's, the model's and any embedder's) so that questions over it measure reading, not
 * memory (issue 17). Every corpus builder passes its sources through `assertTrainingPath` and its
 * texts through `assertTrainingText`.
 *
 * Held out, by path (symbolic links resolved, so /usr/share/common-licenses/GPL is caught as GPL-3):
 *   /usr/share/man, /usr/local/share/man    manual pages, every language and section
 *   /usr/share/info                         the Texinfo manuals (coreutils, make, gzip: the same
 *                                           text as their manual pages)
 *   /usr/share/common-licenses              the license texts
 *   .../lib/python3.N/, /usr/share/doc/python3*
 *                                           Python's standard library, whose docstrings `pydoc`
 *                                           prints, and its documentation
 *   eval/realprose, eval/paraphrase, eval/paraphrase-fresh, docs
 *                                           this repository's evaluation documents (the second,
 *                                           fresh paraphrase set included) and the docs the
 *                                           shipped assistant answers from
 *
 * and by content: a text that repeats 12 words in a row of an evaluation document (eval/realprose,
 * eval/paraphrase, eval/paraphrase-fresh or docs/) is refused, wherever it comes from. That
 * catches copies the paths miss, such as the GPL's text inside a /usr/share/doc/PACKAGE/copyright
 * file. Words are compared lower case, letters and digits only, so line wrapping and punctuation
 * do not hide a copy.
 *
 * Not handled: paraphrases, and copies shorter than 12 words.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The repository's held-out folders (evaluation documents and the shipped docs). */
export const HELD_OUT_REPO_DIRS: readonly string[] = [
  'eval/realprose',
  'eval/paraphrase',
  'eval/paraphrase-fresh',
  'docs',
];

/** System folders held out, with the reason given in errors. */
const SYSTEM_DIRS: readonly { dir: string; what: string }[] = [
  { dir: '/usr/share/man', what: 'manual pages' },
  { dir: '/usr/local/share/man', what: 'manual pages' },
  { dir: '/usr/share/info', what: 'Texinfo manuals' },
  { dir: '/usr/share/common-licenses', what: 'license texts' },
];

/** Python's standard library (/usr/lib/python3.11/, /usr/local/lib/python3.12/, a pyenv's lib/python3.10/). */
const PYTHON_LIB = /\/lib(64)?\/python3\.\d+(\/|$)/;
const PYTHON_DOC = /^\/usr\/share\/doc\/python3/;

/** Words in a row that make a copy. */
export const SHINGLE_WORDS = 12;

/** Why `path` is held out, or undefined when it may be training data. */
export function heldOutReason(path: string): string | undefined {
  let p = resolve(path);
  try {
    p = realpathSync(p);
  } catch {
    // A path that does not exist yet is judged as written.
  }
  const under = (dir: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  for (const s of SYSTEM_DIRS) if (under(s.dir)) return `${s.what} under ${s.dir}`;
  if (PYTHON_LIB.test(p)) return "Python's standard library (its docstrings are evaluation documents)";
  if (PYTHON_DOC.test(p)) return "Python's documentation";
  for (const d of HELD_OUT_REPO_DIRS) {
    const dir = resolve(ROOT, d);
    if (under(dir)) return `the evaluation documents in ${d}/`;
  }
  return undefined;
}

/** Throws when `path` is held out; `what` names the corpus for the message. */
export function assertTrainingPath(path: string, what: string): void {
  const why = heldOutReason(path);
  if (why)
    throw new Error(
      `${path}: held out of training data (${why}); ${what} may not read it (src/train/held_out.ts)`,
    );
}

/** Lower-case words of letters and digits, in order. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** 64-bit FNV-1a of the words [i, i + n) joined by spaces, as a bigint-free pair of 32-bit halves. */
function shingleKey(ws: readonly string[], i: number, n: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let k = i; k < i + n; k++) {
    const w = ws[k];
    for (let c = 0; c < w.length; c++) {
      const x = w.charCodeAt(c);
      h1 = Math.imul(h1 ^ x, 0x01000193);
      h2 = Math.imul(h2 ^ x, 0x5bd1e995);
    }
    h1 = Math.imul(h1 ^ 32, 0x01000193);
    h2 = Math.imul(h2 ^ 32, 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}`;
}

/** Shingles of held-out texts, with where each came from. */
export class HeldOutIndex {
  private readonly shingles = new Map<string, string>();

  /** Adds a held-out text under the name given in errors. */
  add(name: string, text: string): void {
    const ws = words(text);
    for (let i = 0; i + SHINGLE_WORDS <= ws.length; i++) {
      const k = shingleKey(ws, i, SHINGLE_WORDS);
      if (!this.shingles.has(k)) this.shingles.set(k, name);
    }
  }

  get size(): number {
    return this.shingles.size;
  }

  /** The first run of SHINGLE_WORDS words of `text` found in a held-out text, or undefined. */
  find(text: string): { source: string; words: string } | undefined {
    const ws = words(text);
    for (let i = 0; i + SHINGLE_WORDS <= ws.length; i++) {
      const source = this.shingles.get(shingleKey(ws, i, SHINGLE_WORDS));
      if (source) return { source, words: ws.slice(i, i + SHINGLE_WORDS).join(' ') };
    }
    return undefined;
  }
}

let repoIndex: HeldOutIndex | undefined;

/** The shingles of every file under the repository's held-out folders (read once). */
export function heldOutIndex(): HeldOutIndex {
  if (repoIndex) return repoIndex;
  const index = new HeldOutIndex();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(txt|md)$/.test(e.name)) index.add(relative(ROOT, p), readFileSync(p, 'utf8'));
    }
  };
  for (const d of HELD_OUT_REPO_DIRS) walk(resolve(ROOT, d));
  repoIndex = index;
  return index;
}

/**
 * Throws when `text` repeats SHINGLE_WORDS words in a row of a held-out document; `name` names
 * the text, `what` the corpus. `index` defaults to the repository's evaluation documents.
 */
export function assertTrainingText(
  text: string,
  name: string,
  what: string,
  index: HeldOutIndex = heldOutIndex(),
): void {
  const hit = index.find(text);
  if (hit)
    throw new Error(
      `${name}: repeats held-out text from ${hit.source} ("${hit.words}"); ${what} may not use it (src/train/held_out.ts)`,
    );
}
