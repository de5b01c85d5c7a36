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

/**
 * Runs of tokens at consecutive positions, one kernel call each: [first token, count, position].
 * positions: one per token of [B, T] rows, or a number p (row b's token t is at p + t).
 */
function positionRuns(B: number, T: number, positions: number | Int32Array): [number, number, number][] {
  if (typeof positions === 'number') return Array.from({ length: B }, (_, b) => [b * T, T, positions]);
  if (positions.length !== B * T) throw new Error(`rope: ${positions.length} positions for ${B * T} tokens`);
  const runs: [number, number, number][] = [];
  for (let i = 0; i < B * T; i++) {
    const last = runs[runs.length - 1];
    if (last && i % T !== 0 && positions[i] === last[2] + last[1]) last[1]++;
    else runs.push([i, 1, positions[i]]);
  }
  return runs;
}

/**
 * x: [B, T, H, D] -> same shape, rotated for its positions: row b's token t is at
 * `positions + t` (a number), or at positions[b * T + t] (a ragged batch of sequences that each
 * continue from their own past length).
 */
export function rope(x: Tensor, table: RopeTable, positions: number | Int32Array = 0): Tensor {
  if (x.ndim !== 4) throw new Error(`rope: x must be [B, T, H, D], got [${x.shape}]`);
  const [B, T, H, D] = x.shape;
  if (table.rotDim > D) throw new Error(`rope: rotary dim ${table.rotDim} > head dim ${D}`);
  const runs = positionRuns(B, T, positions);
  for (const [, n, p] of runs) {
    if (p < 0 || p + n > table.maxPos)
      throw new Error(`rope: position ${p + n - 1} beyond table size ${table.maxPos}`);
  }
  const k = kernels();
  const rotate = (src: Float32Array, dst: Float32Array, inverse: boolean) => {
    // A run is contiguous in memory ([n, H, D] rows); a whole-batch arange is one call.
    if (typeof positions === 'number') {
      k.rope(src, dst, table.cos, table.sin, B, T, H, D, table.rotDim, positions, table.interleaved, inverse);
      return;
    }
    for (const [i, n, p] of runs) {
      const a = i * H * D;
      const b = (i + n) * H * D;
      k.rope(
        src.subarray(a, b),
        dst.subarray(a, b),
        table.cos,
        table.sin,
        1,
        n,
        H,
        D,
        table.rotDim,
        p,
        table.interleaved,
        inverse,
      );
    }
  };
  const out = Tensor.empty(x.shape);
  rotate(x.data, out.data, false);
  return record(out, 'rope', [x], (g) => {
    if (!x.requiresGrad) return;
    const tmp = new Float32Array(x.size);
    rotate(g.data, tmp, true);
    k.axpy(1, tmp, gradOf(x), x.size);
  });
}
