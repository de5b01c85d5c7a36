// Loaded into the server process of `npm run bench -- soak` (node --expose-gc --import), never by
// xfmr itself: on SIGUSR2 it runs a full garbage collection and writes process.memoryUsage(), with a
// sequence number, to the file XFMR_SOAK_PROBE names (tmp + rename, so the bench never reads half a
// file). xfmr serve has no debug endpoint; this lets the bench read the heap, and RSS once the
// garbage of the load is gone, at its quiet checkpoints. Two collections 100 ms apart: array
// buffers that the first finds dead are freed by V8's sweeper after it, and a 5 MiB request body
// counted at one checkpoint and not the next is noise, not memory kept.
import { renameSync, writeFileSync } from 'node:fs';

const out = process.env.XFMR_SOAK_PROBE;
let seq = 0;
if (out) {
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    setTimeout(() => {
      globalThis.gc?.();
      const m = process.memoryUsage();
      writeFileSync(
        `${out}.tmp`,
        JSON.stringify({ seq: ++seq, gc: typeof globalThis.gc === 'function', ...m }),
      );
      renameSync(`${out}.tmp`, out);
    }, 100);
  });
}
