/**
 * The corpus and cached word vectors of the distsem experiment (issue 18): Debian's package
 * descriptions (apt's Translation-en index, as scripts/corpus/embed_pairs.sh fetches it; as root:
 *   apt-get update -o Acquire::Languages=en
 *   n=0; for f in /var/lib/apt/lists/*_i18n_Translation-en*; do n=$((n+1));
 *     /usr/lib/apt/apt-helper cat-file "$f" > tmp/distsem/Translation-en.$n; done
 * ) and the prose paragraphs of /usr/share/doc (src/recipe/prose.ts docParagraphs: held-out paths
 * skipped, copies of evaluation text dropped); optionally WordNet's synsets with their definitions
 * (wordnet-base) and GCIDE's entries (dict-gcide), both dictionaries issue 18 names as training data.
 * Every text goes through the held-out index, so neither manual pages, Python's docstrings, license
 * texts nor eval/paraphrase itself reach the counts.
 *
 * Tokens are the hash embedder's stems (letters only; stopwords kept in the cache marked "_" and
 * dropped unless asked for), so a vector's key is the string after `w:` in the embedder's features.
 * The token lists are cached beside the Translation-en files (tokens*.txt), the vectors at the path
 * given. Not handled: /usr/share/doc holds what the installed packages ship, so another machine's
 * corpus (and vectors) differ a little (this one: 67,612 descriptions, 43,050 paragraphs, 3.68M
 * content tokens).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeFileAtomic } from '../src/io/files.ts';
import { stem, words } from '../src/rag/hash_embedder.ts';
import { wordRank } from '../src/rag/word_prior.ts';
import { buildWordVectors, type WordVectorOptions, WordVectors } from '../src/rag/word_vectors.ts';
import { docParagraphs } from '../src/recipe/prose.ts';
import { assertTrainingPath, heldOutIndex } from '../src/train/held_out.ts';
import { dictdTexts } from './dictd.ts';
import { wordnetSynsets } from './wordnet_thesaurus.ts';

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

/** Sources the corpus may draw on (`debian` and `doc` always; the dictionaries are optional). */
export interface CorpusSources {
  /** Folder of decompressed Translation-en files. */
  apt: string;
  /** WordNet's dictionary folder (/usr/share/wordnet): each synset's words, then its definition and examples. */
  wordnet?: string;
  /** GCIDE's dictd file (/usr/share/dictd/gcide.dict.dz, Debian's dict-gcide): definitions, markup stripped. */
  gcide?: string;
  /** Computing dictionaries in dictd's format (dict-foldoc, dict-jargon): headwords, then the definition. */
  dictd?: string[];
}

/** Each WordNet synset as a text: its words, its definition and examples. */
export function wordnetTexts(dir: string): string[] {
  return ['noun', 'verb', 'adj', 'adv'].flatMap((pos) =>
    wordnetSynsets(dir, pos).map((syn) => `${syn.lemmas.join(', ')}: ${syn.gloss.replace(/"/g, '')}`),
  );
}

/** GCIDE's entries as texts: pronunciations (\Con*ceal"\), bracketed etymologies and sources dropped. */
export function gcideTexts(path: string): string[] {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  return text
    .split(/\n\s*\n/)
    .map((e) =>
      e
        .replace(/\\[^\\\n]*\\/g, ' ')
        .replace(/\[[^\]]*\]/g, ' ')
        .replace(/--[A-Z][\w. ]*/g, ' ')
        .replace(/[{}]/g, ''),
    )
    .filter((e) => e.split(/\s+/).length >= 4);
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
    assertTrainingPath(path, 'the distsem corpus');
    for (const d of translationDescriptions(readFileSync(path, 'utf8'))) keep(d);
  }
  const descriptions = texts.length;
  const docs = docParagraphs({ index });
  for (const p of docs.paragraphs) texts.push(p.text);
  const before = texts.length;
  for (const [path, read] of [
    [sources.wordnet, wordnetTexts],
    [sources.gcide, gcideTexts],
  ] as const)
    if (path) {
      assertTrainingPath(path, 'the distsem corpus');
      for (const t of read(path)) keep(t);
    }
  for (const path of sources.dictd ?? []) {
    assertTrainingPath(path, 'the distsem corpus');
    for (const t of dictdTexts(path)) keep(t);
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
    `distsem corpus: ${corpus.descriptions} package descriptions, ${corpus.paragraphs} doc paragraphs ` +
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
  const dicts = (sources.dictd ?? []).map((p) => basename(p).replace(/\..*$/, ''));
  const name = ['tokens', sources.wordnet && 'wordnet', sources.gcide && 'gcide', ...dicts]
    .filter(Boolean)
    .join('-');
  const lines = tokenLines(sources, join(sources.apt, `${name}.txt`));
  const tokens = lines.map((l) => (l ? l.split(' ').filter((w) => stopwords || !w.startsWith('_')) : []));
  const n = tokens.reduce((s, t) => s + t.length, 0);
  console.error(`distsem corpus: ${n} tokens${stopwords ? ' (stopwords kept)' : ''}`);
  const t1 = performance.now();
  const v = buildWordVectors(tokens, options);
  console.error(
    `word vectors: ${v.words.length} words x ${v.dim}, built in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
  );
  writeFileAtomic(path, v.serialize());
  return v;
}
