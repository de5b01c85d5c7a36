/**
 * GGUF export and import of xfmr models for llama.cpp / Ollama: metadata keys, tensor names and
 * the RoPE permutation, on top of the container in `gguf.ts`.
 *
 *   config arch      GGUF architecture   notes
 *   llama, mistral   llama               Q/K rows permuted (see below)
 *   qwen2, qwen3     qwen2, qwen3        llama.cpp runs them with NEOX (half-split) RoPE: no
 *                                        permutation; q/k/v biases written (qwen2)
 *   gemma2           gemma2              NEOX RoPE; every RMSNorm weight written as 1 + w, as
 *                                        convert_hf_to_gguf does (llama.cpp's norm multiplies by
 *                                        the stored weight); post_attention_norm / post_ffw_norm
 *                                        for the sandwich norms; no `output` (tied); the sqrt(d)
 *                                        embedding scale and GeGLU are implied by the arch
 *   gemma3           gemma3              as gemma2, with attn_q_norm / attn_k_norm (also 1 + w, as
 *                                        convert_hf_to_gguf shifts every *norm.weight); `output`
 *                                        when untied
 *   gpt2             gpt2                q/k/v fused into attn_qkv; `output` is always written
 *                                        (a copy of token_embd when tied), as convert_hf_to_gguf does
 *   bert             -                   not exported
 *
 * Sliding windows. llama.cpp's `llama`, `qwen2` and `qwen3` have no sliding window (its converter
 * maps Mistral to `llama` and drops the window), so llama.cpp attends to every earlier position
 * there and its outputs differ from the windowed model's once a sequence is longer than the
 * window. The window is still written as `{arch}.attention.sliding_window` (with
 * `sliding_window_pattern`, one bool per layer, when only some layers slide), which llama.cpp
 * ignores and `importGguf` reads back, so xfmr keeps the model it was given. Gemma 2's window is
 * llama.cpp's `gemma2.attention.sliding_window`, on the even layers, as in xfmr.
 *
 * Gemma 2 as llama.cpp runs it: the attention scale is headDim^-1/2 (dModel/nHeads for the
 * 46-layer 27B; no query_pre_attn_scalar key is read), both soft-caps are always applied (50 and
 * 30 when absent) and the even layers always slide (4096 when absent), so export needs those
 * fields explicit, and refuses what llama.cpp would compute differently: another queryScale,
 * another layer pattern, untied embeddings, biases, q/k norms, RoPE scaling.
 *
 * Gemma 3 as llama.cpp runs it (src/models/gemma3.cpp of node-llama-cpp 3.21.1's llama.cpp):
 * without `gemma3.attention.sliding_window` no layer slides and every layer rotates with
 * `rope.freq_base`; with it, layer i slides iff i % p < p - 1 for the u32
 * `attention.sliding_window_pattern` p (default 6; an array there is ignored, so export writes
 * the period and refuses layer lists without one), and the sliding layers rotate with
 * `rope.freq_base_swa` (default 10000), unscaled, the global ones with `rope.freq_base` scaled
 * by `rope.scaling.type` linear / `rope.scaling.factor` (its gemma3 reads no rope_freqs tensor,
 * and a file with one fails to load: wrong tensor count). The attention scale is headDim^-1/2
 * (dModel/nHeads for the 62-layer 27B), no attention soft-cap exists, and the final soft-cap is
 * applied only when `gemma3.final_logit_softcapping` is present. Export refuses the rest:
 * another queryScale, an attention soft-cap, biases, RoPE scaling other than linear.
 *
 * Tensor names: token_embd, position_embd (gpt2), blk.N.{attn_norm, attn_q, attn_k, attn_v,
 * attn_qkv (gpt2), attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output, each
 * with `.weight` / `.bias`. `dtype` is the file type of `gguf_file_types.ts`: with 'F16',
 * matrices (2-D) are written F16 and norm weights and biases (1-D) stay F32, as llama.cpp's
 * converter does; with a quantized type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, or the Q4_K_M / Q5_K_M
 * mixes) the matrices are quantized by ggml's reference quantizers (`kernels/js/quant/`), so the
 * file holds the bytes llama-quantize would write from the same f32 weights.
 *
 * RoPE: Hugging Face rotates the pairs (i, i + headDim/2) of each head, llama.cpp's `llama`
 * architecture the adjacent pairs (2i, 2i + 1). Permuting the rows of Q (per head) and K (per KV
 * head) so that row 2i + j of a head comes from row j * headDim/2 + i makes the two agree
 * (convert_hf_to_gguf's `permute`). `unpermuteQkFromGguf` is its inverse, used on import.
 */

import { LINEAR_QUANT_TYPES } from '../kernels/quant_types.ts';
import { checkModelConfig, isSlidingLayer, type ModelConfig } from '../models/config.ts';
import { ropeFrequencies } from '../tensor/index.ts';
import {
  type GgufFile,
  GgufKv,
  type GgufOpenOptions,
  type GgufTensorSpec,
  type GgufValue,
  gv,
  openGguf,
  writeGguf,
} from './gguf.ts';
import { GGUF_FTYPE_ID, type GgufFileType, ggufTensorType, isGgufFileType } from './gguf_file_types.ts';
import { checkConfigSizes, checkSize } from './limits.ts';
import { checkQuantized, dequantizeTensor, type QuantizedTensor, quantizeTensor } from './quantized.ts';
import {
  allocData,
  castTensor,
  concatRows,
  type NamedTensor,
  numel,
  sameShape,
  shapeStr,
  sliceRows,
  type TensorMap,
  toFloat32,
} from './tensors.ts';
import { canonicalShapes } from './weight_names.ts';

