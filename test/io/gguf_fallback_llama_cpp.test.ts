/**
 * `xfmr quantize --type q4_k_m / q5_k_m` on a model whose hidden size is not a multiple of 256
 * (d 160, as Qwen2.5-0.5B's 896 is not): the per-tensor types are the ones llama-quantize chooses,
 * llama.cpp (node-llama-cpp 3.21.1) loads the file, and its greedy tokens are xfmr's for 32 steps,
 * xfmr computing with the file's blocks as they are (dtype auto: Kernels.linearQuant on Q5_0 / Q5_1
 * / Q8_0 / Q4_K / Q5_K / Q6_K).
 *
 * The types, written down from llama.cpp's src/llama-quant.cpp (`llama_tensor_get_type`) for this
 * model (3 layers, untied output, rows of 160 except ffn_down's 512):
 * - the base type (Q4_K for Q4_K_M, Q5_K for Q5_K_M) for every matrix, Q6_K for `output` and, where
 *   use_more_bits(i, 3) holds (i >= 7 * 3 / 8 = 2, or i % 3 == 2: layer 2 only), attn_v and ffn_down;
 * - then, rows of 160 are no whole 256-block, so `convert_incompatible_tensor`: Q4_K -> Q5_0,
 *   Q5_K -> Q5_1, Q6_K -> Q8_0 (160 is whole 32-blocks, so no F16);
 * - ffn_down's rows are 512 long and keep their K-quant; norms stay F32.
 *
 * Tokens: both run the same quantized weights with 8-bit activations quantized byte for byte
 * alike (test/kernels/quant/ggml_parity.test.ts), yet their log-probabilities differ by up to ~0.06
 * here (measured: 0.035-0.073 per step on Q4_K_M, 0.031 on Q5_K_M), while the F32 file of the same
 * model agrees to 1.2e-6 and the qwen3 family's Q4_K_M file (Q5_0 attn_output) to 1.3e-6 in
 * gguf_families_llama_cpp.test.ts. The cause is not pinned down: activations that round the other
 * way in llama.cpp's float32 (a "flip", see gguf_quant_llama_cpp.test.ts; one in the prompt
 * stays in the KV cache) would explain it, and is what the tolerance below allows for. So,
 * with llama.cpp's tokens fed to xfmr (teacher forcing):
 * - per step, |ln p| differs by at most tau = 0.15 over llama.cpp's 10 most likely tokens (as in
 *   gguf_quant_llama_cpp.test.ts: a wrong block layout or scale moves them by ~1);
 * - xfmr's argmax is llama.cpp's token on every step where llama.cpp's top-two gap exceeds 2 tau
 *   (then no error within tau can swap them), and on at least 90% of all steps (the 4-bit
 *   criterion; near-ties may go either way).
 * Free-running greedy decoding gives the same 32 tokens on Q5_K_M and the same first 24 on Q4_K_M,
 * whose step 24 is such a near-tie (gap 0.039); the test prints how many agree.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/io/files.ts';
import { openGguf } from '../../src/io/gguf.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadDecoder, saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { byteLevelTokenizerJson, xfmr } from '../cli/helpers.ts';
import { tempDir } from './helpers.ts';
import { llamaCppGreedy } from './llama_cpp.ts';

const STEPS = 32;
const PROMPT = [5, 17, 42, 99, 7, 256, 260];
const EOS = 296;

const config = llamaConfig({
  vocabSize: 297,
  contextLength: 128,
  dModel: 160,
  nLayers: 3,
  nHeads: 5,
  nKvHeads: 1,
  headDim: 32,
  ffnDim: 512,
  initStd: 0.05,
  bosTokenId: 0,
  eosTokenId: EOS,
});

/** llama-quantize's type for each tensor of this model (see the file comment). */
function expectedTypes(mix: 'Q4_K_M' | 'Q5_K_M'): Map<string, string> {
  const base = mix === 'Q4_K_M' ? 'Q5_0' : 'Q5_1'; // Q4_K / Q5_K on rows of 160
  const k = mix === 'Q4_K_M' ? 'Q4_K' : 'Q5_K'; // rows of 512
  const m = new Map<string, string>([
    ['token_embd.weight', base],
    ['output.weight', 'Q8_0'], // Q6_K on rows of 160
    ['output_norm.weight', 'F32'],
  ]);
  for (let i = 0; i < config.nLayers; i++) {
    const more = i === 2;
    for (const n of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up'])
      m.set(`blk.${i}.${n}.weight`, base);
    m.set(`blk.${i}.attn_v.weight`, more ? 'Q8_0' : base);
    m.set(`blk.${i}.ffn_down.weight`, more ? 'Q6_K' : k);
    m.set(`blk.${i}.attn_norm.weight`, 'F32');
    m.set(`blk.${i}.ffn_norm.weight`, 'F32');
  }
  return m;
}

/** xfmr's log-probabilities, fed PROMPT then `ids`, on the file's weights kept quantized. */
function xfmrLogProbs(gguf: string, ids: number[]): Float64Array[] {
  const { model } = loadDecoder(gguf, { dtype: 'auto' });
  const cache = model.createCache(1, PROMPT.length + ids.length);
  let logits = model.extend([Int32Array.from(PROMPT)], cache)[0]!;
  return ids.map((id) => {
    let m = -Infinity;
    for (const v of logits) m = Math.max(m, v);
    let z = 0;
    for (const v of logits) z += Math.exp(v - m);
    const lp = Float64Array.from(logits, (v) => v - m - Math.log(z));
    logits = model.extend([Int32Array.of(id)], cache)[0]!;
    return lp;
  });
}

const argmax = (a: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
};

describe('xfmr quantize follows llama-quantize on rows that are not whole 256-blocks', () => {
  const root = tempDir();
  const dir = join(root, 'model');
  saveModel(dir, new DecoderLM(config, 5), { tokenizerJson: byteLevelTokenizerJson(40, true) as JsonValue });

  for (const mix of ['Q4_K_M', 'Q5_K_M'] as const) {
    test(`${mix}: llama-quantize's types; llama.cpp's greedy tokens are xfmr's for ${STEPS} steps`, async (t) => {
      const gguf = join(root, `${mix}.gguf`);
      const q = await xfmr(['quantize', '--model', dir, '--type', mix.toLowerCase(), '--out', gguf]);
      assert.equal(q.code, 0, q.stderr);

      const f = openGguf(gguf);
      const got = new Map([...f.tensors].map(([name, info]) => [name, info.type as string]));
      f.close();
      assert.deepEqual(got, expectedTypes(mix));

      const { model } = loadDecoder(gguf, { dtype: 'auto' });
      const wq = model.namedParameters().get('layers.0.attention.wq.weight')!;
      assert.equal(wq.dtype, mix === 'Q4_K_M' ? 'q5_0' : 'q5_1', 'the fallback matrices stay quantized');

      const run = await llamaCppGreedy(gguf, PROMPT, STEPS, { logProbs: true });
      if (typeof run === 'string') {
        t.skip(run);
        return;
      }
      assert.ok(run.ids.length >= 8, `llama.cpp produced ${run.ids.length} tokens`);
      const ours = xfmrLogProbs(gguf, run.ids);
      const tau = 0.15;
      let worst = 0;
      let agree = 0;
      let free = 0; // steps before the first disagreement: free-running greedy decoding agrees that far
      run.ids.forEach((id, i) => {
        const top = [...run.logProbs[i]!.entries()].sort((a, b) => b[1] - a[1]);
        for (const [tok, l] of top.slice(0, 10)) worst = Math.max(worst, Math.abs(l - ours[i]![tok]!));
        const same = argmax(ours[i]!) === id;
        if (same) agree++;
        if (same && free === i) free++;
        const gap = top[0]![1] - top[1]![1];
        assert.ok(
          same || gap <= 2 * tau,
          `step ${i}: llama.cpp's ${id} leads by ${gap}, xfmr picks ${argmax(ours[i]!)}`,
        );
      });
      const n = run.ids.length;
      t.diagnostic(
        `${mix} (${run.backend}): max |dlogp| ${worst.toExponential(1)}, argmax agreement ${agree}/${n}, ` +
          `free-running greedy agrees for ${free} steps`,
      );
      assert.ok(worst <= tau, `llama.cpp vs xfmr: ${worst} > ${tau}`);
      assert.ok(agree >= 0.9 * n, `xfmr's argmax is llama.cpp's token on ${agree}/${n} steps`);
    });
  }
});
