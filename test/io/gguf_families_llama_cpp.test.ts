/**
 * Issue 16, acceptance 1: parity with llama.cpp (node-llama-cpp 3.21.1) for every family, through
 * GGUF. Per family (llama, llama with llama3 RoPE scaling, qwen2, qwen3, mistral with a sliding
 * window shorter than the sequence, gemma2 with its soft-caps and window, SmolLM2-shaped llama), on
 * random weights (d 256, 2 layers, 4 heads, 2 KV heads, head 64, ffn 512, byte-level vocabulary
 * of 297, init std 0.05), xfmr writes the F32 GGUF, `xfmr quantize` (its `run`, in process) makes
 * F16, Q8_0, Q4_0 and Q4_K_M from it, and node-llama-cpp loads every file and decodes greedily
 * from the same prompt ids, returning its log-probabilities per step. xfmr loads the same file
 * with `loadDecoder(file, { dtype: 'auto' })`, as the CLI does: quantized matrices stay quantized
 * and are computed with as llama.cpp computes with them (activations quantized to 8 bits per block,
 * integer dot products: Kernels.linearQuant), and is fed llama.cpp's tokens
 * (teacher forcing); at each step xfmr's argmax is compared with llama.cpp's token, and the
 * log-probabilities of llama.cpp's 10 most likely tokens with xfmr's.
 *
 * F32, F16, Q8_0: 32 steps; every token equals xfmr's argmax, so xfmr's own greedy sequence is
 * llama.cpp's, unless xfmr's logit gap between its argmax and llama.cpp's token is within the
 * type's tolerance below (a near-tie, which the rounding named there can decide either way; the
 * test reports each one and allows at most 2). 4-bit types (Q4_0, Q4_K_M): 64 steps; llama.cpp's
 * token is xfmr's argmax on at least 90% of them.
 *
 * Tolerance, max |ln p(llama.cpp) - ln p(xfmr)| over the top 10 tokens of every step:
 *   F32     2e-4; gemma2 and gemma3 2e-3. Both compute in f32 (llama.cpp with an f32 KV cache, flash attention
 *           off); summation order differs (~2e-6 measured; gemma2 2.6e-4). llama.cpp's GeGLU reads GELU from a
 *           table indexed by the f16-rounded input (ggml-cpu vec.h, GGML_GELU_FP16): a relative
 *           error up to 2^-11 on each activation.
 *   F16     2e-2 (measured <= 2e-3). ggml converts the activations to f16 for an F16 matmul (vec_dot_type F16):
 *           relative 2^-11 per input, against xfmr's f32 activations times the same f16 weights.
 *   Q8_0    0.15. Both quantize activations to 8 bits per 32-block (Q8_0) before integer dot
 *           products, so the products agree up to summation order: measured 6e-7 to 9e-7 in
 *           most families, 1.7e-2 in gemma2 (its GELU table, above), 2.4e-2 with llama3 RoPE
 *           scaling (one run, 2026-12-07), where a
 *           near-tie in an activation's rounding to 8 bits goes the other way. The bound is the
 *           one for a side computing on dequantized f32 weights (up to ~0.06 measured in
 *           gguf_quant_llama_cpp.test.ts) with 2.5x room; a wrong block or scale gives order 1.
 *   Q4_0, Q4_K_M  0.3: the same activation quantization (Q8_K blocks of 256 for the K-quants),
 *           meeting coarser weights (<= 0.062 measured); only the 90% top-1 agreement is the criterion there.
 * Near-tie tolerance for a token flip (xfmr logit gap): the same numbers.
 *
 * What llama.cpp cannot express, and how the test shows it:
 *   mistral  llama.cpp's `llama` has no sliding window (its converter drops Mistral's). The file
 *            keeps the window in `llama.attention.sliding_window`, which llama.cpp ignores and
 *            xfmr applies. So llama.cpp is compared with xfmr on the same weights without the
 *            window (the parity above), and the windowed model is shown to differ from
 *            llama.cpp beyond the window by far more than the tolerance.
 *   gemma2   exact: llama.cpp applies both soft-caps and the window on the even layers; the test
 *            checks that each of them changes xfmr's output by far more than the tolerance, so a
 *            side that ignored one would fail.
 *   gemma3   exact: llama.cpp reads the window, the layer period (6), freq_base_swa for the local
 *            layers and linear scaling for the global ones; each (and the final cap) is checked to
 *            change xfmr's output by far more than the tolerance. Its norm weights (q/k norms
 *            included) are perturbed from the initial (1 + 0) so that the 1 + w export is tested.
 * Skipped, with the reason, when node-llama-cpp or its prebuilt native binary cannot load here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run as quantize } from '../../src/cli/quantize.ts';
import { exportGguf, importGguf } from '../../src/io/gguf_export.ts';
import type { GgufFileType } from '../../src/io/gguf_file_types.ts';
import { ggufTokenizerFromJson } from '../../src/io/gguf_tokenizer.ts';
import type { NamedTensor } from '../../src/io/tensors.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { fillCanonical, loadDecoder } from '../../src/models/load.ts';
import {
  gemma2Config,
  gemma3Config,
  llamaConfig,
  mistralConfig,
  qwen2Config,
  qwen3Config,
} from '../../src/models/presets.ts';
import { Rng } from '../../src/tensor/index.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { tempDir } from './helpers.ts';
import { llamaCppGreedy } from './llama_cpp.ts';

const PROMPT = [5, 17, 42, 99, 7, 256, 260];
const TOP = 10;
const SHAPE: Partial<ModelConfig> = {
  vocabSize: 297,
  contextLength: 128,
  dModel: 256,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 64,
  ffnDim: 512,
  initStd: 0.05,
  bosTokenId: 0,
  eosTokenId: 296,
};
const WINDOW = 12; // < PROMPT.length + 32

const FAMILIES: { name: string; config: ModelConfig; seed: number }[] = [
  { name: 'llama', config: llamaConfig(SHAPE), seed: 3 },
  {
    name: 'llama3 RoPE scaling',
    // originalContext 16 puts the scaled band inside the 64-dim head's wavelengths
    config: llamaConfig({
      ...SHAPE,
      ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 16 },
    }),
    seed: 4,
  },
  { name: 'qwen2', config: qwen2Config(SHAPE), seed: 5 },
  // head 32 * 4 heads != d 256: exercises key_length
  { name: 'qwen3', config: qwen3Config({ ...SHAPE, headDim: 32 }), seed: 6 },
  {
    name: 'mistral (window 12)',
    config: mistralConfig({ ...SHAPE, nKvHeads: 2, slidingWindow: WINDOW }),
    seed: 7,
  },
  {
    name: 'gemma2 (caps, window 12)',
    // caps small enough to bite on these logits (std ~1) and scores
    config: gemma2Config({
      ...SHAPE,
      slidingWindow: WINDOW,
      attnLogitSoftcap: 0.5,
      finalLogitSoftcap: 2,
      queryScale: 64,
      normEps: 1e-6,
    }),
    seed: 8,
  },
  {
    name: 'gemma3 (window 12, local base 1e4, global 1e6)',
    config: gemma3Config({ ...SHAPE, nLayers: 7, slidingWindow: WINDOW, normEps: 1e-6 }),
    seed: 10,
  },
  {
    name: 'gemma3 (linear RoPE scaling 8 on the global layer, final cap)',
    config: gemma3Config({
      ...SHAPE,
      nLayers: 7,
      slidingWindow: WINDOW,
      normEps: 1e-6,
      ropeScaling: { type: 'linear', factor: 8 },
      finalLogitSoftcap: 2,
    }),
    seed: 11,
  },
  {
    name: 'SmolLM2-shaped llama',
    // SmolLM2-135M's proportions: tied embeddings, theta 1e5, 3 query heads per KV head
    config: llamaConfig({ ...SHAPE, nHeads: 4, nKvHeads: 1, tiedEmbeddings: true, ropeTheta: 100000 }),
    seed: 9,
  },
];

const TYPES: { type: GgufFileType; steps: number; tol: number; exact: boolean }[] = [
  { type: 'F32', steps: 32, tol: 2e-4, exact: true },
  { type: 'F16', steps: 32, tol: 2e-2, exact: true },
  { type: 'Q8_0', steps: 32, tol: 0.15, exact: true },
  { type: 'Q4_0', steps: 64, tol: 0.3, exact: false },
  { type: 'Q4_K_M', steps: 64, tol: 0.3, exact: false },
];

const dir = tempDir();
const tokJson = byteLevelTokenizerJson(40, true);

function logSoftmax(l: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < l.length; i++) m = Math.max(m, l[i]!);
  let s = 0;
  for (let i = 0; i < l.length; i++) s += Math.exp(l[i]! - m);
  const z = m + Math.log(s);
  return Float64Array.from(l, (v) => v - z);
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** Logits per step of `model`, fed PROMPT then `ids` (teacher forcing): ids.length rows. */
function teacherLogits(model: DecoderLM, ids: number[]): Float32Array[] {
  const cache = model.createCache(1, PROMPT.length + ids.length);
  const out: Float32Array[] = [];
  let logits = model.extend([Int32Array.from(PROMPT)], cache)[0]! as Float32Array;
  for (const id of ids) {
    out.push(logits);
    logits = model.extend([Int32Array.of(id)], cache)[0]! as Float32Array;
  }
  return out;
}

