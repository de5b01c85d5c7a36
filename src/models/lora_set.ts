/**
 * Several LoRA adapters on one base model, one active at a time (the others detached): what
 * `xfmr serve --lora NAME=DIR` keeps in memory, one base and each adapter's A and B, as vLLM's
 * multi-LoRA serving does. Switching is cheap (it sets each target Linear's `lora`) and exact: the
 * model with `use(name)` computes what the base with that one adapter loaded computes.
 */
import type { DecoderLM } from './decoder.ts';
import { loadLoraAdapter } from './load_lora.ts';
import type { LoraAdapters } from './lora.ts';

export class LoraSet {
  private readonly sets = new Map<string, LoraAdapters>();
  private current: string | null = null;

  constructor(readonly model: DecoderLM) {}

  /** Loads the PEFT adapter directory `dir` under `name`; the base stays the active model. */
  load(name: string, dir: string): void {
    if (this.sets.has(name)) throw new Error(`LoRA: two adapters named "${name}"`);
    this.use(null);
    const adapters = loadLoraAdapter(dir, this.model);
    adapters.detach();
    this.sets.set(name, adapters);
  }

  get names(): string[] {
    return [...this.sets.keys()];
  }

  has(name: string): boolean {
    return this.sets.has(name);
  }

  /** The active adapter's name, null for the base alone. */
  get active(): string | null {
    return this.current;
  }

  /** Makes `name`'s adapters the model's (null: the base alone), taking any others off. */
  use(name: string | null): void {
    if (name === this.current) return;
    const next = name === null ? null : this.sets.get(name);
    if (next === undefined) throw new Error(`LoRA: no adapter named "${name}"`);
    if (this.current !== null) this.sets.get(this.current)?.detach();
    next?.attach();
    this.current = name;
  }
}
