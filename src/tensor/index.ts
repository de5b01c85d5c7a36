/** The tensor engine: Tensor, autograd, and the ops (each op = forward + backward on the kernels). */

// The bf16 conversions live with the kernels (the quantized codecs use them too): one implementation.
export { bf16ArrayToF32, bf16ToF32, f32ArrayToBf16, f32ToBf16 } from '../kernels/float16.ts';
// KV cache storage types (the attention kernels read each in place).
export { isKVType, KV_TYPES, type KVType, kvBytes } from '../kernels/kv_types.ts';
export { backward, gradOf, isGradEnabled, keep, noGrad, record, tidy } from './autograd.ts';
export {
  DTYPES,
  type DType,
  dtypeBytes,
  ggmlTypeOf,
  isDType,
  isQuantDType,
  type LowDType,
  QUANT_DTYPES,
  type QuantDType,
  quantDTypeOf,
} from './dtype.ts';
export { type GeluApprox, gelu, silu, softcap, swiglu } from './ops/activation.ts';
export {
  type AttentionOptions,
  attention,
  attentionCached,
  attentionPacked,
  attentionWeights,
  type CachedRows,
  type PackedRows,
  type ScoreOptions,
} from './ops/attention.ts';
export { dropout } from './ops/dropout.ts';
export { add, addScalar, broadcastShapes, div, mul, scale, sub } from './ops/elementwise.ts';
export { embedding } from './ops/embedding.ts';
export { allocKVStore, checkKVRow, copyKV, type KVStore, writeKV } from './ops/kv_store.ts';
export { linear } from './ops/linear.ts';
export { crossEntropy, gatherLogProbs, IGNORE_INDEX } from './ops/loss.ts';
export { type MatmulOptions, matmul } from './ops/matmul.ts';
export { layerNorm, rmsNorm } from './ops/norm.ts';
export { mean, meanLast, sum, sumLast } from './ops/reduce.ts';
export {
  type RopeScaling,
  type RopeTable,
  rope,
  ropeFrequencies,
  ropeTable,
  yarnAttentionFactor,
} from './ops/rope.ts';
export { concat, permute, reshape, slice, split, transpose } from './ops/shape.ts';
export { logSoftmax, softmax } from './ops/softmax.ts';
export {
  type ComputeDtype,
  computeDtype,
  DTYPE_CHOICES,
  type DtypeChoice,
  type DtypeResolution,
  resolveDtype,
  withComputeDtype,
} from './precision.ts';
export { Rng } from './random.ts';
export { clearPool, pooledMemory } from './storage.ts';
export { type Node, type Packed, type Shape, Tensor } from './tensor.ts';
