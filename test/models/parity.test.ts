/**
 * Parity with PyTorch: a GPT-2-style decoder, a Llama-style decoder (GQA, half-split RoPE with
 * theta 500, SwiGLU, RMSNorm eps 1e-6, untied head) and a BERT-style encoder (post-norm,
 * bidirectional, token types, erf GELU, LayerNorm eps 1e-12) with random weights, against an
 * independent float64 PyTorch implementation (scripts/fixtures/make_model_fixture.py, which
 * wrote test/models/fixtures/; rerun it after changing the architecture on purpose).
 *
 * Checked, each as max |xfmr - torch| / max |torch| <= 1e-4 and on both backends: the logits
 * (hidden states for BERT), the loss (mean cross-entropy with one ignored target; sum(hidden *
 * probe) for BERT) and the gradient of every parameter. The fixture's weights are non-symmetric,
 * norm weights and biases are not 1 and 0, and the embeddings are small enough that the first
 * norm sees the eps: a weight loaded transposed, a wrong eps (the script checks this margin:
 * >= 3.9e-4), a wrong theta or GQA head mapping all fail these checks.
 *
 * The same models in bf16 mixed precision (withComputeDtype('bf16')) are checked against the same
 * weights run under torch.autocast('cpu', dtype=torch.bfloat16) (NAME.autocast.safetensors, made by
 * the same script), within the looser bounds TOL_BF16 explains.
 *
 * The families beyond plain Llama (scripts/fixtures/make_family_fixture.py, float64 only), one feature
 * each:
 * qwen3 (per-head q/k RMSNorm, head_dim != d_model / n_heads), llama3, linear and yarn RoPE
 * scaling (sized so each scaling changes some rotary pairs and keeps others), gemma2's block
 * (sqrt(d)-scaled embeddings, GeGLU, sandwich norms with (1 + w) weights, query_pre_attn_scalar,
 * final logit soft-cap), mistral's sliding window (3, shorter than the 7 tokens, on every layer)
 * and gemma2sw: gemma2 with its window (3) on the even layers only and attention scores
 * soft-capped at 1; gemma3: 7 layers, so both kinds appear (layer 5 global, the others local with
 * window 3), per-head q/k norms with (1 + w) weights, local layers rotating with base 1e4 and the
 * global one with 1e6; gemma3lin: the same with linear RoPE scaling (factor 8) on the global layer
 * only. The script checks that each of these moves the logits by far more than the tolerance
 * (dropping the window, the cap, or sliding every layer instead of the even ones; for gemma3,
 * either RoPE base, the (1 + w) of the q/k norms, the scaling or scaling the local layers too).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readSafetensors } from '../../src/io/safetensors.ts';
import type { TensorMap } from '../../src/io/tensors.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { Encoder } from '../../src/models/encoder.ts';
import {
  bertConfig,
  gemma2Config,
  gemma3Config,
  gpt2Config,
  llamaConfig,
  mistralConfig,
  qwen3Config,
} from '../../src/models/presets.ts';
import type { Module } from '../../src/nn/module.ts';
import { backward, Tensor, withComputeDtype } from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from '../tensor/backends.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const TOL = 1e-4;
/**
 * bf16 against torch.autocast: outputs (logits, hidden states, loss) within 5e-2, gradients within
 * 1e-1, relative to the largest magnitude as above. Why so loose: the two are different bf16
 * computations, not one computation in two orders. Autocast rounds every matmul OUTPUT to bf16 and
 * runs softmax, GELU and SiLU on bf16 inputs in bf16; xfmr rounds only GEMM operands (2^-8
 * relative each) and keeps every result f32. Each therefore sits its own distance from the exact
 * result: autocast at 1.4e-2 to 2.4e-2 (outputs) and 2.6e-2 to 4.4e-2 (gradients) from float64
 * (the fixture script prints these), xfmr at about 1e-2; the bounds are twice autocast's own
 * distance, rounded up. A transposed weight, a wrong GQA mapping or a missing term is off by O(1)
 * and still fails; a wrong norm eps (3e-3) is below bf16's resolution and is the f32 case's job;
 * a bf16 path that silently ran f32 is caught by its distance from the float64 logits.
 */
const TOL_BF16 = { outputs: 5e-2, gradients: 1e-1 };

