/** Inputs shared by the GEMM tests (f32 and bf16): seeded operands and the transpose pairs. */

/** Deterministic uniform [-1, 1) (a fixed LCG: failures reproduce). */
export function makeRandom(seed: number): (n: number) => Float32Array {
  let s = seed >>> 0;
  return (n: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = s / 2 ** 31 - 1;
    }
    return a;
  };
}

/** [transA, transB]: NN, NT, TN, TT. */
export const TRANS: readonly [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
