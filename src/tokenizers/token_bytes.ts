/**
 * The vocabulary of a byte-level tokenizer: token id <-> the token's bytes.
 *
 * id -> bytes: one pool, token `id` at pool[starts[id] .. starts[id + 1]) (an unused id has an empty
 * span). bytes -> id: open addressing over the pool (slots hold id + 1, 0 = empty), FNV-1a hashed, so
 * that any span of any buffer is looked up without copying it:
 *
 *   const tokens = new TokenBytes([utf8('a'), utf8('b'), utf8('ab')]);
 *   tokens.lookup(utf8('xab'), 1, 3);  // 2
 *   tokens.lookup(utf8('ba'), 0, 2);   // -1
 *
 * Two ids with the same bytes (possible in a hand-made vocabulary, never in tiktoken's): `lookup`
 * finds the smaller.
 */

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

/** The smallest power of two >= max(n, 16). */
export function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

export class TokenBytes {
  /** Token bytes: pool[starts[id] .. starts[id + 1]]. */
  readonly pool: Uint8Array;
  readonly starts: Int32Array;
  /** Number of ids in the table (the largest + 1). */
  readonly size: number;
  /** The id of each single byte (-1 if the vocabulary lacks it). */
  readonly byteIds = new Int32Array(256).fill(-1);
  private readonly slots: Int32Array;
  private readonly slotMask: number;

  /** @param vocab token bytes by id; `undefined` (or empty) marks an unused id */
  constructor(vocab: ReadonlyArray<Uint8Array | undefined>) {
    this.size = vocab.length;
    let total = 0;
    for (const t of vocab) total += t ? t.length : 0;
    this.pool = new Uint8Array(total);
    this.starts = new Int32Array(vocab.length + 1);
    const cap = pow2AtLeast(vocab.length * 2);
    this.slots = new Int32Array(cap);
    this.slotMask = cap - 1;
    let at = 0;
    for (let id = 0; id < vocab.length; id++) {
      this.starts[id] = at;
      const t = vocab[id];
      if (!t || t.length === 0) continue;
      this.pool.set(t, at);
      at += t.length;
      this.insert(id, at - t.length, at);
      if (t.length === 1 && this.byteIds[t[0]] < 0) this.byteIds[t[0]] = id;
    }
    this.starts[vocab.length] = at;
  }

  private insert(id: number, start: number, end: number): void {
    let s = hashBytes(this.pool, start, end) & this.slotMask;
    while (this.slots[s] !== 0) {
      if (this.sameBytes(this.slots[s] - 1, start, end)) return; // the same bytes again: the first id wins
      s = (s + 1) & this.slotMask;
    }
    this.slots[s] = id + 1;
  }

  /** Whether token id has the bytes pool[start..end). */
  private sameBytes(id: number, start: number, end: number): boolean {
    const a = this.starts[id];
    const len = end - start;
    if (this.starts[id + 1] - a !== len) return false;
    for (let k = 0; k < len; k++) if (this.pool[a + k] !== this.pool[start + k]) return false;
    return true;
  }

  /** The id of the token with bytes buf[start..end), or -1. */
  lookup(buf: Uint8Array, start: number, end: number): number {
    const slots = this.slots;
    const starts = this.starts;
    const pool = this.pool;
    const len = end - start;
    let s = hashBytes(buf, start, end) & this.slotMask;
    for (;;) {
      const v = slots[s];
      if (v === 0) return -1;
      const id = v - 1;
      const a = starts[id];
      if (starts[id + 1] - a === len) {
        let k = 0;
        while (k < len && pool[a + k] === buf[start + k]) k++;
        if (k === len) return id;
      }
      s = (s + 1) & this.slotMask;
    }
  }

  /** Byte length of token id (-1 for an id outside the table, 0 for an unused one). */
  length(id: number): number {
    return id >= 0 && id < this.size ? this.starts[id + 1] - this.starts[id] : -1;
  }

  /** The bytes of token id, a view into the pool (empty for an unused or unknown id). */
  bytes(id: number): Uint8Array {
    if (id < 0 || id >= this.size) return this.pool.subarray(0, 0);
    return this.pool.subarray(this.starts[id], this.starts[id + 1]);
  }
}