// The same field values as CONFIGS in make_model_fixture.py (checked against the fixture below).
const small = { vocabSize: 61, contextLength: 16, dModel: 24, nLayers: 2, nHeads: 4, ffnDim: 40 };
const llama = { ...small, nKvHeads: 2, normEps: 1e-6, ropeTheta: 500 };
// Gemma 3 in 7 layers: layers 0-4 and 6 local (window 3 < T = 7, base 1e4), layer 5 global (1e6).
const gemma3Shape = {
  ...llama,
  nLayers: 7,
  headDim: 8,
  queryScale: 10,
  slidingWindow: 3,
  ropeTheta: 1000000,
  ropeLocalTheta: 10000,
};
const CONFIGS: Record<string, ModelConfig> = {
  gpt2: gpt2Config(small),
  llama: llamaConfig(llama),
  bert: bertConfig(small),
  qwen3: qwen3Config({ ...llama, headDim: 8, ropeTheta: 1000 }),
  llama3: llamaConfig({
    ...llama,
    headDim: 8,
    contextLength: 32,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 },
  }),
  gemma2: gemma2Config({ ...llama, headDim: 8, ropeTheta: 10000, queryScale: 10, finalLogitSoftcap: 1 }),
  mistral: mistralConfig({ ...llama, slidingWindow: 3 }),
  gemma2sw: gemma2Config({
    ...llama,
    headDim: 8,
    ropeTheta: 10000,
    queryScale: 10,
    finalLogitSoftcap: 1,
    slidingWindow: 3,
    attnLogitSoftcap: 1,
  }),
  gemma3: gemma3Config({ ...gemma3Shape }),
  gemma3lin: gemma3Config({ ...gemma3Shape, ropeScaling: { type: 'linear', factor: 8 } }),
  linear: llamaConfig({
    ...llama,
    headDim: 8,
    contextLength: 32,
    ropeScaling: { type: 'linear', factor: 2 },
  }),
  yarn: llamaConfig({
    ...llama,
    headDim: 8,
    contextLength: 32,
    ropeScaling: {
      type: 'yarn',
      factor: 4,
      originalContext: 16,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: 0.1 * Math.log(4) + 1,
    },
  }),
};

interface Fixture {
  file: string;
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  golden: TensorMap;
  /** The same outputs from torch.autocast('cpu', dtype=torch.bfloat16) (NAME.autocast.safetensors). */
  autocast: TensorMap | null;
  B: number;
  T: number;
}

function loadFixture(name: string): Fixture {
  const file = join(FIXTURES, `${name}.safetensors`);
  const w = readSafetensors(file).tensors;
  const { tensors: golden, metadata } = readSafetensors(join(FIXTURES, `${name}.golden.safetensors`));
  assert.ok(metadata?.config, `${name}: the golden file has no config metadata`);
  // The fixture was made for exactly this config: every field the script set must agree.
  const want = JSON.parse(metadata.config) as Record<string, unknown>;
  const have = CONFIGS[name] as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) assert.deepEqual(have[k], v, `${name}: config field ${k}`);
  const weights = new Map<string, Float32Array>();
  for (const [n, t] of w) {
    assert.ok(t.data instanceof Float32Array, `${n}: expected F32 weights, got ${t.dtype}`);
    weights.set(n, t.data);
  }
  // The families' fixtures (make_family_fixture.py) are float64 only.
  const autoFile = join(FIXTURES, `${name}.autocast.safetensors`);
  const auto = existsSync(autoFile) ? readSafetensors(autoFile) : null;
  if (auto) {
    assert.equal(auto.metadata?.autocast, 'cpu bfloat16', `${name}: the autocast file says how it was made`);
    assert.equal(auto.metadata?.config, metadata.config, `${name}: the autocast file is of the same model`);
  }
  return {
    file,
    weights,
    shapes: new Map([...w].map(([n, t]) => [n, t.shape])),
    golden,
    autocast: auto?.tensors ?? null,
    B: Number(metadata.batch),
    T: Number(metadata.seq),
  };
}

function f32(fx: Fixture, name: string, from: 'golden' | 'autocast' = 'golden'): Float32Array {
  const t = fx[from]?.get(name);
  assert.ok(t && t.data instanceof Float32Array, `golden tensor ${name} missing or not F32`);
  return t.data;
}

