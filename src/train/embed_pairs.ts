/**
 * Query/passage pairs for training a sentence embedder (contrastive.ts), from what a Debian
 * machine has offline. Each pair is a short text and a longer one that answers or explains it:
 *
 *   debian     a package's one-line synopsis  vs  its long description (apt's Translation-en
 *              index: "Description-en: SYNOPSIS" then the description, one space-indented line
 *              each, " ." for a blank line)
 *   wordnet    a word of a synset             vs  the synset's other words and its definition
 *              ("car" vs "auto, automobile, machine, motorcar: a motor vehicle with four wheels")
 *              from /usr/share/wordnet/data.{noun,verb,adj,adv}: "offset lexfile pos w_cnt(hex)
 *              word lex_id ... | gloss"; synonyms are what paraphrased questions use
 *   docs       a Markdown heading             vs  the section under it (/usr/share/doc/**.md)
 *
 * Every source path goes through the held-out guard (train/held_out.ts: man pages, Python's
 * docstrings and documentation, /usr/share/common-licenses, the repository's evaluation docs) and
 * every passage through its 12-word copy check; a passage that copies held-out text is dropped
 * (counted), a held-out path is refused with an error.
 *
 * The dev split: Debian packages whose name (and WordNet synsets whose offset) hashes into
 * 1/`devEvery` of the space, kept out of training and used to tune retrieval (synopsis ->
 * description, word -> definition, each among its own split's passages), plus the dev synopses
 * reworded with WordNet synonyms ("debian-syn", synonymDevPairs), which asks in other words than
 * the description's, like the paraphrase evaluation does.
 * Not handled: HTML documentation, and near-duplicate descriptions across packages beyond the
 * exact-text dedup (they stay as separate pairs).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { assertTrainingPath, type HeldOutIndex, heldOutIndex, heldOutReason } from './held_out.ts';

export interface EmbedPair {
  query: string;
  passage: string;
  /** Where it came from: "debian:PACKAGE", "wordnet:noun:OFFSET", "docs:PATH#HEADING". */
  source: string;
  split: 'train' | 'dev';
}

export interface PairCounts {
  pairs: number;
  /** Passages dropped because they repeat held-out text. */
  heldOut: number;
  /** Pairs dropped as exact duplicates of an earlier passage. */
  duplicates: number;
}

const WHAT = 'the embedder training data';

/** FNV-1a of a string, for the deterministic dev split. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Whether a Debian package belongs to the dev split (1 in devEvery by name hash). */
export function isDevPackage(name: string, devEvery = 50): boolean {
  return hash32(name) % devEvery === 0;
}

/**
 * Pairs of an apt Translation-en (or dpkg status / Packages) text: synopsis vs long description.
 * Descriptions of fewer than `minWords` words are skipped (nothing to explain).
 */
export function debianPairs(text: string, devEvery = 50, minWords = 8): EmbedPair[] {
  const out: EmbedPair[] = [];
  for (const record of text.split(/\n\n+/)) {
    const pkg = /^Package: *(\S+)/m.exec(record)?.[1];
    const m = /^Description(?:-en)?: *(.*)\n((?: .*\n?)*)/m.exec(record);
    if (!pkg || !m) continue;
    const synopsis = m[1].trim();
    const body = m[2]
      .split('\n')
      .map((l) => (l.trim() === '.' ? '' : l.trim()))
      .join('\n')
      .replace(/\n{2,}/g, '\n\n')
      .replace(/([^\n])\n(?!\n)/g, '$1 ')
      .trim();
    if (!synopsis || body.split(/\s+/).length < minWords) continue;
    out.push({
      query: synopsis,
      passage: body,
      source: `debian:${pkg}`,
      split: isDevPackage(pkg, devEvery) ? 'dev' : 'train',
    });
  }
  return out;
}

