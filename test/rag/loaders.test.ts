/** HTML extraction, text decoding, folder walking and the bad-input skips of the loaders. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeEntities, htmlToText } from '../../src/rag/html.ts';
import { decodeText, kindOf, loadDocument, walkPaths } from '../../src/rag/loaders.ts';
import { tempDir, writeFiles } from './helpers.ts';

test('htmlToText: headings as #, paragraphs as blank lines, entities, <pre>, title; chrome and scripts dropped', () => {
  const html = `<!DOCTYPE html><html><head><title>The &amp; Title</title><style>p { color: red }</style>
    <script>var x = "<p>not text</p>";</script></head>
    <body><nav><a href="/">Home</a> <a href="/docs">Docs</a></nav>
    <div class="menu mainmenu"><ul><li>Menu item</li></ul></div>
    <h1>Main   heading</h1><p>First <b>bold</b> paragraph&nbsp;with &lt;tags&gt; &#233;&#x41;.</p>
    <p>Second<br>line two</p><ul><li>one</li><li>two</li></ul>
    <pre>  indented
    code</pre><!-- a comment --><h2>Sub</h2><p>x<sup>2</sup> <img alt="a diagram" src="d.png"></p>
    <svg><text>svg label</text></svg><footer>Copyright footer</footer></body></html>`;
  const { text, title } = htmlToText(html);
  assert.equal(title, 'The & Title');
  assert.equal(
    text,
    '# Main heading\n\nFirst bold paragraph with <tags> éA.\n\nSecond\nline two\n\n- one\n- two\n\n  indented\n    code\n\n## Sub\n\nx^2 a diagram',
  );
  assert.equal(decodeEntities('&unknown; &#0; &amp'), '&unknown; \ufffd &');
  assert.equal(htmlToText('<h1>Only h1</h1><p>body</p>').title, 'Only h1');
});

test('decodeText: UTF-8 with the BOM removed, Latin-1 fallback, binary refused', () => {
  assert.equal(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])), 'hi');
  assert.equal(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9])), 'café'); // Latin-1
  assert.equal(decodeText(new Uint8Array([0x61, 0x00, 0x62])), null); // NUL
  assert.equal(decodeText(new Uint8Array([0xff, 0x01, 0x02, 0x03])), null); // control bytes, not UTF-8
  assert.equal(kindOf('a.HTM', ''), 'html');
  assert.equal(kindOf('notes', '<!doctype html><p>x'), 'html');
  assert.equal(kindOf('README', '# Title'), 'text');
});

test('walkPaths: sources as found from what was given, sorted, hidden and unknown extensions skipped', () => {
  const dir = tempDir();
  writeFiles(dir, {
    'docs/b.md': '# B',
    'docs/a.txt': 'a',
    'docs/sub/c.html': '<p>c</p>',
    'docs/.hidden/d.md': 'hidden',
    'docs/node_modules/e.md': 'dep',
    'docs/image.png': 'png',
    notes: 'plain file without extension',
  });
  const given = join(dir, 'docs');
  const w = walkPaths([given, `${given}/`, join(dir, 'notes'), join(dir, 'missing')]);
  assert.deepEqual(
    w.files.map((f) => f.source),
    [`${given}/a.txt`, `${given}/b.md`, `${given}/sub/c.html`, join(dir, 'notes')],
    'duplicates of the same path are taken once',
  );
  assert.deepEqual(w.folders, [given, `${given}/`]);
  assert.deepEqual(w.skipped, [{ source: join(dir, 'missing'), reason: 'no such file or directory' }]);
  // a trailing slash is kept as given, without doubling it
  assert.equal(walkPaths([`${given}/`]).files[0].source, `${given}/a.txt`);
});

test('loadDocument: kinds, titles and hashes; bad input is a skip with a reason', () => {
  const dir = tempDir();
  writeFiles(dir, {
    'a.md': '# Title here\n\nBody.',
    'b.html': '<title>T</title><p>Hello</p>',
    'empty.txt': '',
    'blank.txt': ' \n\t\n',
    'bin.txt': new Uint8Array([1, 2, 0, 3, 4]),
    'scripts.html': '<script>only()</script>',
    'big.txt': 'x',
  });
  truncateSync(join(dir, 'big.txt'), 2048);
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling.md'));
  execFileSync('mkfifo', [join(dir, 'fifo.txt')]);
  const md = loadDocument(join(dir, 'a.md'));
  assert.ok('doc' in md);
  assert.equal(md.doc.kind, 'markdown');
  assert.equal(md.doc.title, 'Title here');
  assert.match(md.doc.hash, /^[0-9a-f]{64}$/);
  const html = loadDocument(join(dir, 'b.html'));
  assert.ok('doc' in html);
  assert.equal(html.doc.text, 'Hello');
  const reason = (name: string, maxBytes?: number) => {
    const r = loadDocument(join(dir, name), { maxBytes });
    return 'skip' in r ? r.skip : 'loaded';
  };
  assert.equal(reason('empty.txt'), 'empty file');
  assert.equal(reason('blank.txt'), 'empty file (only whitespace)');
  assert.equal(reason('bin.txt'), 'binary file (not text)');
  assert.equal(reason('scripts.html'), 'no text in the HTML');
  assert.equal(reason('big.txt', 1024), 'too large (2.0 KiB, the limit is 1.0 KiB)');
  assert.equal(reason('dangling.md'), 'cannot read: no such file or directory');
  assert.equal(reason('fifo.txt'), 'not a regular file');
  if (process.getuid?.() !== 0) {
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    chmodSync(join(dir, 'secret.txt'), 0o000);
    assert.equal(reason('secret.txt'), 'cannot read: permission denied');
  }
});
