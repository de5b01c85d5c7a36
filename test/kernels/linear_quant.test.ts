/**
 * linearQuant (Kernels.linearQuant: y[N, Out] = x @ W^T with W as ggml blocks, x quantized per
 * block to Q8_0 / Q8_1 / Q8_K as llama.cpp does): the native kernel against the js twin (itself built on
 * the codecs that are byte-exact with ggml), every type, on every path: the default in this
 * process, and XFMR_ISA=avx512 (VNNI where the CPU has it), avx2 and portable in child processes
 * (this file re-runs itself with XFMR_LINEAR_QUANT_CHILD set). The twin is also checked against a
 * float64 dot of the dequantized weights with the dequantized activations.
 *
 * Shapes: N in {1, 2, 3, 5, 8, 17, 64} (decode, every remainder of the 4-row tiles of the native
 * prefill kernel, several whole tiles), In in {256, 768, 1280} (K-quants) or {32, 96, 224, 512}
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1; 160 and 896 too for Q5_0 / Q5_1, the row lengths that make
 * llama-quantize fall back to them): one block and odd block counts; Out in {1, 7, 1000} for N <= 3 (vector tails of
 * the thread chunks) and {7, 45} (groups of 16 weight rows and a tail) or 300 for the larger N.
 *
 * Error bound: both compute the same activation quants and the same exact integer sums per block;
 * they differ only in how the scaled block terms are rounded and summed (f32 lanes and an FMA per
 * block natively, float64 in the twin), so |native - twin| <= (In / blockSize + 4) 2^-24 M + 2^-24
 * |twin|, with M = sum_p (|W_p| + 2 mn_p) |A_p| over the dequantized weights W and activations A,
 * where mn_p is the min term dmin * m_j of p's sub-block (Q4_K, Q5_K) or the block's minimum |m|
 * (Q4_1, Q5_1; 0 otherwise): it bounds every block term (d sc q = W + mn, and Q4_1 / Q5_1's m s,
 * which both sum the same way in f32 natively). A wrong nibble, a dropped high bit, an offset row or a wrong scale
 * is off by about one weight times one activation, far above it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsKernels, nativeKernels } from '../../src/kernels/index.ts';
import { readF16, readF32, readI8 } from '../../src/kernels/js/quant/block_math.ts';
import { QUANT_CODECS, quantizeActivations } from '../../src/kernels/js/quant/index.ts';
import { scaleMinK4 } from '../../src/kernels/js/quant/k_scales.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { loadNative } from '../../src/kernels/native.ts';
import { LINEAR_QUANT_TYPES, type LinearQuantType } from '../../src/kernels/quant_types.ts';
import { makeRandom } from './gemm_inputs.ts';
import { sError } from './quant/dot_bound.ts';
import { requireNative, skipWithoutNative } from './require_native.ts';

type Linear = Kernels['linearQuant'];

interface Problem {
  type: LinearQuantType;
  N: number;
  In: number;
  Out: number;
  x: Float32Array;
  w: Uint8Array;
  twin: Float32Array;
  bound: Float64Array;
}

/** Dequantized activations of one row (Q8_0, Q8_1 or Q8_K blocks). */
function actValues(a: Uint8Array, dot: string, n: number): Float64Array {
  const out = new Float64Array(n);
  const k = dot === 'Q8_K';
  const [bs, ts, q0] = k ? [256, 292, 4] : dot === 'Q8_1' ? [32, 36, 4] : [32, 34, 2];
  for (let b = 0; b < n / bs; b++) {
    const d = k ? readF32(a, b * ts) : readF16(a, b * ts);
    for (let j = 0; j < bs; j++) out[b * bs + j] = d * readI8(a, b * ts + q0 + j);
  }
  return out;
}

/** The min term dmin * m_j of each value of a Q4_K / Q5_K row, |m| of a Q4_1 / Q5_1 one (0 for the other types). */
function minTerms(type: LinearQuantType, row: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  if (type === 'Q4_1' || type === 'Q5_1') {
    const ts = QUANT_CODECS[type].format.typeSize;
    for (let b = 0; b < n / 32; b++) out.fill(Math.abs(readF16(row, b * ts + 2)), 32 * b, 32 * b + 32);
    return out;
  }
  if (type !== 'Q4_K' && type !== 'Q5_K') return out;
  const ts = QUANT_CODECS[type].format.typeSize;
  for (let b = 0; b < n / 256; b++)
    for (let j = 0; j < 8; j++) {
      const mn = readF16(row, b * ts + 2) * scaleMinK4(j, row, b * ts + 4, 1);
      out.fill(mn, b * 256 + 32 * j, b * 256 + 32 * j + 32);
    }
  return out;
}

