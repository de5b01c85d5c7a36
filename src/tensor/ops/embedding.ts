/**
 * Embedding lookup: rows of a weight matrix by token id; the backward scatter-adds. A bf16 table
 * (an inference model loaded in bf16) gives its rows widened to f32, which is exact; a quantized
 * table (a GGUF model kept quantized) gives each row dequantized as ggml's to_float does (its
 * rows are whole blocks, so one row decodes on its own).
 */

import { bf16ArrayToF32 } from '../../kernels/float16.ts';
import { kernels } from '../../kernels/index.ts';
import { QUANT_CODECS } from '../../kernels/js/quant/index.ts';
import { gradOf, record } from '../autograd.ts';
import { dtypeBytes, ggmlTypeOf, isQuantDType } from '../dtype.ts';
import { type Shape, Tensor } from '../tensor.ts';

/** weight: [V, C]; ids: any shape S (flattened) -> out [...S, C]. */
export function embedding(weight: Tensor, ids: Int32Array, idsShape: Shape = [ids.length]): Tensor {
  if (weight.ndim !== 2) throw new Error(`embedding: weight must be [V, C], got [${weight.shape}]`);
  const [V, C] = weight.shape;
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < V))
      throw new Error(`embedding: id ${ids[i]} at position ${i} outside [0, ${V})`);
  }
  const k = kernels();
  const N = ids.length;
  const out = Tensor.empty([...idsShape, C]);
  if (weight.dtype === 'bf16') {
    // A gather of N rows is a copy, not math: no kernel needed for the widening.
    const w = weight.bf16Data;
    for (let i = 0; i < N; i++)
      bf16ArrayToF32(w.subarray(ids[i] * C, (ids[i] + 1) * C), out.data.subarray(i * C));
  } else if (isQuantDType(weight.dtype)) {
    // A gather of N rows: decoding one row of C values is O(C), nothing a kernel would speed up.
    const w = weight.quantData;
    const rb = dtypeBytes(weight.dtype, C);
    const codec = QUANT_CODECS[ggmlTypeOf(weight.dtype)];
    for (let i = 0; i < N; i++)
      codec.dequantize(w.subarray(ids[i] * rb, (ids[i] + 1) * rb), C, out.data.subarray(i * C, (i + 1) * C));
  } else k.embeddingForward(weight.data, ids, out.data, N, C);
  return record(out, 'embedding', [weight], (g) => {
    if (weight.requiresGrad) k.embeddingBackward(g.data, ids, gradOf(weight), N, C);
  });
}
