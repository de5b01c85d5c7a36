/** The pure-TypeScript kernels: simple, single-threaded, and the oracle the native ones are tested against. */
import type { Kernels } from '../kernels.ts';
import {
  geluBackward,
  geluForward,
  siluBackward,
  siluForward,
  swigluBackward,
  swigluForward,
} from './activations.ts';
import { attentionBackward, attentionForward, attentionForwardKV } from './attention.ts';
import { add, addBias, axpy, mul, scale, sumRows, sumSquares } from './elementwise.ts';
import { gemm, gemmBf16, linearBf16 } from './gemm.ts';
import { linearQuant } from './linear_quant.ts';
import {
  crossEntropyBackward,
  crossEntropyForward,
  layerNormBackward,
  layerNormForward,
  logSoftmaxBackward,
  logSoftmaxForward,
  rmsNormBackward,
  rmsNormForward,
  softmaxBackward,
  softmaxForward,
} from './norms.ts';
import { adamw } from './optim.ts';
import { quantizeBlocks } from './quantize_blocks.ts';
import { embeddingBackward, embeddingForward, rope } from './rope_embedding.ts';

export const jsKernels: Kernels = {
  name: 'js',
  threads: () => 1,
  setThreads: () => {},
  gemm,
  gemmBf16,
  linearBf16,
  linearQuant,
  quantizeBlocks,
  attentionForward,
  attentionForwardKV,
  attentionBackward,
  layerNormForward,
  layerNormBackward,
  rmsNormForward,
  rmsNormBackward,
  softmaxForward,
  softmaxBackward,
  logSoftmaxForward,
  logSoftmaxBackward,
  crossEntropyForward,
  crossEntropyBackward,
  geluForward,
  geluBackward,
  siluForward,
  siluBackward,
  swigluForward,
  swigluBackward,
  rope,
  embeddingForward,
  embeddingBackward,
  add,
  mul,
  axpy,
  scale,
  addBias,
  sumRows,
  sumSquares,
  adamw,
};