/** Tokenizer metadata llama.cpp needs. */
export interface GgufTokenizer {
  /** Token strings by id (byte-level BPE spelling, e.g. "Ġthe"). */
  tokens: string[];
  /** llama.cpp token types by id: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes: number[];
  /** BPE merges as "a b" strings, highest priority first. */
  merges: string[];
  bosId: number;
  eosId: number;
  padId?: number;
  /** `tokenizer.ggml.model`: 'gpt2' = byte-level BPE (what xfmr exports); 'llama' = SentencePiece. */
  model: string;
  /** `tokenizer.ggml.scores` (SentencePiece models), written when present. */
  scores?: number[];
  /** Pre-tokenizer name: 'gpt-2' for GPT-2's regex (the spelling 'gpt2' fails to load). */
  pre: string;
  /** Whether llama.cpp adds BOS when it tokenizes text (default false). */
  addBos?: boolean;
  chatTemplate?: string;
}

export interface GgufExportOptions {
  /** File type: the matrices' type or mix (default 'F32'; norms and biases are always F32). */
  dtype?: GgufFileType;
  /** `general.name`. */
  name?: string;
}

// ---------------------------------------------------------------------------------------------
// RoPE row permutation

function permuteRows(t: NamedTensor, nHeads: number, toGguf: boolean): NamedTensor {
  const rows = t.shape[0]!;
  if (nHeads <= 0 || rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new Error(`tensor ${t.name}: ${rows} rows cannot be split into ${nHeads} heads of even size`);
  }
  const half = rows / nHeads / 2;
  const rowSize = numel(t.shape) / rows;
  const src = t.data as unknown as { [i: number]: number };
  const out = allocData(t.dtype, t.data.length);
  const dst = out as unknown as { [i: number]: number };
  forEachRowMove(nHeads, half, toGguf, (from, to) => {
    for (let c = 0; c < rowSize; c++) dst[to * rowSize + c] = src[from * rowSize + c]!;
  });
  return { name: t.name, shape: [...t.shape], dtype: t.dtype, data: out };
}

/** Calls move(from, to) for every row of the Q/K permutation (heads of 2 * half rows). */
function forEachRowMove(
  nHeads: number,
  half: number,
  toGguf: boolean,
  move: (from: number, to: number) => void,
): void {
  for (let h = 0; h < nHeads; h++) {
    const base = h * 2 * half;
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const gguf = base + 2 * i + j; // llama.cpp: adjacent pairs
        const hf = base + j * half + i; // Hugging Face: halves
        if (toGguf) move(hf, gguf);
        else move(gguf, hf);
      }
    }
  }
}

/** `unpermuteQkFromGguf` on a quantized tensor: its rows are whole blocks, moved as bytes. */
function unpermuteQuantized(t: QuantizedTensor, nHeads: number): QuantizedTensor {
  const rows = t.shape[0]!;
  if (nHeads <= 0 || rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new Error(`tensor ${t.name}: ${rows} rows cannot be split into ${nHeads} heads of even size`);
  }
  const rb = t.data.length / rows;
  const out = new Uint8Array(t.data.length);
  forEachRowMove(nHeads, rows / nHeads / 2, false, (from, to) =>
    out.set(t.data.subarray(from * rb, (from + 1) * rb), to * rb),
  );
  return { ...t, shape: [...t.shape], data: out };
}

/** HF half-split Q/K rows -> llama.cpp interleaved rows; `nHeads` = heads in this tensor. */
export function permuteQkForGguf(t: NamedTensor, nHeads: number): NamedTensor {
  return permuteRows(t, nHeads, true);
}

/** The inverse of `permuteQkForGguf`. */
export function unpermuteQkFromGguf(t: NamedTensor, nHeads: number): NamedTensor {
  return permuteRows(t, nHeads, false);
}

// ---------------------------------------------------------------------------------------------
// Export

export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3' | 'gpt2';
const GGUF_ARCHS: readonly GgufArch[] = ['llama', 'qwen2', 'qwen3', 'gemma2', 'gemma3', 'gpt2'];
const isGgufArch = (a: string): a is GgufArch => (GGUF_ARCHS as readonly string[]).includes(a);

export function ggufArch(c: ModelConfig): GgufArch {
  if (c.arch === 'llama' || c.arch === 'mistral') return 'llama';
  if (c.arch !== 'bert') return c.arch;
  throw new Error(
    `GGUF export: arch ${c.arch} is not supported (llama, mistral, qwen2, qwen3, gemma2, gemma3, gpt2 are)`,
  );
}

/**
 * The attention scale llama.cpp's gemma2 / gemma3 use, as xfmr's queryScale (scale =
 * queryScale^-1/2): 1/sqrt(n_embd / n_head) for the 27B (46 layers in Gemma 2, 62 in Gemma 3),
 * else 1/sqrt(head_dim).
 */
export function gemmaQueryScale(
  arch: 'gemma2' | 'gemma3',
  c: Pick<ModelConfig, 'nLayers' | 'dModel' | 'nHeads' | 'headDim'>,
): number {
  return c.nLayers === (arch === 'gemma2' ? 46 : 62) ? c.dModel / c.nHeads : c.headDim;
}

