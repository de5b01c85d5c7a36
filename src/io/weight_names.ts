/**
 * Rename tables between Hugging Face checkpoint names and xfmr's canonical names, per family.
 *
 * Canonical names (Meta's original Llama naming, extended for GPT-2 and BERT). Every linear
 * weight is stored like torch.nn.Linear, [out, in]; biases exist only when the config says so.
 *
 *   tok_embeddings.weight              [vocabSize, dModel]
 *   pos_embeddings.weight              [contextLength, dModel]         learned positions
 *   type_embeddings.weight             [typeVocabSize, dModel]         bert
 *   emb_norm.{weight,bias}             [dModel]                        bert: LayerNorm of the embeddings
 *   layers.N.attention_norm.weight     [dModel]   (+ .bias for LayerNorm)
 *   layers.N.attention.wq.weight       [nHeads * headDim, dModel]      .bias if qkvBias
 *   layers.N.attention.wk.weight       [nKvHeads * headDim, dModel]    .bias if qkvBias
 *   layers.N.attention.wv.weight       [nKvHeads * headDim, dModel]    .bias if qkvBias
 *   layers.N.attention.wo.weight       [dModel, nHeads * headDim]      .bias if attnBias
 *   layers.N.attention.{q,k}_norm.weight [headDim]                     qkNorm (Qwen3, Gemma 3)
 *   layers.N.ffn_norm.weight           [dModel]   (+ .bias for LayerNorm)
 *   layers.N.post_{attention,ffn}_norm.weight [dModel]               sandwichNorm (Gemma)
 *   layers.N.feed_forward.w1.weight    [ffnDim, dModel]   gate (swiglu) or the up projection (gelu)
 *   layers.N.feed_forward.w2.weight    [dModel, ffnDim]   down projection
 *   layers.N.feed_forward.w3.weight    [ffnDim, dModel]   up projection, swiglu only
 *                                      (.bias on w1/w2/w3 if mlpBias)
 *   norm.weight                        [dModel]   (+ .bias) final norm, decoders only
 *   output.weight                      [vocabSize, dModel]  LM head, absent when tiedEmbeddings
 *   pooler.{weight,bias}               [dModel, dModel], [dModel]  bert, optional
 *
 * BERT is post-norm: `attention_norm` is applied after the attention residual add and
 * `ffn_norm` after the MLP residual add. Q and K rows keep Hugging Face's rotary layout (each
 * head's first half pairs with its second half); GGUF export permutes them for llama.cpp.
 *
 * GPT-2 stores its linear layers as Conv1D, [in, out], and fuses q, k, v into `c_attn`
 * ([dModel, 3 * dModel]): `fromHf` transposes and splits them, `toHf` fuses and transposes back.
 *
 * Accepted spellings on import: GPT-2 with or without `transformer.`; BERT with or without
 * `bert.` and with TF-era `LayerNorm.gamma/beta`; Llama-family with or without `model.`; Gemma 3's
 * multimodal checkpoints (Gemma3ForConditionalGeneration) with the language model under
 * `language_model.model.` (transformers < 4.52, Google's uploads) or `model.language_model.`,
 * whose vision tower and projector (`isVisionTensor`) are skipped: xfmr loads the text model.
 * Ignored buffers: GPT-2 `attn.bias`/`attn.masked_bias`, BERT `embeddings.position_ids` and
 * `cls.*` (pretraining heads), `rotary_emb.inv_freq`, and `lm_head.weight` when tied. Any other
 * unexpected tensor is an error (it usually means the config does not match the weights).
 */
import type { ModelConfig } from '../models/config.ts';
import {
  concatRows,
  type NamedTensor,
  renamed,
  sameShape,
  shapeStr,
  sliceRows,
  type TensorMap,
  transpose2d,
} from './tensors.ts';

/** One HF tensor <-> one or more canonical tensors (several for GPT-2's fused c_attn). */
interface Rule {
  /** HF name without the optional prefix (`transformer.`, `bert.`; Llama names include `model.`). */
  hf: string;
  /** Canonical parts, concatenated along dim 0 to form the HF tensor. */
  canon: { name: string; shape: number[] }[];
  /** GPT-2 Conv1D: the HF tensor is the transpose of the (concatenated) canonical one. */
  conv1d: boolean;
  optional: boolean;
}

