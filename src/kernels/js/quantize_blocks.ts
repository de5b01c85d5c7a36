/**
 * The js twin of quantizeBlocks (Kernels.quantizeBlocks): ggml's reference quantizers over n
 * values, which are the codecs of `quant/` (byte-exact with `ggml_quantize_chunk`), behind the
 * argument checks the native kernel makes, so both throw the same errors.
 */
import { LINEAR_QUANT_TYPES, type LinearQuantType } from '../quant_types.ts';
import { QUANT_CODECS } from './quant/index.ts';

/** x[0, n) -> the n / blockSize blocks of `type` in out. */
export function quantizeBlocks(x: Float32Array, type: LinearQuantType, out: Uint8Array, n: number): void {
  if (!(LINEAR_QUANT_TYPES as readonly string[]).includes(type))
    throw new TypeError(
      `quantizeBlocks: type must be one of ${LINEAR_QUANT_TYPES.join(', ')}, got ${JSON.stringify(type)}`,
    );
  const { blockSize, typeSize } = QUANT_CODECS[type].format;
  if (!Number.isSafeInteger(n) || n < 0 || n % blockSize !== 0)
    throw new RangeError(`quantizeBlocks: n=${n} is not a whole number of ${type} blocks of ${blockSize}`);
  const bytes = (n / blockSize) * typeSize;
  if (x.length < n || out.length < bytes)
    throw new RangeError(
      `quantizeBlocks: arrays too short for ${type} n=${n}: x has ${x.length} (needs ${n}), out ${out.length} (${bytes})`,
    );
  QUANT_CODECS[type].quantize(x, n, out.subarray(0, bytes));
}
