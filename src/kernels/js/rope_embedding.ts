/** Pure-TypeScript rotary position embedding and embedding lookup. */

export function rope(
  x: Float32Array,
  y: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  B: number,
  T: number,
  H: number,
  D: number,
  rotDim: number,
  posOffset: number,
  interleaved: boolean,
  inverse: boolean,
): void {
  const half = rotDim >> 1;
  const sign = inverse ? -1 : 1;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tab = (posOffset + t) * half;
      for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const c = cos[tab + i];
          const s = sign * sin[tab + i];
          const i0 = interleaved ? o + 2 * i : o + i;
          const i1 = interleaved ? o + 2 * i + 1 : o + i + half;
          const a = x[i0];
          const bb = x[i1];
          y[i0] = a * c - bb * s;
          y[i1] = a * s + bb * c;
        }
        if (y !== x) for (let d = rotDim; d < D; d++) y[o + d] = x[o + d];
      }
    }
  }
}

export function embeddingForward(
  weight: Float32Array,
  ids: Int32Array,
  out: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) out.set(weight.subarray(ids[i] * C, ids[i] * C + C), i * C);
}

export function embeddingBackward(
  dout: Float32Array,
  ids: Int32Array,
  dweight: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = ids[i] * C;
    for (let c = 0; c < C; c++) dweight[o + c] += dout[i * C + c];
  }
}
