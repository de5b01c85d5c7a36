/** Test helpers for memory-mapped files: a full garbage collection, and the mappings of a file. */
import { existsSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Collects garbage until finalizers have had their turn (an external ArrayBuffer is freed, and its
 * mapping unmapped, in a pass after the one that finds it unreachable). Works in a test runner
 * started without --expose-gc.
 */
export async function collect(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/** How many mappings of `path` this process holds (from /proc/self/maps; -1 without /proc). */
export function mappingsOf(path: string): number {
  if (!existsSync('/proc/self/maps')) return -1;
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${path}`)).length;
}
