/**
 * The distsem experiment's corpus (issue 18): src/rag/word_corpus.ts (Debian's package descriptions
 * and /usr/share/doc prose) plus, on request, the dictionaries issue 18 names as training data:
 * WordNet's synsets with their definitions (wordnet-base), GCIDE's entries (dict-gcide) and the
 * computing dictionaries in dictd's format (dict-foldoc, dict-jargon: experiments/dictd.ts). Their
 * texts pass the same held-out index as the rest.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { CorpusSources } from '../src/rag/word_corpus.ts';
import { dictdTexts } from './dictd.ts';
import { wordnetSynsets } from './wordnet_thesaurus.ts';

export { cachedWordVectors, corpusTexts, translationDescriptions } from '../src/rag/word_corpus.ts';

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

/** The corpus sources with the dictionaries asked for (each a path; dictd: several). */
export function distsemSources(o: {
  apt: string;
  wordnet?: string;
  gcide?: string;
  dictd?: string[];
}): CorpusSources {
  return {
    apt: o.apt,
    extra: [
      ...(o.wordnet ? [{ name: 'wordnet', path: o.wordnet, read: wordnetTexts }] : []),
      ...(o.gcide ? [{ name: 'gcide', path: o.gcide, read: gcideTexts }] : []),
      ...(o.dictd ?? []).map((path) => ({
        name: basename(path).replace(/\..*$/, ''),
        path,
        read: dictdTexts,
      })),
    ],
  };
}
