/**
 * The recipe end to end at smoke scale (a few seconds): every stage runs, the model directory has
 * what the server needs (f16 weights, tokenizer, EOS in generation_config.json), the GGUF is
 * written, the same seed reproduces the same losses exactly, and the training stages run at the
 * dtype given (auto by default, printed in the log).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensors } from '../../src/io/safetensors.ts';
import { RECIPES, runRecipe } from '../../src/recipe/recipe.ts';
import { type DtypeChoice, resolveDtype } from '../../src/tensor/index.ts';
import { resolveEos } from '../../src/tokenizers/eos.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';

const verse = (i: number) =>
  `  ${i} And the man was called Enoch, and he went from Bethel to Hebron with seven servants; and he lived ${i} years.`;
const KJV = ['Genesis 1', '', ...Array.from({ length: 60 }, (_, i) => verse(i + 1)), ''].join('\n');

async function smoke(dir: string, dtype?: DtypeChoice) {
  mkdirSync(dir, { recursive: true });
  const kjv = join(dir, 'kjv.txt');
  writeFileSync(kjv, KJV);
  const paths = {
    work: join(dir, 'work'),
    out: join(dir, 'model'),
    outSft: join(dir, 'model-sft'),
    docs: 'docs',
    kjv,
    dtype,
  };
  const lines: string[] = [];
  const r = await runRecipe(RECIPES.smoke, paths, (l) => lines.push(l));
  return { r, paths, lines };
}

test('smoke recipe: all stages, a servable f16 model directory, GGUF, and exact reproduction', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-recipe-'));
  try {
    const a = await smoke(join(dir, 'a'));
    const stages = a.r.stages.map((s) => s.stage);
    assert.deepEqual(stages, ['corpus', 'tokenizer', 'pretrain', 'sft', 'dpo', 'export', 'eval']);
    for (const out of [a.paths.out, a.paths.outSft]) {
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json'])
        assert.ok(existsSync(join(out, f)), `${out}/${f}`);
      const gc = JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'));
      assert.equal(gc.eos_token_id, resolveEos({ tokenizer: loadTokenizer(out) })[0]);
      const st = openSafetensors(join(out, 'model.safetensors'));
      assert.ok([...st.entries.values()].every((e) => e.dtype === 'F16'));
      st.close();
    }
    assert.ok(existsSync(join(a.paths.work, 'xfmr-rag-tiny.gguf')));
    assert.deepEqual(
      a.r.eval.map((m) => `${m.label}/${m.decoding}`),
      ['sft/free', 'sft/grounded', 'dpo/free', 'dpo/grounded'],
    );
    assert.deepEqual(
      a.r.eval[0].sets.map((s) => s.set),
      ['synthetic', 'docs'],
    );
    assert.ok(a.lines.some((l) => l.includes('retrieval EM/F1')));
    // Same seed, same backend and threads: the same losses, bit for bit.
    const b = await smoke(join(dir, 'b'));
    const losses = (s: typeof a.r.stages) =>
      s.filter((x) => 'final_loss' in x).map((x) => [x.stage, x.final_loss]);
    assert.deepEqual(losses(b.r.stages), losses(a.r.stages));
    assert.deepEqual(
      readFileSync(join(b.paths.out, 'model.safetensors')),
      readFileSync(join(a.paths.out, 'model.safetensors')),
    );
    // The dtype: auto by default, said in the log; the other one trains to other losses.
    const auto = resolveDtype('auto');
    assert.equal(a.r.dtype, auto.dtype);
    assert.ok(a.lines.includes(`dtype: ${auto.dtype} (${auto.reason})`), 'the log names the dtype');
    const other = auto.dtype === 'bf16' ? 'f32' : 'bf16';
    const c = await smoke(join(dir, 'c'), other);
    assert.equal(c.r.dtype, other);
    const pretrainLoss = (r: typeof a.r) => r.stages.find((x) => x.stage === 'pretrain')?.final_loss;
    assert.notEqual(pretrainLoss(c.r), pretrainLoss(a.r), `${other} and ${auto.dtype} pretrain alike`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
