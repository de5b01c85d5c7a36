/**
 * The piece -> ids cache of the BPE encoder, keyed by a span of the input string, so that a lookup
 * creates no string: most pieces of real text repeat ("the", " of", ".\n"), and a hit skips UTF-8
 * encoding and the merge loop entirely.
 *
 * Open addressing with linear probing over one Int32Array of 4-int records
 * [hash, key start, key length (0 = empty), value]; key characters live in a Uint16Array pool. A value
 * >= 0 is a single id; a value v < 0 points at `multi[-v - 1]` = [count, id, id, ...]. When the table
 * is half full or a pool is exhausted, everything is dropped (cheaper than LRU bookkeeping, and the
 * working set of a text refills it at once).
 */
export const MISS = -1;

export class PieceCache {
  private table: Int32Array;
  private mask: number;
  private keys: Uint16Array;
  private keyUsed = 0;
  private multi: Int32Array;
  private multiUsed = 0;
  private used = 0;
  private readonly maxEntries: number;

  /** `capacity`: entries kept before the cache is cleared (rounded up to a power of two). */
  constructor(capacity: number) {
    let slots = 64;
    while (slots < capacity * 2) slots *= 2;
    this.table = new Int32Array(slots * 4);
    this.mask = slots - 1;
    this.maxEntries = slots >> 1;
    this.keys = new Uint16Array(slots * 4);
    this.multi = new Int32Array(slots * 2);
  }

  get size(): number {
    return this.used;
  }

  clear(): void {
    this.table.fill(0);
    this.keyUsed = 0;
    this.multiUsed = 0;
    this.used = 0;
  }

  /** FNV-1a over the UTF-16 units of text[start..end). */
  static hash(text: string, start: number, end: number): number {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h ^ (h >>> 15);
  }

  /** The value for text[start..end): MISS, a single id (>= 0), or a negative handle for `copyIds`. */
  get(text: string, start: number, end: number, h: number): number {
    const table = this.table;
    const keys = this.keys;
    const len = end - start;
    let s = h & this.mask;
    for (;;) {
      const r = s << 2;
      const klen = table[r + 2];
      if (klen === 0) return MISS;
      if (table[r] === h && klen === len) {
        const ks = table[r + 1];
        let k = 0;
        while (k < len && keys[ks + k] === text.charCodeAt(start + k)) k++;
        if (k === len) return table[r + 3];
      }
      s = (s + 1) & this.mask;
    }
  }

  /** Appends the ids of a multi-id handle to out. */
  copyIds(handle: number, out: number[]): void {
    const multi = this.multi;
    const at = -handle - 1;
    const n = multi[at];
    for (let k = 1; k <= n; k++) out.push(multi[at + k]);
  }

  /** Caches ids[from..] for text[start..end). */
  set(text: string, start: number, end: number, h: number, ids: number[], from: number): void {
    const len = end - start;
    const n = ids.length - from;
    if (n === 0) return;
    if (
      this.used >= this.maxEntries ||
      this.keyUsed + len > this.keys.length ||
      this.multiUsed + n + 1 > this.multi.length
    )
      this.clear();
    if (len > this.keys.length || n + 1 > this.multi.length) return;
    let value: number;
    if (n === 1) value = ids[from];
    else {
      value = -this.multiUsed - 1;
      this.multi[this.multiUsed++] = n;
      for (let k = from; k < ids.length; k++) this.multi[this.multiUsed++] = ids[k];
    }
    const ks = this.keyUsed;
    for (let k = 0; k < len; k++) this.keys[ks + k] = text.charCodeAt(start + k);
    this.keyUsed += len;
    const table = this.table;
    let s = h & this.mask;
    while (table[(s << 2) + 2] !== 0) s = (s + 1) & this.mask;
    const r = s << 2;
    table[r] = h;
    table[r + 1] = ks;
    table[r + 2] = len;
    table[r + 3] = value;
    this.used++;
  }
}
