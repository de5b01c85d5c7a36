/**
 * LoRA on a decoder LM: which Linear layers get an adapter (targets by PEFT's short names), the
 * adapters as one module (what the optimizer trains and checkpoints hold), freezing the base,
 * merging an adapter into the weights, and the names PEFT gives the adapter tensors.
 *
 *   target  module (canonical, per layer N)    PEFT / Hugging Face (Llama family)
 *   q       layers.N.attention.wq              model.layers.N.self_attn.q_proj
 *   k       layers.N.attention.wk              model.layers.N.self_attn.k_proj
 *   v       layers.N.attention.wv              model.layers.N.self_attn.v_proj
 *   o       layers.N.attention.wo              model.layers.N.self_attn.o_proj
 *   gate    layers.N.feed_forward.w1           model.layers.N.mlp.gate_proj   (gated MLPs only)
 *   up      layers.N.feed_forward.w3           model.layers.N.mlp.up_proj     (gated MLPs only)
 *   down    layers.N.feed_forward.w2           model.layers.N.mlp.down_proj
 * PEFT writes `base_model.model.` + that name + `.lora_A.weight` ([r, in]) / `.lora_B.weight`
 * ([out, r]).
 *
 *   target  module (canonical, per layer N)    PEFT / Hugging Face (GPT-2, GPT2LMHeadModel)
 *   q,k,v   layers.N.attention.wqkv (one adapter on wq, wk, wv)   transformer.h.N.attn.c_attn
 *   o       layers.N.attention.wo              transformer.h.N.attn.c_proj
 *   up      layers.N.feed_forward.w1           transformer.h.N.mlp.c_fc
 *   down    layers.N.feed_forward.w2           transformer.h.N.mlp.c_proj
 * GPT-2's layers are Conv1D (weights [in, out]; PEFT's fan_in_fan_out) but PEFT's A and B are
 * [r, in] and [out, r] all the same. PEFT puts ONE adapter on the fused c_attn: A [r, C],
 * B [3C, r], whose output rows are q's, k's then v's (as io/weight_names.ts splits c_attn). xfmr
 * keeps it whole, `attention.wqkv`, and gives wq, wk, wv each the full A and its C rows of B
 * (nn/lora.ts's LoraRows): exact for any PEFT c_attn adapter, and saved back unchanged. So q, k
 * and v are targeted together on GPT-2 (target_modules "c_attn"). No `gate` (GPT-2's MLP is not
 * gated). BERT (an encoder) is not handled.
 */
import type { Linear } from '../nn/linear.ts';
import { LoraAdapter, LoraRows, type LoraUpdate } from '../nn/lora.ts';
import { Module } from '../nn/module.ts';
import { add, matmul, noGrad, Rng, scale, slice, tidy } from '../tensor/index.ts';
import type { DecoderLM } from './decoder.ts';

export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** Canonical module and Hugging Face module of each target, within layer N. */
const TARGET_NAMES: Readonly<Record<LoraTarget, { canon: string; hf: string }>> = {
  q: { canon: 'attention.wq', hf: 'self_attn.q_proj' },
  k: { canon: 'attention.wk', hf: 'self_attn.k_proj' },
  v: { canon: 'attention.wv', hf: 'self_attn.v_proj' },
  o: { canon: 'attention.wo', hf: 'self_attn.o_proj' },
  gate: { canon: 'feed_forward.w1', hf: 'mlp.gate_proj' },
  up: { canon: 'feed_forward.w3', hf: 'mlp.up_proj' },
  down: { canon: 'feed_forward.w2', hf: 'mlp.down_proj' },
};

/** PEFT's names of the targets in target_modules. */
export const PEFT_MODULE: Readonly<Record<LoraTarget, string>> = {
  q: 'q_proj',
  k: 'k_proj',
  v: 'v_proj',
  o: 'o_proj',
  gate: 'gate_proj',
  up: 'up_proj',
  down: 'down_proj',
};

/** Whose module names a model's adapters take: Llama-family (most) or GPT-2's. */
export type LoraFamily = 'llama' | 'gpt2';

