/**
 * A LoRA adapter as a GGUF file that llama.cpp loads beside its base model (`--lora FILE`,
 * node-llama-cpp's `lora` context option), in the layout of llama.cpp's convert_lora_to_gguf.py:
 *
 *   general.architecture  the base's (llama, qwen2, ...)      general.type   "adapter"
 *   adapter.type          "lora"                              adapter.lora.alpha  f32
 *   blk.N.attn_q.weight.lora_a  [r, in]   blk.N.attn_q.weight.lora_b  [out, r]   (F32; GGUF dims
 *   reversed as for every tensor), likewise attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down.
 *
 * llama.cpp scales by alpha / r itself (r read from the tensors). Where the base's GGUF export
 * permutes Q and K rows for llama.cpp's RoPE layout (arch llama), lora_b of q and k gets the same
 * row permutation: (P W) + s (P B) A = P (W + s B A), so the update lands on the rows it belongs to.
 *
 * gpt2: the base's q, k, v are one attn_qkv ([3C, C], q's rows, k's, v's), which the fused
 * adapter `attention.wqkv` (A [r, C], B [3C, r]; models/lora.ts) fits as it is; the MLP is
 * ffn_up (w1, c_fc) and ffn_down (w2, c_proj).
 */
import type { ModelConfig } from '../models/config.ts';
import { type GgufTensorSpec, writeGguf } from './gguf.ts';
import { ggufArch, permuteQkForGguf } from './gguf_export.ts';
import { type GgufValue, gv } from './gguf_values.ts';
import type { NamedTensor } from './tensors.ts';

/** Canonical module (within layer N) -> llama.cpp tensor base name. */
const GGUF_MODULE: Readonly<Record<string, string>> = {
  'attention.wq': 'attn_q',
  'attention.wk': 'attn_k',
  'attention.wv': 'attn_v',
  'attention.wo': 'attn_output',
  'feed_forward.w1': 'ffn_gate',
  'feed_forward.w3': 'ffn_up',
  'feed_forward.w2': 'ffn_down',
};

/** The same for gpt2 (fused q, k, v; an ungated MLP whose w1 is the up projection). */
const GGUF_MODULE_GPT2: Readonly<Record<string, string>> = {
  'attention.wqkv': 'attn_qkv',
  'attention.wo': 'attn_output',
  'feed_forward.w1': 'ffn_up',
  'feed_forward.w2': 'ffn_down',
};

/**
 * Writes `tensors` (canonical adapter names `layers.N.attention.wq.lora_A.weight`, F32) as a GGUF
 * LoRA adapter for a base of `config`, atomically.
 */
export function writeLoraGguf(
  path: string,
  config: ModelConfig,
  alpha: number,
  tensors: readonly NamedTensor[],
): void {
  const arch = ggufArch(config);
  const modules = arch === 'gpt2' ? GGUF_MODULE_GPT2 : GGUF_MODULE;
  const specs: GgufTensorSpec[] = [];
  for (const t of tensors) {
    const m = /^layers\.(\d+)\.(.+)\.lora_([AB])\.weight$/.exec(t.name);
    const mod = m ? modules[m[2]] : undefined;
    if (!m || !mod) throw new Error(`GGUF LoRA export: ${t.name} is not an adapter tensor`);
    let data = t;
    if (m[3] === 'B' && arch === 'llama' && (mod === 'attn_q' || mod === 'attn_k'))
      data = permuteQkForGguf(t, mod === 'attn_q' ? config.nHeads : config.nKvHeads);
    specs.push({
      name: `blk.${m[1]}.${mod}.weight.lora_${m[3].toLowerCase()}`,
      shape: [...t.shape],
      dtype: 'F32',
      data: data.data,
    });
  }
  const kv = new Map<string, GgufValue>([
    ['general.architecture', gv.str(arch)],
    ['general.type', gv.str('adapter')],
    ['general.alignment', gv.u32(32)],
    ['adapter.type', gv.str('lora')],
    ['adapter.lora.alpha', gv.f32(alpha)],
  ]);
  writeGguf(path, kv, specs);
}
