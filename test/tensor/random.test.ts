/** Rng.forLoading: Tensor.randn and Tensor.rand draw nothing from it (a loader fills the tensors). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, Tensor } from '../../src/tensor/index.ts';

test('Rng.forLoading: randn and rand leave tensors uninitialised and the state untouched', () => {
  const r = Rng.forLoading();
  const state = r.getState();
  const a = Tensor.randn([64, 3], r, 0.02);
  const b = Tensor.rand([5], r);
  assert.deepEqual(a.shape, [64, 3]);
  assert.deepEqual(b.shape, [5]);
  // nothing was drawn: a drawing Rng would have advanced by 192 normals and 5 uniforms
  assert.deepEqual(r.getState(), state);
  const drawing = new Rng(0);
  Tensor.randn([64, 3], drawing, 0.02);
  assert.notDeepEqual(drawing.getState(), state);
  // its own draws are those of Rng(0)
  assert.equal(Rng.forLoading().normal(), new Rng(0).normal());
  assert.equal(new Rng(0).initialises, true);
  assert.equal(r.initialises, false);
});