/** GPT-2's adapted modules: canonical adapter module and Hugging Face module within layer N. */
const GPT2_NAMES = {
  qkv: { canon: 'attention.wqkv', hf: 'attn.c_attn' },
  o: { canon: 'attention.wo', hf: 'attn.c_proj' },
  up: { canon: 'feed_forward.w1', hf: 'mlp.c_fc' },
  down: { canon: 'feed_forward.w2', hf: 'mlp.c_proj' },
} as const;
type Gpt2Module = keyof typeof GPT2_NAMES;
const GPT2_QKV: readonly LoraTarget[] = ['q', 'k', 'v'];

/**
 * The targets of a PEFT target_modules entry for GPT-2 (PEFT matches it as a suffix of the module
 * name: bare `c_proj` is both attn.c_proj and mlp.c_proj), or null for a name it does not know.
 */
export function gpt2TargetsOf(module: string): LoraTarget[] | null {
  const bare: Record<string, LoraTarget[]> = {
    c_attn: GPT2_QKV.slice(),
    c_fc: ['up'],
    c_proj: ['o', 'down'],
  };
  if (bare[module]) return bare[module];
  const m = (Object.keys(GPT2_NAMES) as Gpt2Module[]).find((k) => GPT2_NAMES[k].hf === module);
  return m === undefined ? null : m === 'qkv' ? GPT2_QKV.slice() : [m];
}

/** The GPT-2 module of a target (q, k and v: the fused qkv). */
function gpt2Module(t: LoraTarget): Gpt2Module {
  if (t === 'gate') throw new Error('LoRA: target "gate" needs a gated MLP; GPT-2\'s is not gated');
  return t === 'q' || t === 'k' || t === 'v' ? 'qkv' : t;
}

/** The target_modules PEFT is given for `targets` (GPT-2: the qualified HF names, c_attn once). */
export function peftModules(targets: readonly LoraTarget[], family: LoraFamily = 'llama'): string[] {
  if (family === 'llama') return targets.map((t) => PEFT_MODULE[t]);
  return [...new Set(targets.map((t) => GPT2_NAMES[gpt2Module(t)].hf))];
}

/** The family of a decoder arch's module names. */
export function loraFamily(arch: string): LoraFamily {
  return arch === 'gpt2' ? 'gpt2' : 'llama';
}

export interface LoraConfig {
  /** Rank of the update. */
  r: number;
  /** The update is scaled by alpha / r (PEFT's lora_alpha); alpha = 2r is the common choice. */
  alpha: number;
  /** Dropout on the adapter's input while training (PEFT's lora_dropout). */
  dropout: number;
  targets: LoraTarget[];
}

/** The defaults of `--lora` when a field is left out (r 16, alpha 32 and q,k,v,o as in most recipes). */
export const LORA_DEFAULTS: LoraConfig = { r: 16, alpha: 32, dropout: 0.05, targets: ['q', 'k', 'v', 'o'] };

/**
 * Parses `r=16,alpha=32,dropout=0.05,targets=q,k,v,o` (fields in any order, each optional; the
 * values after `targets=` run to the next `key=`). `where` names the source in errors (`--lora`).
 */
export function parseLoraSpec(spec: string, where = '--lora'): LoraConfig {
  const out: LoraConfig = { ...LORA_DEFAULTS, targets: [...LORA_DEFAULTS.targets] };
  let key: string | null = null;
  const targets: string[] = [];
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const value = eq >= 0 ? part.slice(eq + 1) : part;
    if (eq >= 0) key = part.slice(0, eq).trim();
    else if (key !== 'targets') throw new Error(`${where}: expected key=value, got "${part}" (in "${spec}")`);
    const num = Number(value);
    if (key === 'r') {
      if (!Number.isInteger(num) || num < 1)
        throw new Error(`${where}: r must be a positive integer, got "${value}"`);
      out.r = num;
    } else if (key === 'alpha') {
      if (!(num > 0)) throw new Error(`${where}: alpha must be a number > 0, got "${value}"`);
      out.alpha = num;
    } else if (key === 'dropout') {
      if (!(value.trim() !== '' && num >= 0 && num < 1))
        throw new Error(`${where}: dropout must be in [0, 1), got "${value}"`);
      out.dropout = num;
    } else if (key === 'targets') targets.push(value.trim());
    else throw new Error(`${where}: unknown field "${key}" (expected r, alpha, dropout, targets)`);
  }
  if (targets.length > 0) {
    for (const t of targets)
      if (!(LORA_TARGETS as readonly string[]).includes(t))
        throw new Error(`${where}: unknown target "${t}" (expected some of ${LORA_TARGETS.join(', ')})`);
    out.targets = [...new Set(targets)] as LoraTarget[];
  }
  return out;
}

