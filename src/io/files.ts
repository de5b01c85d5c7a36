/**
 * Low-level file helpers shared by every reader and writer in `src/io/`: atomic writes, exact
 * positioned reads and writes that never pass more than 1 GiB to one syscall (Node refuses
 * buffers over 2 GiB in a single `readSync`/`writeSync`), and JSON files with errors that name
 * the file.
 *
 * Everything here is synchronous on purpose: checkpoints are written between training steps and
 * read before a model exists, and a synchronous file descriptor keeps the lifetime explicit.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Largest byte count handed to one read/write syscall (Node's limit is 2 GiB - 1). */
const IO_CHUNK = 1 << 30;

/** JSON as parsed by `JSON.parse`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Views any typed array (or a Uint8Array slice of one) as bytes without copying. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes all of `bytes` to `fd` (at `position`, or at the current offset when it is null). */
export function writeAllSync(fd: number, bytes: Uint8Array, position: number | null = null): void {
  let done = 0;
  while (done < bytes.length) {
    const n = Math.min(IO_CHUNK, bytes.length - done);
    const wrote = writeSync(fd, bytes, done, n, position === null ? null : position + done);
    if (wrote <= 0) throw new Error(`write returned ${wrote}`);
    done += wrote;
  }
}

/**
 * Fills `target` from `fd` starting at byte `position`. Throws `truncated(got)` when the file
 * ends first, so callers can name the file and the tensor in the message.
 */
export function readExactSync(
  fd: number,
  target: Uint8Array,
  position: number,
  truncated: (got: number) => Error,
): void {
  let done = 0;
  while (done < target.length) {
    const n = Math.min(IO_CHUNK, target.length - done);
    const got = readSync(fd, target, done, n, position + done);
    if (got === 0) throw truncated(done);
    done += got;
  }
}

let tmpCounter = 0;

/**
 * Writes a file atomically: the content goes to a temporary file in the same directory, which
 * is fsynced and then renamed over `path`, so a reader sees either the old file or the whole new
 * one, never a half-written file (a crash mid-write leaves at most a `.tmp-` file behind).
 * `data` is the content, or a function that writes it to the open descriptor (for streaming
 * tensors that do not fit in one buffer). On failure the temporary file is removed and the error
 * is rethrown.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | ((fd: number) => void)): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`);
  let fd: number | null = openSync(tmp, 'wx', 0o644);
  try {
    if (typeof data === 'function') data(fd);
    else writeAllSync(fd, typeof data === 'string' ? new TextEncoder().encode(data) : data);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error matters more
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
  // Make the rename itself durable. Directories cannot be opened on every platform: best effort.
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // not supported here (e.g. Windows); the file content is already synced
  }
}

/** Reads and parses a JSON file; errors name the file. */
export function readJsonFile(path: string): JsonValue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}

/** Writes `value` as pretty-printed JSON (2 spaces, trailing newline), atomically. */
export function writeJsonFile(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