function rule(hf: string, canon: string, shape: number[], opts: Partial<Rule> = {}): Rule {
  return { hf, canon: [{ name: canon, shape }], conv1d: false, optional: false, ...opts };
}

/** Adds `.weight` (and `.bias` when `bias`) rules for a linear or norm layer. */
function layer(
  out: Rule[],
  hf: string,
  canon: string,
  wShape: number[],
  bias: boolean,
  opts: Partial<Rule> = {},
): void {
  out.push(rule(`${hf}.weight`, `${canon}.weight`, wShape, opts));
  if (bias) out.push(rule(`${hf}.bias`, `${canon}.bias`, [wShape[0]!], { ...opts, conv1d: false }));
}

function gpt2Rules(c: ModelConfig): Rule[] {
  const D = c.dModel;
  const F = c.ffnDim;
  const r: Rule[] = [rule('wte.weight', 'tok_embeddings.weight', [c.vocabSize, D])];
  r.push(rule('wpe.weight', 'pos_embeddings.weight', [c.contextLength, D]));
  const conv = { conv1d: true };
  for (let i = 0; i < c.nLayers; i++) {
    const h = `h.${i}`;
    const L = `layers.${i}`;
    layer(r, `${h}.ln_1`, `${L}.attention_norm`, [D], true);
    const qkv = ['wq', 'wk', 'wv'];
    r.push({
      hf: `${h}.attn.c_attn.weight`,
      canon: qkv.map((n) => ({ name: `${L}.attention.${n}.weight`, shape: [D, D] })),
      conv1d: true,
      optional: false,
    });
    r.push({
      hf: `${h}.attn.c_attn.bias`,
      canon: qkv.map((n) => ({ name: `${L}.attention.${n}.bias`, shape: [D] })),
      conv1d: false,
      optional: false,
    });
    layer(r, `${h}.attn.c_proj`, `${L}.attention.wo`, [D, D], true, conv);
    layer(r, `${h}.ln_2`, `${L}.ffn_norm`, [D], true);
    layer(r, `${h}.mlp.c_fc`, `${L}.feed_forward.w1`, [F, D], true, conv);
    layer(r, `${h}.mlp.c_proj`, `${L}.feed_forward.w2`, [D, F], true, conv);
  }
  layer(r, 'ln_f', 'norm', [D], true);
  if (!c.tiedEmbeddings) r.push(rule('lm_head.weight', 'output.weight', [c.vocabSize, D]));
  return r;
}

function llamaRules(c: ModelConfig): Rule[] {
  const D = c.dModel;
  const F = c.ffnDim;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const r: Rule[] = [rule('model.embed_tokens.weight', 'tok_embeddings.weight', [c.vocabSize, D])];
  for (let i = 0; i < c.nLayers; i++) {
    const h = `model.layers.${i}`;
    const L = `layers.${i}`;
    layer(r, `${h}.input_layernorm`, `${L}.attention_norm`, [D], false);
    layer(r, `${h}.self_attn.q_proj`, `${L}.attention.wq`, [q, D], c.qkvBias);
    layer(r, `${h}.self_attn.k_proj`, `${L}.attention.wk`, [kv, D], c.qkvBias);
    layer(r, `${h}.self_attn.v_proj`, `${L}.attention.wv`, [kv, D], c.qkvBias);
    layer(r, `${h}.self_attn.o_proj`, `${L}.attention.wo`, [D, q], c.attnBias);
    if (c.qkNorm) {
      layer(r, `${h}.self_attn.q_norm`, `${L}.attention.q_norm`, [c.headDim], false);
      layer(r, `${h}.self_attn.k_norm`, `${L}.attention.k_norm`, [c.headDim], false);
    }
    if (c.sandwichNorm) {
      // Gemma: post_attention_layernorm normalises the attention output; the MLP's input norm is
      // pre_feedforward_layernorm (in Llama, post_attention_layernorm is that input norm)
      layer(r, `${h}.post_attention_layernorm`, `${L}.post_attention_norm`, [D], false);
      layer(r, `${h}.pre_feedforward_layernorm`, `${L}.ffn_norm`, [D], false);
      layer(r, `${h}.post_feedforward_layernorm`, `${L}.post_ffn_norm`, [D], false);
    } else {
      layer(r, `${h}.post_attention_layernorm`, `${L}.ffn_norm`, [D], false);
    }
    layer(r, `${h}.mlp.gate_proj`, `${L}.feed_forward.w1`, [F, D], c.mlpBias);
    layer(r, `${h}.mlp.down_proj`, `${L}.feed_forward.w2`, [D, F], c.mlpBias);
    layer(r, `${h}.mlp.up_proj`, `${L}.feed_forward.w3`, [F, D], c.mlpBias);
  }
  layer(r, 'model.norm', 'norm', [D], false);
  if (!c.tiedEmbeddings) r.push(rule('lm_head.weight', 'output.weight', [c.vocabSize, D]));
  return r;
}

