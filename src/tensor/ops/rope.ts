/**
 * Rotary position embedding (Su et al. 2021). Pairs of dims rotate by angle pos * theta^(-2i/d).
 * Two conventions: 'half' pairs (i, i + d/2) (Hugging Face, GPT-NeoX); 'interleaved' pairs
 * (2i, 2i + 1) (GPT-J, llama.cpp). The backward pass is the inverse rotation.
 */
import { kernels } from '../../kernels/index.ts';
import { gradOf, record } from '../autograd.ts';
import { Tensor } from '../tensor.ts';

export interface RopeTable {
  /** [maxPos, rotDim / 2] */
  cos: Float32Array;
  sin: Float32Array;
  maxPos: number;
  rotDim: number;
  interleaved: boolean;
}

/** Precomputes cos/sin for positions [0, maxPos) (angles in float64, then rounded). */
export function ropeTable(rotDim: number, maxPos: number, theta = 10000, interleaved = false): RopeTable {
  if (rotDim % 2 !== 0) throw new Error(`rope: rotary dim ${rotDim} must be even`);
  const half = rotDim / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * theta ** (-(2 * i) / rotDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, maxPos, rotDim, interleaved };
}

/** x: [B, T, H, D] -> same shape, token t at position posOffset + t. */
export function rope(x: Tensor, table: RopeTable, posOffset = 0): Tensor {
  if (x.ndim !== 4) throw new Error(`rope: x must be [B, T, H, D], got [${x.shape}]`);
  const [B, T, H, D] = x.shape;
  if (table.rotDim > D) throw new Error(`rope: rotary dim ${table.rotDim} > head dim ${D}`);
  if (posOffset + T > table.maxPos)
    throw new Error(`rope: position ${posOffset + T - 1} beyond table size ${table.maxPos}`);
  const k = kernels();
  const out = Tensor.empty(x.shape);
  const args = [table.cos, table.sin, B, T, H, D, table.rotDim, posOffset, table.interleaved] as const;
  k.rope(x.data, out.data, ...args, false);
  return record(out, 'rope', [x], (g) => {
    if (!x.requiresGrad) return;
    const tmp = new Float32Array(x.size);
    k.rope(g.data, tmp, ...args, true);
    k.axpy(1, tmp, gradOf(x), x.size);
  });
}