function i32(fx: Fixture, name: string): Int32Array {
  const t = fx.golden.get(name);
  assert.ok(t && t.data instanceof Int32Array, `golden tensor ${name} missing or not I32`);
  return t.data;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Asserts max |got - want| / scale <= TOL (scale: max |want| unless given); returns the error.
 * NaN anywhere fails (the comparison is false).
 */
function expectClose(
  what: string,
  got: Float32Array,
  want: Float32Array,
  scale = maxAbs(want),
  tol = TOL,
): number {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, torch has ${want.length}`);
  let diff = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    diff = Number.isNaN(d) ? Number.NaN : Math.max(diff, d);
  }
  const err = diff / scale;
  assert.ok(err <= tol, `${what}: max |xfmr - torch| / ${scale.toExponential(2)} = ${err.toExponential(2)}`);
  return err;
}

/** Loads the fixture weights after checking the names and shapes agree exactly. */
function load(model: Module, fx: Fixture): void {
  const params = model.namedParameters();
  assert.deepEqual([...params.keys()].sort(), [...fx.weights.keys()].sort(), 'parameter names');
  for (const [n, p] of params) assert.deepEqual(p.shape, fx.shapes.get(n), `${n}: shape`);
  model.loadStateDict(fx.weights, fx.file);
}

/**
 * Every parameter's gradient against torch's; returns the worst error. The key bias gradient is
 * zero in exact arithmetic without RoPE (adding q.b to every score of a row leaves the softmax
 * unchanged), so it is held to the same bound measured against the model's largest gradient.
 */
function expectGrads(
  model: Module,
  fx: Fixture,
  config: ModelConfig,
  from: 'golden' | 'autocast' = 'golden',
  tol = TOL,
): number {
  const want = new Map([...model.namedParameters().keys()].map((n) => [n, f32(fx, `grad.${n}`, from)]));
  const largest = Math.max(...[...want.values()].map(maxAbs));
  let worst = 0;
  for (const [name, p] of model.namedParameters()) {
    assert.ok(p.grad, `${name}: no gradient`);
    const zero = config.position !== 'rope' && name.endsWith('attention.wk.bias');
    const g = want.get(name) as Float32Array;
    worst = Math.max(worst, expectClose(`grad ${name}`, p.grad.data, g, zero ? largest : maxAbs(g), tol));
  }
  return worst;
}

const e = (x: number) => x.toExponential(1);

/** max |a - b| / max |b|: how far apart two outputs are (no assertion). */
function distance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d / maxAbs(b);
}

/** f32 against the float64 golden at TOL; bf16 against torch.autocast's at TOL_BF16. */
const CASES = [
  { dtype: 'f32', from: 'golden', tol: { outputs: TOL, gradients: TOL } },
  { dtype: 'bf16', from: 'autocast', tol: TOL_BF16 },
] as const;

for (const backend of BACKENDS) {
  describe(`parity with PyTorch on ${backend}`, () => {
    for (const { dtype, from, tol } of CASES) {
      const against = from === 'golden' ? 'float64 torch' : 'torch.autocast bf16';
      const families = [
        'qwen3',
        'llama3',
        'linear',
        'yarn',
        'gemma2',
        'mistral',
        'gemma2sw',
        'gemma3',
        'gemma3lin',
      ];
      for (const name of ['gpt2', 'llama', ...(from === 'golden' ? families : [])]) {
        test(`${name} in ${dtype}: logits, loss and every gradient against ${against}`, (t) =>
          withBackend(backend, () => {
            const config = CONFIGS[name];
            const fx = loadFixture(name);
            const model = new DecoderLM(config);
            load(model, fx);
            const ids = i32(fx, 'ids');
            const targets = i32(fx, 'targets');
            assert.ok(targets.includes(-100), 'the fixture ignores one target');
            const out = withComputeDtype(dtype, () => model.forward(ids, fx.B, fx.T));
            const logits = expectClose('logits', out.data, f32(fx, 'logits', from), undefined, tol.outputs);
            const lossT = withComputeDtype(dtype, () => model.loss(ids, targets, fx.B, fx.T));
            const loss = expectClose('loss', lossT.data, f32(fx, 'loss', from), undefined, tol.outputs);
            backward(lossT);
            const grads = expectGrads(model, fx, config, from, tol.gradients);
            t.diagnostic(`max rel error: logits ${e(logits)}, loss ${e(loss)}, gradients ${e(grads)}`);
            if (dtype === 'bf16') {
              // Not silently f32: bf16 logits sit well outside the f32 tolerance of the float64 ones.
              const off = distance(out.data, f32(fx, 'logits'));
              t.diagnostic(`bf16 logits vs float64: ${e(off)}`);
              assert.ok(off > 10 * TOL, `bf16 logits are within ${e(off)} of float64: was bf16 used?`);
            }
          }));
      }

      test(`bert in ${dtype}: hidden states and every gradient against ${against}`, (t) =>
        withBackend(backend, () => {
          const config = CONFIGS.bert;
          const fx = loadFixture('bert');
          const model = new Encoder(config);
          load(model, fx);
          const probe = f32(fx, 'probe');
          const h = withComputeDtype(dtype, () =>
            model.forward(i32(fx, 'ids'), fx.B, fx.T, i32(fx, 'types')),
          ); // [B, T, C]
          const hidden = expectClose('hidden', h.data, f32(fx, 'hidden', from), undefined, tol.outputs);
          // loss = sum(hidden * probe), so d loss / d hidden = probe
          let sum = 0;
          for (let i = 0; i < probe.length; i++) sum += h.data[i] * probe[i];
          const loss = expectClose(
            'loss',
            Float32Array.of(sum),
            f32(fx, 'loss', from),
            undefined,
            tol.outputs,
          );
          backward(h, Tensor.wrap(probe, h.shape));
          const grads = expectGrads(model, fx, config, from, tol.gradients);
          t.diagnostic(`max rel error: hidden ${e(hidden)}, loss ${e(loss)}, gradients ${e(grads)}`);
        }));
    }
  });
}