/**
 * Gemma 3's layer period as llama.cpp reads it (layer i slides iff i % p < p - 1), or null when
 * `sliding` follows none; p = nLayers + 1 when every layer slides.
 */
function gemma3Period(sliding: readonly boolean[]): number | null {
  for (let p = 1; p <= sliding.length + 1; p++) if (sliding.every((s, i) => s === i % p < p - 1)) return p;
  return null;
}

/** Throws for a Gemma 3 config that llama.cpp's gemma3 would compute differently (see the header). */
function checkGemma3(c: ModelConfig, path: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${path}: gemma3 GGUF export: ${msg}`);
  };
  const qs = gemmaQueryScale('gemma3', c);
  if (c.queryScale !== null && c.queryScale !== qs)
    fail(`queryScale ${c.queryScale} is not expressible; llama.cpp scales scores by ${qs}^-1/2`);
  if (c.attnLogitSoftcap != null)
    fail("attnLogitSoftcap is set; llama.cpp's gemma3 has no attention soft-cap");
  const sliding = Array.from({ length: c.nLayers }, (_, i) => isSlidingLayer(c, i));
  if (c.slidingWindow !== null && gemma3Period(sliding) === null)
    fail(`sliding layers [${sliding.flatMap((x, i) => (x ? [i] : []))}] follow no period llama.cpp reads`);
  // without a window key llama.cpp rotates every layer with freq_base and its scaling
  const swa = c.slidingWindow !== null && sliding.includes(true);
  const localDiffers =
    c.ropeLocalTheta != null && (c.ropeLocalTheta !== c.ropeTheta || c.ropeScaling !== null);
  if (!swa && sliding.includes(true) && localDiffers)
    fail("ropeLocalTheta needs a sliding window; without one llama.cpp's gemma3 rotates every layer alike");
  if (swa && c.ropeLocalTheta == null && c.ropeScaling)
    fail(
      "RoPE scaling on the sliding layers (ropeLocalTheta null); llama.cpp's gemma3 scales only the global ones",
    );
  if (c.ropeScaling && c.ropeScaling.type !== 'linear')
    fail(`${c.ropeScaling.type} RoPE scaling; llama.cpp's gemma3 reads linear scaling only`);
  if (c.qkvBias || c.attnBias || c.mlpBias || !c.qkNorm) fail('needs q/k norms and no biases');
  if (c.ffnType !== 'geglu' || !c.sandwichNorm || !c.normUnitOffset || !c.scaleEmbeddings)
    fail('needs GeGLU, sandwich norms with (1 + w) weights and scaled embeddings');
}

/** Throws for a Gemma 2 config that llama.cpp's gemma2 would compute differently (see the header). */
function checkGemma2(c: ModelConfig, path: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${path}: gemma2 GGUF export: ${msg}`);
  };
  if (c.slidingWindow === null)
    fail("slidingWindow is null; llama.cpp's gemma2 always slides its even layers");
  if (c.attnLogitSoftcap == null)
    fail("attnLogitSoftcap is null; llama.cpp's gemma2 always soft-caps scores");
  if (c.finalLogitSoftcap === null)
    fail("finalLogitSoftcap is null; llama.cpp's gemma2 always soft-caps logits");
  const qs = gemmaQueryScale('gemma2', c);
  if (c.queryScale !== null && c.queryScale !== qs)
    fail(`queryScale ${c.queryScale} is not expressible; llama.cpp scales scores by ${qs}^-1/2`);
  if (c.slidingLayers?.some((s, i) => s !== (i % 2 === 0)))
    fail('slidingLayers must be the even layers (llama.cpp reads no other pattern for gemma2)');
  if (!c.tiedEmbeddings) fail('the LM head must be tied to the embeddings');
  if (c.qkvBias || c.attnBias || c.mlpBias || c.qkNorm) fail('biases and q/k norms are not part of gemma2');
  if (c.ropeScaling) fail("RoPE scaling is not applied by llama.cpp's gemma2");
  if (c.ffnType !== 'geglu' || !c.sandwichNorm || !c.normUnitOffset || !c.scaleEmbeddings)
    fail('needs GeGLU, sandwich norms with (1 + w) weights and scaled embeddings');
}

/** A norm weight w stored as 1 + w (toGguf) or back (Gemma's convention; exact in f32 for |w| < 1). */
function shiftNorm(t: NamedTensor, toGguf: boolean): NamedTensor {
  const data = Float32Array.from(toFloat32(t), (w) => (toGguf ? w + 1 : w - 1));
  return { name: t.name, shape: [...t.shape], dtype: 'F32', data };
}

/** One output tensor: GGUF name, and how to make it from the canonical tensors. */
interface Plan {
  name: string;
  shape: number[];
  make: () => NamedTensor;
}

function tokenizerKv(kv: Map<string, GgufValue>, tok: GgufTokenizer, c: ModelConfig, where: string): void {
  const V = c.vocabSize;
  if (tok.tokens.length !== V) {
    throw new Error(`${where}: tokenizer has ${tok.tokens.length} tokens but the model's vocabSize is ${V}`);
  }
  if (tok.tokenTypes.length !== V) {
    throw new Error(`${where}: tokenizer has ${tok.tokenTypes.length} token types for ${V} tokens`);
  }
  for (const [k, id] of [
    ['bosId', tok.bosId],
    ['eosId', tok.eosId],
    ['padId', tok.padId],
  ] as const) {
    if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new Error(`${where}: tokenizer ${k} ${id} is outside the vocabulary [0, ${V})`);
    }
  }
  kv.set('tokenizer.ggml.model', gv.str(tok.model));
  kv.set('tokenizer.ggml.pre', gv.str(tok.pre));
  kv.set('tokenizer.ggml.tokens', gv.strs(tok.tokens));
  kv.set('tokenizer.ggml.token_type', gv.i32s(tok.tokenTypes));
  kv.set('tokenizer.ggml.merges', gv.strs(tok.merges));
  if (tok.scores !== undefined) {
    if (tok.scores.length !== V)
      throw new Error(`${where}: tokenizer has ${tok.scores.length} scores for ${V} tokens`);
    kv.set('tokenizer.ggml.scores', gv.f32s(tok.scores));
  }
  kv.set('tokenizer.ggml.bos_token_id', gv.u32(tok.bosId));
  kv.set('tokenizer.ggml.eos_token_id', gv.u32(tok.eosId));
  if (tok.padId !== undefined) kv.set('tokenizer.ggml.padding_token_id', gv.u32(tok.padId));
  kv.set('tokenizer.ggml.add_bos_token', gv.bool(tok.addBos ?? false));
  if (tok.chatTemplate !== undefined) kv.set('tokenizer.chat_template', gv.str(tok.chatTemplate));
}

