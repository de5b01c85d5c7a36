/** Helpers for the serve tests: a tiny in-memory model to serve, and a slowed-down wrapper of it. */
import OpenAI from 'openai';
import type { CausalLM, KVCache } from '../../src/models/causal_lm.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import type { ServeModel } from '../../src/serve/app.ts';
import type { RunningServer } from '../../src/serve/server.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { byteLevelTokenizerJson, TINY_LLAMA } from '../cli/helpers.ts';

/** TINY_LLAMA (context 128) over the byte-level test tokenizer, no EOS: generation runs to max_tokens. */
export function tinyServeModel(id = 'tiny', seed = 11): ServeModel {
  const tokenizer = loadTokenizerJson(byteLevelTokenizerJson(40, false));
  const { arch: _, ...dims } = TINY_LLAMA;
  const model = new DecoderLM(llamaConfig({ ...dims, vocabSize: tokenizer.vocabSize }), seed);
  return { id, model, tokenizer, eos: [] };
}

/** A CausalLM that hands everything to `inner`; the fakes below change what extend does. */
export class WrappedLM implements CausalLM {
  constructor(protected readonly inner: CausalLM) {}
  get vocabSize(): number {
    return this.inner.vocabSize;
  }
  get contextLength(): number {
    return this.inner.contextLength;
  }
  createCache(batch: number, maxLen: number): KVCache {
    return this.inner.createCache(batch, maxLen);
  }
  extend(tokens: readonly Int32Array[], cache: KVCache): (Float32Array | null)[] {
    return this.inner.extend(tokens, cache);
  }
}

/** A model whose every step takes at least `ms` more (so tests can act while it generates); records the feeds. */
export class SlowLM extends WrappedLM {
  /** Per extend call: tokens fed to each slot. */
  readonly calls: number[][] = [];
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  constructor(
    inner: CausalLM,
    public ms: number,
  ) {
    super(inner);
  }
  override extend(tokens: readonly Int32Array[], cache: KVCache): (Float32Array | null)[] {
    this.calls.push(tokens.map((t) => t.length));
    if (this.ms > 0) Atomics.wait(this.cell, 0, 0, this.ms);
    return this.inner.extend(tokens, cache);
  }
}

export function clientOf(server: RunningServer): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
}

/** Polls until `cond` holds (or fails after `ms`). */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
