/** Pure-TypeScript elementwise kernels and reductions. */

export function add(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = a[i] + b[i];
}

export function mul(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = a[i] * b[i];
}

export function axpy(alpha: number, x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}

export function scale(x: Float32Array, alpha: number, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = alpha * x[i];
}

export function addBias(x: Float32Array, bias: Float32Array, y: Float32Array, N: number, C: number): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    for (let c = 0; c < C; c++) y[o + c] = x[o + c] + bias[c];
  }
}

export function sumRows(x: Float32Array, y: Float32Array, N: number, C: number): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    for (let c = 0; c < C; c++) y[c] += x[o + c];
  }
}

export function sumSquares(x: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}