function bertRules(c: ModelConfig): Rule[] {
  const D = c.dModel;
  const F = c.ffnDim;
  const r: Rule[] = [rule('embeddings.word_embeddings.weight', 'tok_embeddings.weight', [c.vocabSize, D])];
  r.push(rule('embeddings.position_embeddings.weight', 'pos_embeddings.weight', [c.contextLength, D]));
  if (c.typeVocabSize > 0) {
    r.push(rule('embeddings.token_type_embeddings.weight', 'type_embeddings.weight', [c.typeVocabSize, D]));
  }
  layer(r, 'embeddings.LayerNorm', 'emb_norm', [D], true);
  for (let i = 0; i < c.nLayers; i++) {
    const h = `encoder.layer.${i}`;
    const L = `layers.${i}`;
    layer(r, `${h}.attention.self.query`, `${L}.attention.wq`, [D, D], true);
    layer(r, `${h}.attention.self.key`, `${L}.attention.wk`, [D, D], true);
    layer(r, `${h}.attention.self.value`, `${L}.attention.wv`, [D, D], true);
    layer(r, `${h}.attention.output.dense`, `${L}.attention.wo`, [D, D], true);
    layer(r, `${h}.attention.output.LayerNorm`, `${L}.attention_norm`, [D], true);
    layer(r, `${h}.intermediate.dense`, `${L}.feed_forward.w1`, [F, D], true);
    layer(r, `${h}.output.dense`, `${L}.feed_forward.w2`, [D, F], true);
    layer(r, `${h}.output.LayerNorm`, `${L}.ffn_norm`, [D], true);
  }
  layer(r, 'pooler.dense', 'pooler', [D, D], true, { optional: true });
  return r;
}

function rules(c: ModelConfig): Rule[] {
  switch (c.arch) {
    case 'gpt2':
      return gpt2Rules(c);
    case 'bert':
      return bertRules(c);
    default:
      return llamaRules(c);
  }
}

/** The canonical tensor names and shapes a config implies (optional ones included). */
export function canonicalShapes(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const r of rules(c)) for (const p of r.canon) m.set(p.name, p.shape);
  return m;
}

/** HF shape of a rule: the canonical parts stacked on dim 0, transposed for Conv1D. */
function hfShape(r: Rule): number[] {
  const rows = r.canon.reduce((s, p) => s + p.shape[0]!, 0);
  const shape = [rows, ...r.canon[0]!.shape.slice(1)];
  return r.conv1d ? [shape[1]!, shape[0]!] : shape;
}

/** Maps a name as found in a file to the unprefixed table spelling, or null to ignore it. */
function normaliseHfName(c: ModelConfig, name: string): string | null {
  if (c.arch === 'gpt2') {
    const n = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(n)) return null;
    if (n === 'lm_head.weight' && c.tiedEmbeddings) return null;
    return n;
  }
  if (c.arch === 'bert') {
    let n = name.startsWith('bert.') ? name.slice('bert.'.length) : name;
    if (n === 'embeddings.position_ids' || name.startsWith('cls.')) return null;
    n = n.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    return n;
  }
  if (name.endsWith('.rotary_emb.inv_freq')) return null;
  let n = name;
  if (c.arch === 'gemma3') {
    if (isVisionTensor(n)) return null;
    if (n.startsWith('language_model.')) n = n.slice('language_model.'.length);
    else if (n.startsWith('model.language_model.')) n = `model.${n.slice('model.language_model.'.length)}`;
  }
  if (n === 'lm_head.weight') return c.tiedEmbeddings ? null : n;
  return n.startsWith('model.') ? n : `model.${n}`;
}

/** A tensor of Gemma 3's vision tower or multimodal projector (either checkpoint spelling). */
export function isVisionTensor(name: string): boolean {
  return /^(model\.)?(vision_tower|multi_modal_projector)\./.test(name);
}

