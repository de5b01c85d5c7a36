/**
 * How informative an English word is, with no corpus at hand: an inverse-document-frequency prior
 * read off a BPE vocabulary that ships with xfmr (cl100k_base, src/tokenizers/data).
 *
 * BPE merges in order of pair frequency, so a word that became one token early is a frequent word:
 * among the tokens that are a space followed by letters (" the", " and", " database"), the order
 * of their ranks is close to a word-frequency ranking. With Zipf's law (df ~ 1 / rank) the IDF of
 * the word of rank r is log(N / df) ~ log(r) + c; we use
 *
 *   idf(w) = log(1 + r(w) / R0)          r(w) = 1 for "the", 2 for the next word, ...
 *
 * and give words that are not one token (rare words, names, identifiers) the weight of a word just
 * past the end of the list. R0 sets how much the commonest words are damped (idf("the") ~ 0.05).
 * The result is deterministic and needs no statistics from the indexed documents, so vectors never
 * change as a collection grows (a corpus IDF would force re-embedding everything).
 *
 * Numbers get fixed ranks (see wordRank). Not handled: languages other than English get the flat "rare word" weight for most words.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Default damping of the commonest words (see the file comment). */
export const R0 = 20;

/** Function words and question words: weight 0 whatever their rank (they carry no topic). */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below ' +
    'between both but by can could did do does doing down during each few for from further had has have ' +
    'having he her here hers herself him himself his how i if in into is it its itself just me more most ' +
    'my myself no nor not now of off on once only or other our ours ourselves out over own same she ' +
    'should so some such than that the their theirs them themselves then there these they this those ' +
    'through to too under until up very was we were what when where which while who whom why will with ' +
    'would you your yours yourself yourselves also may might must shall us get got via e g ie eg etc ' +
    'one two s t d ll m re ve y tell explain describe happens happen'
  ).split(' '),
);

let table: Map<string, number> | null = null;
let unknownRank = 0;

function load(): Map<string, number> {
  if (table) return table;
  const path = new URL('../tokenizers/data/cl100k_base.tiktoken.gz', import.meta.url);
  const text = gunzipSync(readFileSync(path)).toString('latin1');
  const t = new Map<string, number>();
  // Lines are "<base64 of the token bytes> <rank>" in rank order. A token that starts with a space
  // (0x20) has base64 starting with "I"; only those are decoded.
  for (let i = 0; i < text.length; ) {
    let eol = text.indexOf('\n', i);
    if (eol < 0) eol = text.length;
    if (text.charCodeAt(i) === 0x49) {
      const sp = text.indexOf(' ', i);
      const bytes = Buffer.from(text.slice(i, sp), 'base64');
      if (bytes.length >= 2 && bytes[0] === 0x20) {
        let letters = true;
        for (let j = 1; j < bytes.length && letters; j++) {
          const c = bytes[j] | 0x20;
          letters = c >= 0x61 && c <= 0x7a;
        }
        // " word" (a space and ASCII letters; a capitalised form counts as the same word)
        if (letters) {
          const w = bytes.toString('latin1', 1).toLowerCase();
          if (!t.has(w)) t.set(w, t.size + 1);
        }
      }
    }
    i = eol + 1;
  }
  table = t;
  unknownRank = t.size + 1;
  return t;
}

/**
 * Frequency rank of a lowercase word: 1 for the commonest, `priorSize() + 1` for words that are
 * not one token; 0 for stopwords. Numbers are not in the list: short ones (section numbers, small
 * counts) count as common (rank 200), longer ones (years, versions, limits) as specific (5000).
 */
export function wordRank(word: string): number {
  if (STOPWORDS.has(word)) return 0;
  if (/^[0-9]+$/.test(word)) return word.length <= 2 ? 200 : 5000;
  const t = load();
  return t.get(word) ?? unknownRank;
}

/** idf prior of a lowercase word, log(1 + rank / r0) (0 for stopwords). */
export function wordWeight(word: string, r0 = R0): number {
  const r = wordRank(word);
  return r === 0 ? 0 : Math.log(1 + r / r0);
}

/** Number of words with a known rank (for tests and reports). */
export function priorSize(): number {
  return load().size;
}
