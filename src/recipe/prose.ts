/**
 * Real prose for the recipe, from what a Debian machine has offline (issue 17: "data that teaches
 * copying from context"):
 *
 *   packages   Debian's package records (`apt-cache dumpavail`, dumped by scripts/corpus/debian.sh):
 *              name, version, maintainer, section, homepage, a one-line synopsis and a long
 *              description written by thousands of different people
 *   docs       text files under /usr/share/doc (README, *.md, *.txt, gzipped or not), cut into
 *              paragraphs
 *
 * Neither may hold evaluation text: /usr/share/doc/python3* is held out by path, and every passage
 * goes through the held-out index (src/train/held_out.ts), so a README that quotes a license or a
 * manual page is dropped, not trained on. Files are read in sorted order, so the same machine
 * gives the same passages.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type HeldOutIndex, heldOutIndex, heldOutReason } from '../train/held_out.ts';

export interface DebianPackage {
  name: string;
  version: string;
  maintainer: string;
  section: string;
  homepage: string;
  synopsis: string;
  /** The long description, paragraphs separated by a blank line. */
  description: string;
}

/** Package records of `apt-cache dumpavail` output; the first record of each name is kept. */
export function parseDumpavail(text: string): DebianPackage[] {
  const out: DebianPackage[] = [];
  const seen = new Set<string>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith(' ') && last) fields.set(last, `${fields.get(last)}\n${line.slice(1)}`);
      else {
        const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
        if (m) {
          last = m[1];
          fields.set(last, m[2]);
        }
      }
    }
    const name = fields.get('Package');
    const desc = fields.get('Description');
    if (!name || !desc || seen.has(name)) continue;
    seen.add(name);
    const [synopsis, ...rest] = desc.split('\n');
    const description = rest
      .map((l) => (l.trim() === '.' ? '' : l))
      .join('\n')
      .split(/\n{2,}/)
      .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
      .filter(Boolean)
      .join('\n\n');
    out.push({
      name,
      version: fields.get('Version') ?? '',
      maintainer: fields.get('Maintainer') ?? '',
      section: fields.get('Section') ?? '',
      homepage: fields.get('Homepage') ?? '',
      synopsis: synopsis.trim(),
      description,
    });
  }
  return out;
}

/** A package as a document, the way `apt show` prints the parts people read. */
export function packageDocument(p: DebianPackage): string {
  const head = [`Package: ${p.name}`, `Version: ${p.version}`];
  if (p.maintainer) head.push(`Maintainer: ${p.maintainer}`);
  if (p.section) head.push(`Section: ${p.section}`);
  if (p.homepage) head.push(`Homepage: ${p.homepage}`);
  head.push(`Description: ${p.synopsis}`);
  return p.description ? `${head.join('\n')}\n\n${p.description}` : head.join('\n');
}

/** Names of /usr/share/doc files worth reading as prose. */
const DOC_FILE =
  /^(README|NEWS|FAQ|TODO|USAGE|INSTALL|HACKING|AUTHORS|THANKS)([._-].*)?$|\.(md|markdown|txt|rst)(\.gz)?$/i;

function readText(path: string): string | undefined {
  try {
    const raw = readFileSync(path);
    const buf = path.endsWith('.gz') ? gunzipSync(raw) : raw;
    const text = buf.toString('utf8');
    // binary files and other encodings: skip
    if (text.includes('\u0000') || (text.match(/\ufffd/g)?.length ?? 0) > 4) return undefined;
    return text;
  } catch {
    return undefined;
  }
}

/** Paragraphs of prose: blank-line separated blocks of 8-220 words with mostly letters. */
export function proseParagraphs(text: string): string[] {
  const out: string[] = [];
  for (const block of text.replace(/\r/g, '').split(/\n\s*\n/)) {
    const p = block
      .split('\n')
      .map((l) => l.replace(/^\s*[#>*]+\s*/, '').trimEnd())
      .join('\n')
      .trim();
    const words = p.split(/\s+/).length;
    if (words < 8 || words > 220) continue;
    const letters = p.replace(/[^A-Za-z]/g, '').length;
    if (letters < 0.6 * p.replace(/\s/g, '').length) continue;
    out.push(p);
  }
  return out;
}

export interface DocParagraph {
  /** The file it came from (under /usr/share/doc). */
  source: string;
  text: string;
}

/**
 * Prose paragraphs of the text files under `root` (default /usr/share/doc), sorted by path, at
 * most `maxBytesPerFile` read from each; copyright files and changelogs are skipped (license
 * texts and version lists), held-out paths and paragraphs are dropped.
 */
export function docParagraphs(
  o: { root?: string; maxBytesPerFile?: number; maxParagraphs?: number; index?: HeldOutIndex } = {},
): { paragraphs: DocParagraph[]; files: number; dropped: number } {
  const { root = '/usr/share/doc', maxBytesPerFile = 40_000, maxParagraphs = Infinity } = o;
  const index = o.index ?? heldOutIndex();
  const paragraphs: DocParagraph[] = [];
  let files = 0;
  let dropped = 0;
  const walk = (dir: string, depth: number): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries) {
      if (paragraphs.length >= maxParagraphs) return;
      const p = join(dir, name);
      if (heldOutReason(p)) continue;
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (depth < 3) walk(p, depth + 1);
        continue;
      }
      if (!st.isFile() || /^(copyright|changelog)/i.test(name) || !DOC_FILE.test(name)) continue;
      const text = readText(p);
      if (!text) continue;
      files++;
      for (const para of proseParagraphs(text.slice(0, maxBytesPerFile))) {
        if (index.find(para)) dropped++;
        else if (paragraphs.length < maxParagraphs) paragraphs.push({ source: p, text: para });
      }
    }
  };
  walk(root, 0);
  return { paragraphs, files, dropped };
}
