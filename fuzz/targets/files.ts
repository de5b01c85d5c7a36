/** Scratch files for the file-format targets: one temp folder per process, in RAM where Linux has /dev/shm. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | null = null;

export function scratchDir(): string {
  if (dir === null) dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'xfmr-fuzz-'));
  return dir;
}

/** Writes `bytes` as `name` in the scratch folder; returns the path. */
export function scratchFile(name: string, bytes: Uint8Array | string): string {
  const p = join(scratchDir(), name);
  writeFileSync(p, bytes);
  return p;
}

export function removeScratch(): void {
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  dir = null;
}

/** Mutations of a valid byte string: flips, overwrites with extreme little-endian integers, cuts. */
export interface ByteEdit {
  at: number;
  kind: 'flip' | 'u32max' | 'u64big' | 'zero' | 'cut' | 'byte';
  value: number;
}

export function applyEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const e of edits) {
    if (b.length === 0) break;
    const at = e.at % b.length;
    const dv = new DataView(b.buffer);
    switch (e.kind) {
      case 'flip':
        b[at] ^= 1 << (e.value & 7);
        break;
      case 'byte':
        b[at] = e.value & 255;
        break;
      case 'zero':
        b.fill(0, at, at + 8);
        break;
      case 'u32max':
        if (at + 4 <= b.length) dv.setUint32(at, 0xffffffff - (e.value & 3), true);
        break;
      case 'u64big':
        if (at + 8 <= b.length) dv.setBigUint64(at, BigInt(e.value) << 32n, true);
        break;
      case 'cut':
        b = b.slice(0, at);
        break;
    }
  }
  return b;
}
