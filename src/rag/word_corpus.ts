/**
 * The text corpus of the word vectors (word_vectors.ts) behind the word-vector embedder
 * (word_embedder.ts, issue 18): Debian's package descriptions (apt's Translation-en index; as root:
 *   apt-get update -o Acquire::Languages=en
 *   n=0; for f in /var/lib/apt/lists/*_i18n_Translation-en*; do n=$((n+1));
 *     /usr/lib/apt/apt-helper cat-file "$f" > DIR/Translation-en.$n; done
 * as scripts/train_word_embedder.sh does), the prose paragraphs of /usr/share/doc (src/recipe/prose.ts
 * docParagraphs: held-out paths skipped, copies of evaluation text dropped), and optionally more
 * texts (the retrieval experiments add dictionaries). Every text goes through the held-out index,
 * so neither manual pages, Python's docstrings, license texts nor eval/ reach the counts.
 *
 * Tokens are the hash embedder's stems (letters only; stopwords kept in the cache marked "_" and
 * dropped unless asked for), so a vector's key is the string after `w:` in the embedder's
 * features. The token lists are cached beside the Translation-en files (tokens*.txt), the vectors
 * at the path given. /usr/share/doc holds what the installed packages ship, so another machine's
 * corpus (and vectors) differ a little.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.ts';
import { docParagraphs } from '../recipe/prose.ts';
import { assertTrainingPath, heldOutIndex } from '../train/held_out.ts';
import { stem, words } from './hash_embedder.ts';
import { wordRank } from './word_prior.ts';
import { buildWordVectors, type WordVectorOptions, WordVectors } from './word_vectors.ts';

/** Long descriptions (synopsis and body) of a decompressed Translation-en file. */
export function translationDescriptions(text: string): string[] {
  const out: string[] = [];
  for (const record of text.split(/\n\n+/)) {
    const m = /^Description(?:-en)?: *(.*)\n((?: .*\n?)*)/m.exec(record);
    if (!m) continue;
    const body = m[2]
      .split('\n')
      .map((l) => (l.trim() === '.' ? '' : l.trim()))
      .join('\n');
    out.push(`${m[1].trim()}\n${body}`);
  }
  return out;
}

/** Sources of the corpus: `apt` (Translation-en files) and /usr/share/doc always; `extra` optional. */
export interface CorpusSources {
  /** Folder of decompressed Translation-en files (Translation-en.N). */
  apt: string;
  /** More texts, each set named (the cache's name) and read from its file. */
  extra?: { name: string; path: string; read: (path: string) => string[] }[];
}

/** Corpus texts: Translation-en descriptions, /usr/share/doc prose, then the dictionaries asked for. */
export function corpusTexts(sources: CorpusSources): {
  texts: string[];
  descriptions: number;
  paragraphs: number;
  dictionary: number;
  dropped: number;
} {
  const aptDir = sources.apt;
  const index = heldOutIndex();
  const texts: string[] = [];
  let dropped = 0;
  const files = existsSync(aptDir)
    ? readdirSync(aptDir)
        .filter((f) => /^Translation-en\.\d+$/.test(f))
        .sort()
    : [];
  if (files.length === 0)
    throw new Error(
      `${aptDir}: no Translation-en files; fetch them with apt-get update -o Acquire::Languages=en and apt-helper cat-file`,
    );
  const keep = (t: string) => {
    if (index.find(t)) dropped++;
    else texts.push(t);
  };
  for (const f of files) {
    const path = join(aptDir, f);
    assertTrainingPath(path, 'the word-vector corpus');
    for (const d of translationDescriptions(readFileSync(path, 'utf8'))) keep(d);
  }
  const descriptions = texts.length;
  const docs = docParagraphs({ index });
  for (const p of docs.paragraphs) texts.push(p.text);
  const before = texts.length;
  for (const { path, read } of sources.extra ?? []) {
    assertTrainingPath(path, 'the word-vector corpus');
    for (const t of read(path)) keep(t);
  }
  return {
    texts,
    descriptions,
    paragraphs: docs.paragraphs.length,
    dictionary: texts.length - before,
    dropped: dropped + docs.dropped,
  };
}

/** Stems of every word of letters (stopwords kept, marked by a leading "_"), a text per line. */
function tokenLines(sources: CorpusSources, cache: string): string[] {
  if (existsSync(cache)) return readFileSync(cache, 'utf8').split('\n');
  const t0 = performance.now();
  const corpus = corpusTexts(sources);
  const lines = corpus.texts.map((t) =>
    words(t)
      .filter((w) => /^\p{L}{2,}$/u.test(w))
      .map((w) => (wordRank(w) === 0 ? `_${w}` : stem(w)))
      .join(' '),
  );
  console.error(
    `word-vector corpus: ${corpus.descriptions} package descriptions, ${corpus.paragraphs} doc paragraphs ` +
      `${corpus.dictionary} dictionary entries (${corpus.dropped} held-out copies dropped), read in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  writeFileAtomic(cache, lines.join('\n'));
  return lines;
}

/**
 * The vectors cached at `path`, or built from the corpus (and cached) when missing; `stopwords`
 * keeps stopwords in the windows (as context words; they get vectors too, but retrieval ignores them).
 */
export function cachedWordVectors(
  path: string,
  sources: CorpusSources,
  options: WordVectorOptions,
  stopwords = false,
): WordVectors {
  if (existsSync(path)) return WordVectors.parse(readFileSync(path), path);
  const name = ['tokens', ...(sources.extra ?? []).map((e) => e.name)].join('-');
  const lines = tokenLines(sources, join(sources.apt, `${name}.txt`));
  const tokens = lines.map((l) => (l ? l.split(' ').filter((w) => stopwords || !w.startsWith('_')) : []));
  const n = tokens.reduce((s, t) => s + t.length, 0);
  console.error(`word-vector corpus: ${n} tokens${stopwords ? ' (stopwords kept)' : ''}`);
  const t1 = performance.now();
  const v = buildWordVectors(tokens, options);
  console.error(
    `word vectors: ${v.words.length} words x ${v.dim}, built in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
  );
  writeFileAtomic(path, v.serialize());
  return v;
}
