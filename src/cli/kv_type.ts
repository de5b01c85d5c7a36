/**
 * `--kv-type f32|f16|q8_0` of the commands that generate with a model (generate, serve, start,
 * rag ask, eval): how the KV cache stores keys and values (src/kernels/kv_types.ts).
 *
 *   f32   (default) exact: the tokens are those of a full recompute, and of PyTorch
 *   f16   half the memory; each stored value errs by at most 2^-11 of itself
 *   q8_0  34/32 bytes a value (ggml's 8-bit blocks of 32, as llama.cpp's --cache-type-k q8_0);
 *         each value errs by at most 1/254 of its block's largest magnitude
 *
 * f32 stays the default: it is what every parity test against PyTorch and llama.cpp assumes, and
 * the cache of the small models this project serves is a few MiB, so the smaller types only pay
 * for long contexts (Qwen2.5-0.5B at 32k tokens: 768 MiB in f32, 384 in f16, 204 in q8_0).
 * The chosen type and the cache's size are printed on stderr (kvCacheLine).
 */
import { KV_TYPES, type KVType } from '../kernels/kv_types.ts';
import { optChoice, type ParsedArgs } from './args.ts';

/** The usage text of the option. */
export const KV_TYPE_USAGE = '[--kv-type f32|f16|q8_0]';

/** One line for --help. */
export const KV_TYPE_HELP =
  '--kv-type f32|f16|q8_0   how the KV cache stores keys and values: f32 (default, exact), f16 (half ' +
  'the memory, 2^-11 relative error), q8_0 (34/32 bytes a value: 8-bit blocks of 32 as llama.cpp, error ' +
  "up to 1/254 of a block's largest value)";

/** The --kv-type option (default f32); a bad value is a usage error naming the option. */
export function optKvType(a: ParsedArgs): KVType {
  return optChoice(a, 'kv-type', KV_TYPES, 'f32');
}

/**
 * The stderr line that says what a cache holds, e.g.
 * "xfmr generate: KV cache f16, 2048 tokens x 1 sequence, 12.0 MiB" (KiB below 1 MiB; `bytes`:
 * kvCacheBytes or the cache's own). `upTo`: the cache is made per request, as long as the request needs, and this is
 * its largest size (rag ask, eval).
 */
export function kvCacheLine(
  command: string,
  type: KVType,
  tokens: number,
  sequences: number,
  bytes: number,
  upTo = false,
): string {
  const size =
    bytes < 2 ** 20 ? `${(bytes / 2 ** 10).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const seqs = `${sequences} sequence${sequences === 1 ? '' : 's'}`;
  const what = upTo
    ? `up to ${tokens} tokens x ${seqs}, up to ${size}`
    : `${tokens} tokens x ${seqs}, ${size}`;
  return `xfmr ${command}: KV cache ${type}, ${what}\n`;
}
