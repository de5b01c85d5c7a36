/**
 * Tiny CausalLM fakes for the generation tests: the logits after a prefix are any function of the
 * whole prefix. The cache keeps the tokens of each sequence, checks its capacity, and every call
 * is recorded (how many tokens each sequence was fed) so tests can see prefill and decode steps.
 */
import type { CausalLM, KVCache } from '../../src/models/causal_lm.ts';
import { Rng } from '../../src/tensor/random.ts';

export class FakeCache implements KVCache {
  readonly lengths: Int32Array;
  readonly bytes = 0;
  readonly tokens: number[][];
  disposed = false;
  constructor(
    readonly batch: number,
    readonly maxLen: number,
  ) {
    this.lengths = new Int32Array(batch);
    this.tokens = Array.from({ length: batch }, () => []);
  }
  reset(b: number): void {
    this.tokens[b] = [];
    this.lengths[b] = 0;
  }
  copy(from: number, to: number): void {
    this.tokens[to] = [...this.tokens[from]];
    this.lengths[to] = this.lengths[from];
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeLM implements CausalLM {
  /** Per extend call: how many tokens each sequence was fed. */
  readonly calls: number[][] = [];
  /** Every cache handed out, so tests can see that each was disposed. */
  readonly caches: FakeCache[] = [];
  constructor(
    readonly vocabSize: number,
    readonly contextLength: number,
    private readonly next: (prefix: readonly number[]) => Float32Array,
  ) {}

  createCache(batch: number, maxLen: number): FakeCache {
    if (maxLen > this.contextLength) throw new Error(`cache of ${maxLen} exceeds the context`);
    const cache = new FakeCache(batch, maxLen);
    this.caches.push(cache);
    return cache;
  }

  extend(tokens: readonly Int32Array[], cache: KVCache): (Float32Array | null)[] {
    const c = cache as FakeCache;
    if (tokens.length !== c.batch) throw new Error('extend: wrong batch');
    this.calls.push(tokens.map((t) => t.length));
    return tokens.map((t, b) => {
      if (t.length === 0) return null;
      for (const id of t) {
        if (id < 0 || id >= this.vocabSize) throw new Error(`extend: bad token ${id}`);
        c.tokens[b].push(id);
      }
      c.lengths[b] = c.tokens[b].length;
      if (c.lengths[b] > c.maxLen) throw new Error(`extend: sequence ${b} overflows its cache`);
      return this.next(c.tokens[b]);
    });
  }
}

/** FNV-1a over the ids. */
export function hashIds(ids: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const id of ids) h = Math.imul(h ^ id, 0x01000193) >>> 0;
  return h;
}

/** Pseudo-random logits (std `scale`) determined by the whole prefix. */
export function hashLogits(V: number, scale = 2): (prefix: readonly number[]) => Float32Array {
  return (prefix) => {
    const rng = new Rng(hashIds(prefix));
    return Float32Array.from({ length: V }, () => scale * rng.normal());
  };
}

/** Logits that make `target(prefix)` the clear argmax (20 nats above every other token). */
export function oneHot(V: number, target: (prefix: readonly number[]) => number) {
  return (prefix: readonly number[]): Float32Array => {
    const l = new Float32Array(V);
    l[target(prefix)] = 20;
    return l;
  };
}

/** A byte-level vocabulary: token i < 256 is byte i; extra ids (EOS...) have no bytes. */
export function byteTokens(extra = 1): Uint8Array[] {
  return Array.from({ length: 256 + extra }, (_, i) => (i < 256 ? Uint8Array.of(i) : new Uint8Array(0)));
}

/** A lone surrogate or a replacement character: signs of a character cut in two. */
export function isBroken(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\uFFFD/.test(s);
}