function describeConfig(c: ModelConfig): string {
  return `${c.arch}, ${c.nLayers} layers, dModel ${c.dModel}, vocab ${c.vocabSize}`;
}

/**
 * HF checkpoint tensors -> canonical tensors (Conv1D transposed, c_attn split; dtypes kept).
 * Missing, mis-shaped or unexpected tensors throw, naming `file`, the tensor and the expected
 * shape.
 */
export function fromHf(
  config: ModelConfig,
  tensors: ReadonlyMap<string, NamedTensor>,
  file = 'checkpoint',
): TensorMap {
  // index the file's tensors by their normalised name, remembering the original spelling
  const byName = new Map<string, NamedTensor>();
  for (const [name, t] of tensors) {
    const n = normaliseHfName(config, name);
    if (n === null) continue;
    const prev = byName.get(n);
    if (prev !== undefined) throw new Error(`${file}: tensors ${prev.name} and ${name} are the same weight`);
    byName.set(n, t);
  }
  // name missing tensors in the file's own spelling
  const prefix = config.arch === 'gpt2' ? 'transformer.' : config.arch === 'bert' ? 'bert.' : '';
  const prefixed = prefix !== '' && [...tensors.keys()].some((n) => n.startsWith(prefix));
  const spell = (n: string): string => (prefixed && n !== 'lm_head.weight' ? prefix + n : n);
  const out: TensorMap = new Map();
  for (const r of rules(config)) {
    const t = byName.get(r.hf);
    const want = hfShape(r);
    if (t === undefined) {
      if (r.optional) continue;
      throw new Error(
        `${file}: missing tensor ${spell(r.hf)} (expected shape ${shapeStr(want)}; config: ${describeConfig(config)})`,
      );
    }
    byName.delete(r.hf);
    if (!sameShape(t.shape, want)) {
      throw new Error(
        `${file}: tensor ${t.name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(want)} (config: ${describeConfig(config)})`,
      );
    }
    const whole = r.conv1d ? transpose2d(t) : t;
    if (r.canon.length === 1) {
      const p = r.canon[0]!;
      out.set(p.name, whole === t ? renamed(t, p.name) : { ...whole, name: p.name });
      continue;
    }
    let row = 0;
    for (const p of r.canon) {
      out.set(p.name, sliceRows(whole, row, p.shape[0]!, p.name));
      row += p.shape[0]!;
    }
  }
  if (byName.size > 0) {
    const names = [...byName.values()].map((t) => t.name);
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} in all)` : '');
    throw new Error(
      `${file}: unexpected tensors ${shown} for config (${describeConfig(config)}): does config.json match the weights?`,
    );
  }
  return out;
}

/**
 * Canonical tensors -> HF checkpoint tensors, named as `transformers` saves them:
 * GPT2LMHeadModel (`transformer.` prefix, Conv1D [in, out], fused c_attn), LlamaForCausalLM-style
 * (`model.` prefix, `lm_head.weight` when untied), BertModel (no prefix). Dtypes are kept.
 */
export function toHf(
  config: ModelConfig,
  canonical: ReadonlyMap<string, NamedTensor>,
  where = 'canonical tensors',
): TensorMap {
  const out: TensorMap = new Map();
  const used = new Set<string>();
  for (const r of rules(config)) {
    const parts: NamedTensor[] = [];
    for (const p of r.canon) {
      const t = canonical.get(p.name);
      if (t === undefined) {
        if (r.optional) break;
        throw new Error(`${where}: missing tensor ${p.name} (expected shape ${shapeStr(p.shape)})`);
      }
      if (!sameShape(t.shape, p.shape)) {
        throw new Error(
          `${where}: tensor ${p.name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(p.shape)}`,
        );
      }
      parts.push(t);
      used.add(p.name);
    }
    if (parts.length < r.canon.length) continue; // optional and absent
    let name = r.hf;
    if (config.arch === 'gpt2' && name !== 'lm_head.weight') name = `transformer.${name}`;
    const whole = parts.length === 1 ? parts[0]! : concatRows(parts, name);
    out.set(name, r.conv1d ? transpose2d(whole, name) : whole === parts[0] ? renamed(whole, name) : whole);
  }
  for (const name of canonical.keys()) {
    if (!used.has(name)) {
      throw new Error(`${where}: unexpected tensor ${name} for config (${describeConfig(config)})`);
    }
  }
  return out;
}
