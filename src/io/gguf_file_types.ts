/**
 * GGUF file types (llama.cpp's `llama_ftype`): which ggml type each tensor of an exported model
 * gets. 1-D tensors (norms, biases) are always F32, as llama.cpp's converter writes them.
 *
 *   file type  matrices                                         general.file_type
 *   F32        F32                                              0  ALL_F32
 *   F16        F16                                              1  MOSTLY_F16
 *   BF16       BF16                                             32 MOSTLY_BF16
 *   Q8_0       Q8_0                                             7  MOSTLY_Q8_0
 *   Q4_0       Q4_0                                             2  MOSTLY_Q4_0
 *   Q4_K       Q4_K                                             14 MOSTLY_Q4_K_S (label only)
 *   Q5_K       Q5_K                                             16 MOSTLY_Q5_K_S (label only)
 *   Q6_K       Q6_K                                             18 MOSTLY_Q6_K
 *   Q4_K_M     Q4_K; Q6_K for output (or the tied embedding)    15 MOSTLY_Q4_K_M
 *              and for attn_v (attn_qkv for gpt2) and ffn_down
 *              of the layers where use_more_bits(i, n) holds
 *   Q5_K_M     as Q4_K_M with Q5_K                              17 MOSTLY_Q5_K_M
 *
 * The single quantized types are "pure", as `llama-quantize --pure` makes them: every matrix gets
 * the type, including token_embd and output (plain llama-quantize would give output Q6_K). The
 * _M mixes follow `llama_tensor_get_type` for dense (non-MoE) models: use_more_bits(i, n) is
 * i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, i.e. the first and last eighth of the layers and
 * every third one between. position_embd (gpt2) is never quantized (stays F32).
 *
 * A matrix whose rows are not whole blocks falls back as llama.cpp does (`llama_tensor_get_type`
 * in llama.cpp's src/llama-quant.cpp: when ne[0] % QK_K != 0, Q4_K -> Q5_0, Q5_K -> Q5_1,
 * Q6_K -> Q8_0, and F16 when the row is not whole blocks of that either): so Qwen2.5-0.5B's
 * (d 896) attention and gate/up matrices get Q5_0 in a Q4_K_M file, and its output (Q6_K in a mix)
 * Q8_0. xfmr computes with all of these directly (Kernels.linearQuant). Rows of the 32-block types
 * (Q8_0, Q4_0) that are not a multiple of 32 get F16.
 */
import { ggmlType, type QuantType } from '../kernels/quant_types.ts';

export const GGUF_FILE_TYPES = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'Q4_K_M',
  'Q5_K_M',
] as const;
export type GgufFileType = (typeof GGUF_FILE_TYPES)[number];

/** `general.file_type` (llama.cpp's LLAMA_FTYPE_* value) of each file type. */
export const GGUF_FTYPE_ID: Readonly<Record<GgufFileType, number>> = {
  F32: 0,
  F16: 1,
  BF16: 32,
  Q8_0: 7,
  Q4_0: 2,
  Q4_K: 14,
  Q5_K: 16,
  Q6_K: 18,
  Q4_K_M: 15,
  Q5_K_M: 17,
};

/** The ggml type of a GGUF tensor: F32 or one of the codec types. */
export type GgufTensorType = 'F32' | QuantType;

export function isGgufFileType(s: string): s is GgufFileType {
  return (GGUF_FILE_TYPES as readonly string[]).includes(s);
}

/** What the type choice needs to know about the model. */
export interface GgufTypeContext {
  nLayers: number;
  /** True when the file has no `output.weight` and token_embd doubles as the output matrix. */
  tiedEmbeddings: boolean;
}

function useMoreBits(i: number, n: number): boolean {
  return i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
}

/** The type llama.cpp falls back to from each K-quant (llama-quant.cpp, `convert_incompatible_tensor`). */
const K_FALLBACK: Readonly<Partial<Record<GgufTensorType, GgufTensorType>>> = {
  Q4_K: 'Q5_0',
  Q5_K: 'Q5_1',
  Q6_K: 'Q8_0',
};

/** llama.cpp's fallback for a row length that is not whole blocks of `type`. */
function fallback(type: GgufTensorType, row: number): GgufTensorType {
  if (type === 'F32' || row % ggmlType(type).blockSize === 0) return type;
  const next = K_FALLBACK[type] ?? type;
  return row % ggmlType(next).blockSize === 0 ? next : 'F16';
}

/**
 * The ggml type of GGUF tensor `name` (e.g. `blk.3.ffn_down.weight`, row-major `shape`) in a file
 * of type `fileType`.
 */
export function ggufTensorType(
  fileType: GgufFileType,
  name: string,
  shape: readonly number[],
  ctx: GgufTypeContext,
): GgufTensorType {
  if (shape.length < 2 || !name.endsWith('.weight') || name === 'position_embd.weight') return 'F32';
  const row = shape[shape.length - 1]!;
  if (fileType === 'F32' || fileType === 'F16' || fileType === 'BF16') return fileType;
  if (fileType !== 'Q4_K_M' && fileType !== 'Q5_K_M') return fallback(fileType, row);
  const base: QuantType = fileType === 'Q4_K_M' ? 'Q4_K' : 'Q5_K';
  const isOutput = name === 'output.weight' || (ctx.tiedEmbeddings && name === 'token_embd.weight');
  if (isOutput) return fallback('Q6_K', row);
  const layer = /^blk\.(\d+)\./.exec(name);
  let type: GgufTensorType = base;
  if (layer !== null) {
    const i = Number(layer[1]);
    const attnV = name.endsWith('.attn_v.weight') || name.endsWith('.attn_qkv.weight');
    if ((attnV || name.endsWith('.ffn_down.weight')) && useMoreBits(i, ctx.nLayers)) type = 'Q6_K';
  }
  return fallback(type, row);
}