/**
 * Writes a model as GGUF for llama.cpp, atomically. `canonical` holds the canonical tensors of
 * `weight_names.ts` (any float dtype); they are checked against the config first, so a missing
 * or mis-shaped tensor throws before anything is written.
 */
export function exportGguf(
  path: string,
  config: ModelConfig,
  canonical: ReadonlyMap<string, NamedTensor>,
  tokenizer: GgufTokenizer,
  options: GgufExportOptions = {},
): void {
  checkModelConfig(config, path);
  const arch = ggufArch(config);
  const dtype = options.dtype ?? 'F32';
  if (!isGgufFileType(dtype)) throw new Error(`${path}: unknown GGUF file type ${JSON.stringify(dtype)}`);
  const c = config;
  // validate every canonical tensor up front
  for (const [name, shape] of canonicalShapes(c)) {
    const t = canonical.get(name);
    if (t === undefined) {
      if (name.startsWith('pooler.')) continue;
      throw new Error(`${path}: missing tensor ${name} (expected shape ${shapeStr(shape)})`);
    }
    if (!sameShape(t.shape, shape)) {
      throw new Error(`${path}: tensor ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
    }
  }
  const get = (name: string): NamedTensor => canonical.get(name)!;
  const plans: Plan[] = [];
  const add = (gguf: string, canon: string, transform?: (t: NamedTensor) => NamedTensor): void => {
    const t = canonical.get(canon);
    if (t === undefined) return;
    plans.push({
      name: gguf,
      shape: t.shape,
      make: () => ({ ...(transform ? transform(get(canon)) : get(canon)), name: gguf }),
    });
  };
  const both = (gguf: string, canon: string, transform?: (t: NamedTensor) => NamedTensor): void => {
    add(`${gguf}.weight`, `${canon}.weight`, transform);
    add(`${gguf}.bias`, `${canon}.bias`, transform);
  };
  // RoPE scaling as llama.cpp reads it: per-pair divisors of the base frequencies
  if (arch === 'gemma2') checkGemma2(c, path);
  if (arch === 'gemma3') checkGemma3(c, path);
  const s = c.ropeScaling;
  if (s?.type === 'yarn')
    throw new Error(
      `${path}: yarn RoPE scaling is not written to GGUF (parity with llama.cpp's yarn is not checked yet)`,
    );
  // gemma3: linear scaling as keys (below), which llama.cpp applies to the global layers only
  if (s && arch !== 'gemma3') {
    const base = ropeFrequencies(c.headDim, c.ropeTheta);
    const scaled = ropeFrequencies(c.headDim, c.ropeTheta, s);
    const data = Float32Array.from(base, (f, i) => f / scaled[i]!);
    const freqs: NamedTensor = { name: 'rope_freqs.weight', shape: [data.length], dtype: 'F32', data };
    plans.push({ name: freqs.name, shape: freqs.shape, make: () => freqs });
  }

  add('token_embd.weight', 'tok_embeddings.weight');
  if (arch === 'gpt2') add('position_embd.weight', 'pos_embeddings.weight');
  const permQ = arch === 'llama' ? (t: NamedTensor) => permuteQkForGguf(t, c.nHeads) : undefined;
  const permK = arch === 'llama' ? (t: NamedTensor) => permuteQkForGguf(t, c.nKvHeads) : undefined;
  const norm = c.normUnitOffset ? (t: NamedTensor) => shiftNorm(t, true) : undefined;
  for (let i = 0; i < c.nLayers; i++) {
    const L = `layers.${i}`;
    const B = `blk.${i}`;
    both(`${B}.attn_norm`, `${L}.attention_norm`, norm);
    if (arch === 'gpt2') {
      for (const part of ['weight', 'bias']) {
        const names = ['wq', 'wk', 'wv'].map((n) => `${L}.attention.${n}.${part}`);
        const name = `${B}.attn_qkv.${part}`;
        const first = get(names[0]!);
        plans.push({
          name,
          shape: [3 * first.shape[0]!, ...first.shape.slice(1)],
          make: () =>
            concatRows(
              names.map((n) => castTensor(get(n), 'F32')),
              name,
            ),
        });
      }
    } else {
      both(`${B}.attn_q`, `${L}.attention.wq`, permQ);
      both(`${B}.attn_k`, `${L}.attention.wk`, permK);
      both(`${B}.attn_v`, `${L}.attention.wv`);
      if (c.qkNorm) {
        both(`${B}.attn_q_norm`, `${L}.attention.q_norm`, norm);
        both(`${B}.attn_k_norm`, `${L}.attention.k_norm`, norm);
      }
    }
    both(`${B}.attn_output`, `${L}.attention.wo`);
    if (c.sandwichNorm) both(`${B}.post_attention_norm`, `${L}.post_attention_norm`, norm);
    both(`${B}.ffn_norm`, `${L}.ffn_norm`, norm);
    if (arch === 'gpt2') {
      both(`${B}.ffn_up`, `${L}.feed_forward.w1`);
    } else {
      both(`${B}.ffn_gate`, `${L}.feed_forward.w1`);
      both(`${B}.ffn_up`, `${L}.feed_forward.w3`);
    }
    both(`${B}.ffn_down`, `${L}.feed_forward.w2`);
    if (c.sandwichNorm) both(`${B}.post_ffw_norm`, `${L}.post_ffn_norm`, norm);
  }
  both('output_norm', 'norm', norm);
  if (!c.tiedEmbeddings) add('output.weight', 'output.weight');
  else if (arch === 'gpt2') add('output.weight', 'tok_embeddings.weight');

  const kv = new Map<string, GgufValue>();
  kv.set('general.architecture', gv.str(arch));
  if (options.name !== undefined) kv.set('general.name', gv.str(options.name));
  kv.set('general.file_type', gv.u32(GGUF_FTYPE_ID[dtype]));
  // GGML_QNT_VERSION, which llama.cpp's quantizer writes into every quantized file
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16')
    kv.set('general.quantization_version', gv.u32(2));
  kv.set('general.alignment', gv.u32(32));
  kv.set(`${arch}.vocab_size`, gv.u32(c.vocabSize));
  kv.set(`${arch}.context_length`, gv.u32(c.contextLength));
  kv.set(`${arch}.embedding_length`, gv.u32(c.dModel));
  kv.set(`${arch}.block_count`, gv.u32(c.nLayers));
  kv.set(`${arch}.feed_forward_length`, gv.u32(c.ffnDim));
  kv.set(`${arch}.attention.head_count`, gv.u32(c.nHeads));
  if (arch === 'gpt2') {
    kv.set('gpt2.attention.layer_norm_epsilon', gv.f32(c.normEps));
  } else {
    kv.set(`${arch}.attention.head_count_kv`, gv.u32(c.nKvHeads));
    kv.set(`${arch}.rope.dimension_count`, gv.u32(c.headDim));
    kv.set(`${arch}.rope.freq_base`, gv.f32(c.ropeTheta));
    kv.set(`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(c.normEps));
    if (c.headDim * c.nHeads !== c.dModel || arch === 'gemma2' || arch === 'gemma3') {
      if (arch === 'qwen2') throw new Error(`${path}: llama.cpp's qwen2 needs headDim * nHeads = dModel`);
      // qwen3 sets head_dim apart from d_model / n_heads (llama.cpp reads key_length)
      kv.set(`${arch}.attention.key_length`, gv.u32(c.headDim));
      kv.set(`${arch}.attention.value_length`, gv.u32(c.headDim));
    }
    if (arch === 'gemma3') {
      const sliding = Array.from({ length: c.nLayers }, (_, i) => isSlidingLayer(c, i));
      if (c.slidingWindow !== null && sliding.includes(true)) {
        kv.set('gemma3.attention.sliding_window', gv.u32(c.slidingWindow));
        kv.set('gemma3.attention.sliding_window_pattern', gv.u32(gemma3Period(sliding)!));
        kv.set('gemma3.rope.freq_base_swa', gv.f32(c.ropeLocalTheta ?? c.ropeTheta));
      }
      if (c.finalLogitSoftcap !== null) kv.set('gemma3.final_logit_softcapping', gv.f32(c.finalLogitSoftcap));
      if (s?.type === 'linear') {
        kv.set('gemma3.rope.scaling.type', gv.str('linear'));
        kv.set('gemma3.rope.scaling.factor', gv.f32(s.factor));
      }
    } else if (c.slidingWindow !== null) {
      kv.set(`${arch}.attention.sliding_window`, gv.u32(c.slidingWindow));
      if (arch !== 'gemma2' && c.slidingLayers && !c.slidingLayers.every((x) => x)) {
        kv.set(`${arch}.attention.sliding_window_pattern`, {
          type: 'array',
          itemType: 'bool',
          value: [...c.slidingLayers],
        });
      }
    }
    if (arch === 'gemma2') {
      kv.set('gemma2.attn_logit_softcapping', gv.f32(c.attnLogitSoftcap!));
      kv.set('gemma2.final_logit_softcapping', gv.f32(c.finalLogitSoftcap!));
    }
  }
  tokenizerKv(kv, tokenizer, c, path);

  const typeContext = { nLayers: c.nLayers, tiedEmbeddings: !plans.some((p) => p.name === 'output.weight') };
  const specs: GgufTensorSpec[] = plans.map((p) => {
    const type = ggufTensorType(dtype, p.name, p.shape, typeContext);
    if (type === 'F32' || type === 'F16' || type === 'BF16') {
      return { name: p.name, shape: p.shape, dtype: type, data: () => castTensor(p.make(), type).data };
    }
    return { name: p.name, shape: p.shape, type, data: () => quantizeTensor(p.make(), type).data };
  });
  writeGguf(path, kv, specs);
}

/** `exportGguf` for the Llama family (llama, mistral, qwen2); throws for other archs. */
export function exportLlamaGguf(
  path: string,
  config: ModelConfig,
  canonical: ReadonlyMap<string, NamedTensor>,
  tokenizer: GgufTokenizer,
  options: GgufExportOptions = {},
): void {
  if (config.arch === 'gpt2' || config.arch === 'bert') {
    throw new Error(`${path}: exportLlamaGguf needs a llama, mistral or qwen2 config, got ${config.arch}`);
  }
  exportGguf(path, config, canonical, tokenizer, options);
}

// ---------------------------------------------------------------------------------------------
// Import

/** float32 metadata (eps, theta) back to the decimal it was written from, e.g. 1e-5 not 9.99e-6. */
function f32Decimal(x: number): number {
  return Number(x.toPrecision(7));
}

/**
 * Reads a GGUF written by `exportGguf` (or llama.cpp's converter or quantizer, for the same
 * architectures) back into a config, canonical tensors and tokenizer metadata. F32/F16/BF16
 * tensors come back as stored (F16 matrices stay F16); quantized ones (Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q4_K, Q5_K, Q6_K) are dequantized to F32, bit-exact with ggml's `to_float`, unless
 * `keepQuantized`: then the 2-D ones (every type a Linear computes with, LINEAR_QUANT_TYPES) come
 * back as their blocks in `quantized` (under the canonical name, absent from `tensors`). Q/K rows are un-permuted
 * for the `llama` architecture (quantized rows are whole blocks, moved as bytes); a `llama` file
 * with a sliding window key is a Mistral; gemma2's norm weights come back as offsets from 1.
 * `source` is a path (opened with `options.map`, closed before returning) or a file the caller
 * opened (and closes; models/load_gguf.ts reads the tokenizer from the same parse of the header).
 * Tensors stored as they come back are views into a mapped file's bytes; the un-permuted Q/K rows,
 * dequantized and converted tensors are copies.
 */
export function importGguf(
  source: string | GgufFile,
  options: { keepQuantized?: boolean; map?: GgufOpenOptions['map'] } = {},
): {
  config: ModelConfig;
  tensors: TensorMap;
  quantized: Map<string, QuantizedTensor>;
  tokenizer: GgufTokenizer;
  kv: ReadonlyMap<string, GgufValue>;
} {
  const f: GgufFile = typeof source === 'string' ? openGguf(source, { map: options.map }) : source;
  const path = f.path;
  try {
    const k = new GgufKv(f.kv, path);
    const arch = k.str('general.architecture');
    if (!isGgufArch(arch)) {
      throw new Error(
        `${path}: GGUF architecture ${JSON.stringify(arch)} is not supported (${GGUF_ARCHS.join(', ')})`,
      );
    }
    const gemma3 = arch === 'gemma3';
    const gemma2 = arch === 'gemma2';
    const gemma = gemma2 || gemma3;
    const has = (n: string): boolean => f.tensors.has(n);
    const tokens = k.strs('tokenizer.ggml.tokens');
    const nHeads = k.num(`${arch}.attention.head_count`);
    const dModel = k.num(`${arch}.embedding_length`);
    const gpt2 = arch === 'gpt2';
    const tensors: TensorMap = new Map();
    const readAny = (gguf: string): NamedTensor => {
      const type = f.tensors.get(gguf)!.type;
      if (type === 'F32' || type === 'F16' || type === 'BF16') return f.read(gguf);
      return dequantizeTensor(f.readQuantized(gguf), path);
    };
    const nLayers = k.num(`${arch}.block_count`);
    // the layer loop below runs block_count times: bound it before it starts
    checkSize(path, `${arch}.block_count`, nLayers, 'layers');
    const nKvHeads = gpt2 ? nHeads : k.num(`${arch}.attention.head_count_kv`);
    const permQ = arch === 'llama' ? (t: NamedTensor) => unpermuteQkFromGguf(t, nHeads) : undefined;
    const permK = arch === 'llama' ? (t: NamedTensor) => unpermuteQkFromGguf(t, nKvHeads) : undefined;
    const quantized = new Map<string, QuantizedTensor>();
    const keep = (gguf: string): boolean =>
      options.keepQuantized === true &&
      f.tensors.get(gguf)!.shape.length === 2 &&
      (LINEAR_QUANT_TYPES as readonly string[]).includes(f.tensors.get(gguf)!.type);
    const read = (gguf: string, canon: string, transform?: (t: NamedTensor) => NamedTensor): void => {
      if (!has(gguf)) return;
      if (keep(gguf)) {
        const q = f.readQuantized(gguf);
        checkQuantized(q, path);
        // permQ / permK are undefined outside llama: an untransformed tensor must not match them
        const heads = !transform ? 0 : transform === permQ ? nHeads : transform === permK ? nKvHeads : 0;
        quantized.set(canon, { ...(heads > 0 ? unpermuteQuantized(q, heads) : q), name: canon });
        return;
      }
      const t = readAny(gguf);
      tensors.set(canon, { ...(transform ? transform(t) : t), name: canon });
    };
    const both = (gguf: string, canon: string, transform?: (t: NamedTensor) => NamedTensor): void => {
      read(`${gguf}.weight`, `${canon}.weight`, transform);
      read(`${gguf}.bias`, `${canon}.bias`, transform);
    };
    const norm = gemma ? (t: NamedTensor) => shiftNorm(t, false) : undefined;
    read('token_embd.weight', 'tok_embeddings.weight');
    read('position_embd.weight', 'pos_embeddings.weight');
    for (let i = 0; i < nLayers; i++) {
      const L = `layers.${i}`;
      const B = `blk.${i}`;
      both(`${B}.attn_norm`, `${L}.attention_norm`, norm);
      if (gpt2) {
        for (const part of ['weight', 'bias']) {
          const name = `${B}.attn_qkv.${part}`;
          if (!has(name)) throw new Error(`${path}: missing tensor ${name}`);
          const qkv = readAny(name);
          const rows = qkv.shape[0]! / 3;
          ['wq', 'wk', 'wv'].forEach((n, j) => {
            const canon = `${L}.attention.${n}.${part}`;
            tensors.set(canon, sliceRows(qkv, j * rows, rows, canon));
          });
        }
        both(`${B}.ffn_up`, `${L}.feed_forward.w1`);
      } else {
        both(`${B}.attn_q`, `${L}.attention.wq`, permQ);
        both(`${B}.attn_k`, `${L}.attention.wk`, permK);
        both(`${B}.attn_v`, `${L}.attention.wv`);
        both(`${B}.attn_q_norm`, `${L}.attention.q_norm`, norm);
        both(`${B}.attn_k_norm`, `${L}.attention.k_norm`, norm);
        both(`${B}.ffn_gate`, `${L}.feed_forward.w1`);
        both(`${B}.ffn_up`, `${L}.feed_forward.w3`);
      }
      both(`${B}.attn_output`, `${L}.attention.wo`);
      both(`${B}.ffn_norm`, `${L}.ffn_norm`, norm);
      both(`${B}.ffn_down`, `${L}.feed_forward.w2`);
      if (gemma) {
        both(`${B}.post_attention_norm`, `${L}.post_attention_norm`, norm);
        both(`${B}.post_ffw_norm`, `${L}.post_ffn_norm`, norm);
      }
    }
    both('output_norm', 'norm', norm);
    read('output.weight', 'output.weight');
    // GPT-2 files always carry `output`: it is tied when it equals the embedding
    let tied = !tensors.has('output.weight') && !quantized.has('output.weight');
    if (gpt2 && !tied) {
      const a = tensors.get('output.weight')!.data;
      const b = tensors.get('tok_embeddings.weight')?.data;
      if (b !== undefined && a.length === b.length && a.every((x, i) => x === b[i])) {
        tied = true;
        tensors.delete('output.weight');
      }
    }
    const ffnKey = `${arch}.feed_forward_length`;
    const headDim = k.has(`${arch}.attention.key_length`)
      ? k.num(`${arch}.attention.key_length`)
      : dModel / nHeads;
    const optNum = (key: string): number | null => (k.has(key) ? k.num(key) : null);
    // gemma2: llama.cpp's defaults when a key is absent (llama-hparams.h, models/gemma2.cpp)
    const slidingWindow = optNum(`${arch}.attention.sliding_window`) ?? (gemma2 ? 4096 : null);
    const pattern = f.kv.get(`${arch}.attention.sliding_window_pattern`);
    let slidingLayers =
      !gemma && pattern?.type === 'array' && pattern.itemType === 'bool' ? [...pattern.value] : null;
    // gemma3 (models/gemma3.cpp): a u32 period p, default 6 (an array is ignored there, so here),
    // layer i slides iff i % p < p - 1; the local layers rotate with freq_base_swa (10000)
    let ropeLocalTheta: number | null = null;
    if (gemma3 && slidingWindow !== null) {
      const p =
        pattern !== undefined && pattern.type !== 'array'
          ? k.num(`${arch}.attention.sliding_window_pattern`)
          : 6;
      if (!(Number.isSafeInteger(p) && p >= 1))
        throw new Error(
          `${path}: gemma3.attention.sliding_window_pattern must be a positive integer, got ${p}`,
        );
      const layers = Array.from({ length: nLayers }, (_, i) => i % p < p - 1);
      if (p !== 6) slidingLayers = layers;
      ropeLocalTheta = f32Decimal(optNum('gemma3.rope.freq_base_swa') ?? 10000);
    }
    // gemma3: llama.cpp divides the global layers' positions by rope.scaling.factor unless the
    // type is "none" ("linear" when absent; llama-context.cpp), and reads no rope_freqs tensor
    let gemma3Scaling: ModelConfig['ropeScaling'] = null;
    if (gemma3) {
      const type = k.has('gemma3.rope.scaling.type') ? k.str('gemma3.rope.scaling.type') : 'linear';
      if (type !== 'linear' && type !== 'none')
        throw new Error(
          `${path}: gemma3.rope.scaling.type ${JSON.stringify(type)} is not supported (linear is)`,
        );
      const factor = optNum('gemma3.rope.scaling.factor');
      if (type === 'linear' && factor !== null && factor !== 0 && factor !== 1)
        gemma3Scaling = { type: 'linear', factor: f32Decimal(factor) };
    }
    const optId = (key: string): number | undefined => (k.has(key) ? k.num(key) : undefined);
    const tokenizer: GgufTokenizer = {
      tokens,
      tokenTypes: k.has('tokenizer.ggml.token_type')
        ? k.nums('tokenizer.ggml.token_type')
        : tokens.map(() => 1),
      merges: k.has('tokenizer.ggml.merges') ? k.strs('tokenizer.ggml.merges') : [],
      bosId: k.num('tokenizer.ggml.bos_token_id'),
      eosId: k.num('tokenizer.ggml.eos_token_id'),
      model: k.str('tokenizer.ggml.model'),
      pre: k.has('tokenizer.ggml.pre') ? k.str('tokenizer.ggml.pre') : 'default',
      addBos: k.has('tokenizer.ggml.add_bos_token') ? k.bool('tokenizer.ggml.add_bos_token') : undefined,
    };
    const pad = optId('tokenizer.ggml.padding_token_id');
    if (pad !== undefined) tokenizer.padId = pad;
    if (k.has('tokenizer.ggml.scores')) tokenizer.scores = k.nums('tokenizer.ggml.scores');
    if (k.has('tokenizer.chat_template')) tokenizer.chatTemplate = k.str('tokenizer.chat_template');
    const config: ModelConfig = {
      arch: arch === 'llama' && slidingWindow !== null ? 'mistral' : arch,
      vocabSize: tokens.length,
      contextLength: k.num(`${arch}.context_length`),
      dModel,
      nLayers,
      nHeads,
      nKvHeads,
      headDim,
      ffnDim: k.num(ffnKey),
      ffnType: gpt2 ? 'gelu_tanh' : gemma ? 'geglu' : 'swiglu',
      norm: gpt2 ? 'layernorm' : 'rmsnorm',
      normEps: f32Decimal(
        k.num(gpt2 ? 'gpt2.attention.layer_norm_epsilon' : `${arch}.attention.layer_norm_rms_epsilon`),
      ),
      position: gpt2 ? 'learned' : 'rope',
      ropeTheta: gpt2
        ? 10000
        : f32Decimal(k.has(`${arch}.rope.freq_base`) ? k.num(`${arch}.rope.freq_base`) : 10000),
      attnBias: tensors.has('layers.0.attention.wo.bias'),
      qkvBias: tensors.has('layers.0.attention.wq.bias'),
      mlpBias: tensors.has('layers.0.feed_forward.w2.bias'),
      tiedEmbeddings: tied,
      typeVocabSize: 0,
      bosTokenId: tokenizer.bosId,
      eosTokenId: tokenizer.eosId,
      padTokenId: tokenizer.padId ?? null,
      dropout: 0,
      initStd: 0.02,
      slidingWindow,
      // optional fields only where the file has them, as configs written without them read
      ...(slidingLayers ? { slidingLayers } : {}),
      ...(gemma2 ? { attnLogitSoftcap: f32Decimal(optNum('gemma2.attn_logit_softcapping') ?? 50) } : {}),
      ...(ropeLocalTheta !== null ? { ropeLocalTheta } : {}),
      torchDtype: null,
      // Llama 3.1+ files carry their llama3 scaling as per-pair divisors (rope_freqs.weight)
      ropeScaling: gemma3
        ? gemma3Scaling
        : has('rope_freqs.weight')
          ? { type: 'factors', factors: Array.from(toFloat32(readAny('rope_freqs.weight'))) }
          : null,
      qkNorm: tensors.has('layers.0.attention.q_norm.weight'),
      scaleEmbeddings: gemma,
      sandwichNorm: gemma,
      normUnitOffset: gemma,
      queryScale: gemma
        ? gemmaQueryScale(gemma2 ? 'gemma2' : 'gemma3', { nLayers, dModel, nHeads, headDim })
        : null,
      finalLogitSoftcap: gemma2
        ? f32Decimal(optNum('gemma2.final_logit_softcapping') ?? 30)
        : gemma3 && k.has('gemma3.final_logit_softcapping')
          ? f32Decimal(k.num('gemma3.final_logit_softcapping'))
          : null,
    };
    checkConfigSizes(config, path, {
      vocabSize: 'tokenizer.ggml.tokens (count)',
      contextLength: `${arch}.context_length`,
      dModel: `${arch}.embedding_length`,
      nLayers: `${arch}.block_count`,
      nHeads: `${arch}.attention.head_count`,
      nKvHeads: `${arch}.attention.head_count_kv`,
      headDim: `${arch}.attention.key_length`,
      ffnDim: ffnKey,
    });
    checkModelConfig(config, path);
    for (const [name, shape] of canonicalShapes(config)) {
      const t = tensors.get(name) ?? quantized.get(name);
      if (t === undefined)
        throw new Error(`${path}: missing tensor for ${name} (expected shape ${shapeStr(shape)})`);
      if (!sameShape(t.shape, shape)) {
        throw new Error(
          `${path}: tensor for ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`,
        );
      }
    }
    return { config, tensors, quantized, tokenizer, kv: f.kv };
  } finally {
    if (typeof source === 'string') f.close();
  }
}
