/**
 * Dictionaries in dictd's format (Debian's dict-foldoc, dict-jargon: /usr/share/dictd/NAME.dict.dz)
 * as corpus texts and as a thesaurus, for the retrieval experiments (issue 18). FOLDOC, the Free
 * On-line Dictionary of Computing, and the Jargon File define computing words in computing's own
 * senses ("folder": a directory), where WordNet and GCIDE give general English first ("capital": a
 * city). Training data that src/train/held_out.ts allows; evaluation text is dropped by the callers.
 *
 * An entry is one or more headword lines at column 0 (FOLDOC lists variants and synonyms there:
 * "directory", "directories", "folder"), then its indented body.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { contentStems, RelatedWords, type Thesaurus } from './wordnet_thesaurus.ts';

export interface DictdEntry {
  heads: string[];
  body: string;
}

/** The entries of a dictd .dict.dz file (or its decompressed text). */
export function dictdEntries(path: string): DictdEntry[] {
  const raw = readFileSync(path);
  const text = (path.endsWith('.dz') ? gunzipSync(raw) : raw).toString('utf8');
  const out: DictdEntry[] = [];
  let heads: string[] = [];
  let body: string[] = [];
  let blank = true;
  const flush = () => {
    if (heads.length > 0 && body.length > 0) out.push({ heads, body: body.join(' ') });
    heads = [];
    body = [];
  };
  for (const line of text.split('\n')) {
    const indented = /^\s/.test(line);
    if (line.trim() === '') blank = true;
    else if (!indented) {
      // A new entry after a blank line or after a body; otherwise another headword of this one.
      if (blank || body.length > 0) flush();
      heads.push(line.trim());
      blank = false;
    } else {
      body.push(line.trim());
      blank = false;
    }
  }
  flush();
  // dictd's own header entries (00-database-*) are not definitions.
  return out.filter((e) => !e.heads[0].startsWith('00-database') && !e.heads[0].startsWith('00database'));
}

/** The body without markup: {cross references} kept as words, <categories>, /pronunciations/, URLs and dates dropped. */
export function plainBody(body: string): string {
  return body
    .replace(/\(?https?:\/\/\S+\)?/g, ' ')
    .replace(/\{\(?(?:ftp|https?|mailto):[^}]*\}/g, ' ')
    .replace(/\(\d{4}-\d{2}-\d{2}\)/g, ' ')
    .replace(/\/[^/\s][^/]{0,40}\//g, ' ')
    .replace(/[{}<>]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Each entry as a text: its headwords, then its plain body. */
export function dictdTexts(path: string): string[] {
  return dictdEntries(path).map((e) => `${e.heads.join(', ')}: ${plainBody(e.body)}`);
}

/** Weight of an entry's other headwords, of the words of its first sentence, and of its first sentence's cross references. */
export const HEADS = 1;
export const FIRST = 0.3;
export const XREF = 0.6;

/**
 * A thesaurus from dictd entries: each single-word headword s is related to the entry's other
 * headwords (x HEADS), the content words of its definition's first sentence (x FIRST) and the words
 * of that sentence's {cross references} (x XREF); scores add over entries, each word keeps its TOP
 * best (wordnet_thesaurus.ts RelatedWords), scaled so the best is 1. Keys and words are the hash embedder's stems, as wordnetThesaurus's.
 */
export function dictdThesaurus(
  paths: readonly string[],
  keep: (text: string) => boolean = () => true,
): Thesaurus {
  const related = new RelatedWords();
  const add = (s: string, t: string, w: number) => related.add(s, t, w);
  for (const path of paths)
    for (const e of dictdEntries(path)) {
      if (!keep(e.body)) continue;
      // The first sentence after the category tags and any "1." sense number.
      const body = e.body.replace(/^(?:\d+\.\s*)?(?:<[^>]*>\s*)*/, '');
      const first = body.split(/(?<=[a-z)}"])\.\s/)[0];
      const xrefs = [...first.matchAll(/\{([^}]*)\}/g)].flatMap((m) => contentStems(m[1]));
      const words = contentStems(plainBody(first));
      const heads = e.heads.map((h) => contentStems(h));
      for (const [i, hs] of heads.entries()) {
        if (hs.length !== 1) continue;
        const s = hs[0];
        for (const [j, other] of heads.entries()) if (j !== i) for (const t of other) add(s, t, HEADS);
        for (const t of new Set(words)) add(s, t, FIRST);
        for (const t of new Set(xrefs)) add(s, t, XREF - FIRST);
      }
    }
  return related.thesaurus();
}
