/** Pure-TypeScript LayerNorm, RMSNorm, softmax, log-softmax and fused cross-entropy. */

export function layerNormForward(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[o + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[o + c] - m) * (x[o + c] - m);
    const r = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[o + c] = (x[o + c] - m) * r * w[c] + (b ? b[c] : 0);
    mean[i] = m;
    rstd[i] = r;
  }
}

/** dxhat = dy * w; dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)). */
export function layerNormBackward(
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array | null,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    const m = mean[i];
    const r = rstd[i];
    let sumD = 0;
    let sumDX = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[o + c] - m) * r;
      const d = dy[o + c] * w[c];
      sumD += d;
      sumDX += d * xhat;
    }
    sumD /= C;
    sumDX /= C;
    for (let c = 0; c < C; c++) {
      const xhat = (x[o + c] - m) * r;
      dx[o + c] += r * (dy[o + c] * w[c] - sumD - xhat * sumDX);
      dw[c] += dy[o + c] * xhat;
      if (db) db[c] += dy[o + c];
    }
  }
}

export function rmsNormForward(
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[o + c] * x[o + c];
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[o + c] = x[o + c] * r * w[c];
    rstd[i] = r;
  }
}

/** dx += r * (dy*w) - r^3 / C * x * sum(dy*w*x). */
export function rmsNormBackward(
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  rstd: Float32Array,
  dx: Float32Array,
  dw: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    const r = rstd[i];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[o + c] * w[c] * x[o + c];
    const k = (r * r * r * dot) / C;
    for (let c = 0; c < C; c++) {
      dx[o + c] += r * dy[o + c] * w[c] - k * x[o + c];
      dw[c] += dy[o + c] * x[o + c] * r;
    }
  }
}

function rowLogSumExp(x: Float32Array, o: number, C: number): number {
  let max = -Infinity;
  for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(x[o + c] - max);
  return max + Math.log(sum);
}

export function softmaxForward(x: Float32Array, y: Float32Array, N: number, C: number): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    const l = rowLogSumExp(x, o, C);
    for (let c = 0; c < C; c++) y[o + c] = Math.exp(x[o + c] - l);
  }
}

export function softmaxBackward(
  dy: Float32Array,
  y: Float32Array,
  dx: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[o + c] * y[o + c];
    for (let c = 0; c < C; c++) dx[o + c] += y[o + c] * (dy[o + c] - dot);
  }
}

export function logSoftmaxForward(x: Float32Array, y: Float32Array, N: number, C: number): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    const l = rowLogSumExp(x, o, C);
    for (let c = 0; c < C; c++) y[o + c] = x[o + c] - l;
  }
}

export function logSoftmaxBackward(
  dy: Float32Array,
  y: Float32Array,
  dx: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += dy[o + c];
    for (let c = 0; c < C; c++) dx[o + c] += dy[o + c] - Math.exp(y[o + c]) * sum;
  }
}

export function crossEntropyForward(
  logits: Float32Array,
  targets: Int32Array,
  losses: Float32Array,
  lse: Float32Array,
  N: number,
  V: number,
  ignoreIndex: number,
): number {
  let valid = 0;
  for (let i = 0; i < N; i++) {
    const l = rowLogSumExp(logits, i * V, V);
    lse[i] = l;
    const t = targets[i];
    if (t === ignoreIndex) {
      losses[i] = 0;
      continue;
    }
    losses[i] = l - logits[i * V + t];
    valid++;
  }
  return valid;
}

export function crossEntropyBackward(
  logits: Float32Array,
  targets: Int32Array,
  lse: Float32Array,
  dlosses: Float32Array,
  dlogits: Float32Array,
  N: number,
  V: number,
  ignoreIndex: number,
): void {
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    if (t === ignoreIndex) continue;
    const o = i * V;
    const g = dlosses[i];
    const l = lse[i];
    for (let c = 0; c < V; c++) dlogits[o + c] += g * Math.exp(logits[o + c] - l);
    dlogits[o + t] -= g;
  }
}
