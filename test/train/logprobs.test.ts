/**
 * Sequence log-probabilities count response tokens only: prompt tokens and padding contribute
 * neither to the sum nor to the gradient, and the sum equals the hand-gathered log-softmax.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { backward, noGrad, sum } from '../../src/tensor/index.ts';
import {
  referenceModel,
  responseBatch,
  scoreSequences,
  selectPositions,
  selectRows,
  sequenceLogProbs,
} from '../../src/train/logprobs.ts';

const config = llamaConfig({
  vocabSize: 11,
  contextLength: 16,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 32,
});

test('responseBatch: targets are next tokens, the mask sits on positions predicting response tokens', () => {
  const b = responseBatch(
    [
      { prompt: [1, 2, 3], response: [4, 5] },
      { prompt: [6], response: [7] },
    ],
    16,
  );
  assert.equal(b.T, 5);
  assert.deepEqual([...b.ids], [1, 2, 3, 4, 5, 6, 7, 0, 0, 0]);
  assert.deepEqual([...b.targets], [2, 3, 4, 5, 0, 7, 0, 0, 0, 0]);
  assert.deepEqual([...b.mask], [0, 0, 1, 1, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual([...b.last], [4, 1]);
  // Truncation keeps the prompt and cuts the response.
  const t = responseBatch([{ prompt: [1, 2, 3], response: [4, 5, 6, 7] }], 5);
  assert.deepEqual([...t.responseLengths], [2]);
  assert.throws(() => responseBatch([{ prompt: [1, 2, 3], response: [4] }], 3), /no room/);
});

test('sequenceLogProbs sums log-softmax over response tokens only (and so does its gradient)', () => {
  const model = new DecoderLM(config, 2);
  const rows = [
    { prompt: [1, 2, 3], response: [4, 5, 10] },
    { prompt: [6], response: [7, 10] },
  ];
  const batch = responseBatch(rows, 16);
  const logits = model.forward(batch.ids, batch.B, batch.T); // [2, T, V]
  const lp = sequenceLogProbs(logits, batch);
  const V = config.vocabSize;
  const L = logits.data;
  rows.forEach((r, b) => {
    const seq = [...r.prompt, ...r.response];
    let expected = 0;
    for (let j = 0; j < r.response.length; j++) {
      const pos = r.prompt.length - 1 + j; // logits here predict response token j
      const row = L.subarray((b * batch.T + pos) * V, (b * batch.T + pos + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      expected += row[seq[pos + 1]] - lse;
    }
    assert.ok(Math.abs(lp.data[b] - expected) < 1e-4, `row ${b}: ${lp.data[b]} vs ${expected}`);
  });
  backward(sum(lp), undefined, { retainGraph: true });
  const g = logits.grad?.data as Float32Array;
  for (let i = 0; i < batch.B * batch.T; i++) {
    const row = g.subarray(i * V, (i + 1) * V);
    const zero = row.every((x) => x === 0);
    assert.equal(zero, batch.mask[i] === 0, `position ${i}: gradient ${zero ? 'absent' : 'present'}`);
  }
  // Changing a prompt-only continuation or the padding does not change the response log-prob.
  const padded = responseBatch([rows[1], { prompt: [1, 2, 3, 4, 5, 6, 7], response: [8] }], 16);
  const alone = responseBatch([rows[1]], 16);
  const a = noGrad(() => scoreSequences(model, padded))[0];
  const b = scoreSequences(model, alone)[0];
  assert.ok(Math.abs(a - b) < 1e-5, `padding changed the log-prob: ${a} vs ${b}`);
});

test('selectRows and selectPositions keep a row and its per-position values aligned', () => {
  const batch = responseBatch(
    [
      { prompt: [1, 2, 3], response: [4, 5] },
      { prompt: [6], response: [7] },
    ],
    16,
  );
  const sub = selectRows(batch, [1]);
  assert.equal(sub.T, 2);
  assert.deepEqual([...sub.ids], [6, 7]);
  assert.deepEqual([...sub.mask], [1, 0]);
  const values = Float32Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual([...selectPositions(values, batch, [1])], [5, 6]);
});

test('referenceModel: same outputs, frozen parameters, no tape', () => {
  const model = new DecoderLM(config, 4);
  const ref = referenceModel(model);
  const batch = responseBatch([{ prompt: [1, 2], response: [3, 4] }], 16);
  assert.deepEqual(scoreSequences(ref, batch), scoreSequences(model, batch));
  const out = ref.forward(batch.ids, batch.B, batch.T);
  assert.equal(out.requiresGrad, false);
  assert.equal(out.node, null);
});
