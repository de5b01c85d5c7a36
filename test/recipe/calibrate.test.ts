/**
 * `xfmr eval --calibrate` end to end on a tiny random model (built here, with an EOS) and a tiny
 * real-prose set: only the dev split is read, the threshold file is written atomically with the
 * chosen kind's threshold, and `npm run eval` then applies it: its grounded answer and abstain
 * rates on the dev split are the calibration's own figures. The test split is refused.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONFIDENCE_KINDS, POLICY_FILE, readAbstainPolicy } from '../../src/rag/abstain.ts';
import { runEval } from '../../src/recipe/eval.ts';
import { tempDir, xfmr } from '../cli/helpers.ts';
import { saveQuotingModel } from '../rag/helpers.ts';
import { PAGES, writeRealproseSet } from './helpers.ts';

/** Two dev documents and one test document; the test one holds a question that would break a run on it. */
function tinySet(root: string): string {
  const q = (id: string, doc: string, question: string, answers: string[]) => ({
    id,
    doc,
    question,
    answers,
  });
  return writeRealproseSet(
    root,
    [
      { id: 'timeout', split: 'dev', text: PAGES.timeout },
      { id: 'watch', split: 'dev', text: PAGES.watch },
      { id: 'sleep', split: 'test', text: PAGES.sleep },
    ],
    {
      answerable: [
        q('a1', 'timeout', 'What exit code means the command timed out?', ['124']),
        q('a2', 'timeout', 'What does timeout do?', ['run a command with a time limit']),
        q('a3', 'watch', 'How often does watch run the command?', ['every 2 seconds']),
        q('a4', 'watch', 'What does watch run by default?', ['command']),
        q('t1', 'sleep', 'How long does sleep pause?', ['NUMBER seconds']),
      ],
      unanswerable: [
        { id: 'u1', about: 'timeout', question: 'Can timeout limit memory?' },
        { id: 'u2', about: 'watch', question: 'Who wrote watch?' },
        { id: 'u3', about: 'watch', question: 'Which colour does watch use for changes?' },
        { id: 'u4', about: 'sleep', question: 'Does sleep use the CPU?' },
      ],
    },
  );
}

test('xfmr eval --calibrate: the dev split only, the file written, and npm run eval applies it', async () => {
  const dir = tempDir('xfmr-calibrate-');
  const realprose = tinySet(join(dir, 'realprose'));
  const model = join(dir, 'model');
  saveQuotingModel(model, 9);
  // a broken file from before does not stop its replacement
  writeFileSync(join(model, POLICY_FILE), '{"abstain_below": ');
  const work = join(dir, 'work');
  const base = ['eval', '--calibrate', '--model', model, '--realprose', realprose, '--work', work];
  const [run, table] = await Promise.all([
    xfmr([...base, '--json']),
    xfmr([...base, '--dry-run', '--confidence', 'beam_share', '--work', join(dir, 'work2')]),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as {
    answerable: number;
    unanswerable: number;
    file: string;
    policy: { abstainBelow: number; confidence: string };
    rows: { kind: string; threshold: number; answerRate: number; abstainRate: number; auroc: number }[];
  };
  assert.deepEqual([report.answerable, report.unanswerable], [4, 3], "the dev documents' questions only");
  assert.deepEqual(
    report.rows.map((r) => r.kind),
    [...CONFIDENCE_KINDS],
  );
  for (const r of report.rows) {
    assert.equal(r.answerRate, 1, '90% of 4 questions is all 4');
    assert.ok(r.auroc >= 0 && r.auroc <= 1);
  }
  const chosen = report.rows.find((r) => r.kind === 'mean_logprob');
  assert.ok(chosen);
  assert.equal(report.file, join(model, POLICY_FILE));
  const file = JSON.parse(readFileSync(report.file, 'utf8')) as Record<string, unknown>;
  assert.equal(file.abstain_below, chosen.threshold);
  assert.equal(file.confidence, 'mean_logprob');
  assert.match(String(file.calibrated_on), /^realprose-dev: 4 answerable, 3 unanswerable;/);
  assert.ok(!Number.isNaN(Date.parse(String(file.date))));
  assert.deepEqual(
    readdirSync(model).filter((f) => f.includes('.tmp-')),
    [],
    'no temporary file left',
  );
  assert.equal(readAbstainPolicy(model)?.abstainBelow, chosen.threshold);
  // the dry run prints the table and writes nothing
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /real-prose dev split, 4 answerable and 3 unanswerable questions/);
  assert.match(table.stdout, /beam_share .* <- chosen/);
  assert.match(table.stdout, /dry run: nothing written/);
  // npm run eval on the same split applies the threshold: the same figures
  const [grounded] = (
    await runEval([{ dir: model, label: 'model' }], {
      workDir: join(dir, 'work3'),
      realproseDir: realprose,
      split: 'dev',
      sets: ['realprose'],
    })
  ).filter((r) => r.decoding === 'grounded');
  const s = grounded.sets[0];
  assert.equal(s.set, 'realprose-dev');
  assert.equal(s.scores.retrieval.answerRate, 100 * chosen.answerRate);
  assert.equal(s.unanswerable.retrieval.abstainRate, 100 * chosen.abstainRate);
});

test('xfmr eval --calibrate: the test split, unknown kinds and other sets are refused', async () => {
  const cases: [string[], RegExp][] = [
    [['--split', 'test'], /^xfmr: --calibrate uses the dev split only: never calibrate on the test split\n$/],
    [
      ['--confidence', 'luck'],
      /^xfmr: --confidence must be one of mean_logprob, logprob, beam_share, got "luck"\n$/,
    ],
    [['--min-answer-rate', '1.5'], /^xfmr: --min-answer-rate must be in \(0, 1\], got 1.5\n$/],
    [['--sets', 'docs'], /^xfmr: --sets does not apply to --calibrate/],
  ];
  const runs = await Promise.all(cases.map(([args]) => xfmr(['eval', '--calibrate', ...args])));
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, cases[i][1]);
  });
  const stray = await xfmr(['eval', '--dry-run']);
  assert.match(stray.stderr, /^xfmr: --dry-run applies to --calibrate\n$/);
});
