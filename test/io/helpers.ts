/** Shared helpers for the io tests: temp dirs, seeded random tensors, tiny configs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { GgufTokenizer } from '../../src/io/gguf_export.ts';
import type { NamedTensor, TensorMap } from '../../src/io/tensors.ts';
import { canonicalShapes } from '../../src/io/weight_names.ts';
import type { ModelConfig } from '../../src/models/config.ts';

/** A fresh temporary directory, removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-io-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic uniform floats in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  };
}

export function randomF32(name: string, shape: number[], next: () => number): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = next();
  return { name, shape, dtype: 'F32', data };
}

/** Random canonical tensors for a config. */
export function randomCanonical(c: ModelConfig, seed = 1): TensorMap {
  const next = rng(seed);
  const m: TensorMap = new Map();
  for (const [name, shape] of canonicalShapes(c)) m.set(name, randomF32(name, shape, next));
  return m;
}

const BASE: Omit<ModelConfig, 'arch'> = {
  vocabSize: 11,
  contextLength: 16,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 4,
  headDim: 8,
  ffnDim: 48,
  ffnType: 'gelu_tanh',
  norm: 'layernorm',
  normEps: 1e-5,
  position: 'learned',
  ropeTheta: 10000,
  ropeScaling: null,
  qkNorm: false,
  scaleEmbeddings: false,
  sandwichNorm: false,
  normUnitOffset: false,
  queryScale: null,
  finalLogitSoftcap: null,
  attnBias: true,
  qkvBias: true,
  mlpBias: true,
  tiedEmbeddings: true,
  typeVocabSize: 0,
  bosTokenId: 0,
  eosTokenId: 1,
  padTokenId: null,
  dropout: 0,
  initStd: 0.02,
  slidingWindow: null,
  torchDtype: null,
};

export function tinyGpt2(over: Partial<ModelConfig> = {}): ModelConfig {
  return { ...BASE, arch: 'gpt2', ...over };
}

export function tinyLlama(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ...BASE,
    arch: 'llama',
    nKvHeads: 2,
    ffnType: 'swiglu',
    norm: 'rmsnorm',
    normEps: 1e-6,
    position: 'rope',
    attnBias: false,
    qkvBias: false,
    mlpBias: false,
    tiedEmbeddings: false,
    ...over,
  };
}

export function tinyBert(over: Partial<ModelConfig> = {}): ModelConfig {
  return { ...BASE, arch: 'bert', ffnType: 'gelu', normEps: 1e-12, typeVocabSize: 2, padTokenId: 0, ...over };
}

/** Asserts two tensor maps hold the same names, shapes, dtypes and bit-identical data. */
export function sameTensors(
  a: ReadonlyMap<string, NamedTensor>,
  b: ReadonlyMap<string, NamedTensor>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [k, t] of a) {
    const u = b.get(k);
    if (u === undefined || u.dtype !== t.dtype || u.shape.join() !== t.shape.join()) return false;
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}

/** The GGUF name of a canonical llama matrix (`layers.0.attention.wq.weight` -> `blk.0.attn_q.weight`). */
export function llamaGgufName(canon: string): string {
  const table: [RegExp, string][] = [
    [/^tok_embeddings\.weight$/, 'token_embd.weight'],
    [/^output\.weight$/, 'output.weight'],
    [/^layers\.(\d+)\.attention\.wq\.weight$/, 'blk.$1.attn_q.weight'],
    [/^layers\.(\d+)\.attention\.wk\.weight$/, 'blk.$1.attn_k.weight'],
    [/^layers\.(\d+)\.attention\.wv\.weight$/, 'blk.$1.attn_v.weight'],
    [/^layers\.(\d+)\.attention\.wo\.weight$/, 'blk.$1.attn_output.weight'],
    [/^layers\.(\d+)\.feed_forward\.w1\.weight$/, 'blk.$1.ffn_gate.weight'],
    [/^layers\.(\d+)\.feed_forward\.w2\.weight$/, 'blk.$1.ffn_down.weight'],
    [/^layers\.(\d+)\.feed_forward\.w3\.weight$/, 'blk.$1.ffn_up.weight'],
  ];
  for (const [re, out] of table) if (re.test(canon)) return canon.replace(re, out);
  throw new Error(`no GGUF name for ${canon}`);
}

/** GGUF tokenizer metadata for a config: <|endoftext|> (id 0, BOS and EOS), then t1, t2, ... */
export function ggufTokenizerFor(c: ModelConfig): GgufTokenizer {
  const tokens = Array.from({ length: c.vocabSize }, (_, i) => (i === 0 ? '<|endoftext|>' : `t${i}`));
  return {
    tokens,
    tokenTypes: tokens.map((_, i) => (i === 0 ? 3 : 1)),
    merges: [],
    bosId: 0,
    eosId: 0,
    model: 'gpt2',
    pre: 'gpt-2',
  };
}
