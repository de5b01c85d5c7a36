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

/**
 * Frequency scaling for contexts longer than pretraining (config.json's `rope_scaling`):
 *   linear  every frequency divided by factor (position interpolation, Chen et al. 2023)
 *   llama3  low frequencies divided by factor, high ones kept, a linear blend between (Llama 3.1)
 *   yarn    per-dimension blend of interpolation and extrapolation by wavelength, and cos/sin
 *           multiplied by attentionFactor (Peng et al. 2023; Qwen2.5 long context)
 *   factors each frequency divided by its own factor (llama.cpp's rope_freqs tensor, which is how
 *           GGUF files carry llama3 scaling)
 * originalContext is the pretraining context (original_max_position_embeddings).
 */
export type RopeScaling =
  | { type: 'factors'; factors: number[] }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }
  | {
      type: 'yarn';
      factor: number;
      originalContext: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor: number;
    };

/** yarn's default attention factor, 0.1 ln(factor) + 1 (1 when not stretching). */
export function yarnAttentionFactor(factor: number): number {
  return factor <= 1 ? 1 : 0.1 * Math.log(factor) + 1;
}

/** The rotation frequency of each pair i in [0, rotDim / 2): theta^(-2i / rotDim), then scaled. */
export function ropeFrequencies(
  rotDim: number,
  theta: number,
  scaling: RopeScaling | null = null,
): Float64Array {
  const half = rotDim / 2;
  const base = Float64Array.from({ length: half }, (_, i) => theta ** (-(2 * i) / rotDim));
  if (!scaling) return base;
  if (scaling.type === 'factors') return base.map((f, i) => f / scaling.factors[i]!);
  const { factor } = scaling;
  if (scaling.type === 'linear') return base.map((f) => f / factor);
  if (scaling.type === 'llama3') {
    const { lowFreqFactor: lo, highFreqFactor: hi, originalContext: ctx } = scaling;
    return base.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < ctx / hi) return f; // high frequency: kept
      if (wavelen > ctx / lo) return f / factor; // low frequency: interpolated
      const smooth = (ctx / wavelen - lo) / (hi - lo);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  // yarn: dims rotating fewer than betaSlow times over the original context are interpolated, more
  // than betaFast times extrapolated (kept), with a linear ramp between (dims counted in pairs).
  const correctionDim = (rotations: number) =>
    (rotDim * Math.log(scaling.originalContext / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(correctionDim(scaling.betaFast)), 0);
  let high = Math.min(Math.ceil(correctionDim(scaling.betaSlow)), rotDim - 1);
  if (high === low) high += 0.001;
  return base.map((f, i) => {
    const extrapolate = 1 - Math.min(Math.max((i - low) / (high - low), 0), 1);
    return (f / factor) * (1 - extrapolate) + f * extrapolate;
  });
}

/**
 * Precomputes cos/sin for positions [0, maxPos) (angles in float64, then rounded). With yarn
 * scaling both are multiplied by its attention factor, which scales q.k by its square.
 */
export function ropeTable(
  rotDim: number,
  maxPos: number,
  theta = 10000,
  interleaved = false,
  scaling: RopeScaling | null = null,
): RopeTable {
  if (rotDim % 2 !== 0) throw new Error(`rope: rotary dim ${rotDim} must be even`);
  const half = rotDim / 2;
  const freq = ropeFrequencies(rotDim, theta, scaling);
  const m = scaling?.type === 'yarn' ? scaling.attentionFactor : 1;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * freq[i];
      cos[p * half + i] = m * Math.cos(angle);
      sin[p * half + i] = m * Math.sin(angle);
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
