/**
 * Issue 20, acceptance 2: a LoRA adapter exported as GGUF (io/gguf_lora.ts, `xfmr lora export`)
 * does in llama.cpp (node-llama-cpp 3.21.1, its context's `lora` option) what it does in xfmr.
 * A random Llama-shaped base (d 256, 2 layers, 4 heads, 2 KV heads, head 64, ffn 512, byte-level
 * vocabulary of 297) is written as an F32 GGUF; xfmr loads that file, attaches an adapter on every
 * target (q, k, v, o, gate, up, down; r 4, alpha 8, A and B random so it changes the output), and
 * writes it as a GGUF adapter. Checked over 32 greedy steps from the same prompt ids:
 *   - llama.cpp with the adapter produces xfmr's base + adapter tokens (both compute in f32;
 *     llama.cpp with an f32 KV cache and flash attention off);
 *   - llama.cpp without it produces other tokens (so an adapter that llama.cpp ignored fails;
 *     so does one exported without the q/k row permutation of io/gguf_lora.ts: tried, the
 *     tokens differ);
 *   - the merged model (W + (alpha/r) B A) produces the same tokens as base + adapter.
 * The same for a random GPT-2 base (d 128, 2 layers, 4 heads, ffn 512): its GGUF has one fused
 * attn_qkv, which gets xfmr's one q, k, v adapter (c_attn's, A [r, C], B [3C, r]) as it is, and
 * ffn_up/ffn_down the c_fc/c_proj adapters; here llama.cpp without the adapter is also checked
 * to give xfmr's base tokens (the gpt2 base export is what the adapter rides on).
 * Skipped, with the reason, when node-llama-cpp or its prebuilt native binary cannot load here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportGguf } from '../../src/io/gguf_export.ts';
import { ggufTokenizerFromJson } from '../../src/io/gguf_tokenizer.ts';
import type { NamedTensor } from '../../src/io/tensors.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { loadDecoder } from '../../src/models/load.ts';
import { saveLoraGguf } from '../../src/models/load_lora.ts';
import { applyLora, type LoraAdapters, mergeLora, parseLoraSpec } from '../../src/models/lora.ts';
import { gpt2Config, llamaConfig } from '../../src/models/presets.ts';
import { noGrad, Rng, tidy } from '../../src/tensor/index.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';
import { tempDir } from './helpers.ts';
import { llamaCppGreedy } from './llama_cpp.ts';

const PROMPT = [5, 17, 42, 99, 7, 256, 260];
const STEPS = 32;
const config = llamaConfig({
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
});

/** xfmr's greedy tokens: a full forward per step, argmax of the last row (no EOS stop, as llama.cpp here is cut at STEPS). */
function greedy(model: DecoderLM, prompt: number[], steps: number): number[] {
  const ids = [...prompt];
  for (let s = 0; s < steps; s++) {
    const next = noGrad(() =>
      tidy(() => {
        const V = model.config.vocabSize;
        const logits = model.forward(Int32Array.from(ids), 1, ids.length).data; // [1, T, V]
        const row = logits.subarray((ids.length - 1) * V, ids.length * V);
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
        return best;
      }),
    );
    ids.push(next);
  }
  return ids.slice(prompt.length);
}

/**
 * xfmr's greedy tokens with `adapters` attached, and llama.cpp's on `baseFile` with the adapter
 * exported as GGUF and without it; the reason when llama.cpp cannot run here.
 */
async function xfmrAndLlamaCpp(
  dir: string,
  baseFile: string,
  model: DecoderLM,
  adapters: LoraAdapters,
): Promise<{ ours: number[]; withLora: { ids: number[] }; plain: { ids: number[] } } | string> {
  const adapterFile = join(dir, 'adapter.gguf');
  saveLoraGguf(adapterFile, adapters, model);
  const ours = greedy(model, PROMPT, STEPS);
  const withLora = await llamaCppGreedy(baseFile, PROMPT, STEPS, { lora: adapterFile });
  if (typeof withLora === 'string') return withLora;
  const plain = await llamaCppGreedy(baseFile, PROMPT, STEPS);
  assert.ok(typeof plain !== 'string');
  return { ours, withLora, plain };
}

