/**
 * Token shards for pretraining: `xfmr data prepare` writes the token stream of a corpus as raw
 * little-endian uint16 (or uint32 for vocabularies above 65,536) in `train.bin` and `val.bin`,
 * with `manifest.json` beside them. Readers fetch windows with positioned reads, so a shard never
 * has to fit in the JS heap.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonValue, writeFileAtomic } from '../io/files.ts';
import { Rng } from '../tensor/random.ts';

export type TokenDtype = 'uint16' | 'uint32';

export interface DataManifest {
  format: 'xfmr-tokens-v1';
  dtype: TokenDtype;
  vocabSize: number;
  /** Token placed between documents (null when the tokenizer has none). */
  separatorId: number | null;
  tokenizer: string;
  splits: { train: { file: string; tokens: number }; val: { file: string; tokens: number } };
  sources: { path: string; documents: number; tokens: number }[];
}

export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

/** Encodes a token array as the shard's bytes. */
export function encodeTokens(ids: ArrayLike<number>, dtype: TokenDtype): Uint8Array {
  const arr = dtype === 'uint16' ? Uint16Array.from(ids) : Uint32Array.from(ids);
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

/**
 * Writes train.bin / val.bin / manifest.json for a token stream. The validation split is the last
 * `valFraction` of the stream (as nanoGPT does), so the two never share text.
 */
export function writeShards(
  dir: string,
  tokens: ArrayLike<number>,
  info: Omit<DataManifest, 'format' | 'dtype' | 'splits'>,
  valFraction = 0.1,
): DataManifest {
  if (!(valFraction > 0 && valFraction < 1))
    throw new Error(`--val-fraction must be in (0, 1), got ${valFraction}`);
  mkdirSync(dir, { recursive: true });
  const dtype = dtypeFor(info.vocabSize);
  const n = tokens.length;
  const nVal = Math.max(1, Math.floor(n * valFraction));
  const all = Array.from(tokens);
  writeFileAtomic(join(dir, 'train.bin'), encodeTokens(all.slice(0, n - nVal), dtype));
  writeFileAtomic(join(dir, 'val.bin'), encodeTokens(all.slice(n - nVal), dtype));
  const manifest: DataManifest = {
    format: 'xfmr-tokens-v1',
    dtype,
    ...info,
    splits: { train: { file: 'train.bin', tokens: n - nVal }, val: { file: 'val.bin', tokens: nVal } },
  };
  writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export function readManifest(dir: string): DataManifest {
  const path = join(dir, 'manifest.json');
  let m: DataManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as DataManifest;
  } catch (e) {
    throw new Error(
      `${path}: cannot read the data manifest (${(e as Error).message}); run xfmr data prepare first`,
    );
  }
  if (m.format !== 'xfmr-tokens-v1')
    throw new Error(`${path}: format must be "xfmr-tokens-v1", got ${JSON.stringify(m.format)}`);
  if (m.dtype !== 'uint16' && m.dtype !== 'uint32')
    throw new Error(`${path}: dtype must be uint16 or uint32`);
  return m;
}

/** A token shard read through positioned reads. */
export class TokenShard {
  readonly length: number;
  private readonly fd: number;
  private readonly bytesPer: number;

  constructor(
    readonly path: string,
    readonly dtype: TokenDtype,
  ) {
    this.fd = openSync(path, 'r');
    this.bytesPer = dtype === 'uint16' ? 2 : 4;
    const size = fstatSync(this.fd).size;
    if (size % this.bytesPer !== 0)
      throw new Error(`${path}: size ${size} is not a multiple of ${this.bytesPer} (${dtype})`);
    this.length = size / this.bytesPer;
  }

  /** Tokens [start, start + count) into `out` (as int32). */
  read(start: number, count: number, out: Int32Array, outOffset = 0): void {
    if (start < 0 || start + count > this.length)
      throw new Error(`${this.path}: read [${start}, ${start + count}) beyond ${this.length} tokens`);
    const buf = Buffer.allocUnsafe(count * this.bytesPer);
    let got = 0;
    while (got < buf.length) {
      const r = readSync(this.fd, buf, got, buf.length - got, start * this.bytesPer + got);
      if (r === 0) throw new Error(`${this.path}: unexpected end of file`);
      got += r;
    }
    for (let i = 0; i < count; i++) {
      out[outOffset + i] = this.bytesPer === 2 ? buf.readUInt16LE(2 * i) : buf.readUInt32LE(4 * i);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface Batch {
  ids: Int32Array; // [B, T]
  targets: Int32Array; // [B, T]
  B: number;
  T: number;
}

/**
 * Fisher-Yates in place, drawing rng.int(i + 1) for i = n-1 down to 1 (the one shuffle of the
 * project: the recipe's data and every trainer's epochs depend on these exact draws). Returns `a`.
 */
export function shuffle<T>(a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** What a checkpoint keeps of an EpochSampler: the RNG before the epoch's shuffle, and the position. */
export type SamplerState = { rng: number[]; at: number };

/**
 * The indices 0..n-1 in a new seeded shuffle every epoch, handed out k at a time across epoch
 * boundaries. The state is small (the epoch's order is redrawn from the saved RNG), so a resumed
 * run continues mid-epoch with the same indices.
 */
export class EpochSampler {
  private readonly rng: Rng;
  private epochRng: number[];
  private order: number[] = [];
  private at = 0;

  constructor(
    readonly n: number,
    seed: number,
  ) {
    if (!(n > 0)) throw new Error('EpochSampler: nothing to sample from');
    this.rng = new Rng(seed);
    this.epochRng = this.rng.getState();
  }

  /** The next k indices. */
  take(k: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      if (this.at >= this.order.length) this.newEpoch();
      out.push(this.order[this.at++]);
    }
    return out;
  }

  private newEpoch(): void {
    this.epochRng = this.rng.getState();
    this.order = shuffle(
      Array.from({ length: this.n }, (_, i) => i),
      this.rng,
    );
    this.at = 0;
  }

  state(): SamplerState {
    return { rng: this.epochRng, at: this.at };
  }

  setState(s: JsonValue): void {
    const st = s as SamplerState;
    this.rng.setState(st.rng);
    this.newEpoch();
    this.at = st.at;
  }
}

/**
 * Random windows of T+1 tokens from a shard (inputs and next-token targets), from a seeded RNG
 * whose state is part of the training checkpoint, so a resumed run sees the same batches.
 */
export class BatchLoader {
  readonly rng: Rng;

  constructor(
    readonly shard: TokenShard,
    readonly B: number,
    readonly T: number,
    seed: number,
  ) {
    if (shard.length < T + 1)
      throw new Error(`${shard.path}: ${shard.length} tokens, fewer than block size + 1 = ${T + 1}`);
    this.rng = new Rng(seed);
  }

  next(): Batch {
    const { B, T } = this;
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const window = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) {
      const start = this.rng.int(this.shard.length - T);
      this.shard.read(start, T + 1, window);
      ids.set(window.subarray(0, T), b * T);
      targets.set(window.subarray(1), b * T);
    }
    return { ids, targets, B, T };
  }

  /** The RNG state (windows are drawn independently, so that is the whole position). */
  state(): number[] {
    return this.rng.getState();
  }

  setState(s: JsonValue): void {
    this.rng.setState(s as number[]);
  }

  /** Fixed, evenly spaced windows (the same every evaluation). */
  evalBatches(count: number): Batch[] {
    const { B, T } = this;
    const out: Batch[] = [];
    const n = count * B;
    const stride = Math.max(1, Math.floor((this.shard.length - T - 1) / Math.max(1, n)));
    const window = new Int32Array(T + 1);
    for (let c = 0; c < count; c++) {
      const ids = new Int32Array(B * T);
      const targets = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const start = Math.min(((c * B + b) * stride) % (this.shard.length - T), this.shard.length - T - 1);
        this.shard.read(start, T + 1, window);
        ids.set(window.subarray(0, T), b * T);
        targets.set(window.subarray(1), b * T);
      }
      out.push({ ids, targets, B, T });
    }
    return out;
  }
}
