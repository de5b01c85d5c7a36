/** Pure-TypeScript GELU (tanh and erf), SiLU and the SwiGLU product, forward and backward. */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.sqrt(2);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf with |error| < 1.2e-7 (Numerical Recipes' erfc via Chebyshev fit), enough for float32. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

export function geluForward(x: Float32Array, y: Float32Array, n: number, approxTanh: boolean): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    y[i] = approxTanh
      ? 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)))
      : 0.5 * v * (1 + erf(v * INV_SQRT_2));
  }
}

export function geluBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  n: number,
  approxTanh: boolean,
): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    let g: number;
    if (approxTanh) {
      const u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      const th = Math.tanh(u);
      g = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    } else {
      g = 0.5 * (1 + erf(v * INV_SQRT_2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
    }
    dx[i] += dy[i] * g;
  }
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

export function siluForward(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = x[i] * sigmoid(x[i]);
}

/** d/dx x s(x) = s(x) (1 + x (1 - s(x))). */
export function siluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = sigmoid(x[i]);
    dx[i] += dy[i] * s * (1 + x[i] * (1 - s));
  }
}

export function swigluForward(gate: Float32Array, up: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

export function swigluBackward(
  gate: Float32Array,
  up: Float32Array,
  dy: Float32Array,
  dgate: Float32Array,
  dup: Float32Array,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = sigmoid(g);
    dgate[i] += dy[i] * up[i] * s * (1 + g * (1 - s));
    dup[i] += dy[i] * g * s;
  }
}