/** Pairs of one WordNet data.POS file: each synset's first word vs its other words and gloss. */
export function wordnetPairs(text: string, pos: string, devEvery = 50): EmbedPair[] {
  const out: EmbedPair[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('  ') || line.trim() === '') continue; // the license header
    const bar = line.indexOf(' | ');
    if (bar < 0) continue;
    const f = line.slice(0, bar).split(' ');
    const nWords = Number.parseInt(f[3], 16);
    if (!(nWords > 0)) continue;
    const words: string[] = [];
    for (let i = 0; i < nWords; i++) {
      const w = f[4 + 2 * i]
        .replace(/\([a-z]+\)$/, '') // adjective markers: "big(a)"
        .replace(/_/g, ' ');
      if (!words.includes(w)) words.push(w);
    }
    const gloss = line.slice(bar + 3).trim();
    // The definition, without the quoted usage examples that follow it.
    const definition = gloss.split(/; "/)[0].replace(/;\s*$/, '').trim();
    if (!definition) continue;
    const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((x) => x[1]);
    const others = words.slice(1);
    const passage = `${others.length > 0 ? `${others.join(', ')}: ` : ''}${definition}${
      examples.length > 0 ? `. ${examples[0]}` : ''
    }`;
    const source = `wordnet:${pos}:${f[0]}`;
    out.push({ query: words[0], passage, source, split: hash32(source) % devEvery === 0 ? 'dev' : 'train' });
  }
  return out;
}

