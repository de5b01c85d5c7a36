/**
 * float32 <-> float16 / bfloat16 conversions. They live in `kernels/float16.ts`, the lowest layer,
 * because the quantized-block codecs of `kernels/js/quant/` need them too (a block's scale is an
 * f16) and kernels may not import io; re-exported here for the checkpoint readers and writers.
 */
export * from '../kernels/float16.ts';
