/**
 * Block.forwardPacked (encoders' packed batches): several whole sequences packed into [N, C] give,
 * row for row, what Block.forward gives each sequence alone with bidirectional attention; for a
 * post-norm (BERT) and a pre-norm block, on both backends. The two paths share every layer but the
 * attention call (attentionPacked vs attention), so 1e-5 is float32 roundoff of O(1) rows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Block, type BlockConfig } from '../../src/nn/block.ts';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

const base: BlockConfig = {
  dModel: 12,
  nHeads: 3,
  nKvHeads: 3,
  headDim: 4,
  ffnDim: 20,
  ffnType: 'gelu',
  norm: 'layernorm',
  normEps: 1e-12,
  qkvBias: true,
  attnBias: true,
  mlpBias: true,
  initStd: 0.5,
  nLayers: 1,
  postNorm: true,
  causal: false,
};
const noDrop = { p: 0, rng: new Rng(0), training: false };

for (const backend of BACKENDS) {
  describe(`Block.forwardPacked on ${backend}`, () => {
    for (const postNorm of [true, false]) {
      test(`${postNorm ? 'post' : 'pre'}-norm: packed rows equal each sequence alone`, () =>
        withBackend(backend, () =>
          noGrad(() => {
            const rng = new Rng(3);
            const block = new Block({ ...base, postNorm }, rng);
            const C = base.dModel;
            const lens = [3, 1, 7];
            const seqs = lens.map((T) => Tensor.randn([1, T, C], rng));
            const N = lens.reduce((a, b) => a + b, 0);
            const x = Tensor.zeros([N, C]);
            const groups = lens.map((length, i) => ({
              start: lens.slice(0, i).reduce((a, b) => a + b, 0),
              length,
            }));
            for (const [i, g] of groups.entries()) x.data.set(seqs[i].data, g.start * C);
            const y = block.forwardPacked(x, groups).data;
            for (const [i, g] of groups.entries()) {
              const ref = block.forward(seqs[i], null, noDrop).data;
              for (let j = 0; j < ref.length; j++)
                assert.ok(
                  Math.abs(y[g.start * C + j] - ref[j]) < 1e-5,
                  `seq ${i} value ${j}: ${y[g.start * C + j]} vs ${ref[j]}`,
                );
            }
            // one group of all rows differs: each sequence really sees only itself
            const all = block.forwardPacked(x, [{ start: 0, length: N }]).data;
            assert.ok(Math.abs(all[0] - y[0]) > 1e-4);
            // a causal block has no packed path
            assert.throws(
              () => new Block({ ...base, causal: true }, rng).forwardPacked(x, groups),
              /bidirectional/,
            );
          }),
        ));
    }
  });
}