/** Heading vs section pairs of a Markdown text (sections of at least `minWords` words). */
export function markdownPairs(text: string, name: string, minWords = 12): EmbedPair[] {
  const out: EmbedPair[] = [];
  let heading: string | null = null;
  let body: string[] = [];
  let inCode = false;
  const flush = () => {
    const section = body
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
    if (heading && section.split(/\s+/).length >= minWords)
      out.push({ query: heading, passage: section, source: `docs:${name}#${heading}`, split: 'train' });
    body = [];
  };
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) inCode = !inCode;
    const h = inCode ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (h) {
      flush();
      heading = h[1].replace(/[`*_[\]]/g, '').trim();
    } else body.push(line);
  }
  flush();
  return out;
}

/** Markdown files under `root` (plain or .gz), held-out paths skipped, sorted. */
export function markdownFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (heldOutReason(dir)) return;
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return; // unreadable folders are not data
    }
    for (const e of entries) {
      const p = join(dir, e);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (/\.(md|markdown)(\.gz)?$/i.test(e) && !heldOutReason(p)) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** Text of a file, gunzipped when it ends in .gz; the path must not be held out. */
function readSource(path: string): string {
  assertTrainingPath(path, WHAT);
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

export interface PairSources {
  /** Decompressed apt Translation-en files (or dpkg status files). */
  debian?: readonly string[];
  /** A WordNet dict folder (data.noun, data.verb, data.adj, data.adv). */
  wordnet?: string;
  /** Folders whose Markdown files give heading/section pairs. */
  docs?: readonly string[];
  /** 1 in devEvery Debian packages goes to the dev split (default 50). */
  devEvery?: number;
}

/**
 * The dev split's Debian pairs again with their synopsis reworded by WordNet synonyms (synonymize),
 * source "debian-syn:PACKAGE": a paraphrase dev set built from training-side material only.
 */
export function synonymDevPairs(pairs: readonly EmbedPair[], wordnetDir: string): EmbedPair[] {
  const syn = wordnetSynonyms(wordnetDir);
  const out: EmbedPair[] = [];
  for (const p of pairs) {
    if (p.split !== 'dev' || !p.source.startsWith('debian:')) continue;
    const q = synonymize(p.query, syn);
    if (q)
      out.push({ query: q, passage: p.passage, source: `debian-syn:${p.source.slice(7)}`, split: 'dev' });
  }
  return out;
}

/**
 * All pairs of the sources, held-out text dropped, exact duplicate passages dropped (the first
 * kept), in source order. `index` is the held-out copy index (default: the repository's).
 */
export function buildPairs(
  s: PairSources,
  index: HeldOutIndex = heldOutIndex(),
): { pairs: EmbedPair[]; counts: PairCounts } {
  const raw: EmbedPair[] = [];
  for (const f of s.debian ?? []) raw.push(...debianPairs(readSource(f), s.devEvery ?? 50));
  if (s.wordnet) {
    for (const pos of ['noun', 'verb', 'adj', 'adv']) {
      const p = join(s.wordnet, `data.${pos}`);
      if (!existsSync(p)) throw new Error(`${p}: no such WordNet data file`);
      raw.push(...wordnetPairs(readSource(p), pos, s.devEvery ?? 50));
    }
  }
  for (const root of s.docs ?? [])
    for (const f of markdownFiles(root)) raw.push(...markdownPairs(readSource(f), f));
  const seen = new Set<string>();
  const counts: PairCounts = { pairs: 0, heldOut: 0, duplicates: 0 };
  const pairs: EmbedPair[] = [];
  for (const p of raw) {
    // Packages that share a description (foo, foo-data, foo-doc) would be false negatives of
    // each other in a batch, and a dev description must not also be a training one.
    if (seen.has(p.passage)) {
      counts.duplicates++;
      continue;
    }
    if (index.find(p.passage) || index.find(p.query)) {
      counts.heldOut++;
      continue;
    }
    seen.add(p.passage);
    pairs.push(p);
  }
  if (s.wordnet) pairs.push(...synonymDevPairs(pairs, s.wordnet));
  counts.pairs = pairs.length;
  return { pairs, counts };
}

/** Parses pairs JSONL (one EmbedPair per line); errors name the file and line. */
export function parsePairsJsonl(text: string, name: string): EmbedPair[] {
  const out: EmbedPair[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${name}:${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
    const o = v as Partial<EmbedPair>;
    if (typeof o !== 'object' || o === null || typeof o.query !== 'string' || typeof o.passage !== 'string')
      throw new Error(`${name}:${i + 1}: expected {"query": string, "passage": string, ...}`);
    out.push({
      query: o.query,
      passage: o.passage,
      source: typeof o.source === 'string' ? o.source : `${name}:${i + 1}`,
      split: o.split === 'dev' ? 'dev' : 'train',
    });
  }
  return out;
}

/**
 * A word's most frequent WordNet synonyms: for each lemma, the other words of its most frequent
 * sense (the first synset of index.POS) in the part of speech whose senses were tagged most often
 * in WordNet's corpus (index.POS's tagsense_cnt). "file" -> ["register"], "tool" -> ["instrument"]
 * (lower case, multiword lemmas with spaces).
 */
export function wordnetSynonyms(dir: string): Map<string, string[]> {
  const best = new Map<string, { tagged: number; words: string[] }>();
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const words = new Map<string, string[]>();
    for (const line of readSource(join(dir, `data.${pos}`)).split('\n')) {
      if (line.startsWith('  ') || line.trim() === '') continue;
      const f = line.slice(0, line.indexOf(' | ')).split(' ');
      const n = Number.parseInt(f[3], 16);
      words.set(
        f[0],
        Array.from({ length: n }, (_, i) =>
          f[4 + 2 * i]
            .replace(/\([a-z]+\)$/, '')
            .replace(/_/g, ' ')
            .toLowerCase(),
        ),
      );
    }
    for (const line of readSource(join(dir, `index.${pos}`)).split('\n')) {
      if (line.startsWith('  ') || line.trim() === '') continue;
      const f = line.trim().split(' ');
      const pCnt = Number(f[3]);
      const tagged = Number(f[5 + pCnt]);
      const first = f[6 + pCnt];
      const lemma = f[0].replace(/_/g, ' ');
      const syn = (words.get(first) ?? []).filter((w) => w !== lemma);
      const prev = best.get(lemma);
      if (syn.length > 0 && (!prev || tagged > prev.tagged)) best.set(lemma, { tagged, words: syn });
    }
  }
  return new Map([...best].map(([k, v]) => [k, v.words]));
}

/** Words too common or too vague to stand for a synonym question's content. */
const KEEP = new Set(
  'a an the and or of for to in on with by from at as is are be this that it its into your you can not no all any'.split(
    ' ',
  ),
);

/**
 * `text` with each content word that has a WordNet synonym replaced by the first synonym (a plural
 * "-s" tried as its singular), the way a person asks in their own words: "compress files" ->
 * "squeeze register". Returns undefined when fewer than half the content words changed.
 */
export function synonymize(
  text: string,
  synonyms: ReadonlyMap<string, readonly string[]>,
): string | undefined {
  let content = 0;
  let changed = 0;
  const out = text.replace(/[A-Za-z]+/g, (w) => {
    const lw = w.toLowerCase();
    if (KEEP.has(lw) || lw.length < 3) return w;
    content++;
    const s = synonyms.get(lw) ?? (lw.endsWith('s') ? synonyms.get(lw.slice(0, -1)) : undefined);
    if (!s || s.length === 0) return w;
    changed++;
    return s[0];
  });
  return content > 0 && changed * 2 >= content ? out : undefined;
}
