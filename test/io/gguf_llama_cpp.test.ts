/**
 * Acceptance: a random-weight Llama-style model (GQA, RoPE, SwiGLU, RMSNorm; d 64, 2 layers, 4 heads,
 * 2 KV heads, a byte-level BPE vocabulary of 297) made by `xfmr init` and exported by
 * `xfmr export --format gguf` loads in node-llama-cpp (llama.cpp) and gives the same 32 greedy tokens
 * as `xfmr generate --temperature 0` from the same prompt ids. llama.cpp runs with an f32 KV cache and
 * flash attention off, so that both compute in f32 the same way. Skipped, with the reason, when
 * node-llama-cpp or its prebuilt native binary cannot load here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { argmax } from '../../src/generate/index.ts';
import { loadDecoder } from '../../src/models/load.ts';
import { byteLevelTokenizerJson, TINY_LLAMA, tempDir, writeJson, xfmr } from '../cli/helpers.ts';
import { llamaCppGreedy } from './llama_cpp.ts';

const STEPS = 32;
const PROMPT = [5, 17, 42, 99, 7, 256, 260];

test('a GGUF exported by xfmr gives the same greedy tokens in node-llama-cpp (32 steps)', async (t) => {
  const dir = tempDir('xfmr-llamacpp-');
  const model = join(dir, 'model');
  const gguf = join(dir, 'model.gguf');
  const tok = writeJson(dir, 'tokenizer.json', byteLevelTokenizerJson(40, true));
  const cfg = writeJson(dir, 'llama.json', TINY_LLAMA);
  const init = await xfmr(['init', '--config', cfg, '--tokenizer', tok, '--out', model, '--seed', '3']);
  assert.equal(init.code, 0, init.stderr);
  const exp = await xfmr(['export', '--model', model, '--format', 'gguf', '--out', gguf]);
  assert.equal(exp.code, 0, exp.stderr);
  // No EOS for the comparison: llama.cpp's evaluate() does not stop on it, xfmr would.
  writeJson(model, 'generation_config.json', {});
  const gen = await xfmr([
    'generate',
    '--model',
    model,
    '--prompt-ids',
    PROMPT.join(','),
    '--max-tokens',
    String(STEPS),
    '--temperature',
    '0',
    '--json',
  ]);
  assert.equal(gen.code, 0, gen.stderr);
  const ours = JSON.parse(gen.stdout).ids as number[];
  assert.equal(ours.length, STEPS);

  const run = await llamaCppGreedy(gguf, PROMPT, STEPS);
  if (typeof run === 'string') {
    t.skip(run);
    return;
  }
  const theirs = run.ids;
  const first = ours.findIndex((id, i) => theirs[i] !== id);
  if (first >= 0) {
    // report how close the call was at the first difference (a near-tie would be numerical noise)
    const m = loadDecoder(model).model;
    const cache = m.createCache(1, PROMPT.length + STEPS);
    let logits = m.extend([Int32Array.from(PROMPT)], cache)[0] as Float32Array;
    for (let i = 0; i < first; i++) logits = m.extend([Int32Array.of(ours[i])], cache)[0] as Float32Array;
    const top = argmax(logits);
    const gap = logits[top] - logits[theirs[first]];
    assert.fail(
      `step ${first}: xfmr ${ours[first]}, llama.cpp ${theirs[first]} (logit gap ${gap.toExponential(2)})\n` +
        `xfmr      ${ours.join(',')}\nllama.cpp ${theirs.join(',')}`,
    );
  }
  assert.deepEqual(theirs, ours);
});