/**
 * One adapter's place: the Linears it rides on, by canonical module name, whose outputs it stacks
 * in that order (one Linear, except GPT-2's q, k, v).
 */
interface Site {
  name: string;
  parts: { name: string; linear: Linear }[];
}

/** The sites of the targets in each layer, layer by layer, each layer's in the order of `targets`. */
function targetSites(model: DecoderLM, targets: readonly LoraTarget[]): Site[] {
  const family = loraFamily(model.config.arch);
  const out: Site[] = [];
  if (family === 'gpt2') {
    const qkv = targets.filter((t) => GPT2_QKV.includes(t));
    if (qkv.length > 0 && qkv.length < 3)
      throw new Error(
        `LoRA: GPT-2 fuses q, k, v into c_attn, which PEFT adapts as one module: target q,k,v together (got ${qkv.join(',')})`,
      );
    const mods = [...new Set(targets.map(gpt2Module))];
    model.layers.forEach((block, i) => {
      const at = block.attention;
      const mlp = block.feedForward;
      // c_attn's output rows: q's, k's, v's (io/weight_names.ts)
      const qkvParts = (['wq', 'wk', 'wv'] as const).map((n) => ({
        name: `layers.${i}.attention.${n}`,
        linear: at[n],
      }));
      for (const m of mods) {
        const name = `layers.${i}.${GPT2_NAMES[m].canon}`;
        const parts = m === 'qkv' ? qkvParts : [{ name, linear: { o: at.wo, up: mlp.w1, down: mlp.w2 }[m] }];
        out.push({ name, parts });
      }
    });
    return out;
  }
  model.layers.forEach((block, i) => {
    const mlp = block.feedForward;
    for (const t of targets) {
      if ((t === 'gate' || t === 'up') && !mlp.w3)
        throw new Error(`LoRA: target "${t}" needs a gated MLP; this model's is ${mlp.type}`);
      const lin: Linear | null = {
        q: block.attention.wq,
        k: block.attention.wk,
        v: block.attention.wv,
        o: block.attention.wo,
        gate: mlp.w1,
        up: mlp.w3,
        down: mlp.w2,
      }[t];
      const name = `layers.${i}.${TARGET_NAMES[t].canon}`;
      if (lin) out.push({ name, parts: [{ name, linear: lin }] });
    }
  });
  return out;
}

/**
 * The adapters of one model: a module whose parameters are exactly the trained ones, named
 * `layers.N.attention.wq.lora_A.weight` etc. (the canonical module + PEFT's suffix).
 */
export class LoraAdapters extends Module {
  /**
   * Each adapted Linear, by canonical module name, with its adapter and what it adds (the adapter,
   * or its rows of one spanning several Linears: GPT-2's wq, wk, wv share `attention.wqkv`).
   */
  readonly entries = new Map<string, { linear: Linear; adapter: LoraAdapter; update: LoraUpdate }>();

  constructor(
    readonly config: LoraConfig,
    readonly family: LoraFamily = 'llama',
  ) {
    super();
  }

  add(name: string, linear: Linear, adapter: LoraAdapter): void {
    this.child(name, adapter);
    this.entries.set(name, { linear, adapter, update: adapter });
  }

  /** One adapter named `name` over `parts`, whose outputs it stacks in order (B's rows). */
  addSpanning(name: string, parts: readonly { name: string; linear: Linear }[], adapter: LoraAdapter): void {
    this.child(name, adapter);
    let row = 0;
    for (const { name: part, linear } of parts) {
      const rows = [row, row + linear.outFeatures] as const;
      this.entries.set(part, { linear, adapter, update: new LoraRows(adapter, rows) });
      row += linear.outFeatures;
    }
    if (row !== adapter.b.shape[0])
      throw new Error(`LoRA: ${name} has ${adapter.b.shape[0]} outputs, its layers ${row}`);
  }

  /** Takes the adapters off their layers (the base model as it was); attach() puts them back. */
  detach(): void {
    for (const { linear } of this.entries.values()) linear.lora = null;
  }

  attach(): void {
    for (const { linear, update } of this.entries.values()) linear.lora = update;
  }

