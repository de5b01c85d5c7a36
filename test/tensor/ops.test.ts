/**
 * Every op of the tensor engine, forward checked against a direct computation where it is not
 * obvious, and backward checked against finite differences, on both backends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  add,
  attention,
  attentionCached,
  attentionPacked,
  attentionWeights,
  concat,
  crossEntropy,
  div,
  dropout,
  embedding,
  gatherLogProbs,
  gelu,
  layerNorm,
  linear,
  logSoftmax,
  matmul,
  mean,
  meanLast,
  mul,
  permute,
  Rng,
  reshape,
  rmsNorm,
  rope,
  ropeTable,
  scale,
  silu,
  slice,
  softmax,
  split,
  sub,
  sum,
  sumLast,
  swiglu,
  Tensor,
  transpose,
} from '../../src/tensor/index.ts';
import { BACKENDS, withBackend } from './backends.ts';
import { gradcheck, input } from './gradcheck.ts';

for (const backend of BACKENDS) {
  describe(`ops on ${backend}`, () => {
    const run = (name: string, fn: () => void) => test(name, () => withBackend(backend, fn));
    const rng = new Rng(1);

    run('matmul: 2-D, every transpose combination, batched, shared operands', () => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = input(transA ? [5, 3] : [3, 5], rng);
          const b = input(transB ? [4, 5] : [5, 4], rng);
          gradcheck(`matmul tA=${transA} tB=${transB}`, [a, b], (x, y) => matmul(x, y, { transA, transB }));
          const ab = input(transA ? [2, 5, 3] : [2, 3, 5], rng);
          const bb = input(transB ? [2, 4, 5] : [2, 5, 4], rng);
          gradcheck('batched matmul', [ab, bb], (x, y) => matmul(x, y, { transA, transB }));
          gradcheck('batched @ shared', [ab, b], (x, y) => matmul(x, y, { transA, transB }));
          gradcheck('shared @ batched', [a, bb], (x, y) => matmul(x, y, { transA, transB }));
        }
      }
      // forward against the definition
      const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]);
      assert.deepEqual(matmul(a, b).toArray(), [4, 5, 10, 11]);
      assert.throws(() => matmul(a, a), /inner dims differ/);
    });

    run('add/sub/mul/div with broadcasting', () => {
      const shapes: [number[], number[]][] = [
        [
          [3, 4],
          [3, 4],
        ],
        [[2, 3, 4], [4]],
        [
          [2, 3, 4],
          [3, 1],
        ],
        [
          [3, 1],
          [1, 4],
        ],
        [
          [2, 1, 4],
          [2, 3, 1],
        ],
      ];
      for (const [sa, sb] of shapes) {
        const a = input(sa, rng);
        const b = input(sb, rng);
        gradcheck(`add ${sa} ${sb}`, [a, b], add);
        gradcheck(`sub ${sa} ${sb}`, [a, b], sub);
        gradcheck(`mul ${sa} ${sb}`, [a, b], mul);
        const bPos = Tensor.rand(sb, rng, 0.5, 2);
        bPos.requiresGrad = true;
        gradcheck(`div ${sa} ${sb}`, [a, bPos], div);
      }
      assert.deepEqual(
        add(Tensor.from([1, 2]), Tensor.from([10, 20, 30, 40], [2, 2])).toArray(),
        [11, 22, 31, 42],
      );
      assert.throws(() => add(Tensor.zeros([2, 3]), Tensor.zeros([4])), /cannot be broadcast/);
    });

    run('scale, sum, mean, sumLast, meanLast', () => {
      const x = input([3, 5], rng);
      gradcheck('scale', [x], (t) => scale(t, -1.5));
      gradcheck('sum', [x], sum);
      gradcheck('mean', [x], mean);
      gradcheck('sumLast', [x], sumLast);
      gradcheck('meanLast', [x], meanLast);
      assert.equal(sum(Tensor.from([1, 2, 3.5])).item(), 6.5);
      assert.deepEqual(meanLast(Tensor.from([1, 3, 5, 7], [2, 2])).toArray(), [2, 6]);
    });

    run('reshape, transpose, permute, concat, split, slice', () => {
      const x = input([2, 3, 4], rng);
      gradcheck('reshape', [x], (t) => mul(reshape(t, [4, -1]), reshape(t, [4, 6])));
      gradcheck('transpose', [x], (t) => transpose(t, 0, 2));
      gradcheck('permute', [x], (t) => permute(t, [1, 2, 0]));
      const y = input([2, 2, 4], rng);
      gradcheck('concat', [x, y], (a, b) => concat([a, b], 1));
      gradcheck('split', [x], (t) => {
        const [p, q] = split(t, [1, 3], 2);
        return concat([scale(q, 2), p], 2);
      });
      gradcheck('slice', [x], (t) => slice(t, -1, 1, 3));
      const p = permute(Tensor.from([0, 1, 2, 3, 4, 5], [2, 3]), [1, 0]);
      assert.deepEqual(p.shape, [3, 2]);
      assert.deepEqual(p.toArray(), [0, 3, 1, 4, 2, 5]);
      assert.throws(() => permute(x, [0, 0, 1]), /not a permutation/);
      assert.throws(() => slice(x, 1, 2, 5), /out of range/);
    });

    run('embedding lookup (backward = scatter-add, repeated ids accumulate)', () => {
      const w = input([7, 3], rng);
      const ids = new Int32Array([2, 5, 2, 0]);
      gradcheck('embedding', [w], (t) => embedding(t, ids, [2, 2]));
      assert.throws(() => embedding(w, new Int32Array([7])), /outside \[0, 7\)/);
    });

    run('layerNorm with and without bias, rmsNorm', () => {
      const x = input([4, 7], rng);
      const w = input([7], rng);
      const b = input([7], rng);
      gradcheck('layerNorm', [x, w, b], (a, c, d) => layerNorm(a, c, d, 1e-5), { eps: 3e-3 });
      gradcheck('layerNorm no bias', [x, w], (a, c) => layerNorm(a, c, null, 1e-5), { eps: 3e-3 });
      gradcheck('rmsNorm', [x, w], (a, c) => rmsNorm(a, c, 1e-6), { eps: 3e-3 });
      const y = layerNorm(Tensor.from([1, 2, 3, 4], [1, 4]), Tensor.ones([4]), null, 0);
      const expect = [-1.3416408, -0.4472136, 0.4472136, 1.3416408];
      y.toArray().forEach((v, i) => {
        assert.ok(Math.abs(v - expect[i]) < 1e-5);
      });
    });

    run('softmax and logSoftmax', () => {
      const x = input([3, 6], rng);
      gradcheck('softmax', [x], softmax);
      gradcheck('logSoftmax', [x], logSoftmax);
      const s = softmax(Tensor.from([1000, 1000, -Infinity], [1, 3])).toArray();
      assert.deepEqual(s, [0.5, 0.5, 0]);
    });

    run('GELU (tanh and erf), SiLU, SwiGLU', () => {
      const x = input([5, 6], rng, 2);
      const u = input([5, 6], rng);
      gradcheck('gelu tanh', [x], (t) => gelu(t, 'tanh'));
      gradcheck('gelu erf', [x], (t) => gelu(t, 'none'));
      gradcheck('silu', [x], silu);
      gradcheck('swiglu', [x, u], swiglu);
      // exact GELU(1) = 0.841344746..., tanh approximation 0.841191990...
      assert.ok(Math.abs(gelu(Tensor.from([1]), 'none').item() - 0.8413447461) < 1e-6);
      assert.ok(Math.abs(gelu(Tensor.from([1]), 'tanh').item() - 0.8411919906) < 1e-6);
    });

    run('RoPE: half-split and interleaved, with a position offset; inverse restores x', () => {
      for (const interleaved of [false, true]) {
        const table = ropeTable(6, 16, 10000, interleaved);
        const x = input([2, 3, 2, 8], rng);
        gradcheck(`rope interleaved=${interleaved}`, [x], (t) => rope(t, table, 5));
      }
      // Rotation by position p of a pair (1, 0) in dim 0 gives (cos p, sin p).
      const table = ropeTable(2, 4);
      const y = rope(Tensor.from([1, 0], [1, 1, 1, 2]), table, 3).toArray();
      assert.ok(Math.abs(y[0] - Math.cos(3)) < 1e-6 && Math.abs(y[1] - Math.sin(3)) < 1e-6);
    });

    run('fused attention: MHA, GQA, MQA, causal and not, with a query offset', () => {
      for (const [Hq, Hkv] of [
        [4, 4],
        [4, 2],
        [4, 1],
      ]) {
        for (const causal of [true, false]) {
          const q = input([2, 3, Hq, 5], rng);
          const k = input([2, 4, Hkv, 5], rng);
          const v = input([2, 4, Hkv, 5], rng);
          gradcheck(`attention Hq=${Hq} Hkv=${Hkv} causal=${causal}`, [q, k, v], (a, b, c) =>
            attention(a, b, c, { causal }),
          );
        }
      }
    });

    run('attention equals the unfused softmax(q k^T / sqrt(d) + mask) v', () => {
      const [B, T, H, D] = [1, 5, 2, 4];
      const q = Tensor.randn([B, T, H, D], rng);
      const k = Tensor.randn([B, T, H, D], rng);
      const v = Tensor.randn([B, T, H, D], rng);
      const fused = attention(q, k, v);
      const qh = permute(q, [0, 2, 1, 3]);
      const kh = permute(k, [0, 2, 1, 3]);
      const vh = permute(v, [0, 2, 1, 3]);
      const scores = scale(matmul(qh, kh, { transB: true }), 1 / Math.sqrt(D));
      for (let i = 0; i < scores.size; i++) {
        const col = i % T;
        const row = Math.floor(i / T) % T;
        if (col > row) scores.data[i] = -Infinity;
      }
      const ref = permute(matmul(softmax(scores), vh), [0, 2, 1, 3]);
      fused.toArray().forEach((x, i) => {
        assert.ok(Math.abs(x - ref.data[i]) < 1e-5, `at ${i}: ${x} vs ${ref.data[i]}`);
      });
    });

    run(
      'attentionWeights: rows of softmax(q k^T / sqrt(d) + mask), and weights @ v is the fused output',
      () => {
        for (const [Hq, Hkv, causal] of [
          [4, 4, true],
          [4, 2, true],
          [6, 1, false],
        ] as const) {
          const [B, T, D] = [2, 5, 3];
          const q = Tensor.randn([B, T, Hq, D], rng);
          const k = Tensor.randn([B, T, Hkv, D], rng);
          const v = Tensor.randn([B, T, Hkv, D], rng);
          const P = attentionWeights(q, k, { causal }); // [B, Hq, T, T]
          assert.deepEqual(P.shape, [B, Hq, T, T]);
          const y = attention(q, k, v, { causal }).data; // [B, T, Hq, D]
          const g = Hq / Hkv;
          for (let b = 0; b < B; b++)
            for (let h = 0; h < Hq; h++)
              for (let i = 0; i < T; i++) {
                const row = P.data.subarray(((b * Hq + h) * T + i) * T, ((b * Hq + h) * T + i + 1) * T);
                const total = row.reduce((s2, x) => s2 + x, 0);
                assert.ok(Math.abs(total - 1) < 1e-5, `row sums to ${total}`);
                if (causal) for (let j = i + 1; j < T; j++) assert.equal(row[j], 0);
                for (let d = 0; d < D; d++) {
                  let ref = 0;
                  for (let j = 0; j < T; j++)
                    ref += row[j] * v.data[((b * T + j) * Hkv + Math.floor(h / g)) * D + d];
                  const got = y[((b * T + i) * Hq + h) * D + d];
                  assert.ok(Math.abs(got - ref) < 1e-5, `b${b} h${h} i${i} d${d}: ${got} vs ${ref}`);
                }
              }
        }
        const q = input([1, 3, 2, 4], rng);
        const k = input([1, 3, 1, 4], rng);
        gradcheck('attentionWeights', [q, k], (a, b) => attentionWeights(a, b));
      },
    );

    run('attentionCached on a ragged batch equals attention over each whole sequence', () => {
      const [Hq, Hkv, D, maxLen] = [4, 2, 3, 8];
      // Sequence 0 holds 3 past tokens and gets 2 new ones; sequence 1 holds 0 and gets 4; 2 gets 1.
      const seqs = [
        { past: 3, fresh: 2 },
        { past: 0, fresh: 4 },
        { past: 5, fresh: 1 },
      ];
      const stride = maxLen * Hkv * D;
      const store = {
        type: 'f32' as const,
        k: new Float32Array(3 * stride),
        v: new Float32Array(3 * stride),
        nKvHeads: Hkv,
        seqStride: stride,
      };
      const full = seqs.map(({ past, fresh }) => ({
        q: Tensor.randn([1, past + fresh, Hq, D], rng),
        k: Tensor.randn([1, past + fresh, Hkv, D], rng),
        v: Tensor.randn([1, past + fresh, Hkv, D], rng),
      }));
      const N = seqs.reduce((n, s) => n + s.fresh, 0);
      const q = Tensor.zeros([N, Hq, D]);
      const rows: { seq: number; start: number; length: number; past: number }[] = [];
      let start = 0;
      seqs.forEach(({ past, fresh }, seq) => {
        store.k.set(full[seq].k.data, seq * stride);
        store.v.set(full[seq].v.data, seq * stride);
        q.data.set(full[seq].q.data.subarray(past * Hq * D), start * Hq * D);
        rows.push({ seq, start, length: fresh, past });
        start += fresh;
      });
      const y = attentionCached(q, store, rows);
      rows.forEach((r) => {
        const ref = attention(full[r.seq].q, full[r.seq].k, full[r.seq].v).data.subarray(r.past * Hq * D);
        const got = y.data.subarray(r.start * Hq * D, (r.start + r.length) * Hq * D);
        got.forEach((x, i) => {
          assert.ok(Math.abs(x - ref[i]) < 1e-5, `seq ${r.seq} at ${i}: ${x} vs ${ref[i]}`);
        });
      });
    });

    run('attentionPacked: each group attends to itself, as bidirectional attention per sequence', () => {
      const [Hq, Hkv, D] = [4, 2, 3];
      // lengths 1, 5, 2: a lone token, a prime, and groups that a padded batch would pad to 5
      const lens = [1, 5, 2];
      const seqs = lens.map((T) => ({
        q: Tensor.randn([1, T, Hq, D], rng),
        k: Tensor.randn([1, T, Hkv, D], rng),
        v: Tensor.randn([1, T, Hkv, D], rng),
      }));
      const N = lens.reduce((a, b) => a + b, 0);
      const [q, k, v] = [Tensor.zeros([N, Hq, D]), Tensor.zeros([N, Hkv, D]), Tensor.zeros([N, Hkv, D])];
      const groups: { start: number; length: number }[] = [];
      let start = 0;
      seqs.forEach((s, i) => {
        q.data.set(s.q.data, start * Hq * D);
        k.data.set(s.k.data, start * Hkv * D);
        v.data.set(s.v.data, start * Hkv * D);
        groups.push({ start, length: lens[i] });
        start += lens[i];
      });
      const y = attentionPacked(q, k, v, groups);
      groups.forEach((g, i) => {
        const ref = attention(seqs[i].q, seqs[i].k, seqs[i].v, { causal: false }).data;
        const got = y.data.subarray(g.start * Hq * D, (g.start + g.length) * Hq * D);
        for (const [j, x] of got.entries())
          assert.ok(Math.abs(x - ref[j]) < 1e-5, `group ${i} at ${j}: ${x} vs ${ref[j]}`);
      });
      // a group that also saw its neighbour's keys would differ: the mask is real
      const all = attentionPacked(q, k, v, [{ start: 0, length: N }]);
      assert.ok(Math.abs(all.data[0] - y.data[0]) > 1e-4);
      assert.throws(() => attentionPacked(q, k, v, [{ start: 0, length: 3 }]), /groups cover 3 of 8 rows/);
      assert.throws(() => attentionPacked(q, k, v, [{ start: 1, length: 7 }]), /must tile the 8 rows/);
    });

    run('attention with a sliding window and soft-capped scores: gradients, weights, cache, errors', () => {
      // Gradients through the window mask and tanh (finite differences on both backends).
      for (const [window, softcap] of [
        [2, 0],
        [1, 0],
        [3, 1.5],
        [0, 0.8],
      ]) {
        const q = input([2, 5, 4, 3], rng);
        const k = input([2, 5, 2, 3], rng);
        const v = input([2, 5, 2, 3], rng);
        gradcheck(`attention window=${window} softcap=${softcap}`, [q, k, v], (a, b, c) =>
          attention(a, b, c, { window, softcap }),
        );
        gradcheck(`attentionWeights window=${window} softcap=${softcap}`, [q, k], (a, b) =>
          attentionWeights(a, b, { window, softcap }),
        );
      }
      // The weights hide exactly the keys outside p - window < j <= p, apply the cap, and
      // weights @ v is the fused output.
      const [B, T, Hq, Hkv, D, window, cap] = [1, 7, 2, 1, 4, 3, 0.5];
      const q = Tensor.randn([B, T, Hq, D], rng);
      const k = Tensor.randn([B, T, Hkv, D], rng);
      const v = Tensor.randn([B, T, Hkv, D], rng);
      const P = attentionWeights(q, k, { window, softcap: cap }).data; // [B, Hq, T, T]
      const y = attention(q, k, v, { window, softcap: cap }).data;
      for (let h = 0; h < Hq; h++)
        for (let i = 0; i < T; i++) {
          const row = P.subarray((h * T + i) * T, (h * T + i + 1) * T);
          // softmax of cap tanh(s / cap) over the visible keys, from the scores themselves
          const s = Array.from({ length: T }, (_, j) => {
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q.data[(i * Hq + h) * D + d] * k.data[j * D + d];
            return cap * Math.tanh(dot / Math.sqrt(D) / cap);
          });
          const seen = (j: number) => j <= i && j > i - window;
          const z = s.reduce((a, x, j) => a + (seen(j) ? Math.exp(x) : 0), 0);
          for (let j = 0; j < T; j++) {
            const want = seen(j) ? Math.exp(s[j]) / z : 0;
            assert.ok(Math.abs(row[j] - want) < 1e-6, `h${h} i${i} j${j}: ${row[j]} vs ${want}`);
          }
          for (let d = 0; d < D; d++) {
            const ref = row.reduce((a, p, j) => a + p * v.data[j * D + d], 0);
            assert.ok(Math.abs(y[(i * Hq + h) * D + d] - ref) < 1e-5, `h${h} i${i} d${d}`);
          }
        }
      // The cached path, one token at a time, equals the whole sequence with the same window.
      const stride = T * Hkv * D;
      const store = {
        type: 'f32' as const,
        k: k.data.slice(),
        v: v.data.slice(),
        nKvHeads: Hkv,
        seqStride: stride,
      };
      for (let t = 0; t < T; t++) {
        const qt = Tensor.wrap(q.data.slice(t * Hq * D, (t + 1) * Hq * D), [1, Hq, D]);
        const got = attentionCached(qt, store, [{ seq: 0, start: 0, length: 1, past: t }], {
          window,
          softcap: cap,
        }).data;
        const want = y.subarray(t * Hq * D, (t + 1) * Hq * D);
        for (let i = 0; i < got.length; i++)
          assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `token ${t} at ${i}: ${got[i]} vs ${want[i]}`);
      }
      // Bad options name themselves.
      assert.throws(() => attention(q, k, v, { window: -1 }), /window must be a non-negative integer/);
      assert.throws(() => attention(q, k, v, { window: 1.5 }), /window must be a non-negative integer/);
      assert.throws(() => attention(q, k, v, { window: 2, causal: false }), /sliding window needs causal/);
      assert.throws(() => attentionWeights(q, k, { softcap: -1 }), /softcap must be a finite number >= 0/);
    });

    run('RoPE with a position per token equals RoPE with an offset per row', () => {
      const table = ropeTable(4, 16);
      const a = Tensor.randn([1, 3, 2, 4], rng);
      const b = Tensor.randn([1, 2, 2, 4], rng);
      // One ragged row: a at positions 5..7, then b at 0..1.
      const both = Tensor.zeros([1, 5, 2, 4]);
      both.data.set(a.data);
      both.data.set(b.data, a.size);
      const y = rope(both, table, Int32Array.of(5, 6, 7, 0, 1)).data;
      const ref = [...rope(a, table, 5).data, ...rope(b, table, 0).data];
      ref.forEach((x, i) => {
        assert.ok(Math.abs(x - y[i]) < 1e-6, `at ${i}`);
      });
      const x = input([1, 5, 2, 4], rng);
      gradcheck('rope positions', [x], (t) => rope(t, table, Int32Array.of(5, 6, 7, 0, 1)));
      assert.throws(
        () => rope(both, table, Int32Array.of(14, 15, 16, 0, 1)),
        /position 16 beyond table size 16/,
      );
    });

    run('linear: x @ W.T + b for any leading dims, gradients for x, W and b', () => {
      const x = input([2, 3, 5], rng);
      const w = input([4, 5], rng);
      const b = input([4], rng);
      gradcheck('linear with bias', [x, w, b], (t, u, c) => linear(t, u, c));
      gradcheck('linear without bias', [x, w], (t, u) => linear(t, u));
      const ref = add(matmul(x, w, { transB: true }), b).toArray();
      linear(x, w, b)
        .toArray()
        .forEach((y, i) => {
          assert.ok(Math.abs(y - ref[i]) < 1e-5);
        });
      assert.throws(() => linear(input([2, 4], rng), w), /does not end in the weight's 5 inputs/);
      assert.throws(() => linear(x, w, input([3], rng)), /bias \[3\] does not match 4 outputs/);
    });

    run('crossEntropy with ignore index; gatherLogProbs', () => {
      const logits = input([5, 7], rng);
      const targets = new Int32Array([3, -100, 0, 6, -100]);
      gradcheck('crossEntropy', [logits], (t) => crossEntropy(t, targets));
      gradcheck('gatherLogProbs', [logits], (t) => gatherLogProbs(t, new Int32Array([1, 2, 3, 4, 5])));
      // uniform logits: loss = log V
      assert.ok(
        Math.abs(crossEntropy(Tensor.zeros([2, 7]), new Int32Array([1, 2])).item() - Math.log(7)) < 1e-6,
      );
      // all rows ignored: 0, not NaN
      assert.equal(crossEntropy(Tensor.zeros([2, 7]), new Int32Array([-100, -100])).item(), 0);
      assert.throws(() => crossEntropy(logits, new Int32Array([7, 0, 0, 0, 0])), /target 7 at row 0/);
    });

    run('dropout: seeded, scaled, and identity when not training', () => {
      const x = input([4, 25], rng);
      gradcheck('dropout', [x], (t) => dropout(t, 0.3, new Rng(5)));
      const y = dropout(Tensor.ones([10000]), 0.25, new Rng(3)).toArray();
      const zeros = y.filter((v) => v === 0).length;
      assert.ok(zeros > 2300 && zeros < 2700, `${zeros} zeros of 10000 at p=0.25`);
      assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
      assert.deepEqual(
        dropout(Tensor.ones([3]), 0.5, new Rng(1)).toArray(),
        dropout(Tensor.ones([3]), 0.5, new Rng(1)).toArray(),
      );
      const z = Tensor.ones([3]);
      assert.equal(dropout(z, 0.5, new Rng(1), false), z);
    });
  });
}