function problem(type: LinearQuantType, N: number, In: number, Out: number, seed: number): Problem {
  const random = makeRandom(seed);
  const x = random(N * In);
  const codec = QUANT_CODECS[type];
  const w = codec.quantize(random(Out * In), Out * In);
  const twin = new Float32Array(N * Out);
  jsKernels.linearQuant(x, w, type, twin, N, In, Out);
  const rb = w.length / Out;
  const bound = new Float64Array(N * Out);
  const blocks = In / codec.format.blockSize;
  const acts = Array.from({ length: N }, (_, n) =>
    actValues(quantizeActivations(codec.dotType, x.subarray(n * In, (n + 1) * In), In), codec.dotType, In),
  );
  for (let o = 0; o < Out; o++) {
    const row = w.subarray(o * rb, (o + 1) * rb);
    const W = codec.dequantize(row, In);
    const mn = minTerms(type, row, In);
    for (let n = 0; n < N; n++) {
      let M = 0;
      for (let p = 0; p < In; p++) M += (Math.abs(W[p]) + 2 * mn[p]) * Math.abs(acts[n][p]);
      bound[n * Out + o] = (blocks + 4) * 2 ** -24 * M + 2 ** -24 * Math.abs(twin[n * Out + o]) + 1e-30;
    }
  }
  return { type, N, In, Out, x, w, twin, bound };
}

const INS: Record<LinearQuantType, number[]> = {
  Q8_0: [32, 96, 224, 512],
  Q4_0: [32, 96, 224, 512],
  Q4_1: [32, 96, 224, 512],
  Q5_0: [32, 96, 160, 896],
  Q5_1: [32, 96, 160, 896],
  Q4_K: [256, 768, 1280],
  Q5_K: [256, 768, 1280],
  Q6_K: [256, 768, 1280],
};

/** Out for each N (see the file comment: the bound's float64 pass costs N * Out * In). */
const outsFor = (N: number): number[] => (N <= 3 ? [1, 7, 1000] : N === 17 ? [7, 300] : [7, 45]);

let all: Problem[] | null = null;
function problems(): Problem[] {
  if (!all) {
    all = [];
    for (const type of LINEAR_QUANT_TYPES)
      for (const N of [1, 2, 3, 5, 8, 17, 64])
        for (const In of INS[type])
          for (const Out of outsFor(N)) all.push(problem(type, N, In, Out, all.length + 1));
  }
  return all;
}

function runShapes(linear: Linear): string[] {
  const out: string[] = [];
  for (const P of problems()) {
    const y = new Float32Array(P.N * P.Out).fill(Number.NaN);
    linear(P.x, P.w, P.type, y, P.N, P.In, P.Out);
    for (let i = 0; i < y.length; i++)
      if (!(Math.abs(y[i] - P.twin[i]) <= P.bound[i])) {
        out.push(
          `${P.type} N=${P.N} In=${P.In} Out=${P.Out}: y[${i}] = ${y[i]}, twin ${P.twin[i]} +- ${P.bound[i]}`,
        );
        break;
      }
  }
  return out;
}

