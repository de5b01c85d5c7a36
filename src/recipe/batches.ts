/**
 * SFT batches grouped by length: each epoch the examples are shuffled, cut into pools of
 * `poolBatches` batches, each pool sorted by length and cut into batches, and the batches
 * shuffled. Padding then costs a few percent instead of the ~2x of random batches (QA prompts
 * range from 60 to 512 tokens), which is what makes the recipe fit its time budget on two cores.
 * Padding is right-padding with masked targets, as in sft.ts (`pad`).
 */
import { Rng } from '../tensor/random.ts';
import type { Batch } from '../train/data.ts';
import type { BatchSource } from '../train/loop.ts';
import { pad, type SftExample } from '../train/sft.ts';
import { shuffle } from './entities.ts';

export class LengthGroupedBatches implements BatchSource {
  readonly rng: Rng;
  private queue: number[][] = [];

  constructor(
    readonly examples: readonly SftExample[],
    readonly B: number,
    readonly maxLen: number,
    seed: number,
    readonly heldOut: readonly SftExample[] = [],
    readonly poolBatches = 64,
  ) {
    if (examples.length < B) throw new Error(`SFT: ${examples.length} examples, fewer than a batch of ${B}`);
    this.rng = new Rng(seed);
  }

  private refill(): void {
    const order = shuffle(
      Array.from({ length: this.examples.length }, (_, i) => i),
      this.rng,
    );
    const batches: number[][] = [];
    const pool = this.B * this.poolBatches;
    for (let p = 0; p < order.length; p += pool) {
      const part = order
        .slice(p, p + pool)
        .sort((a, b) => this.examples[a].ids.length - this.examples[b].ids.length);
      for (let i = 0; i + this.B <= part.length; i += this.B) batches.push(part.slice(i, i + this.B));
    }
    this.queue = shuffle(batches, this.rng);
  }

  next(): Batch {
    if (this.queue.length === 0) this.refill();
    const idx = this.queue.pop() as number[];
    return pad(
      idx.map((i) => this.examples[i]),
      this.maxLen,
    );
  }

  evalBatches(): Batch[] {
    const sorted = [...this.heldOut].sort((a, b) => a.ids.length - b.ids.length);
    const out: Batch[] = [];
    for (let i = 0; i < sorted.length; i += this.B) out.push(pad(sorted.slice(i, i + this.B), this.maxLen));
    return out;
  }

  /** Mean tokens per batch including padding, over one epoch's batches (for the step budget). */
  meanBatchTokens(): number {
    const saved = this.rng.getState();
    this.refill();
    const batches = this.queue;
    this.queue = [];
    this.rng.setState(saved);
    let total = 0;
    for (const b of batches)
      total += b.length * Math.min(this.maxLen, Math.max(...b.map((i) => this.examples[i].ids.length)));
    return total / batches.length;
  }
}
