/**
 * The native kernels' argument checks: each kernel of the addon called from JavaScript with sizes
 * that are mostly small and consistent, sometimes hostile (negative, fractional, NaN, 2^31, 2^40,
 * 2^62, 1e300), with arrays mostly long enough and sometimes one element short or empty, of the
 * wrong type, or null; ids (embedding, cross-entropy) sometimes out of range.
 *
 * Every array lies inside a larger buffer with a canary pattern on both sides, checked after each
 * call, so a write out of bounds is seen here; reads out of bounds show under the sanitizer build
 * (README, Reliability: XFMR_FUZZ_EXACT=1 gives each array its own allocation for ASan to guard).
 * Clean: a RangeError or TypeError from the addon naming the kernel ("xfmr native gemm: ...",
 * "gemm: ...") or the argument ("xfmr native kernel: argument 3 must be ..."). A process crash is counted by the
 * runner.
 */
import fc from 'fast-check';
import { KERNEL_NAMES } from '../../src/kernels/kernels.ts';
import { loadNative } from '../../src/kernels/native.ts';
import type { FuzzTarget } from '../target.ts';

/**
 * Argument kinds, one letter each: f Float32Array, F Float32Array or null, i Int32Array (ids),
 * h Uint16Array, b Uint8Array, K a KV cache (Uint16Array for f16, Uint8Array for q8_0), d a size,
 * x an integer that may be negative (an offset, ignoreIndex), n a number, t a boolean,
 * q a quantized type name, k a KV type name. B is gemm's batch: a size that is never huge, since a
 * huge batch over zero strides is a legitimate (long) accumulation into one C, not a hang.
 */
const SIGNATURES: Record<string, string> = {
  gemm: 'fffBdddttdddnn',
  gemmBf16: 'fffBdddttdddnn',
  linearBf16: 'fhfddd',
  linearQuant: 'fbqfddd',
  quantizeBlocks: 'fqbd',
  attentionForward: 'fffffdddddddxntdnt',
  attentionForwardKV: 'fKKkffdddddddxntdnt',
  attentionBackward: 'fffffffffdddddddxntdnt',
  layerNormForward: 'fFffffddn',
  layerNormBackward: 'fffffffFdd',
  rmsNormForward: 'ffffddn',
  rmsNormBackward: 'ffffffdd',
  softmaxForward: 'ffdd',
  softmaxBackward: 'fffdd',
  logSoftmaxForward: 'ffdd',
  logSoftmaxBackward: 'fffdd',
  crossEntropyForward: 'fiffddx',
  crossEntropyBackward: 'fifffddx',
  geluForward: 'ffdt',
  geluBackward: 'fffdt',
  siluForward: 'ffd',
  siluBackward: 'fffd',
  swigluForward: 'fffd',
  swigluBackward: 'fffffd',
  rope: 'ffffdddddxtt',
  embeddingForward: 'fifdd',
  embeddingBackward: 'fifdd',
  add: 'fffd',
  mul: 'fffd',
  axpy: 'nffd',
  scale: 'fnfd',
  addBias: 'fffdd',
  sumRows: 'ffdd',
  sumSquares: 'fd',
  adamw: 'ffffdnnnnnnnn',
};

const HOSTILE: unknown[] = [
  -1,
  0.5,
  Number.NaN,
  2 ** 31,
  2 ** 32 + 1,
  2 ** 40,
  2 ** 62,
  1e300,
  -(2 ** 62),
  '3',
  null,
  undefined,
];
const CANARY = 16;
/** Arrays hold at most this many elements (the product of the sizes, capped). */
const MAX_LEN = 1 << 12;

interface Arg {
  /** Sizes: a small value, or a hostile one. */
  dim: number;
  hostile: number | null;
  /** Arrays: long enough, a bit short, empty, or a random short length; sometimes the wrong type. */
  len: 'enough' | 'short' | 'empty' | 'random';
  random: number;
  wrongType: boolean;
}

interface KernelInput {
  kernel: number;
  args: Arg[];
  seed: number;
}

const CTORS = { f: Float32Array, i: Int32Array, h: Uint16Array, b: Uint8Array } as const;
type Ctor = (typeof CTORS)[keyof typeof CTORS];

/** One typed array of `n` elements inside a canary-filled buffer (or alone, under XFMR_FUZZ_EXACT). */
function guarded(
  C: Ctor,
  n: number,
  fill: (i: number) => number,
): { arr: ArrayBufferView & ArrayLike<number>; check(): boolean } {
  const exact = process.env.XFMR_FUZZ_EXACT === '1';
  const pad = exact ? 0 : CANARY;
  const whole = new C(n + 2 * pad);
  const bytes = new Uint8Array(whole.buffer);
  bytes.fill(0xa5);
  const arr = whole.subarray(pad, pad + n) as unknown as ArrayBufferView &
    ArrayLike<number> & { [i: number]: number };
  for (let i = 0; i < n; i++) arr[i] = fill(i);
  const edge = pad * C.BYTES_PER_ELEMENT;
  return {
    arr,
    check: () => {
      for (let i = 0; i < edge; i++)
        if (bytes[i] !== 0xa5 || bytes[bytes.length - 1 - i] !== 0xa5) return false;
      return true;
    },
  };
}

