/**
 * WordNet 3.0 as a thesaurus (experiments/expansion.ts's file comment; /usr/share/wordnet, Debian's
 * wordnet-base, training data that src/train/held_out.ts allows): for each single word s and each
 * synset it belongs to, in sense order (rank r from 1, weight 1/r), the synset's other lemmas (x 1),
 * its hypernyms' lemmas (x HYPERNYM) and the content words of its definition (x GLOSS) are related
 * to s. Scores add up over senses and parts of speech, keyed by the hash embedder's stems; each word
 * keeps its TOP best, scaled so the best is 1. Shared by the expansion and distsem experiments.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stem, words } from '../src/rag/hash_embedder.ts';
import { wordRank } from '../src/rag/word_prior.ts';

export const HYPERNYM = 0.5;
export const GLOSS = 0.3;
export const TOP = 10;

export type Thesaurus = Map<string, [string, number][]>;

/** Relatedness scores of word pairs, added up; then each word's TOP best, scaled so the best is 1. */
export class RelatedWords {
  private readonly acc = new Map<string, Map<string, number>>();

  add(s: string, t: string, w: number): void {
    if (s === t) return;
    const m = this.acc.get(s) ?? new Map<string, number>();
    this.acc.set(s, m);
    m.set(t, (m.get(t) ?? 0) + w);
  }

  thesaurus(): Thesaurus {
    const out: Thesaurus = new Map();
    for (const [s, m] of this.acc) {
      const top = [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP);
      out.set(
        s,
        top.map(([t, w]) => [t, w / top[0][1]]),
      );
    }
    return out;
  }
}

/** Content words (letters only, not stopwords) of a text, as the hash embedder's stems. */
export function contentStems(text: string): string[] {
  return words(text)
    .filter((w) => /^\p{L}{2,}$/u.test(w) && wordRank(w) !== 0)
    .map(stem);
}

export interface Synset {
  offset: string;
  /** Its words, underscores as spaces, markers such as "(a)" dropped. */
  lemmas: string[];
  /** Offsets of its hypernyms (@ and @i pointers). */
  hypernyms: string[];
  /** The definition, without the quoted examples. */
  definition: string;
  /** The whole gloss: definition and examples. */
  gloss: string;
}

/** The synsets of WordNet's data.POS file. */
export function wordnetSynsets(dir: string, pos: string): Synset[] {
  const out: Synset[] = [];
  // data line: offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [ptr offset pos src/tgt]... | gloss
  for (const line of readFileSync(join(dir, `data.${pos}`), 'utf8').split('\n')) {
    if (!line || line.startsWith('  ')) continue; // the license header
    const [head, gloss = ''] = line.split(' | ');
    const f = head.split(' ');
    const count = Number.parseInt(f[3], 16);
    const lemmas = Array.from({ length: count }, (_, i) =>
      f[4 + 2 * i].replace(/\(.*\)$/, '').replace(/_/g, ' '),
    );
    const hypernyms: string[] = [];
    let k = 4 + 2 * count;
    const pointers = Number(f[k++]);
    for (let i = 0; i < pointers; i++, k += 4) if (f[k] === '@' || f[k] === '@i') hypernyms.push(f[k + 1]);
    out.push({ offset: f[0], lemmas, hypernyms, definition: gloss.split(/;\s*"/)[0], gloss });
  }
  return out;
}

/** The thesaurus of the file comment from WordNet's data.POS and index.POS files. */
export function wordnetThesaurus(dir: string): Thesaurus {
  const related = new RelatedWords();
  const add = (s: string, t: string, w: number) => related.add(s, t, w);
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const synsets = new Map<string, { lemmas: string[]; hypernyms: string[]; gloss: string[] }>();
    for (const syn of wordnetSynsets(dir, pos))
      synsets.set(syn.offset, {
        lemmas: syn.lemmas,
        hypernyms: syn.hypernyms,
        gloss: contentStems(syn.definition),
      });
    // index line: lemma pos synset_cnt p_cnt [ptr]... sense_cnt tagsense_cnt offset... (most frequent sense first)
    for (const line of readFileSync(join(dir, `index.${pos}`), 'utf8').split('\n')) {
      if (!line || line.startsWith('  ')) continue;
      const f = line.trim().split(' ');
      if (!/^\p{L}+$/u.test(f[0]) || wordRank(f[0]) === 0) continue;
      const s = stem(f[0]);
      const offsets = f.slice(f.length - Number(f[2]));
      offsets.forEach((offset, r) => {
        const syn = synsets.get(offset);
        if (!syn) return;
        const w = 1 / (r + 1);
        for (const l of syn.lemmas) for (const t of contentStems(l)) add(s, t, w);
        for (const h of syn.hypernyms)
          for (const l of synsets.get(h)?.lemmas ?? [])
            for (const t of contentStems(l)) add(s, t, w * HYPERNYM);
        for (const t of new Set(syn.gloss)) add(s, t, w * GLOSS);
      });
    }
  }
  return related.thesaurus();
}
