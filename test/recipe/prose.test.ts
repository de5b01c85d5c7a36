/**
 * Real prose for the recipe: Debian package records parsed as apt writes them, /usr/share/doc
 * paragraphs read from plain and gzipped files, with changelogs, copyright files and held-out
 * text left out.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { docParagraphs, packageDocument, parseDumpavail, proseParagraphs } from '../../src/recipe/prose.ts';
import { HeldOutIndex } from '../../src/train/held_out.ts';

const RECORDS = `Package: zed-tool
Version: 2.1-3
Maintainer: Ann Lee <ann@example.org>
Section: utils
Description: converts zed files to text
 Zed-tool reads zed archives and writes their members as plain text.
 .
 It supports compressed archives.
Homepage: https://zed.example.org

Package: zed-tool
Version: 1.0-1
Description: an older record of the same package

Package: abc
Version: 0.1
Description: a package without a long description
Description-md5: 0123
`;

test('parseDumpavail: fields, continuation lines, " ." paragraph breaks, first record of a name', () => {
  const ps = parseDumpavail(RECORDS);
  assert.equal(ps.length, 2);
  const [z, a] = ps;
  assert.deepEqual(z, {
    name: 'zed-tool',
    version: '2.1-3',
    maintainer: 'Ann Lee <ann@example.org>',
    section: 'utils',
    homepage: 'https://zed.example.org',
    synopsis: 'converts zed files to text',
    description:
      'Zed-tool reads zed archives and writes their members as plain text.\n\nIt supports compressed archives.',
  });
  assert.equal(a.description, '');
  assert.equal(a.synopsis, 'a package without a long description');
});

test('packageDocument: the fields people read, then the description', () => {
  const [z, a] = parseDumpavail(RECORDS);
  assert.equal(
    packageDocument(z),
    'Package: zed-tool\nVersion: 2.1-3\nMaintainer: Ann Lee <ann@example.org>\nSection: utils\nHomepage: https://zed.example.org\nDescription: converts zed files to text\n\nZed-tool reads zed archives and writes their members as plain text.\n\nIt supports compressed archives.',
  );
  assert.equal(
    packageDocument(a),
    'Package: abc\nVersion: 0.1\nDescription: a package without a long description',
  );
});

test('proseParagraphs: keeps blocks of 8-220 mostly-letter words, strips Markdown markers', () => {
  const text = `# Title\n\nshort one\n\n## This paragraph has enough words to count as prose for the recipe.\n\n${'0x1f 0x2e 0x33 '.repeat(5)}\n\n${'word '.repeat(300)}`;
  assert.deepEqual(proseParagraphs(text), [
    'This paragraph has enough words to count as prose for the recipe.',
  ]);
});

test('docParagraphs: reads README/.md/.gz, skips changelogs and copyright files and held-out text', () => {
  const root = mkdtempSync(join(tmpdir(), 'xfmr-doc-'));
  mkdirSync(join(root, 'pkg'));
  // Distinct words throughout, so no two paragraphs share the held-out index's 12-word runs.
  const para = (w: string) =>
    `The ${w} tool reads ${w}rc from the home of ${w} users, then ${w} writes ${w} logs to ${w} folders.`;
  writeFileSync(join(root, 'pkg', 'README'), `${para('alpha')}\n\n${para('beta')}\n`);
  writeFileSync(join(root, 'pkg', 'NEWS.md.gz'), gzipSync(para('gamma')));
  writeFileSync(join(root, 'pkg', 'changelog.gz'), gzipSync(para('delta')));
  writeFileSync(join(root, 'pkg', 'copyright'), para('epsilon'));
  writeFileSync(join(root, 'pkg', 'image.png'), para('zeta'));
  const index = new HeldOutIndex();
  index.add('eval doc', para('beta'));
  const r = docParagraphs({ root, index });
  assert.deepEqual(
    r.paragraphs.map((p) => p.text),
    [para('gamma'), para('alpha')],
  );
  assert.equal(r.paragraphs[0].source, join(root, 'pkg', 'NEWS.md.gz'));
  assert.equal(r.dropped, 1);
  assert.equal(r.files, 2);
  assert.equal(docParagraphs({ root, index, maxParagraphs: 1 }).paragraphs.length, 1);
});
