/**
 * A whole file as one ArrayBuffer, so that weight loaders can hand out typed-array views of its
 * tensors instead of copies (io/safetensors.ts, io/gguf.ts).
 *
 *   native backend  a private memory mapping (native/mmap.cc): the bytes stay in the page cache,
 *                   are read from disk when first touched, are shared with every other process
 *                   mapping the file, and count once in RSS, as llama.cpp's mmap does. A write into
 *                   the buffer copies the page it lands on (MAP_PRIVATE copy-on-write): the file is
 *                   never changed, so training a model loaded from a mapping is safe.
 *   js backend      (XFMR_BACKEND=js, or an addon built without mapFile) the fallback reads the whole
 *                   file into one ArrayBuffer: the same views and the same results, but the bytes
 *                   are a private heap copy (as large as the file) and the whole file is read up
 *                   front.
 *
 * Either way the buffer lives as long as any view of it; the mapping is released by the garbage
 * collector after the last view is dropped (tests check that nothing breaks then).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { kernels } from './index.ts';
import { loadNative } from './native.ts';

export interface FileBytes {
  /** The file's bytes (byteLength = the file size). */
  buffer: ArrayBuffer;
  /** true: a memory mapping; false: the js fallback's copy. */
  mapped: boolean;
}

/** fs.readSync reads at most 2 GiB at once. */
const READ_CHUNK = 1 << 30;

/** The js fallback: the file read into a fresh ArrayBuffer. */
export function readFileBytes(path: string): ArrayBuffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(size);
    } catch (e) {
      throw new Error(`${path}: cannot allocate ${size} bytes to read the file: ${(e as Error).message}`);
    }
    const bytes = new Uint8Array(buffer);
    let done = 0;
    while (done < size) {
      const got = readSync(fd, bytes, done, Math.min(READ_CHUNK, size - done), done);
      if (got === 0) throw new Error(`${path}: the file shrank while being read (${done} of ${size} bytes)`);
      done += got;
    }
    return buffer;
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes: mapped on the native backend, read on the js backend (see the file comment). */
export function mapFile(path: string): FileBytes {
  const native = kernels().name === 'native' ? loadNative().mapFile : null;
  if (native) return { buffer: native(path), mapped: true };
  return { buffer: readFileBytes(path), mapped: false };
}