  /** Runs `f` on the base model alone (DPO's reference), then reattaches. */
  withoutAdapters<T>(f: () => T): T {
    this.detach();
    try {
      return f();
    } finally {
      this.attach();
    }
  }
}

/**
 * Freezes every parameter of `model` (no gradient, so no optimizer state) and attaches fresh
 * adapters (A Kaiming-uniform from `seed`, B zero) to the target layers. Dropout draws from the
 * model's dropout RNG while model.training is on. Returns the adapters: train adapters.parameters().
 */
export function applyLora(model: DecoderLM, config: LoraConfig, seed = 0): LoraAdapters {
  const sites = targetSites(model, config.targets);
  for (const p of model.parameters()) if (p.dtype === 'f32') p.requiresGrad = false;
  const rng = new Rng(seed);
  const drop = { p: config.dropout, rng: model.dropRng, training: () => model.training };
  const adapters = new LoraAdapters(config, loraFamily(model.config.arch));
  for (const { name, parts } of sites) {
    for (const p of parts) if (p.linear.lora) throw new Error(`LoRA: ${p.name} already has an adapter`);
    const lin = parts[0]!.linear;
    const out = parts.reduce((n, p) => n + p.linear.outFeatures, 0);
    const adapter = new LoraAdapter(lin.inFeatures, out, config.r, config.alpha, drop, rng);
    if (parts.length === 1) adapters.add(name, lin, adapter);
    else adapters.addSpanning(name, parts, adapter);
  }
  adapters.nameParameters();
  adapters.attach();
  return adapters;
}

/**
 * Folds each adapter into its base weight, W += (alpha / r) B A, and takes the adapters off: the
 * model then computes what base + adapter did, with no adapter. The weights must be f32 (load the
 * base with --dtype f32; a quantized base would need requantizing, which this does not do).
 */
export function mergeLora(adapters: LoraAdapters): void {
  for (const [name, { linear, adapter, update }] of adapters.entries) {
    const w = linear.weight;
    if (w.dtype !== 'f32') throw new Error(`LoRA merge: ${name}.weight is ${w.dtype}; load the base in f32`);
    noGrad(() =>
      tidy(() => {
        // this Linear's rows of B when the adapter spans several
        const b =
          update instanceof LoraRows ? slice(adapter.b, 0, update.rows[0], update.rows[1]) : adapter.b;
        const merged = add(w, scale(matmul(b, adapter.a), adapter.scaling)); // [out, r] @ [r, in]
        w.data.set(merged.data);
      }),
    );
  }
  adapters.detach();
}

/** PEFT's tensor name for adapter parameter `name` (`layers.0.attention.wq.lora_A.weight`). */
export function peftName(name: string, family: LoraFamily = 'llama'): string {
  const m = /^layers\.(\d+)\.(.+)\.(lora_[AB]\.weight)$/.exec(name);
  if (family === 'gpt2') {
    const g = m && Object.values(GPT2_NAMES).find((k) => k.canon === m[2]);
    if (!m || !g) throw new Error(`LoRA: ${name} is not a GPT-2 adapter tensor name`);
    return `base_model.model.transformer.h.${m[1]}.${g.hf}.${m[3]}`;
  }
  const t = m && LORA_TARGETS.find((k) => TARGET_NAMES[k].canon === m[2]);
  if (!m || !t) throw new Error(`LoRA: ${name} is not an adapter tensor name`);
  return `base_model.model.model.layers.${m[1]}.${TARGET_NAMES[t].hf}.${m[3]}`;
}

/** The inverse of peftName, or null for a name that is not one. */
export function fromPeftName(name: string, family: LoraFamily = 'llama'): string | null {
  if (family === 'gpt2') {
    const m = /^base_model\.model\.transformer\.h\.(\d+)\.(.+)\.(lora_[AB])(?:\.default)?\.weight$/.exec(
      name,
    );
    const g = m && Object.values(GPT2_NAMES).find((k) => k.hf === m[2]);
    return m && g ? `layers.${m[1]}.${g.canon}.${m[3]}.weight` : null;
  }
  const m = /^base_model\.model\.model\.layers\.(\d+)\.(.+)\.(lora_[AB])(?:\.default)?\.weight$/.exec(name);
  const t = m && LORA_TARGETS.find((k) => TARGET_NAMES[k].hf === m[2]);
  return m && t ? `layers.${m[1]}.${TARGET_NAMES[t].canon}.${m[3]}.weight` : null;
}
