/**
 * SFT batches grouped by length: each epoch the examples are shuffled, cut into pools of
 * `poolBatches` batches, each pool sorted by length and cut into batches, and the batches
 * shuffled. Padding then costs a few percent instead of the ~2x of random batches (QA prompts
 * range from 60 to 512 tokens), which is what makes the recipe fit its time budget on two cores.
 * Padding is right-padding with masked targets, as in sft.ts (`pad`).
 */
import type { JsonValue } from '../io/files.ts';
import { Rng } from '../tensor/random.ts';
import { type Batch, shuffle } from '../train/data.ts';
import type { BatchSource } from '../train/loop.ts';
import { pad, type SftExample } from '../train/sft.ts';

export class LengthGroupedBatches implements BatchSource {
  private readonly rng: Rng;
  private queue: number[][] = [];
  /** The RNG before the current epoch's refill (the epoch is redrawn from it on resume). */
  private epochRng: number[];
  private epochBatches = 0;

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
    this.epochRng = this.rng.getState();
  }

  private refill(): void {
    this.epochRng = this.rng.getState();
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
    this.epochBatches = batches.length;
  }

  next(): Batch {
    if (this.queue.length === 0) this.refill();
    const idx = this.queue.pop() as number[];
    return pad(
      idx.map((i) => this.examples[i]),
      this.maxLen,
    );
  }

  /** The epoch's RNG and how many of its batches were used. */
  state(): { rng: number[]; used: number } {
    return { rng: this.epochRng, used: this.epochBatches - this.queue.length };
  }

  setState(s: JsonValue): void {
    const st = s as { rng: number[]; used: number };
    this.rng.setState(st.rng);
    this.refill();
    this.queue.length -= st.used;
  }

  evalBatches(): Batch[] {
    const sorted = [...this.heldOut].sort((a, b) => a.ids.length - b.ids.length);
    const out: Batch[] = [];
    for (let i = 0; i < sorted.length; i += this.B) out.push(pad(sorted.slice(i, i + this.B), this.maxLen));
    return out;
  }

  /** Mean tokens per batch including padding, over one epoch's batches (for the step budget). */
  meanBatchTokens(): number {
    const saved = {
      rng: this.rng.getState(),
      epochRng: this.epochRng,
      n: this.epochBatches,
      queue: this.queue,
    };
    this.refill();
    const batches = this.queue;
    this.rng.setState(saved.rng);
    this.epochRng = saved.epochRng;
    this.epochBatches = saved.n;
    this.queue = saved.queue;
    let total = 0;
    for (const b of batches)
      total += b.length * Math.min(this.maxLen, Math.max(...b.map((i) => this.examples[i].ids.length)));
    return total / batches.length;
  }
}
