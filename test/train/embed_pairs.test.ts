/**
 * The embedder's training pairs (src/train/embed_pairs.ts): each source's format parsed into
 * (query, passage) as documented, the dev split kept apart, held-out sources refused and
 * held-out text dropped, duplicates dropped, synonym rewording.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  buildPairs,
  debianPairs,
  markdownPairs,
  parsePairsJsonl,
  synonymize,
  wordnetPairs,
} from '../../src/train/embed_pairs.ts';
import { HeldOutIndex } from '../../src/train/held_out.ts';
import { tempDir } from '../rag/helpers.ts';

const TRANSLATION = `Package: gzip
Description-md5: 0
Description-en: GNU compression utilities
 This package provides the standard GNU file compression utilities, which
 are also the default compression tools for Debian.
 .
 They typically operate on files with names ending in '.gz'.

Package: tiny
Description-md5: 1
Description-en: too short
 Nothing much.
`;

test('debianPairs: synopsis vs the long description, " ." a paragraph break, short ones skipped', () => {
  const p = debianPairs(TRANSLATION, 1_000_000);
  assert.equal(p.length, 1);
  assert.equal(p[0].query, 'GNU compression utilities');
  assert.equal(
    p[0].passage,
    'This package provides the standard GNU file compression utilities, which are also the default compression tools for Debian.\n\n' +
      "They typically operate on files with names ending in '.gz'.",
  );
  assert.equal(p[0].source, 'debian:gzip');
  // devEvery 1: every package is dev
  assert.equal(debianPairs(TRANSLATION, 1)[0].split, 'dev');
});

test('wordnetPairs: the first word vs the other words, the definition and the first example', () => {
  const line =
    '02958343 06 n 05 car 0 auto 0 automobile 0 machine 4 motorcar 0 000 | a motor vehicle with four wheels; usually propelled by an internal combustion engine; "he needs a car to get to work"  ';
  const p = wordnetPairs(`  1 license line\n${line}\n`, 'noun', 1_000_000);
  assert.equal(p.length, 1);
  assert.equal(p[0].query, 'car');
  assert.equal(
    p[0].passage,
    'auto, automobile, machine, motorcar: a motor vehicle with four wheels; usually propelled by an internal combustion engine. he needs a car to get to work',
  );
  assert.equal(p[0].source, 'wordnet:noun:02958343');
  const adj = wordnetPairs(
    '00001740 00 a 02 big(a) 0 large 0 000 | above average in size\n',
    'adj',
    1_000_000,
  );
  assert.equal(adj[0].query, 'big');
});

test('markdownPairs: heading vs its section; code fences do not start sections; short ones skipped', () => {
  const md = [
    '# Install',
    'Run the installer and follow the prompts until the files are copied to the disk.',
    '```',
    '# not a heading',
    '```',
    '## Tiny',
    'too short',
  ].join('\n');
  const p = markdownPairs(md, 'README.md');
  assert.equal(p.length, 1);
  assert.equal(p[0].query, 'Install');
  assert.match(p[0].passage, /^Run the installer.*\n```\n# not a heading\n```$/s);
});

test('buildPairs: a held-out path is refused; held-out text and duplicate passages are dropped', () => {
  assert.throws(
    () => buildPairs({ debian: ['/usr/share/common-licenses/GPL-3'] }),
    /held out of training data \(license texts/,
  );
  const dir = tempDir();
  const heldOutText = 'one two three four five six seven eight nine ten eleven twelve thirteen';
  const f = join(dir, 'Translation-en');
  writeFileSync(
    f,
    `${TRANSLATION}\nPackage: gzip-copy\nDescription-en: another synopsis\n This package provides the standard GNU file compression utilities, which\n are also the default compression tools for Debian.\n .\n They typically operate on files with names ending in '.gz'.\n\n` +
      `Package: leak\nDescription-en: leaks\n ${heldOutText} and more words\n`,
  );
  const index = new HeldOutIndex();
  index.add('eval.txt', heldOutText);
  const r = buildPairs({ debian: [f], devEvery: 1_000_000 }, index);
  assert.deepEqual(r.counts, { pairs: 1, heldOut: 1, duplicates: 1 });
  assert.equal(r.pairs[0].source, 'debian:gzip');
});

test('markdown under a held-out folder is skipped, not read', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'doc'), { recursive: true });
  writeFileSync(
    join(dir, 'doc', 'README.md'),
    '# Usage\nCall the tool with the name of a file to squeeze it smaller.\n',
  );
  const r = buildPairs({ docs: [join(dir, 'doc')] }, new HeldOutIndex());
  assert.equal(r.pairs.length, 1);
  assert.equal(buildPairs({ docs: ['/usr/share/man'] }, new HeldOutIndex()).pairs.length, 0);
});

test('synonymize replaces content words (plurals via the singular); too few changes give undefined', () => {
  const syn = new Map([
    ['compress', ['squeeze']],
    ['file', ['register']],
  ]);
  assert.equal(synonymize('compress files', syn), 'squeeze register');
  assert.equal(synonymize('compress the big archive', syn), undefined); // 1 of 3 content words
});

test('parsePairsJsonl: fields checked, errors name the line', () => {
  const p = parsePairsJsonl(
    '{"query":"a","passage":"b","split":"dev"}\n\n{"query":"c","passage":"d"}\n',
    'x.jsonl',
  );
  assert.deepEqual(
    p.map((x) => [x.query, x.split, x.source]),
    [
      ['a', 'dev', 'x.jsonl:1'],
      ['c', 'train', 'x.jsonl:3'],
    ],
  );
  assert.throws(() => parsePairsJsonl('{"query":1}\n', 'x.jsonl'), /x.jsonl:1: expected \{"query": string/);
  assert.throws(() => parsePairsJsonl('nope\n', 'x.jsonl'), /x.jsonl:1: invalid JSON/);
});
