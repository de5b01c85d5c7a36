/** `xfmr rag index | query | ask | info` end to end through bin/xfmr.js. */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { NOT_FOUND_ANSWER, POLICY_FILE } from '../../src/rag/abstain.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { FIXTURES, saveQuotingModel, TOPICS, tempDir, writeFiles, xfmr } from './helpers.ts';

const dir = tempDir();
const db = join(dir, 'idx.db');

before(async () => {
  writeFiles(dir, {
    'docs/bees.md': `# Bees\n\n${TOPICS.bees}\n`,
    'docs/bread.txt': TOPICS.bread,
    'docs/sub/chess.html': `<html><title>Chess</title><p>${TOPICS.chess}</p></html>`,
    'extra/tides.txt': TOPICS.tides,
  });
  // relative paths, as a user types them: sources keep the form given (the hash embedder named,
  // as the figures below are its; the default embedder has its own tests, default_embedder.test.ts)
  const r = await xfmr(
    ['rag', 'index', '--db', db, '--embedder', 'hash', './docs', 'extra/tides.txt', '--meta', 'team=blue'],
    dir,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.match(
    r.stderr,
    /4 files: 4 added, 0 updated, 0 unchanged, 0 removed, 0 skipped; \d+ chunks written/,
  );
});

test('query --json: {"results": [{source, text, score}]} best first, sources as given to index', async () => {
  const r = await xfmr([
    'rag',
    'query',
    '--db',
    db,
    'Which piece moves diagonally in chess?',
    '--json',
    '--k',
    '3',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const j = JSON.parse(lines[0]) as { results: { source: string; text: string; score: number }[] };
  assert.deepEqual(Object.keys(j), ['results']);
  assert.equal(j.results.length, 3);
  for (const x of j.results) assert.deepEqual(Object.keys(x), ['source', 'text', 'score']);
  assert.equal(j.results[0].source, './docs/sub/chess.html');
  assert.match(j.results[0].text, /bishop moves diagonally/);
  for (let i = 1; i < 3; i++) assert.ok(j.results[i - 1].score >= j.results[i].score);
  assert.ok(
    j.results.some((x) => x.source === 'extra/tides.txt') ||
      j.results.some((x) => x.source.startsWith('./docs/')),
  );
});

test('query: text output, --k, --mode, --source and --where filters', async () => {
  const [text, bm25, vector, src, where, none] = await Promise.all([
    xfmr(['rag', 'query', '--db', db, 'ocean tides and the moon']),
    xfmr(['rag', 'query', '--db', db, 'ocean tides and the moon', '--mode', 'bm25', '--k', '1', '--json']),
    xfmr(['rag', 'query', '--db', db, 'ocean tides and the moon', '--mode', 'vector', '--k', '2', '--json']),
    xfmr(['rag', 'query', '--db', db, 'ocean tides and the moon', '--source', './docs/', '--json']),
    xfmr(['rag', 'query', '--db', db, 'tides', '--where', 'team=red', '--json']),
    xfmr(['rag', 'query', '--db', db, 'tides', '--where', 'team=blue', '--mode', 'bm25', '--json']),
  ]);
  for (const r of [text, bm25, vector, src, where, none]) assert.equal(r.code, 0, r.stderr);
  assert.match(text.stdout, /^1\. \d\.\d{4} {2}extra\/tides\.txt:1\n {3}Ocean tides are caused/);
  const parse = (s: string) => (JSON.parse(s) as { results: { source: string; score: number }[] }).results;
  assert.equal(parse(bm25.stdout).length, 1);
  assert.equal(parse(bm25.stdout)[0].source, 'extra/tides.txt');
  assert.ok(parse(bm25.stdout)[0].score > 1, 'a BM25 score');
  assert.equal(parse(vector.stdout).length, 2);
  assert.ok(parse(vector.stdout)[0].score <= 1, 'a cosine');
  assert.ok(parse(src.stdout).every((x) => x.source.startsWith('./docs/')));
  assert.deepEqual(parse(where.stdout), []);
  assert.equal(parse(none.stdout)[0].source, 'extra/tides.txt');
});

test('errors: a missing or foreign database, bad options; one line on stderr naming the thing', async () => {
  writeFiles(dir, { 'notes.txt': 'not a database' });
  const [missing, foreign, noDb, badK, badMode, info] = await Promise.all([
    xfmr(['rag', 'query', '--db', join(dir, 'nope.db'), 'q']),
    xfmr(['rag', 'query', '--db', join(dir, 'notes.txt'), 'q']),
    xfmr(['rag', 'query', 'q']),
    xfmr(['rag', 'query', '--db', db, 'q', '--k', '0']),
    xfmr(['rag', 'query', '--db', db, 'q', '--mode', 'fuzzy']),
    xfmr(['rag', 'info', '--db', db, '--json']),
  ]);
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    `xfmr: ${join(dir, 'nope.db')}: no such database file (create it with: xfmr rag index --db ${join(dir, 'nope.db')} PATHS...)\n`,
  );
  assert.equal(foreign.code, 1);
  assert.equal(
    foreign.stderr,
    `xfmr: ${join(dir, 'notes.txt')}: not an xfmr RAG database (not an SQLite file)\n`,
  );
  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, /^xfmr: --db FILE is required/);
  assert.equal(badK.code, 2);
  assert.equal(badK.stderr, 'xfmr: --k must be at least 1, got 0\n');
  assert.equal(badMode.code, 2);
  assert.match(badMode.stderr, /--mode must be hybrid, vector or bm25/);
  const i = JSON.parse(info.stdout) as { documents: number; embedderId: string; exact: boolean };
  assert.equal(i.documents, 4);
  assert.match(i.embedderId, /^hash-v1:/);
  assert.equal(i.exact, true);
});

test('index: bad files are reported and skipped, the rest is indexed; a missing PATH exits 1 at the end', async () => {
  const bad = join(dir, 'bad');
  writeFiles(bad, {
    'ok.txt': TOPICS.violin,
    'empty.md': '',
    'bin.txt': new Uint8Array([0, 1, 2, 3, 0, 255]),
    'big.txt': 'x'.repeat(5000),
  });
  const r = await xfmr([
    'rag',
    'index',
    '--db',
    join(dir, 'bad.db'),
    '--max-bytes',
    '4096',
    bad,
    join(dir, 'absent'),
  ]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split('\n');
  assert.ok(lines.includes(`xfmr rag: skipped ${bad}/bin.txt: binary file (not text)`), r.stderr);
  assert.ok(lines.includes(`xfmr rag: skipped ${bad}/empty.md: empty file`));
  assert.ok(lines.includes(`xfmr rag: skipped ${bad}/big.txt: too large (4.9 KiB, the limit is 4.0 KiB)`));
  assert.ok(lines.includes(`xfmr rag: skipped ${join(dir, 'absent')}: no such file or directory`));
  assert.match(r.stderr, /4 files: 1 added, .* 4 skipped/);
  assert.ok(lines.includes(`xfmr rag: ${join(dir, 'absent')}: no such file or directory`));
  const q = await xfmr(['rag', 'query', '--db', join(dir, 'bad.db'), 'violin bow', '--json']);
  assert.equal(
    (JSON.parse(q.stdout) as { results: { source: string }[] }).results[0].source,
    `${bad}/ok.txt`,
  );
});

test('ask --endpoint: the prompt template goes to the server; the answer and its sources are printed', async () => {
  const prompts: string[] = [];
  const server = createServer(async (req, res) => {
    let data = '';
    for await (const c of req) data += c;
    res.setHeader('content-type', 'application/json');
    if (req.url?.endsWith('/models')) return res.end(JSON.stringify({ data: [{ id: 'm' }] }));
    prompts.push((JSON.parse(data) as { messages: { content: string }[] }).messages[0].content);
    res.end(JSON.stringify({ choices: [{ message: { content: 'Diagonally.' } }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  try {
    const [text, json] = await Promise.all([
      xfmr(['rag', 'ask', '--db', db, '--endpoint', url, 'How does the bishop move?', '--k', '2']),
      xfmr(['rag', 'ask', '--db', db, '--endpoint', url, 'How does the bishop move?', '--k', '1', '--json']),
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Diagonally\.\n\nSources:\n\[1\] \.\/docs\/sub\/chess\.html:1 \(/);
    assert.equal(json.code, 0, json.stderr);
    const j = JSON.parse(json.stdout) as {
      answer: string;
      sources: { source: string; truncated: boolean }[];
    };
    assert.equal(j.answer, 'Diagonally.');
    assert.deepEqual(
      j.sources.map((s) => [s.source, s.truncated]),
      [['./docs/sub/chess.html', false]],
    );
    assert.ok(
      prompts.every(
        (p) => p.startsWith('[ctx: ') && p.endsWith('] Answer the question: How does the bishop move?'),
      ),
    );
    assert.ok(prompts.some((p) => p.includes('the bishop moves diagonally')));
  } finally {
    server.close();
  }
  const both = await xfmr(['rag', 'ask', '--db', db, '--endpoint', url, '--model', dir, 'q']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --model DIR or --endpoint URL/);
});

test('ask --model: an xfmr model directory answers within its window', async () => {
  const modelDir = join(dir, 'tiny');
  const cfg = llamaConfig({
    vocabSize: 297,
    contextLength: 64,
    dModel: 32,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 64,
  });
  saveModel(modelDir, new DecoderLM(cfg), { tokenizerJson: byteLevelTokenizerJson(40, true) as never });
  const r = await xfmr([
    'rag',
    'ask',
    '--db',
    db,
    '--model',
    modelDir,
    'bees and honey?',
    '--max-tokens',
    '4',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { answer: string; sources: { source: string; truncated: boolean }[] };
  assert.equal(typeof j.answer, 'string');
  assert.equal(j.sources[0].source, './docs/bees.md');
  assert.equal(j.sources[0].truncated, true, 'a 64-token window holds only part of a chunk');
});

test("ask --model: grounded by default, with the quote's chunk and offsets; --free; the model's threshold", async () => {
  // three copies of one model: without a threshold, with one above every score, with one below
  const dirs = ['plain', 'high', 'low'].map((n) => join(dir, `grounded-${n}`));
  for (const d of dirs) saveQuotingModel(d, 5);
  const policy = (d: string, below: number) =>
    writeFileSync(join(d, POLICY_FILE), JSON.stringify({ abstain_below: below, confidence: 'mean_logprob' }));
  policy(dirs[1], 1); // mean log-probabilities are <= 0
  policy(dirs[2], -1e9);
  const ask = (model: string, ...extra: string[]) =>
    xfmr([
      'rag',
      'ask',
      '--db',
      db,
      '--model',
      model,
      'How do bees make honey?',
      '--k',
      '2',
      '--max-tokens',
      '12',
      ...extra,
    ]);
  const [json, grounded, text, free, high, low] = await Promise.all([
    ask(dirs[0], '--json'),
    ask(dirs[0], '--json', '--grounded'),
    ask(dirs[0]),
    ask(dirs[0], '--json', '--free'),
    ask(dirs[1], '--json'),
    ask(dirs[2], '--json'),
  ]);
  interface Out {
    answer: string;
    grounded: boolean;
    abstained: boolean;
    confidence: number | null;
    quote: { index: number; source: string; start: number; end: number; text: string } | null;
    reader: 'model' | 'extractive' | null;
    sources: { source: string; text: string }[];
  }
  const parse = (r: { code: number | null; stdout: string; stderr: string }): Out => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Out;
  };
  const j = parse(json);
  assert.deepEqual(Object.keys(j), [
    'answer',
    'grounded',
    'abstained',
    'confidence',
    'quote',
    'reader',
    'sources',
  ]);
  assert.ok(j.reader === 'model' || j.reader === 'extractive', `${j.reader}`);
  assert.equal(j.grounded, true);
  assert.equal(j.abstained, false);
  assert.ok(j.quote, 'the quote is located');
  assert.equal(j.quote.source, j.sources[j.quote.index].source);
  assert.equal(j.sources[j.quote.index].text.slice(j.quote.start, j.quote.end), j.answer.trim());
  assert.equal(j.quote.text, j.answer.trim());
  assert.ok(typeof j.confidence === 'number' && j.confidence < 0);
  assert.deepEqual(parse(grounded), j, '--grounded is the default, still accepted');
  // the text output: the answer, the quote in its chunk, the confidence, the sources
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.equal(lines[0], j.answer.trim());
  assert.equal(
    lines[2].startsWith(
      `Quote: [${j.quote.index + 1}] ${j.quote.source}, characters ${j.quote.start}-${j.quote.end}: "`,
    ),
    true,
    lines[2],
  );
  assert.ok(lines[2].includes(`[${j.quote.text}]`));
  // the extractive reader's answer says so, on its own line
  if (j.reader === 'extractive')
    assert.equal(
      lines.splice(3, 1)[0],
      "Read by: the extractive reader (the model's own quote was not confident)",
    );
  assert.match(
    lines[3],
    /^Confidence: -\d+\.\d{4} \(mean_logprob; no calibrated threshold: never abstains\)$/,
  );
  assert.equal(lines[4], 'Sources:');
  const f = parse(free);
  assert.deepEqual(
    [f.grounded, f.abstained, f.confidence, f.quote, f.reader],
    [false, false, null, null, null],
  );
  // a threshold above every score abstains and still shows the sources; one below answers
  const h = parse(high);
  assert.deepEqual(
    [h.answer, h.abstained, h.quote, h.confidence],
    [NOT_FOUND_ANSWER, true, null, j.confidence],
  );
  assert.deepEqual(h.sources, j.sources);
  const l = parse(low);
  assert.deepEqual([l.answer, l.abstained, l.quote], [j.answer, false, j.quote]);
});

test('ask: --free with --grounded, --grounded with --endpoint, and a bad threshold file are one-line errors', async () => {
  const bad = join(dir, 'grounded-bad');
  saveModel(
    bad,
    new DecoderLM(
      llamaConfig({
        vocabSize: 297,
        contextLength: 64,
        dModel: 16,
        nLayers: 1,
        nHeads: 2,
        nKvHeads: 1,
        ffnDim: 32,
      }),
    ),
    {
      tokenizerJson: byteLevelTokenizerJson(40, true) as never,
    },
  );
  writeFileSync(join(bad, POLICY_FILE), JSON.stringify({ abstain_below: -1, confidence: 'luck' }));
  const [both, endpoint, file] = await Promise.all([
    xfmr(['rag', 'ask', '--db', db, '--model', bad, 'q', '--free', '--grounded']),
    xfmr(['rag', 'ask', '--db', db, '--endpoint', 'http://127.0.0.1:9/v1', 'q', '--grounded']),
    xfmr(['rag', 'ask', '--db', db, '--model', bad, 'q']),
  ]);
  assert.equal(both.code, 2);
  assert.equal(both.stderr.trim(), 'xfmr: give --free or --grounded, not both');
  assert.equal(endpoint.code, 2);
  assert.match(
    endpoint.stderr,
    /--grounded applies to --model, not --endpoint \(an endpoint decodes freely\)/,
  );
  assert.equal(file.code, 1);
  assert.equal(file.stderr.trim().split('\n').length, 1, file.stderr);
  assert.match(
    file.stderr,
    new RegExp(
      `${join(bad, POLICY_FILE)}: "confidence" must be one of mean_logprob, logprob, beam_share, got "luck"`,
    ),
  );
});

test('index options: --embedder DIR with --pooling and prefixes, --max-tokens, --overlap, --no-prune', async () => {
  const encoder = join(FIXTURES, 'encoder');
  const edb = join(dir, 'enc.db');
  const docs = join(dir, 'enc-docs');
  writeFiles(docs, { 'a.txt': `${TOPICS.bees}\n\n${TOPICS.bread}`, 'b.txt': TOPICS.chess });
  const r = await xfmr([
    'rag',
    'index',
    '--db',
    edb,
    '--embedder',
    encoder,
    '--pooling',
    'cls',
    '--query-prefix',
    'q: ',
    '--passage-prefix',
    '',
    '--max-tokens',
    '20',
    '--overlap',
    '5',
    docs,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [infoRun, q, wrong, bad] = await Promise.all([
    xfmr(['rag', 'info', '--db', edb, '--json']),
    xfmr(['rag', 'query', '--db', edb, 'bishop', '--mode', 'vector', '--json']),
    xfmr(['rag', 'index', '--db', edb, '--embedder', 'hash', docs]),
    xfmr(['rag', 'index', '--db', edb, '--embedder', encoder, '--max-tokens', '99', docs]),
  ]);
  const info = JSON.parse(infoRun.stdout) as {
    embedder: {
      type: string;
      pooling: string;
      queryPrefix: string;
      passagePrefix: string;
      maxTokens: number;
    };
    chunks: number;
  };
  const e = info.embedder;
  assert.deepEqual(
    [e.type, e.pooling, e.queryPrefix, e.passagePrefix, e.maxTokens],
    ['encoder', 'cls', 'q: ', '', 30],
  );
  assert.ok(info.chunks >= 6, `${info.chunks} chunks of at most 20 tokens`);
  assert.equal(q.code, 0, q.stderr);
  assert.equal((JSON.parse(q.stdout) as { results: unknown[] }).results.length, 5);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /this index was built with embedder encoder:.*; this run uses hash-v1/);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-tokens 99 exceeds what the embedder takes \(28\)/);
  // --no-prune keeps the documents of deleted files
  rmSync(join(docs, 'b.txt'));
  const again = ['rag', 'index', '--db', edb, '--embedder', encoder, '--pooling', 'cls'];
  const kept = await xfmr([...again, '--query-prefix', 'q: ', '--passage-prefix', '', docs, '--no-prune']);
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stderr, /1 files: 0 added, 0 updated, 1 unchanged, 0 removed/);
});

test('ask options: --endpoint-model, --context-tokens, --template, --temperature, --seed reach the request', async () => {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer(async (req, res) => {
    let data = '';
    for await (const c of req) data += c;
    res.setHeader('content-type', 'application/json');
    bodies.push(data ? (JSON.parse(data) as Record<string, unknown>) : { url: req.url });
    res.end(JSON.stringify({ choices: [{ message: { content: 'ok' } }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const r = await xfmr([
      'rag',
      'ask',
      '--db',
      db,
      '--endpoint',
      url,
      '--endpoint-model',
      'my-model',
      '--context-tokens',
      '120',
      '--max-tokens',
      '30',
      '--template',
      'Notes: {docs} || {query}',
      '--temperature',
      '0.5',
      '--seed',
      '9',
      'what do worker bees gather from flowers?',
      '--k',
      '4',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(bodies.length, 1, 'no /models request when the model is named');
    const b = bodies[0] as {
      model: string;
      temperature: number;
      seed: number;
      max_tokens: number;
      messages: { content: string }[];
    };
    assert.deepEqual([b.model, b.temperature, b.seed, b.max_tokens], ['my-model', 0.5, 9, 30]);
    const prompt = b.messages[0].content;
    assert.match(prompt, /^Notes: # Bees\n\nHoney bees/);
    assert.ok(prompt.endsWith(' || what do worker bees gather from flowers?'));
    const { getEncoding } = await import('../../src/tokenizers/tiktoken.ts');
    const n = getEncoding('cl100k_base').encode(prompt).length;
    assert.ok(n <= 120 - 30 - 8, `the prompt (${n} tokens) fits the 120-token window with 30 answer tokens`);
    const j = JSON.parse(r.stdout) as { sources: { truncated: boolean }[] };
    assert.ok(
      j.sources.length < 4 || j.sources.some((x) => x.truncated),
      'the 4 retrieved chunks were trimmed',
    );
    const badTemplate = await xfmr([
      'rag',
      'ask',
      '--db',
      db,
      '--endpoint',
      url,
      '--template',
      'no slots',
      'q',
    ]);
    assert.equal(badTemplate.code, 2);
    assert.match(badTemplate.stderr, /--template: the prompt template must contain \{docs\}/);
  } finally {
    server.close();
  }
});

test('index --embedder DIR: a sentence-transformers directory as downloaded; --pooling modes', async () => {
  const bge = join(FIXTURES, 'st', 'bge');
  const sdb = join(dir, 'st.db');
  const docs = join(dir, 'st-docs');
  writeFiles(docs, { 'a.txt': 'SQLite stores the whole database in one file.', 'b.txt': TOPICS.chess });
  const r = await xfmr(['rag', 'index', '--db', sdb, '--embedder', bge, docs]);
  assert.equal(r.code, 0, r.stderr);
  const [infoRun, q] = await Promise.all([
    xfmr(['rag', 'info', '--db', sdb, '--json']),
    xfmr(['rag', 'query', '--db', sdb, 'the whole database in one file', '--mode', 'vector', '--json']),
  ]);
  const e = (JSON.parse(infoRun.stdout) as { embedder: Record<string, unknown> }).embedder;
  // from modules.json, 1_Pooling and config_sentence_transformers.json; max_seq_length 32 leaves
  // 30 tokens for a passage (no passage prompt)
  assert.deepEqual(
    [e.type, e.pooling, e.queryPrefix, e.passagePrefix, e.maxTokens],
    ['encoder', 'cls', 'Represent this sentence for searching relevant passages: ', '', 30],
  );
  assert.equal(q.code, 0, q.stderr);
  assert.match((JSON.parse(q.stdout) as { results: { source: string }[] }).results[0].source, /a\.txt$/);
  const several = await xfmr([
    'rag',
    'index',
    '--db',
    join(dir, 'st2.db'),
    '--embedder',
    bge,
    '--pooling',
    'max,mean',
    docs,
  ]);
  assert.equal(several.code, 0, several.stderr);
  const info2 = await xfmr(['rag', 'info', '--db', join(dir, 'st2.db'), '--json']);
  const i2 = JSON.parse(info2.stdout) as { dim: number; embedder: { pooling: unknown } };
  assert.deepEqual([i2.dim, i2.embedder.pooling], [64, ['max', 'mean']]);
  const bad = await xfmr([
    'rag',
    'index',
    '--db',
    join(dir, 'st3.db'),
    '--embedder',
    bge,
    '--pooling',
    'median',
    docs,
  ]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--pooling: "median" is not one of cls, max, mean, mean_sqrt_len, weightedmean, lasttoken/,
  );
});