/** A random base of `cfg` (seed 3) written as an F32 GGUF with the byte-level tokenizer; its path. */
function writeBase(dir: string, cfg: ModelConfig): string {
  const canonical = new Map<string, NamedTensor>();
  for (const [name, p] of new DecoderLM(cfg, 3).namedParameters())
    canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
  const { tokenizer } = ggufTokenizerFromJson(
    byteLevelTokenizerJson(40, true) as never,
    297,
    'tokenizer.json',
  );
  const baseFile = join(dir, 'base.F32.gguf');
  exportGguf(baseFile, cfg, canonical, tokenizer, { dtype: 'F32' });
  return baseFile;
}

test('llama.cpp with the exported GGUF adapter = xfmr base + adapter = merged, 32 greedy steps', async (t) => {
  const dir = tempDir();
  const baseFile = writeBase(dir, config);
  const model = loadDecoder(baseFile, { dtype: 'auto' }).model;
  const adapters = applyLora(model, parseLoraSpec('r=4,alpha=8,dropout=0,targets=q,k,v,o,gate,up,down'), 1);
  const rng = new Rng(9);
  for (const { adapter } of adapters.entries.values())
    for (let i = 0; i < adapter.b.size; i++) adapter.b.data[i] = 0.1 * rng.normal();
  const runs = await xfmrAndLlamaCpp(dir, baseFile, model, adapters);
  if (typeof runs === 'string') {
    t.skip(runs);
    return;
  }
  const { ours, withLora, plain } = runs;
  assert.equal(withLora.ids.length, STEPS, 'llama.cpp ran 32 steps');
  assert.deepEqual(withLora.ids, ours, 'llama.cpp + adapter = xfmr base + adapter');
  assert.notDeepEqual(plain.ids, ours, 'the adapter changes the tokens');
  assert.equal(adapters.entries.size, 14);
  mergeLora(adapters);
  assert.deepEqual(greedy(model, PROMPT, STEPS), ours, 'merged = base + adapter');
});

test('gpt2: llama.cpp with the exported adapter (fused attn_qkv) = xfmr base + adapter = merged', async (t) => {
  const cfg = gpt2Config({
    vocabSize: 297,
    contextLength: 128,
    dModel: 128,
    nLayers: 2,
    nHeads: 4,
    initStd: 0.05,
    bosTokenId: 0,
    eosTokenId: 296,
  });
  const dir = tempDir();
  const baseFile = writeBase(dir, cfg);
  const model = loadDecoder(baseFile, { dtype: 'auto' }).model;
  const baseIds = greedy(model, PROMPT, STEPS);
  const adapters = applyLora(model, parseLoraSpec('r=4,alpha=8,dropout=0,targets=q,k,v,o,up,down'), 1);
  const rng = new Rng(9);
  for (const p of adapters.parameters())
    if (p.shape[1] === 4) for (let i = 0; i < p.size; i++) p.data[i] = 0.1 * rng.normal(); // every B
  const runs = await xfmrAndLlamaCpp(dir, baseFile, model, adapters);
  if (typeof runs === 'string') {
    t.skip(runs);
    return;
  }
  const { ours, withLora, plain } = runs;
  assert.deepEqual(plain.ids, baseIds, 'llama.cpp = xfmr on the gpt2 base');
  assert.equal(withLora.ids.length, STEPS, 'llama.cpp ran 32 steps');
  assert.deepEqual(withLora.ids, ours, 'llama.cpp + adapter = xfmr base + adapter');
  assert.notDeepEqual(baseIds, ours, 'the adapter changes the tokens');
  mergeLora(adapters);
  assert.deepEqual(greedy(model, PROMPT, STEPS), ours, 'merged = base + adapter');
});
