/**
 * Helpers for the serve tests: a tiny in-memory model to serve, a slowed-down wrapper of it, and a
 * small RAG index.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { CausalLM, KVCache } from '../../src/models/causal_lm.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { HashEmbedder } from '../../src/rag/hash_embedder.ts';
import { indexPaths } from '../../src/rag/indexer.ts';
import { SqliteStore } from '../../src/rag/sqlite_store.ts';
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

/** Three short documents, one of them (cats.md) about what the questions ask. */
export const RAG_DOCS: Readonly<Record<string, string>> = {
  'cats.md': '# Cats\n\nCats are small furry animals. A cat purrs and sleeps most of the day.\n',
  'rust.md': '# Rust\n\nRust is a systems programming language with a borrow checker.\n',
  'bread.md': '# Bread\n\nBread is baked from flour, water, salt and yeast.\n',
};

/** Indexes `docs` (file name -> text, written under DIR/docs) with the offline hash embedder into DIR/rag.sqlite. */
export async function hashRagIndex(dir: string, docs: Readonly<Record<string, string>>): Promise<string> {
  const docsDir = join(dir, 'docs');
  mkdirSync(docsDir);
  for (const [name, text] of Object.entries(docs)) writeFileSync(join(docsDir, name), text);
  const db = join(dir, 'rag.sqlite');
  const e = new HashEmbedder();
  const store = SqliteStore.openOrCreate(db, { id: e.id, dim: e.dim, spec: e.spec });
  await indexPaths([docsDir], store, e);
  await store.close();
  return db;
}