const expectNone = (failures: string[]) =>
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures, first: ${failures[0]}`);

if (process.env.XFMR_LINEAR_QUANT_CHILD) {
  const k = nativeKernels();
  const failures = k ? runShapes(k.linearQuant) : ['no addon'];
  process.stdout.write(`${JSON.stringify({ quant: loadNative().cpu?.quant ?? null, failures })}\n`);
} else {
  const skip = skipWithoutNative();
  const linear: Linear = (...args) => requireNative().linearQuant(...args);
  const cpu = loadNative().cpu;

  test('linearQuant (js twin): the dot of the dequantized weights and activations, every type', () => {
    // The twin is ggml's integer dot per block; in float64 it equals the exact dot of the two
    // dequantized vectors up to one rounding per block and the final f32 rounding.
    for (const P of problems().filter((p) => p.Out === 7 && p.N === 3)) {
      const codec = QUANT_CODECS[P.type];
      const rb = P.w.length / P.Out;
      for (let n = 0; n < P.N; n++) {
        const qa = quantizeActivations(codec.dotType, P.x.subarray(n * P.In, (n + 1) * P.In), P.In);
        const a = actValues(qa, codec.dotType, P.In);
        for (let o = 0; o < P.Out; o++) {
          const wRow = P.w.subarray(o * rb, (o + 1) * rb);
          const W = codec.dequantize(wRow, P.In);
          let s = 0;
          let mag = 0;
          for (let p = 0; p < P.In; p++) {
            s += W[p] * a[p];
            mag += Math.abs(W[p] * a[p]);
          }
          const got = P.twin[n * P.Out + o];
          // W_p is d * sc * q - mn in f32 (one or two roundings each): 2^-22 relative per product;
          // Q4_1 / Q5_1 dot their minimum with the activations' f16 s, not their exact sum (sError)
          assert.ok(
            Math.abs(got - s) <= 2 ** -22 * mag + 2 ** -24 * Math.abs(s) + sError(P.type, wRow, qa, P.In),
            `${P.type}: ${got} vs ${s}`,
          );
        }
      }
    }
  });

  test(`linearQuant (native, ${cpu?.quant ?? 'n/a'} path): every type and shape within the bound of the twin`, {
    skip,
  }, () => {
    expectNone(runShapes(linear));
  });

  test('linearQuant: In = 0 writes zeros, N = 0 or Out = 0 writes nothing (native and js)', { skip }, () => {
    for (const k of [linear, jsKernels.linearQuant]) {
      const y = new Float32Array(6).fill(Number.NaN);
      k(new Float32Array(0), new Uint8Array(0), 'Q4_K', y, 2, 0, 3);
      assert.deepEqual([...y], [0, 0, 0, 0, 0, 0]);
      const z = Float32Array.of(7);
      k(new Float32Array(32), new Uint8Array(34), 'Q8_0', z, 0, 32, 1);
      k(new Float32Array(32), new Uint8Array(0), 'Q8_0', z, 1, 32, 0);
      assert.deepEqual([...z], [7]);
    }
  });

  test('linearQuant: arrays too short or In not whole blocks are RangeErrors; a bad type a TypeError', {
    skip,
  }, () => {
    const [N, In, Out] = [3, 256, 4];
    const x = new Float32Array(N * In);
    const w = new Uint8Array(Out * 144);
    const y = new Float32Array(N * Out);
    for (const k of [linear, jsKernels.linearQuant]) {
      const tooShort = /linearQuant: arrays too short for N=3 In=256 Out=4/;
      assert.throws(() => k(x.subarray(1), w, 'Q4_K', y, N, In, Out), tooShort);
      assert.throws(() => k(x, w.subarray(1), 'Q4_K', y, N, In, Out), tooShort);
      assert.throws(() => k(x, w, 'Q4_K', y.subarray(1), N, In, Out), tooShort);
      assert.throws(() => k(x, w, 'Q6_K', y, N, In, Out), RangeError); // 210-byte blocks: w too short
      assert.throws(() => k(x, w, 'Q4_K', y, N, 128, Out), /multiple of .*256/);
      assert.throws(() => k(x, w, 'Q4_K', y, -1, In, Out), RangeError);
      assert.throws(() => k(x, w, 'Q2_K' as LinearQuantType, y, N, In, Out), TypeError);
    }
    assert.throws(
      () => linear(x, new Float32Array(Out * 36) as unknown as Uint8Array, 'Q4_K', y, N, In, Out),
      (e: Error) => e instanceof TypeError && /Uint8Array/.test(e.message),
    );
  });

  const paths: [string, string, string | false][] = [
    [
      'avx512',
      'avx512vnni',
      cpu?.isa === 'avx512' && cpu.quant === 'avx512vnni' ? false : 'no AVX512-VNNI here',
    ],
    ['avx2', 'avx2', cpu?.avx2 ? false : 'this CPU has no AVX2'],
    ['portable', 'portable', false],
  ];
  for (const [isa, path, missing] of paths) {
    test(`linearQuant: XFMR_ISA=${isa} runs the ${path} path and passes (child process)`, {
      skip:
        skip ||
        missing ||
        (path === cpu?.quant && !process.env.XFMR_ISA ? 'the default path, tested above' : false),
    }, () => {
      requireNative();
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, XFMR_ISA: isa, XFMR_LINEAR_QUANT_CHILD: '1' },
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
        quant: string;
        failures: string[];
      };
      assert.equal(out.quant, path);
      expectNone(out.failures);
    });
  }
}
