/**
 * The held-out check: manual pages, Python's standard library, license texts, Texinfo manuals and
 * this repository's evaluation documents are refused as training sources, by path (symbolic links
 * and '..' resolved) and by content (12 words in a row of an evaluation document, whatever the
 * wrapping and case), while ordinary sources pass.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import {
  assertTrainingPath,
  assertTrainingText,
  HeldOutIndex,
  heldOutIndex,
  heldOutReason,
  SHINGLE_WORDS,
} from '../../src/train/held_out.ts';

test('held-out paths: man pages, info, licenses, Python stdlib and docs, eval documents', () => {
  const refused = [
    '/usr/share/man/man1/ls.1.gz',
    '/usr/share/man/de/man1/ls.1.gz',
    '/usr/share/man',
    '/usr/local/share/man/man1/tool.1',
    '/usr/share/info/coreutils.info.gz',
    '/usr/share/common-licenses/GPL-3',
    '/usr/share/common-licenses',
    '/usr/lib/python3.11/json/__init__.py',
    '/usr/local/lib/python3.12/re.py',
    '/root/.pyenv/versions/3.10.4/lib/python3.10/shutil.py',
    '/usr/share/doc/python3.11/README.venv',
    '/usr/share/doc/../man/man5/crontab.5.gz',
    'eval/realprose/docs/man-ls.txt',
    'eval/realprose/questions.json',
    'eval/paraphrase/docs/man-wc.txt',
    'eval/paraphrase-fresh/docs/man-cat.txt',
    'eval/paraphrase-fresh/questions.json',
    'docs/rag.md',
    resolve('docs'),
  ];
  for (const p of refused) assert.ok(heldOutReason(p), `${p} should be held out`);
  const allowed = [
    '/usr/share/doc/bible-kjv/README',
    '/usr/share/manual/x.txt',
    '/usr/lib/python3/dist-packages/numpy/__init__.py',
    '/tmp/kjv.txt',
    'runs/recipe/kjv.txt',
    'eval/other/file.txt',
    'docsets/x.md',
  ];
  for (const p of allowed) assert.equal(heldOutReason(p), undefined, `${p} should be allowed`);
  assert.match(heldOutReason('/usr/share/common-licenses/MIT') ?? '', /license texts/);
  assert.match(heldOutReason('/usr/lib/python3.11/os.py') ?? '', /Python's standard library/);
});

test('held-out paths: a symbolic link into a held-out folder is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-heldout-'));
  try {
    const link = join(dir, 'innocent.txt');
    symlinkSync(resolve('eval/realprose/docs/lic-bsd.txt'), link);
    assert.match(heldOutReason(link) ?? '', /eval\/realprose/);
    assert.throws(
      () => assertTrainingPath(link, 'the test corpus'),
      (e: Error) =>
        e.message.startsWith(`${link}: held out of training data`) && e.message.includes('the test corpus'),
    );
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'nothing held out here');
    assert.doesNotThrow(() => assertTrainingPath(plain, 'the test corpus'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('held-out text: a copy of 12 words of an evaluation document is refused, 11 are not', () => {
  const index = new HeldOutIndex();
  const source = 'one two three four five six seven eight nine ten eleven twelve thirteen';
  index.add('src.txt', source);
  assert.equal(index.size, 2);
  // Re-wrapped, upper case, punctuated: still the same twelve words.
  const copy = 'Intro. ONE two,\nthree four five six seven eight nine ten eleven twelve. Outro.';
  assert.throws(
    () => assertTrainingText(copy, 'copy.txt', 'the test corpus', index),
    /copy\.txt: repeats held-out text from src\.txt \("one two three four five six seven eight nine ten eleven twelve"\)/,
  );
  const eleven = 'one two three four five six seven eight nine ten eleven';
  assert.doesNotThrow(() => assertTrainingText(`${eleven} zzz twelve`, 'near.txt', 'the test corpus', index));
  assert.equal(SHINGLE_WORDS, 12);
});

test('held-out text: the repository index holds the evaluation documents and docs/', () => {
  const index = heldOutIndex();
  const gpl = readFileSync('eval/realprose/docs/lic-gpl-3.txt', 'utf8');
  // A copyright file quoting a paragraph of the GPL, reflowed.
  const para = gpl.split('\n\n').find((p) => p.includes('Some devices are designed'))!;
  const copyright = `Files: *\nCopyright: 2020 Someone\nLicense: GPL-3+\n ${para.replace(/\s+/g, ' ')}\n`;
  assert.equal(index.find(copyright)?.source, 'eval/realprose/docs/lic-gpl-3.txt');
  const rag = readFileSync('docs/rag.md', 'utf8');
  assert.equal(index.find(rag)?.source, 'docs/rag.md');
  // The KJV's opening shares nothing with them.
  const genesis =
    'In the beginning God created the heaven and the earth. And the earth was without form, and void; ' +
    'and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.';
  assert.equal(index.find(genesis), undefined);
});
