/**
 * Loaders: files and folders -> documents (text + where it came from).
 *
 *   walkPaths(['docs/', 'notes.md'])  -> files found: docs/a.md, docs/sub/b.html, notes.md
 *   loadDocument(file)                -> { source, kind, text, hash, bytes, title } | a skip reason
 *
 * `source` is the path as found from what was given, the way `find` prints it: a file argument is
 * kept exactly as written; a file inside a folder argument is that argument, a `/` (unless it ends
 * with one) and the path inside. So results name files the way the user named them.
 *
 * Folders are walked recursively in sorted order; hidden entries (a leading `.`) and
 * `node_modules` are skipped, and only files with a known text extension are taken (a file named
 * on the command line is taken whatever its extension, as plain text unless it looks like HTML or
 * Markdown). Symbolic links are followed, with a guard against cycles.
 *
 * Bad input is a skip with a reason, never an exception: unreadable files, non-regular files
 * (FIFOs, devices), binary content (a NUL byte, or bytes that are neither UTF-8 nor Latin-1 text),
 * empty files (nothing left after extraction), and files over `maxBytes` (not read at all).
 *
 * Text is decoded as UTF-8 (a leading BOM removed), falling back to Latin-1 for 8-bit text without
 * control characters. Chunk positions are offsets into this decoded text (for HTML, into the
 * extracted text).
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { htmlToText } from './html.ts';

export type DocKind = 'text' | 'markdown' | 'html';

/** A loaded document, ready to chunk. */
export interface LoadedDocument {
  /** The path as found from what was given (see the file comment). */
  source: string;
  kind: DocKind;
  /** The text to index (decoded; for HTML, the extracted visible text). */
  text: string;
  /** sha256 of the file's bytes, hex: an unchanged file is not indexed again. */
  hash: string;
  /** Size of the file in bytes. */
  bytes: number;
  /** The HTML <title> / first <h1>, or the first Markdown `# heading`. */
  title?: string;
}

/** A file found by the walk, not yet read. */
export interface FoundFile {
  source: string;
  /** The argument it was found from. */
  root: string;
}

export interface Skip {
  source: string;
  reason: string;
}

export interface WalkResult {
  files: FoundFile[];
  /** Folder arguments that were walked completely (their documents can be pruned when gone). */
  folders: string[];
  /** Arguments or entries that could not be walked. */
  skipped: Skip[];
}

/** Extensions taken when walking folders, with the kind they load as. */
export const EXTENSIONS: Readonly<Record<string, DocKind>> = {
  '.txt': 'text',
  '.text': 'text',
  '.rst': 'text',
  '.adoc': 'text',
  '.org': 'text',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.mdown': 'markdown',
  '.mkd': 'markdown',
  '.mdx': 'markdown',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
};

/** Default largest file read (bytes): bigger ones are reported and skipped. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

function joinSource(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EISDIR':
      return 'is a directory';
    default:
      return err.message ?? String(e);
  }
}

/** Expands file and folder arguments into the files to load, in a stable order. */
export function walkPaths(paths: readonly string[]): WalkResult {
  const files: FoundFile[] = [];
  const folders: string[] = [];
  const skipped: Skip[] = [];
  const seenFiles = new Set<string>();
  for (const root of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(root);
    } catch (e) {
      skipped.push({ source: root, reason: errorText(e) });
      continue;
    }
    if (st.isDirectory()) {
      const visiting = new Set<string>();
      if (walkDir(root, root, visiting, files, skipped, seenFiles)) folders.push(root);
    } else if (!seenFiles.has(root)) {
      seenFiles.add(root);
      files.push({ source: root, root });
    }
  }
  return { files, folders, skipped };
}

