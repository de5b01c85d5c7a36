/**
 * AdamW against torch.optim.AdamW (float64) on both backends: the fixture
 * (scripts/fixtures/make_adamw_fixture.py) holds initial values, per-step gradients and learning
 * rates (changing mid-way), and PyTorch's parameters after every step, for several betas, eps,
 * weight decays (norms and embeddings in a no-decay group) and global-norm clipping. A missing bias
 * correction, decay on the no-decay group, eps inside the square root or a wrong clip scale moves
 * the parameters far beyond the tolerance, which only absorbs float32 rounding.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gradOf, Tensor } from '../../src/tensor/index.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

interface Case {
  name: string;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  max_grad_norm: number | null;
  params: { name: string; shape: number[]; init: number[] }[];
  steps: { lr: number; grads: number[][]; grad_norm: number | null; expected: number[][] }[];
}

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'adamw_torch.json'), 'utf8'),
) as { cases: Case[] };

const ATOL = 1e-6;
const RTOL = 1e-6;

for (const backend of BACKENDS) {
  test(`AdamW matches torch.optim.AdamW step by step (${backend})`, () => {
    withBackend(backend, () => {
      assert.equal(fixture.cases.length, 3);
      for (const c of fixture.cases) {
        const params = c.params.map((p) => Tensor.param(Tensor.from(p.init, p.shape), p.name));
        const opt = new AdamW(params, {
          lr: c.steps[0].lr,
          beta1: c.betas[0],
          beta2: c.betas[1],
          eps: c.eps,
          weightDecay: c.weight_decay,
        });
        c.steps.forEach((s, step) => {
          params.forEach((p, i) => {
            gradOf(p).set(s.grads[i]);
          });
          const norm = opt.update({ lr: s.lr, maxGradNorm: c.max_grad_norm ?? undefined });
          if (s.grad_norm !== null)
            assert.ok(
              Math.abs(norm - s.grad_norm) <= 1e-5 * s.grad_norm,
              `${c.name} step ${step + 1}: norm ${norm} vs ${s.grad_norm}`,
            );
          opt.zeroGrad();
          params.forEach((p, i) => {
            s.expected[i].forEach((want, j) => {
              const got = p.data[j];
              assert.ok(
                Math.abs(got - want) <= ATOL + RTOL * Math.abs(want),
                `${c.name}, step ${step + 1}, ${p.name}[${j}]: ${got} vs torch ${want}`,
              );
            });
          });
        });
        assert.equal(opt.step, c.steps.length);
      }
    });
  });
}
