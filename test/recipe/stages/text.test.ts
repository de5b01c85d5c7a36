/**
 * The recipe's corpus stage keeps held-out text out of training (src/train/held_out.ts): a KJV path
 * inside a held-out folder is refused, so is a KJV file that carries a copy of an evaluation
 * document, and a clean file passes (the synthetic documents included).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type RecipePaths, SMOKE_RECIPE, type StageContext } from '../../../src/recipe/recipe.ts';
import { pairedDifference } from '../../../src/recipe/stages/finetune.ts';
import { corpusStage } from '../../../src/recipe/stages/text.ts';

const verse = (i: number) =>
  `  ${i} And the man went from Bethel to Hebron with seven servants; and he lived ${i} years.`;
const KJV = ['Genesis 1', '', ...Array.from({ length: 40 }, (_, i) => verse(i + 1)), ''].join('\n');

function ctx(work: string, kjv: string): StageContext {
  const paths: RecipePaths = { work, out: join(work, 'out'), outSft: join(work, 'out-sft'), kjv };
  return { cfg: SMOKE_RECIPE, paths, log: () => {}, dtype: 'f32' };
}

test('corpus stage: held-out sources and copies are refused, a clean corpus passes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-corpus-'));
  try {
    assert.throws(
      () => corpusStage(ctx(dir, 'eval/realprose/docs/lic-bsd.txt')),
      /eval\/realprose\/docs\/lic-bsd\.txt: held out of training data \(the evaluation documents in eval\/realprose\/\); the recipe corpus may not read it/,
    );
    const mixed = join(dir, 'mixed.txt');
    const bsd = readFileSync('eval/realprose/docs/lic-bsd.txt', 'utf8');
    writeFileSync(mixed, `${KJV}\n${bsd}`);
    assert.throws(
      () => corpusStage(ctx(dir, mixed)),
      /mixed\.txt: repeats held-out text from eval\/realprose\/docs\/lic-bsd\.txt/,
    );
    const clean = join(dir, 'clean.txt');
    writeFileSync(clean, KJV);
    const c = corpusStage(ctx(dir, clean));
    assert.equal(c.verses.length, 40);
    assert.equal(c.docs.length, SMOKE_RECIPE.pretrainDocs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pairedDifference: the mean change with a 95% interval; zero width when nothing changes', () => {
  const same = pairedDifference([1, 0, 1, 0], [1, 0, 1, 0]);
  assert.deepEqual(same, { mean: 0, lo: 0, hi: 0, n: 4 });
  // differences 1,1,0,0: mean 0.5, sd sqrt(1/3), half width 1.96 * sd / 2
  const r = pairedDifference([0, 0, 1, 1], [1, 1, 1, 1]);
  assert.equal(r.mean, 0.5);
  assert.ok(Math.abs(r.hi - r.mean - (1.96 * Math.sqrt(1 / 3)) / 2) < 1e-12);
  assert.throws(() => pairedDifference([1], [1, 0]), /two score lists/);
});