/** Returns false if the folder itself could not be listed. */
function walkDir(
  dir: string,
  root: string,
  visiting: Set<string>,
  files: FoundFile[],
  skipped: Skip[],
  seen: Set<string>,
): boolean {
  let real: string;
  let names: string[];
  try {
    real = realpathSync(dir);
    names = readdirSync(dir).sort();
  } catch (e) {
    skipped.push({ source: dir, reason: `cannot list folder: ${errorText(e)}` });
    return false;
  }
  if (visiting.has(real)) return true; // a symlink loop: already being walked
  visiting.add(real);
  for (const name of names) {
    if (name.startsWith('.') || name === 'node_modules') continue;
    const p = joinSource(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      if (EXTENSIONS[extname(name).toLowerCase()]) skipped.push({ source: p, reason: errorText(e) });
      continue;
    }
    if (st.isDirectory()) walkDir(p, root, visiting, files, skipped, seen);
    else if (EXTENSIONS[extname(name).toLowerCase()] && !seen.has(p)) {
      seen.add(p);
      files.push({ source: p, root });
    }
  }
  visiting.delete(real);
  return true;
}

/** The kind a file loads as: by extension, else by a look at its start. */
export function kindOf(source: string, text: string): DocKind {
  const byExt = EXTENSIONS[extname(source).toLowerCase()];
  if (byExt) return byExt;
  const head = text.slice(0, 512).trimStart().toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'html';
  return 'text';
}

/** NUL in the first 8 KiB, as git and grep decide. */
function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 8192);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Bytes -> text, or null when they are not text (see the file comment). */
export function decodeText(bytes: Uint8Array): string | null {
  if (looksBinary(bytes)) return null;
  try {
    const s = utf8.decode(bytes);
    return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
  } catch {
    // Not UTF-8: accept 8-bit text (Latin-1) only if no C0 control characters other than
    // whitespace occur, which rules out most binary formats.
    for (const b of bytes) if (b < 0x20 && b !== 9 && b !== 10 && b !== 12 && b !== 13) return null;
    return latin1.decode(bytes);
  }
}

function readAll(path: string, size: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n === 0) break; // the file shrank while we read it
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

export interface LoadOptions {
  /** Files larger than this are skipped unread (default DEFAULT_MAX_BYTES). */
  maxBytes?: number;
}

/** Reads one file's bytes (with its sha256), or a skip reason: unreadable, not a file, too large, empty. */
export function readSource(
  source: string,
  options: LoadOptions = {},
): { bytes: Uint8Array; hash: string } | { skip: string } {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  try {
    const st = statSync(source);
    if (st.isDirectory()) return { skip: 'is a directory' };
    if (!st.isFile()) return { skip: 'not a regular file' };
    if (st.size > maxBytes)
      return { skip: `too large (${formatBytes(st.size)}, the limit is ${formatBytes(maxBytes)})` };
    if (st.size === 0) return { skip: 'empty file' };
    const bytes = readAll(source, st.size);
    return { bytes, hash: createHash('sha256').update(bytes).digest('hex') };
  } catch (e) {
    return { skip: `cannot read: ${errorText(e)}` };
  }
}

/** Decodes and extracts a file's bytes; binary or empty content gives a skip reason. */
export function parseDocument(
  source: string,
  bytes: Uint8Array,
  hash: string,
): { doc: LoadedDocument } | { skip: string } {
  const raw = decodeText(bytes);
  if (raw === null) return { skip: 'binary file (not text)' };
  const kind = kindOf(source, raw);
  let text = raw;
  let title: string | undefined;
  if (kind === 'html') {
    const h = htmlToText(raw);
    text = h.text;
    title = h.title;
  } else if (kind === 'markdown') {
    title = /^#\s+(.+?)\s*#*\s*$/m.exec(raw)?.[1];
  }
  if (text.trim() === '')
    return { skip: kind === 'html' ? 'no text in the HTML' : 'empty file (only whitespace)' };
  const doc: LoadedDocument = { source, kind, text, hash, bytes: bytes.length };
  if (title) doc.title = title;
  return { doc };
}

/** Reads and extracts one file; bad input gives `{ skip }` with a reason, never a throw. */
export function loadDocument(
  source: string,
  options: LoadOptions = {},
): { doc: LoadedDocument } | { skip: string } {
  const r = readSource(source, options);
  return 'skip' in r ? r : parseDocument(source, r.bytes, r.hash);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
