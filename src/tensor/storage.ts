/**
 * Float32 buffers with explicit ownership. A Storage is reference-counted (views share it);
 * when the last reference is released its buffer returns to a pool keyed by length, so a training
 * loop that allocates the same activations every step reuses them instead of growing the heap.
 */
const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
/** Above this many pooled bytes, released buffers are left to the garbage collector. */
const POOL_LIMIT_BYTES = 2 * 1024 ** 3;

export class Storage {
  data: Float32Array;
  private refs = 1;

  private constructor(data: Float32Array) {
    this.data = data;
  }

  /** A buffer of n floats; zeroed when `zero` (pooled buffers hold stale values otherwise). */
  static alloc(n: number, zero = true): Storage {
    const list = pool.get(n);
    const reused = list?.pop();
    if (reused) {
      pooledBytes -= reused.byteLength;
      if (zero) reused.fill(0);
      return new Storage(reused);
    }
    return new Storage(new Float32Array(n));
  }

  /** Wraps caller-owned data (never pooled twice: the caller gives it up). */
  static wrap(data: Float32Array): Storage {
    return new Storage(data);
  }

  retain(): this {
    this.refs++;
    return this;
  }

  /** Drops one reference; the last one returns the buffer to the pool (unless `toPool` is false). */
  release(toPool = true): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs > 0) return;
    const d = this.data;
    // Only whole buffers are pooled (a wrapped subarray might be part of someone else's memory).
    if (
      toPool &&
      d.byteOffset === 0 &&
      d.length === d.buffer.byteLength / 4 &&
      pooledBytes + d.byteLength <= POOL_LIMIT_BYTES
    ) {
      let list = pool.get(d.length);
      if (!list) {
        list = [];
        pool.set(d.length, list);
      }
      list.push(d);
      pooledBytes += d.byteLength;
    }
    this.data = new Float32Array(0);
  }

  get released(): boolean {
    return this.refs <= 0;
  }
}

/** Bytes currently held in the pool (for memory tests and benchmarks). */
export function pooledMemory(): number {
  return pooledBytes;
}

/** Empties the pool, handing every buffer to the garbage collector. */
export function clearPool(): void {
  pool.clear();
  pooledBytes = 0;
}