/**
 * A model with `config` (a variant of the file's) on the weights `importGguf` read from `file`,
 * quantized matrices kept quantized as `loadDecoder(file, { dtype: 'auto' })` keeps them.
 */
function variant(file: string, change: Partial<ModelConfig>): DecoderLM {
  const g = importGguf(file, { keepQuantized: true });
  const model = new DecoderLM({ ...g.config, ...change });
  fillCanonical(model, g.tensors, file, 'auto', g.quantized);
  return model;
}

function maxTopDiff(a: Float32Array[], b: Float32Array[], ref: Map<number, number>[]): number {
  let d = 0;
  a.forEach((row, i) => {
    const la = logSoftmax(row);
    const lb = logSoftmax(b[i]!);
    const top = [...ref[i]!.entries()].sort((x, y) => y[1] - x[1]).slice(0, TOP);
    for (const [tok] of top) d = Math.max(d, Math.abs(la[tok]! - lb[tok]!));
  });
  return d;
}

describe('llama.cpp runs every family xfmr exports, as xfmr does', () => {
  for (const fam of FAMILIES) {
    test(fam.name, async (t) => {
      const c = fam.config;
      const base = join(dir, `${fam.name.replace(/\W+/g, '_')}`);
      const canonical = new Map<string, NamedTensor>();
      const rng = new Rng(fam.seed);
      for (const [name, p] of new DecoderLM(c, fam.seed).namedParameters()) {
        // gemma3: norm weights w away from 0, so a lost or doubled 1 + w on either side shows
        const data =
          c.arch === 'gemma3' && name.endsWith('norm.weight')
            ? Float32Array.from(p.data, (w) => w + 0.3 * rng.normal())
            : p.data;
        canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data });
      }
      const { tokenizer } = ggufTokenizerFromJson(tokJson as never, c.vocabSize, 'tokenizer.json');
      const f32 = `${base}.F32.gguf`;
      exportGguf(f32, c, canonical, tokenizer, { dtype: 'F32' });
      const mistral = c.arch === 'mistral';
      for (const { type, steps, tol, exact } of TYPES) {
        const file = `${base}.${type}.gguf`;
        if (type !== 'F32') await quantize(['--model', f32, '--type', type.toLowerCase(), '--out', file]);
        const run = await llamaCppGreedy(file, PROMPT, steps, { logProbs: true });
        if (typeof run === 'string') {
          t.skip(run);
          return;
        }
        const n = run.ids.length;
        assert.ok(n >= 16, `${type}: llama.cpp produced ${n} tokens`);
        const loaded = loadDecoder(file, { dtype: 'auto' }).model;
        // llama.cpp ignores Mistral's window: compare with the same weights without it
        const ours = teacherLogits(mistral ? variant(file, { slidingWindow: null }) : loaded, run.ids);
        const gemma = c.arch === 'gemma2' || c.arch === 'gemma3';
        const tolType = gemma && type === 'F32' ? 2e-3 : tol;
        let maxDiff = 0;
        let agree = 0;
        const flips: string[] = [];
        run.ids.forEach((id, i) => {
          const lp = logSoftmax(ours[i]!);
          const top = [...run.logProbs[i]!.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
          for (const [tok, l] of top) maxDiff = Math.max(maxDiff, Math.abs(l - lp[tok]!));
          const best = argmax(ours[i]!);
          if (best === id) agree++;
          else
            flips.push(
              `step ${i}: xfmr ${best}, llama.cpp ${id}, gap ${(ours[i]![best]! - ours[i]![id]!).toExponential(1)}`,
            );
        });
        t.diagnostic(
          `${fam.name} ${type} (${run.backend}): ${n} steps, max |dlogp| top ${TOP} ${maxDiff.toExponential(1)} ` +
            `(tolerance ${tolType}), top-1 agreement ${agree}/${n}${flips.length ? `; ${flips.join('; ')}` : ''}`,
        );
        assert.ok(maxDiff <= tolType, `${type}: max |dlogp| ${maxDiff} > ${tolType}`);
        if (exact) {
          assert.ok(flips.length <= 2, `${type}: ${flips.length} flips: ${flips.join('; ')}`);
          for (const [i, id] of run.ids.entries()) {
            const best = argmax(ours[i]!);
            const gap = ours[i]![best]! - ours[i]![id]!;
            assert.ok(gap <= tolType, `${type} step ${i}: xfmr ${best}, llama.cpp ${id}, logit gap ${gap}`);
          }
        } else {
          assert.ok(agree >= 0.9 * n, `${type}: top-1 agreement ${agree}/${n} < 90%`);
        }
        if (type === 'F32') {
          // the family's features are live: each changes the output by far more than the tolerance
          const checks: [string, Float32Array[]][] = [];
          if (mistral)
            checks.push(['the window (xfmr applies it, llama.cpp not)', teacherLogits(loaded, run.ids)]);
          if (c.arch === 'gemma2') {
            checks.push(['the window', teacherLogits(variant(file, { slidingWindow: null }), run.ids)]);
            checks.push([
              'the attention cap',
              teacherLogits(variant(file, { attnLogitSoftcap: null }), run.ids),
            ]);
            checks.push([
              'the final cap',
              teacherLogits(variant(file, { finalLogitSoftcap: null }), run.ids),
            ]);
          }
          if (c.arch === 'gemma3') {
            checks.push(['the window', teacherLogits(variant(file, { slidingWindow: null }), run.ids)]);
            checks.push([
              'the local RoPE base',
              teacherLogits(variant(file, { ropeLocalTheta: null, ropeScaling: null }), run.ids),
            ]);
            if (c.finalLogitSoftcap !== null)
              checks.push([
                'the final cap',
                teacherLogits(variant(file, { finalLogitSoftcap: null }), run.ids),
              ]);
          }
          if (c.ropeScaling)
            checks.push(['the RoPE scaling', teacherLogits(variant(file, { ropeScaling: null }), run.ids)]);
          for (const [what, other] of checks) {
            const d = maxTopDiff(other, ours, run.logProbs);
            t.diagnostic(`${fam.name}: without ${what}, max |dlogp| ${d.toExponential(1)}`);
            assert.ok(d > 20 * tolType, `${fam.name}: ${what} changes the output by only ${d}`);
          }
        }
      }
    });
  }
});
