/**
 * The word-vector embedder: its vector is the words' weighted mean beside the hash vector, so
 * that the cosine is (1 - g) cos_words + g cos_hash; a directory's config errors name the file and
 * field; `xfmr embedder words` trains one from pairs and starting vectors, and `rag index` takes it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cosine, createEmbedder } from '../../src/rag/embedder.ts';
import { HashEmbedder, stem } from '../../src/rag/hash_embedder.ts';
import { readWordsConfig, WORDS_CONFIG, WordEmbedder } from '../../src/rag/word_embedder.ts';
import { WordVectors } from '../../src/rag/word_vectors.ts';
import { tempDir, topSource, writeFiles, xfmr } from './helpers.ts';

const WORDS = ['folder', 'directory', 'delete', 'remove', 'river', 'bishop'];
const dim = 3;
const rows = [
  [1, 0, 0],
  [0.9, 0.1, 0],
  [0, 1, 0],
  [0, 0.9, 0.2],
  [0, 0, 1],
  [0.3, 0.3, 0.3],
];

function modelDir(hashWeight = 0.35): string {
  const dir = tempDir('xfmr-words-');
  const v = new WordVectors(WORDS.map(stem), dim, Float32Array.from(rows.flat()));
  writeFileSync(join(dir, 'vectors.bin'), v.serialize());
  writeFiles(dir, {
    [WORDS_CONFIG]: JSON.stringify({
      format: 'xfmr-words',
      vectors: 'vectors.bin',
      hash_weight: hashWeight,
      idf_power: 1,
      hash: {},
    }),
    'xfmr_retrieval.json': JSON.stringify({ rrf_k: 5, vector_weight: 1, bm25_weight: 0.5 }),
  });
  return dir;
}

test('embed: [sqrt(1 - g) words ; sqrt(g) hash], unit, so the cosine mixes the two', async () => {
  const e = WordEmbedder.load(modelDir(0.35));
  const hash = new HashEmbedder();
  assert.equal(e.dim, dim + hash.dim);
  assert.deepEqual(e.spec.type, 'words');
  assert.deepEqual(e.fusion, { rrfK: 5, vectorWeight: 1, bm25Weight: 0.5 });
  const [q] = await e.embed(['how do I delete a folder'], 'query');
  const [p] = await e.embed(['remove the directory tree'], 'passage');
  for (const v of [q, p]) assert.ok(Math.abs(v.reduce((s, x) => s + x * x, 0) - 1) < 1e-5);
  const [hq] = await hash.embed(['how do I delete a folder'], 'query');
  const [hp] = await hash.embed(['remove the directory tree'], 'passage');
  const words = cosine(e.wordMean('how do I delete a folder'), e.wordMean('remove the directory tree'));
  assert.ok(words > 0.9, 'folder/directory and delete/remove have near vectors');
  const want = 0.65 * words + 0.35 * cosine(hq, hp);
  assert.ok(Math.abs(cosine(q, p) - want) < 1e-5, `${cosine(q, p)} vs ${want}`);
  // the paraphrase beats an unrelated passage, though they share no word
  const [other] = await e.embed(['the river bishop'], 'passage');
  assert.ok(cosine(q, p) > cosine(q, other));
  // a text with no word that has a vector: the hash part alone, still unit
  const [none] = await e.embed(['zzz qqq'], 'query');
  const [hn] = await hash.embed(['zzz qqq'], 'query');
  assert.ok(none.subarray(0, dim).every((x) => x === 0));
  assert.ok(Math.abs(cosine(none.subarray(dim), hn) - 1) < 1e-5);
  // the id names the vectors (a fingerprint), the mix and the hash embedder
  assert.match(e.id, /^words-v1:[0-9a-f]{16}:g=0\.35:hash-v1:/);
  assert.notEqual(WordEmbedder.load(modelDir(0.5)).id, e.id);
  assert.equal(createEmbedder(e.spec).id, e.id);
});

test('vectorTrust: the share of a question word weight that has vectors, to trust_power', () => {
  const dir = modelDir();
  assert.equal(WordEmbedder.load(dir).vectorTrust('delete the folder'), 1, 'no trust_power: full trust');
  const config = JSON.parse(readFileSync(join(dir, WORDS_CONFIG), 'utf8'));
  writeFileSync(join(dir, WORDS_CONFIG), JSON.stringify({ ...config, trust_power: 2 }));
  const e = WordEmbedder.load(dir);
  assert.equal(e.vectorTrust('delete the folder'), 1, 'every content word has a vector');
  const weigher = new HashEmbedder({ idfPower: 1 });
  const w = Object.fromEntries([...weigher.features('delete zorblat')].filter(([k]) => k.startsWith('w:')));
  const share = w[`w:${stem('delete')}`] / (w[`w:${stem('delete')}`] + w[`w:${stem('zorblat')}`]);
  assert.ok(Math.abs(e.vectorTrust('delete zorblat') - share ** 2) < 1e-12);
  assert.ok(share < 0.5, 'a rare unknown name weighs more than a known word');
  assert.match(e.id, /:trust=2:/);
});

test('readWordsConfig: a missing or wrong config names the file and the field', () => {
  const dir = tempDir('xfmr-words-bad-');
  assert.throws(() => readWordsConfig(dir), /no xfmr_words\.json \(not a word-vector embedder\)/);
  const put = (c: unknown) =>
    writeFileSync(join(dir, WORDS_CONFIG), typeof c === 'string' ? c : JSON.stringify(c));
  put('{');
  assert.throws(() => readWordsConfig(dir), /xfmr_words\.json: not JSON/);
  const good = { format: 'xfmr-words', vectors: 'v.bin', hash_weight: 0.3, idf_power: 1, hash: {} };
  put({ ...good, format: 'other' });
  assert.throws(() => readWordsConfig(dir), /format must be "xfmr-words"/);
  put({ ...good, hash_weight: 1.5 });
  assert.throws(() => readWordsConfig(dir), /hash_weight must be a number in \[0, 1\], got 1\.5/);
  put({ ...good, trust_power: -1 });
  assert.throws(() => readWordsConfig(dir), /trust_power must be a number >= 0, got -1/);
  put({ ...good, hash: 3 });
  assert.throws(() => readWordsConfig(dir), /hash must be an object/);
  put(good);
  assert.throws(() => WordEmbedder.load(dir), /vectors: .*v\.bin does not exist/);
});

test('xfmr embedder words: trains from pairs and starting vectors; rag index uses the directory', async () => {
  const dir = tempDir('xfmr-words-cli-');
  const start = new WordVectors(WORDS.map(stem), dim, Float32Array.from(rows.flat()));
  writeFileSync(join(dir, 'start.bin'), start.serialize());
  const lines = [];
  for (let i = 0; i < 12; i++)
    lines.push(
      JSON.stringify({
        query: 'delete folder',
        passage: 'remove directory',
        source: `debian:a${i}`,
        split: 'train',
      }),
      JSON.stringify({ query: 'river', passage: 'bishop river', source: `debian:b${i}`, split: 'train' }),
    );
  lines.push(JSON.stringify({ query: 'delete', passage: 'remove', source: 'debian:dev', split: 'dev' }));
  writeFileSync(join(dir, 'pairs.jsonl'), `${lines.join('\n')}\n`);
  const out = join(dir, 'model');
  const args = [
    'embedder',
    'words',
    '--pairs',
    join(dir, 'pairs.jsonl'),
    '--vectors',
    join(dir, 'start.bin'),
  ];
  const r = await xfmr([...args, '--out', out, '--batch-size', '4', '--epochs', '1', '--bm25-weight', '0.7']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { train: number; words: number };
  assert.deepEqual([report.train, report.words], [24, WORDS.length]);
  const e = WordEmbedder.load(out);
  // the default gate is written: BM25 counts where its first hit holds half the question's words
  assert.deepEqual(e.fusion, { rrfK: 5, vectorWeight: 1, bm25Weight: 0.7, bm25MinCoverage: 0.5 });
  writeFiles(join(dir, 'docs'), { 'a.txt': 'Remove the directory.\n', 'b.txt': 'The river flows.\n' });
  const db = join(dir, 'i.db');
  const idx = await xfmr(['rag', 'index', '--db', db, '--embedder', out, join(dir, 'docs')]);
  assert.equal(idx.code, 0, idx.stderr);
  assert.match(await topSource(db, 'delete a folder', ['--mode', 'vector']), /a\.txt$/);
  // bad arguments: named
  const bad = await xfmr([...args, '--out', out, '--hash-weight', '2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--hash-weight must be in \[0, 1\], got 2/);
  const gate = await xfmr([...args, '--out', out, '--bm25-min-coverage', '1.5']);
  assert.equal(gate.code, 2);
  assert.match(gate.stderr, /--bm25-min-coverage must be in \[0, 1\], got 1\.5/);
  const none = await xfmr(['embedder', 'words', '--pairs', join(dir, 'pairs.jsonl'), '--out', out]);
  assert.match(none.stderr, /give --apt DIR \(Translation-en files\) or an existing --vectors FILE/);
});
