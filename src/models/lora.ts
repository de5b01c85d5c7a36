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
 * ([out, r]). GPT-2 (fused c_attn, Conv1D) and BERT are not handled: their PEFT names differ.
 */
import type { Linear } from '../nn/linear.ts';
import { LoraAdapter } from '../nn/lora.ts';
import { Module } from '../nn/module.ts';
import { add, matmul, noGrad, Rng, scale, tidy } from '../tensor/index.ts';
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

/** The Linear of each target in each layer, by canonical module name (`layers.0.attention.wq`). */
function targetLinears(model: DecoderLM, targets: readonly LoraTarget[]): Map<string, Linear> {
  const arch = model.config.arch;
  if (arch === 'gpt2' || arch === 'bert')
    throw new Error(
      `LoRA: ${arch} models are not supported (their PEFT names differ); use a Llama-family model`,
    );
  const out = new Map<string, Linear>();
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
      if (lin) out.set(`layers.${i}.${TARGET_NAMES[t].canon}`, lin);
    }
  });
  return out;
}

/**
 * The adapters of one model: a module whose parameters are exactly the trained ones, named
 * `layers.N.attention.wq.lora_A.weight` etc. (the canonical module + PEFT's suffix).
 */
export class LoraAdapters extends Module {
  /** Each adapter with the Linear it rides on, by canonical module name. */
  readonly entries = new Map<string, { linear: Linear; adapter: LoraAdapter }>();

  constructor(readonly config: LoraConfig) {
    super();
  }

  add(name: string, linear: Linear, adapter: LoraAdapter): void {
    this.child(name, adapter);
    this.entries.set(name, { linear, adapter });
  }

  /** Takes the adapters off their layers (the base model as it was); attach() puts them back. */
  detach(): void {
    for (const { linear } of this.entries.values()) linear.lora = null;
  }

  attach(): void {
    for (const { linear, adapter } of this.entries.values()) linear.lora = adapter;
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
  const linears = targetLinears(model, config.targets);
  for (const p of model.parameters()) if (p.dtype === 'f32') p.requiresGrad = false;
  const rng = new Rng(seed);
  const drop = { p: config.dropout, rng: model.dropRng, training: () => model.training };
  const adapters = new LoraAdapters(config);
  for (const [name, lin] of linears) {
    if (lin.lora) throw new Error(`LoRA: ${name} already has an adapter`);
    adapters.add(
      name,
      lin,
      new LoraAdapter(lin.inFeatures, lin.outFeatures, config.r, config.alpha, drop, rng),
    );
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
  for (const [name, { linear, adapter }] of adapters.entries) {
    const w = linear.weight;
    if (w.dtype !== 'f32') throw new Error(`LoRA merge: ${name}.weight is ${w.dtype}; load the base in f32`);
    noGrad(() =>
      tidy(() => {
        const merged = add(w, scale(matmul(adapter.b, adapter.a), adapter.scaling)); // [out, r] @ [r, in]
        w.data.set(merged.data);
      }),
    );
  }
  adapters.detach();
}

/** PEFT's tensor name for adapter parameter `name` (`layers.0.attention.wq.lora_A.weight`). */
export function peftName(name: string): string {
  const m = /^layers\.(\d+)\.(.+)\.(lora_[AB]\.weight)$/.exec(name);
  const t = m && LORA_TARGETS.find((k) => TARGET_NAMES[k].canon === m[2]);
  if (!m || !t) throw new Error(`LoRA: ${name} is not an adapter tensor name`);
  return `base_model.model.model.layers.${m[1]}.${TARGET_NAMES[t].hf}.${m[3]}`;
}

/** The inverse of peftName, or null for a name that is not one. */
export function fromPeftName(name: string): string | null {
  const m = /^base_model\.model\.model\.layers\.(\d+)\.(.+)\.(lora_[AB])(?:\.default)?\.weight$/.exec(name);
  const t = m && LORA_TARGETS.find((k) => TARGET_NAMES[k].hf === m[2]);
  return m && t ? `layers.${m[1]}.${TARGET_NAMES[t].canon}.${m[3]}.weight` : null;
}