let native: ReturnType<typeof loadNative>['kernels'] = null;
let threadsBefore = 1;

export const kernelsTarget: FuzzTarget<KernelInput> = {
  name: 'kernels',
  what: "the native addon's kernels <- sizes, strides and arrays from JavaScript (canaries around every array)",
  hangMs: 2000,
  arbitrary: fc.record({
    kernel: fc.nat({ max: KERNEL_NAMES.length - 1 }),
    args: fc.array(
      fc.record({
        dim: fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) },
          { weight: 1, arbitrary: fc.constantFrom(0, 8, 16, 32, 33, 64) },
        ),
        hostile: fc.option(fc.nat({ max: HOSTILE.length - 1 }), { freq: 25 }),
        len: fc.oneof(
          { weight: 12, arbitrary: fc.constant('enough' as const) },
          { weight: 1, arbitrary: fc.constantFrom('short' as const, 'empty' as const, 'random' as const) },
        ),
        random: fc.nat({ max: 64 }),
        wrongType: fc.nat({ max: 40 }).map((n) => n === 0),
      }),
      { minLength: 22, maxLength: 22 },
    ),
    seed: fc.nat(),
  }),
  setup() {
    native = loadNative().kernels;
    if (native === null)
      throw new Error(`kernels target: the native addon is not available (${loadNative().error})`);
    // One thread: the arrays are small (below the kernels' threading thresholds), and the pool's
    // hand-offs would only slow the run on a busy machine.
    threadsBefore = native.threads();
    native.setThreads(1);
  },
  teardown() {
    native?.setThreads(threadsBefore);
  },
  run(input) {
    const name = KERNEL_NAMES[input.kernel]!;
    const sig = SIGNATURES[name];
    if (sig === undefined) throw new Error(`kernels target: no signature for ${name}`);
    const a = input.args;
    // The sizes first: arrays are sized from their product (enough for every kernel's contract).
    let product = 1;
    for (let j = 0; j < sig.length; j++) if (sig[j] === 'd' || sig[j] === 'B') product *= a[j]!.dim;
    const enough = Math.min(product * 4 + 64, MAX_LEN);
    let s = input.seed;
    const rand = (): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    const guards: (() => boolean)[] = [];
    const qtypes = ['Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q2_K', ''];
    const values = sig.split('').map((kind, j) => {
      const x = a[j]!;
      if (x.hostile !== null && 'dxn'.includes(kind)) return HOSTILE[x.hostile];
      if (x.hostile !== null && kind === 'B') return HOSTILE[x.hostile % 3]; // -1, 0.5, NaN
      switch (kind) {
        case 'd':
        case 'B':
          return x.dim;
        case 'x':
          return x.dim - 2;
        case 'n':
          return x.dim / 4;
        case 't':
          return x.dim % 2 === 0;
        case 'q':
          return qtypes[x.dim % qtypes.length];
        case 'k':
          return x.dim % 3 === 0 ? 'bogus' : x.dim % 2 === 0 ? 'f16' : 'q8_0';
        default: {
          if (kind === 'F' && x.hostile !== null) return null;
          const n =
            x.len === 'enough'
              ? enough
              : x.len === 'short'
                ? Math.max(0, enough - 1 - x.random)
                : x.len === 'empty'
                  ? 0
                  : x.random;
          let C: Ctor = kind === 'i' ? CTORS.i : kind === 'h' ? CTORS.h : kind === 'b' ? CTORS.b : CTORS.f;
          if (kind === 'K')
            C = a[j + 2 - (sig.indexOf('K') === j ? 0 : 1)]!.dim % 2 === 0 ? CTORS.h : CTORS.b;
          if (x.wrongType) C = C === CTORS.f ? CTORS.i : CTORS.f;
          const ids = kind === 'i';
          const g = guarded(C, n, () =>
            ids ? Math.floor(rand() * 12) - 1 : C === CTORS.f ? rand() * 2 - 1 : Math.floor(rand() * 256),
          );
          guards.push(g.check);
          return g.arr;
        }
      }
    });
    const fn = (native as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
    let threw: unknown = null;
    try {
      fn(...values);
    } catch (e) {
      threw = e;
    }
    // A write past an array outranks whatever the kernel threw.
    if (!guards.every((check) => check())) throw new Error(`${name} wrote outside an array it was given`);
    if (threw !== null) throw threw;
  },
  clean: (e, input) => {
    const name = KERNEL_NAMES[input.kernel]!;
    const named =
      e instanceof Error && (e.message.startsWith('xfmr native ') || e.message.startsWith(`${name}: `));
    if ((e instanceof RangeError || e instanceof TypeError) && named) return true;
    return `${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`;
  },
};
