/**
 * GGUF: byte layout checked by hand, write -> read round trips of every value type, alignment,
 * the RoPE row permutation (against RoPE itself, not just its inverse), and the llama / qwen2 /
 * gemma2 / gemma3 / gpt2 exporters round-tripping through the importer (config, tensors, and for
 * the Gemmas and the windowed families the logits too), and the refusals of what llama.cpp cannot
 * express.
 */
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { f32ArrayToF16 } from '../../src/io/float16.ts';
import { type GgufValue, gv, openGguf, writeGguf } from '../../src/io/gguf.ts';
import {
  exportGguf,
  exportLlamaGguf,
  type GgufTokenizer,
  importGguf,
  permuteQkForGguf,
  unpermuteQkFromGguf,
} from '../../src/io/gguf_export.ts';
import { type NamedTensor, type TensorMap, toFloat32 } from '../../src/io/tensors.ts';
import { kernels, useBackend } from '../../src/kernels/index.ts';
import { loadNative } from '../../src/kernels/native.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { DecoderLM } from '../../src/models/decoder.ts';
import { randomCanonical, randomF32, rng, sameTensors, tempDir, tinyGpt2, tinyLlama } from './helpers.ts';

const dir = tempDir();

describe('GGUF container', () => {
  test('byte layout of a minimal file', () => {
    const p = join(dir, 'min.gguf');
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    writeGguf(p, new Map([['general.architecture', gv.str('x')]]), [
      { name: 't', shape: [2, 3], dtype: 'F32', data },
    ]);
    const b = readFileSync(p);
    assert.equal(b.subarray(0, 4).toString('latin1'), 'GGUF');
    assert.equal(b.readUInt32LE(4), 3); // version
    assert.equal(b.readBigUInt64LE(8), 1n); // tensors
    assert.equal(b.readBigUInt64LE(16), 1n); // kv pairs
    assert.equal(b.readBigUInt64LE(24), 20n); // key length
    assert.equal(b.subarray(32, 52).toString(), 'general.architecture');
    assert.equal(b.readUInt32LE(52), 8); // STRING
    assert.equal(b.readBigUInt64LE(56), 1n);
    assert.equal(b.subarray(64, 65).toString(), 'x');
    assert.equal(b.readBigUInt64LE(65), 1n); // tensor name length
    assert.equal(b.subarray(73, 74).toString(), 't');
    assert.equal(b.readUInt32LE(74), 2); // n_dims
    assert.equal(b.readBigUInt64LE(78), 3n); // innermost dim first
    assert.equal(b.readBigUInt64LE(86), 2n);
    assert.equal(b.readUInt32LE(94), 0); // GGML_TYPE_F32
    assert.equal(b.readBigUInt64LE(98), 0n); // offset in the data section
    assert.ok(b.subarray(106, 128).every((x) => x === 0)); // padding to 32
    assert.deepEqual(
      [...new Float32Array(b.buffer.slice(b.byteOffset + 128, b.byteOffset + 152))],
      [...data],
    );
    assert.equal(b.length, 160); // the last tensor is padded too
  });

  test('every value type and tensors of several dtypes round trip, aligned', () => {
    const kv = new Map<string, GgufValue>([
      ['general.alignment', gv.u32(64)],
      ['u8', { type: 'u8', value: 255 }],
      ['i8', { type: 'i8', value: -128 }],
      ['u16', { type: 'u16', value: 65535 }],
      ['i16', { type: 'i16', value: -32768 }],
      ['u32', gv.u32(4294967295)],
      ['i32', gv.i32(-2147483648)],
      ['f32', gv.f32(0.5)],
      ['f64', { type: 'f64', value: 0.1 }],
      ['bool', gv.bool(true)],
      ['u64', { type: 'u64', value: 2n ** 64n - 1n }],
      ['i64', { type: 'i64', value: -(2n ** 63n) }],
      ['str', gv.str('héllo ☃ \u0000 end')],
      ['strs', gv.strs(['a', '', 'Ġthe', '🙂'])],
      ['i32s', gv.i32s([1, -2, 3])],
      ['f32s', gv.f32s([0.25, -1])],
      ['bools', { type: 'array', itemType: 'bool', value: [true, false] }],
      ['u64s', { type: 'array', itemType: 'u64', value: [1n, 2n] }],
      ['empty', gv.strs([])],
    ]);
    const next = rng(1);
    const tensors: NamedTensor[] = [
      randomF32('a', [3, 5], next),
      { name: 'b', shape: [7], dtype: 'F16', data: new Uint16Array([1, 2, 3, 4, 5, 6, 7]) },
      { name: 'c', shape: [2, 1, 3], dtype: 'BF16', data: new Uint16Array(6).fill(0x3f80) },
      { name: 'd', shape: [1], dtype: 'I32', data: new Int32Array([-9]) },
      { name: 'e', shape: [2], dtype: 'I64', data: new BigInt64Array([-1n, 2n ** 40n]) },
    ];
    const p = join(dir, 'all.gguf');
    writeGguf(p, kv, tensors);
    const f = openGguf(p);
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 64);
    assert.deepEqual([...f.kv], [...kv]);
    for (const t of tensors) {
      const info = f.tensors.get(t.name)!;
      assert.equal(info.start % 64, 0, `${t.name} aligned`);
      assert.deepEqual(info.dims, [...t.shape].reverse());
      assert.ok(sameTensors(new Map([[t.name, f.read(t.name)]]), new Map([[t.name, t]])), t.name);
    }
    f.close();
  });

  test('writer refuses bad values; reader names the file and the tensor on corruption', () => {
    const p = join(dir, 'bad.gguf');
    assert.throws(() => writeGguf(p, new Map([['k', gv.u32(-1)]]), []), /kv k: "-1" is not a valid u32/);
    assert.throws(() => writeGguf(p, new Map([['general.alignment', gv.u32(24)]]), []), /power of two/);
    writeGguf(p, new Map([['k', gv.strs(['a', 'b'])]]), [
      { name: 'w', shape: [64], dtype: 'F32', data: new Float32Array(64) },
    ]);
    const size = readFileSync(p).length;
    truncateSync(p, size - 40);
    assert.throws(
      () => openGguf(p),
      (e: Error) => e.message.startsWith(p) && /tensor w: .*truncated/.test(e.message),
    );
    truncateSync(p, 30);
    assert.throws(
      () => openGguf(p),
      (e: Error) => e.message.startsWith(p) && /truncated/.test(e.message),
    );
    writeFileSync(p, 'GGML0000000000000000000000000');
    assert.throws(() => openGguf(p), /bad\.gguf: not a GGUF file/);
    // a string length pointing past the end of the file
    const b = Buffer.alloc(40);
    b.write('GGUF', 0, 'latin1');
    b.writeUInt32LE(3, 4);
    b.writeBigUInt64LE(0n, 8);
    b.writeBigUInt64LE(1n, 16);
    b.writeBigUInt64LE(1000000n, 24);
    writeFileSync(p, b);
    assert.throws(() => openGguf(p), /bad\.gguf: key of kv #0: string of 1000000 bytes runs past the end/);
  });
});

describe('RoPE permutation', () => {
  test('rows of each head go from half-split to interleaved', () => {
    // 2 heads of size 6, one column: row r holds r
    const t: NamedTensor = {
      name: 'q',
      shape: [12, 1],
      dtype: 'F32',
      data: Float32Array.from({ length: 12 }, (_, i) => i),
    };
    const p = permuteQkForGguf(t, 2);
    assert.deepEqual([...(p.data as Float32Array)], [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
    assert.deepEqual([...(unpermuteQkFromGguf(p, 2).data as Float32Array)], [...t.data]);
  });

  test('un-permuting restores the original (weights, biases, F16)', () => {
    const w = randomF32('w', [4 * 16, 24], rng(5));
    assert.ok(
      sameTensors(new Map([['w', unpermuteQkFromGguf(permuteQkForGguf(w, 4), 4)]]), new Map([['w', w]])),
    );
    assert.notDeepEqual([...(permuteQkForGguf(w, 4).data as Float32Array)], [...w.data]);
    const b: NamedTensor = {
      name: 'b',
      shape: [16],
      dtype: 'F16',
      data: Uint16Array.from({ length: 16 }, (_, i) => i),
    };
    assert.deepEqual([...unpermuteQkFromGguf(permuteQkForGguf(b, 2), 2).data], [...b.data]);
    assert.throws(() => permuteQkForGguf(randomF32('x', [10, 2], rng(1)), 4), /cannot be split into 4 heads/);
  });

  test('adjacent-pair RoPE on permuted rows equals HF half-split RoPE, permuted', () => {
    const hd = 8;
    const half = hd / 2;
    const theta = (i: number) => 10000 ** ((-2 * i) / hd);
    const ropeHf = (q: number[], pos: number) => {
      const o = [...q];
      for (let i = 0; i < half; i++) {
        const [c, s] = [Math.cos(pos * theta(i)), Math.sin(pos * theta(i))];
        o[i] = q[i]! * c - q[i + half]! * s;
        o[i + half] = q[i + half]! * c + q[i]! * s;
      }
      return o;
    };
    const ropeAdjacent = (q: number[], pos: number) => {
      const o = [...q];
      for (let i = 0; i < half; i++) {
        const [c, s] = [Math.cos(pos * theta(i)), Math.sin(pos * theta(i))];
        o[2 * i] = q[2 * i]! * c - q[2 * i + 1]! * s;
        o[2 * i + 1] = q[2 * i + 1]! * c + q[2 * i]! * s;
      }
      return o;
    };
    const next = rng(9);
    const D = 5;
    const wq = randomF32('wq', [hd, D], next);
    const wk = randomF32('wk', [hd, D], next);
    const x = Array.from({ length: D }, next);
    const y = Array.from({ length: D }, next);
    const mv = (w: NamedTensor) => (v: number[]) =>
      Array.from({ length: hd }, (_, r) =>
        v.reduce((s, vi, c) => s + (w.data as Float32Array)[r * D + c]! * vi, 0),
      );
    const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * b[i]!, 0);
    for (const [pq, pk] of [
      [3, 1],
      [17, 4],
    ] as const) {
      const hfScore = dot(ropeHf(mv(wq)(x), pq), ropeHf(mv(wk)(y), pk));
      const q2 = ropeAdjacent(mv(permuteQkForGguf(wq, 1))(x), pq);
      const k2 = ropeAdjacent(mv(permuteQkForGguf(wk, 1))(y), pk);
      assert.ok(Math.abs(dot(q2, k2) - hfScore) < 1e-9, 'attention scores agree');
      // and the wrong direction (the inverse) does not agree
      const q3 = ropeAdjacent(mv(unpermuteQkFromGguf(wq, 1))(x), pq);
      const k3 = ropeAdjacent(mv(unpermuteQkFromGguf(wk, 1))(y), pk);
      assert.ok(Math.abs(dot(q3, k3) - hfScore) > 1e-6, 'the inverse permutation is not the same');
    }
  });
});

function tokenizerFor(c: ModelConfig): GgufTokenizer {
  const tokens = Array.from({ length: c.vocabSize }, (_, i) => (i === 0 ? '<|endoftext|>' : `t${i}`));
  return {
    tokens,
    tokenTypes: tokens.map((_, i) => (i === 0 ? 3 : 1)),
    merges: ['t 1', 'Ġ t'],
    bosId: 0,
    eosId: 0,
    model: 'gpt2',
    pre: 'gpt-2',
  };
}

describe('exportGguf / importGguf', () => {
  test('llama (GQA): keys, names, permutation, F32 data, round trip', () => {
    const c = tinyLlama({ ropeTheta: 500000, normEps: 1e-5, bosTokenId: 0, eosTokenId: 0 });
    const canon = randomCanonical(c, 3);
    const p = join(dir, 'llama.gguf');
    exportLlamaGguf(p, c, canon, tokenizerFor(c), { name: 'tiny' });
    const f = openGguf(p);
    const kv = f.kv;
    const want: [string, GgufValue][] = [
      ['general.architecture', gv.str('llama')],
      ['general.name', gv.str('tiny')],
      ['general.file_type', gv.u32(0)],
      ['general.alignment', gv.u32(32)],
      ['llama.context_length', gv.u32(16)],
      ['llama.embedding_length', gv.u32(32)],
      ['llama.block_count', gv.u32(2)],
      ['llama.feed_forward_length', gv.u32(48)],
      ['llama.attention.head_count', gv.u32(4)],
      ['llama.attention.head_count_kv', gv.u32(2)],
      ['llama.rope.dimension_count', gv.u32(8)],
      ['llama.rope.freq_base', gv.f32(500000)],
      ['llama.attention.layer_norm_rms_epsilon', gv.f32(Math.fround(1e-5))],
      ['tokenizer.ggml.model', gv.str('gpt2')],
      ['tokenizer.ggml.pre', gv.str('gpt-2')],
      ['tokenizer.ggml.merges', gv.strs(['t 1', 'Ġ t'])],
      ['tokenizer.ggml.bos_token_id', gv.u32(0)],
      ['tokenizer.ggml.eos_token_id', gv.u32(0)],
      ['tokenizer.ggml.add_bos_token', gv.bool(false)],
    ];
    for (const [k, v] of want) assert.deepEqual(kv.get(k), v, k);
    assert.deepEqual(
      (kv.get('tokenizer.ggml.token_type') as { value: number[] }).value.slice(0, 3),
      [3, 1, 1],
    );
    assert.ok(!kv.has('llama.attention.key_length'));
    const names = [...f.tensors.keys()];
    assert.deepEqual(names.slice(0, 11), [
      'token_embd.weight',
      'blk.0.attn_norm.weight',
      'blk.0.attn_q.weight',
      'blk.0.attn_k.weight',
      'blk.0.attn_v.weight',
      'blk.0.attn_output.weight',
      'blk.0.ffn_norm.weight',
      'blk.0.ffn_gate.weight',
      'blk.0.ffn_up.weight',
      'blk.0.ffn_down.weight',
      'blk.1.attn_norm.weight',
    ]);
    assert.deepEqual(names.slice(-2), ['output_norm.weight', 'output.weight']);
    assert.deepEqual(f.tensors.get('blk.0.attn_k.weight')!.dims, [32, 16]); // [in, out]
    assert.deepEqual(f.tensors.get('blk.0.ffn_gate.weight')!.dims, [32, 48]);
    const q = f.read('blk.1.attn_q.weight');
    assert.ok(
      sameTensors(
        new Map([['q', { ...q, name: 'q' }]]),
        new Map([['q', permuteQkForGguf({ ...canon.get('layers.1.attention.wq.weight')!, name: 'q' }, 4)]]),
      ),
    );
    const k = f.read('blk.1.attn_k.weight');
    assert.ok(
      sameTensors(
        new Map([['k', { ...k, name: 'k' }]]),
        new Map([['k', permuteQkForGguf({ ...canon.get('layers.1.attention.wk.weight')!, name: 'k' }, 2)]]),
      ),
    );
    const v = f.read('blk.1.attn_v.weight');
    assert.deepEqual([...v.data], [...canon.get('layers.1.attention.wv.weight')!.data], 'V is not permuted');
    f.close();

    const back = importGguf(p);
    assert.ok(sameTensors(back.tensors, canon));
    assert.deepEqual(back.config, { ...c, torchDtype: null, dropout: 0, initStd: 0.02 });
    assert.deepEqual(back.tokenizer, { ...tokenizerFor(c), addBos: false });
    // optional tokenizer metadata round trips too
    const tok = {
      ...tokenizerFor(c),
      scores: tokenizerFor(c).tokens.map((_, i) => -i),
      padId: 3,
      addBos: true,
      chatTemplate: '{{ x }}',
    };
    exportGguf(p, c, canon, tok);
    assert.deepEqual(importGguf(p).tokenizer, tok);
  });

  test('F16: matrices F16 (rounded as f32ArrayToF16), norms F32; tied output omitted', () => {
    const c = tinyLlama({ tiedEmbeddings: true, headDim: 16 });
    const canon = randomCanonical(c, 4);
    const p = join(dir, 'llama16.gguf');
    exportGguf(p, c, canon, tokenizerFor(c), { dtype: 'F16' });
    const f = openGguf(p);
    assert.deepEqual(f.kv.get('general.file_type'), gv.u32(1));
    assert.deepEqual(f.kv.get('llama.attention.key_length'), gv.u32(16));
    assert.ok(!f.tensors.has('output.weight'));
    assert.equal(f.tensors.get('blk.0.attn_norm.weight')!.ggmlType, 0);
    assert.equal(f.tensors.get('output_norm.weight')!.ggmlType, 0);
    assert.equal(f.tensors.get('blk.0.ffn_down.weight')!.ggmlType, 1);
    assert.equal(f.tensors.get('token_embd.weight')!.ggmlType, 1);
    assert.deepEqual(
      [...f.read('blk.0.ffn_down.weight').data],
      [...f32ArrayToF16(canon.get('layers.0.feed_forward.w2.weight')!.data as Float32Array)],
    );
    f.close();
    const back = importGguf(p);
    assert.equal(back.config.tiedEmbeddings, true);
    assert.equal(back.config.headDim, 16);
    assert.equal(back.tensors.get('layers.0.attention.wq.weight')!.dtype, 'F16');
  });

  test('qwen2: own architecture, biases, no permutation', () => {
    const c = tinyLlama({ arch: 'qwen2', qkvBias: true, tiedEmbeddings: true, ropeTheta: 1e6 });
    const canon = randomCanonical(c, 6);
    const p = join(dir, 'qwen2.gguf');
    exportGguf(p, c, canon, tokenizerFor(c));
    const f = openGguf(p);
    assert.deepEqual(f.kv.get('general.architecture'), gv.str('qwen2'));
    assert.ok(f.kv.has('qwen2.attention.head_count_kv'));
    assert.deepEqual(
      [...f.read('blk.0.attn_q.weight').data],
      [...canon.get('layers.0.attention.wq.weight')!.data],
    );
    assert.ok(f.tensors.has('blk.0.attn_k.bias'));
    f.close();
    const back = importGguf(p);
    assert.ok(sameTensors(back.tensors, canon));
    assert.equal(back.config.arch, 'qwen2');
    assert.equal(back.config.qkvBias, true);
    assert.equal(back.config.ropeTheta, 1e6);
  });

  test('gpt2: fused attn_qkv, learned positions, output written even when tied', () => {
    const c = tinyGpt2();
    const canon = randomCanonical(c, 8);
    const p = join(dir, 'gpt2.gguf');
    exportGguf(p, c, canon, tokenizerFor(c));
    const f = openGguf(p);
    assert.deepEqual(f.kv.get('general.architecture'), gv.str('gpt2'));
    assert.deepEqual(f.kv.get('gpt2.attention.layer_norm_epsilon'), gv.f32(Math.fround(1e-5)));
    assert.deepEqual(f.tensors.get('blk.0.attn_qkv.weight')!.dims, [32, 96]);
    assert.deepEqual(f.tensors.get('blk.0.attn_qkv.bias')!.dims, [96]);
    assert.deepEqual(f.tensors.get('position_embd.weight')!.dims, [32, 16]);
    assert.ok(f.tensors.has('output.weight'));
    assert.ok(f.tensors.has('output_norm.bias'));
    f.close();
    const back = importGguf(p);
    assert.equal(back.config.tiedEmbeddings, true);
    assert.ok(sameTensors(back.tensors, canon));
  });

  test('gemma2: keys, 1 + w norms, sandwich norm names, tied; round trip of config and logits', () => {
    const c = tinyLlama({
      arch: 'gemma2',
      ffnType: 'geglu',
      scaleEmbeddings: true,
      sandwichNorm: true,
      normUnitOffset: true,
      tiedEmbeddings: true,
      slidingWindow: 4,
      attnLogitSoftcap: 50,
      finalLogitSoftcap: 30,
      queryScale: 8,
      eosTokenId: 0,
    });
    const canon = randomCanonical(c, 9);
    const p = join(dir, 'gemma2.gguf');
    exportGguf(p, c, canon, tokenizerFor(c));
    const f = openGguf(p);
    const want: [string, GgufValue][] = [
      ['general.architecture', gv.str('gemma2')],
      ['gemma2.attention.key_length', gv.u32(8)],
      ['gemma2.attention.value_length', gv.u32(8)],
      ['gemma2.attention.sliding_window', gv.u32(4)],
      ['gemma2.attn_logit_softcapping', gv.f32(50)],
      ['gemma2.final_logit_softcapping', gv.f32(30)],
    ];
    for (const [k, v] of want) assert.deepEqual(f.kv.get(k), v, k);
    assert.ok(!f.tensors.has('output.weight'), 'the head is token_embd');
    for (const [gguf, canonName] of [
      ['blk.1.attn_norm.weight', 'layers.1.attention_norm.weight'],
      ['blk.1.post_attention_norm.weight', 'layers.1.post_attention_norm.weight'],
      ['blk.1.ffn_norm.weight', 'layers.1.ffn_norm.weight'],
      ['blk.1.post_ffw_norm.weight', 'layers.1.post_ffn_norm.weight'],
      ['output_norm.weight', 'norm.weight'],
    ] as const) {
      const w = canon.get(canonName)!.data as Float32Array;
      assert.deepEqual([...f.read(gguf).data], [...Float32Array.from(w, (x) => x + 1)], gguf);
    }
    // NEOX RoPE in llama.cpp's gemma2: Q stays in Hugging Face's layout
    assert.deepEqual(
      [...f.read('blk.0.attn_q.weight').data],
      [...canon.get('layers.0.attention.wq.weight')!.data],
    );
    f.close();
    const back = importGguf(p);
    assert.deepEqual(back.config, { ...c, torchDtype: null, dropout: 0, initStd: 0.02 });
    // (1 + w) - 1 in f32 is w up to half an ulp of 1 + w
    for (const [name, t] of canon) {
      const b = toFloat32(back.tensors.get(name)!);
      const tol = name.includes('norm') ? 2 ** -24 : 0;
      let d = 0;
      toFloat32(t).forEach((x, i) => {
        d = Math.max(d, Math.abs(b[i]! - x));
      });
      assert.ok(d <= tol, `${name}: max |difference| ${d}`);
    }
    assert.ok(maxLogitDiff(c, canon, back.config, back.tensors) <= 1e-5);
  });

  test('gemma3: keys llama.cpp reads (window, period, both RoPE bases, linear scaling), 1 + w q/k norms; round trip', () => {
    const c = tinyLlama({
      arch: 'gemma3',
      nLayers: 7,
      ffnType: 'geglu',
      scaleEmbeddings: true,
      sandwichNorm: true,
      normUnitOffset: true,
      tiedEmbeddings: true,
      qkNorm: true,
      slidingWindow: 3,
      ropeTheta: 1000000,
      ropeLocalTheta: 10000,
      ropeScaling: { type: 'linear', factor: 8 },
      finalLogitSoftcap: 20,
      queryScale: 8,
      eosTokenId: 0,
    });
    const canon = randomCanonical(c, 12);
    const p = join(dir, 'gemma3.gguf');
    exportGguf(p, c, canon, tokenizerFor(c));
    const f = openGguf(p);
    const want: [string, GgufValue][] = [
      ['general.architecture', gv.str('gemma3')],
      ['gemma3.attention.key_length', gv.u32(8)],
      ['gemma3.attention.sliding_window', gv.u32(3)],
      ['gemma3.attention.sliding_window_pattern', gv.u32(6)],
      ['gemma3.rope.freq_base', gv.f32(1000000)],
      ['gemma3.rope.freq_base_swa', gv.f32(10000)],
      ['gemma3.rope.scaling.type', gv.str('linear')],
      ['gemma3.rope.scaling.factor', gv.f32(8)],
      ['gemma3.final_logit_softcapping', gv.f32(20)],
    ];
    for (const [k, v] of want) assert.deepEqual(f.kv.get(k), v, k);
    assert.ok(!f.kv.has('gemma3.attn_logit_softcapping'));
    // llama.cpp's gemma3 creates no rope_freqs tensor: a file with one would not load
    assert.ok(!f.tensors.has('rope_freqs.weight') && !f.tensors.has('output.weight'));
    for (const [gguf, canonName] of [
      ['blk.6.attn_q_norm.weight', 'layers.6.attention.q_norm.weight'],
      ['blk.6.attn_k_norm.weight', 'layers.6.attention.k_norm.weight'],
      ['blk.6.post_ffw_norm.weight', 'layers.6.post_ffn_norm.weight'],
    ] as const) {
      const w = canon.get(canonName)!.data as Float32Array;
      assert.deepEqual([...f.read(gguf).data], [...Float32Array.from(w, (x) => x + 1)], gguf);
    }
    f.close();
    const back = importGguf(p);
    assert.deepEqual(back.config, { ...c, torchDtype: null, dropout: 0, initStd: 0.02 });
    assert.ok(maxLogitDiff(c, canon, back.config, back.tensors) <= 1e-5);
    // what the file says is live on these 6 tokens: the local base, the scaling, the window
    for (const o of [{ ropeLocalTheta: null }, { ropeScaling: null }, { slidingWindow: null }] as const)
      assert.ok(maxLogitDiff(c, canon, { ...c, ...o }, canon) > 1e-3, JSON.stringify(o));

    // as llama.cpp's converter writes it: no period, no freq_base_swa, the factor without a type;
    // llama.cpp's defaults (6, 10000, linear) give the same model
    const bare = join(dir, 'gemma3bare.gguf');
    const src = openGguf(p);
    const dropped = ['sliding_window_pattern', 'rope.freq_base_swa', 'rope.scaling.type'].map(
      (k) => `gemma3.${k}`,
    );
    writeGguf(
      bare,
      new Map([...src.kv].filter(([k]) => !dropped.includes(k))),
      [...src.tensors.keys()].map((name) => {
        const t = src.read(name);
        return { name, shape: t.shape, dtype: 'F32' as const, data: t.data as Float32Array };
      }),
    );
    src.close();
    assert.deepEqual(importGguf(bare).config, back.config);

    // Q8_0 kept quantized (dtype auto) holds the file's blocks as they are: no llama-style Q/K
    // row permutation for gemma3 (token_embd's 11 rows would not even split into heads)
    const q8 = join(dir, 'gemma3.q8_0.gguf');
    exportGguf(q8, c, canon, tokenizerFor(c), { dtype: 'Q8_0' });
    const kept = importGguf(q8, { keepQuantized: true }).quantized;
    const fq = openGguf(q8);
    for (const [gguf, canonName] of [
      ['blk.0.attn_q.weight', 'layers.0.attention.wq.weight'],
      ['blk.0.attn_k.weight', 'layers.0.attention.wk.weight'],
      ['token_embd.weight', 'tok_embeddings.weight'],
    ] as const)
      assert.deepEqual(kept.get(canonName)?.data, fq.readQuantized(gguf).data, gguf);
    fq.close();

    // another period (every other layer global), no final cap, no scaling
    const p2c = {
      ...c,
      slidingLayers: [true, false, true, false, true, false, true],
      finalLogitSoftcap: null,
      ropeScaling: null,
    };
    const p2 = join(dir, 'gemma3p2.gguf');
    exportGguf(p2, p2c, canon, tokenizerFor(p2c));
    const f2 = openGguf(p2);
    assert.deepEqual(f2.kv.get('gemma3.attention.sliding_window_pattern'), gv.u32(2));
    assert.ok(!f2.kv.has('gemma3.final_logit_softcapping') && !f2.kv.has('gemma3.rope.scaling.type'));
    f2.close();
    assert.deepEqual(importGguf(p2).config, { ...p2c, torchDtype: null, dropout: 0, initStd: 0.02 });

    const refusals: [Partial<ModelConfig>, RegExp][] = [
      [{ attnLogitSoftcap: 50 }, /gemma3 GGUF export: attnLogitSoftcap is set/],
      [{ queryScale: 16 }, /queryScale 16 is not expressible; llama\.cpp scales scores by 8\^-1\/2/],
      [
        { slidingLayers: [true, false, false, true, true, true, true] },
        /sliding layers \[0,3,4,5,6\] follow no period/,
      ],
      [{ slidingWindow: null }, /ropeLocalTheta needs a sliding window/],
      [{ ropeLocalTheta: null }, /RoPE scaling on the sliding layers/],
      [
        {
          ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8 },
        },
        /llama3 RoPE scaling; llama\.cpp's gemma3 reads linear scaling only/,
      ],
    ];
    for (const [o, re] of refusals)
      assert.throws(() => exportGguf(join(dir, 'refused3.gguf'), { ...c, ...o }, canon, tokenizerFor(c)), re);
  });

  test('sliding windows: mistral as llama with the window key, qwen2 layer pattern; read back', () => {
    const m = tinyLlama({ arch: 'mistral', slidingWindow: 3, eosTokenId: 0 });
    const canon = randomCanonical(m, 10);
    const p = join(dir, 'mistral.gguf');
    exportGguf(p, m, canon, tokenizerFor(m));
    let f = openGguf(p);
    assert.deepEqual(f.kv.get('general.architecture'), gv.str('llama'));
    assert.deepEqual(f.kv.get('llama.attention.sliding_window'), gv.u32(3));
    assert.ok(!f.kv.has('llama.attention.sliding_window_pattern'));
    f.close();
    let back = importGguf(p);
    assert.deepEqual(back.config, { ...m, torchDtype: null, dropout: 0, initStd: 0.02 });
    assert.ok(sameTensors(back.tensors, canon));
    // the window matters on this sequence (6 > 3 tokens), so the logits check it was applied
    assert.ok(maxLogitDiff(m, canon, { ...m, slidingWindow: null }, canon) > 1e-3);
    assert.equal(maxLogitDiff(m, canon, back.config, back.tensors), 0);

    const q = tinyLlama({ arch: 'qwen2', slidingWindow: 3, slidingLayers: [false, true], eosTokenId: 0 });
    const qc = randomCanonical(q, 11);
    const pq = join(dir, 'qwen2w.gguf');
    exportGguf(pq, q, qc, tokenizerFor(q));
    f = openGguf(pq);
    assert.deepEqual(f.kv.get('qwen2.attention.sliding_window_pattern'), {
      type: 'array',
      itemType: 'bool',
      value: [false, true],
    });
    f.close();
    back = importGguf(pq);
    assert.deepEqual(back.config, { ...q, torchDtype: null, dropout: 0, initStd: 0.02 });
  });

  test('refusals: what llama.cpp would compute differently', () => {
    const g = tinyLlama({
      arch: 'gemma2',
      ffnType: 'geglu',
      scaleEmbeddings: true,
      sandwichNorm: true,
      normUnitOffset: true,
      tiedEmbeddings: true,
      slidingWindow: 4,
      attnLogitSoftcap: 50,
      finalLogitSoftcap: 30,
    });
    const canon = randomCanonical(g);
    const p = join(dir, 'refused.gguf');
    const cases: [Partial<ModelConfig>, RegExp][] = [
      [{ slidingWindow: null }, /refused\.gguf: gemma2 GGUF export: slidingWindow is null/],
      [{ attnLogitSoftcap: null }, /attnLogitSoftcap is null/],
      [{ finalLogitSoftcap: null }, /finalLogitSoftcap is null/],
      [{ queryScale: 16 }, /queryScale 16 is not expressible; llama\.cpp scales scores by 8\^-1\/2/],
      [{ slidingLayers: [true, true] }, /slidingLayers must be the even layers/],
    ];
    for (const [o, re] of cases)
      assert.throws(() => exportGguf(p, { ...g, ...o }, canon, tokenizerFor(g)), re);
    const l = tinyLlama({
      ropeScaling: {
        type: 'yarn',
        factor: 4,
        originalContext: 8,
        betaFast: 32,
        betaSlow: 1,
        attentionFactor: 1.1,
      },
    });
    assert.throws(
      () => exportGguf(p, l, randomCanonical(l), tokenizerFor(l)),
      /refused\.gguf: yarn RoPE scaling is not written to GGUF/,
    );
  });

  test('refusals name the file and tensor', () => {
    const c = tinyLlama();
    const canon = randomCanonical(c);
    const p = join(dir, 'x.gguf');
    const m = new Map(canon);
    m.delete('layers.1.feed_forward.w3.weight');
    assert.throws(
      () => exportGguf(p, c, m, tokenizerFor(c)),
      /x\.gguf: missing tensor layers\.1\.feed_forward\.w3\.weight \(expected shape \[48, 32\]\)/,
    );
    assert.throws(
      () => exportGguf(p, c, canon, { ...tokenizerFor(c), tokens: ['a'] }),
      /tokenizer has 1 tokens but the model's vocabSize is 11/,
    );
    assert.throws(
      () => exportLlamaGguf(p, tinyGpt2(), randomCanonical(tinyGpt2()), tokenizerFor(c)),
      /needs a llama, mistral or qwen2 config/,
    );
  });
});

/** Max |logit difference| of two models on the same 6 tokens (ids < 11), each from config + tensors. */
function maxLogitDiff(ca: ModelConfig, ta: TensorMap, cb: ModelConfig, tb: TensorMap): number {
  const logits = (c: ModelConfig, t: TensorMap): Float32Array => {
    const model = new DecoderLM(c);
    model.loadStateDict(new Map([...t].map(([n, x]) => [n, toFloat32(x)])));
    const cache = model.createCache(1, 6);
    const rows = [1, 5, 2, 9, 3, 7].map((id) => model.extend([Int32Array.of(id)], cache)[0]!);
    return Float32Array.from(rows.flatMap((r) => [...r]));
  };
  const a = logits(ca, ta);
  const b = logits(cb, tb);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('mapped reads (the map option)', () => {
  const f32 = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const bf16 = Uint16Array.from({ length: 32 }, (_, i) => 0x3f00 + i);
  const q8 = Uint8Array.from({ length: 2 * 34 }, (_, i) => (i * 37) & 255); // 2 rows of one Q8_0 block
  const write = (name: string, alignment: number, label = ''): string => {
    const p = join(dir, name);
    const kv = new Map([
      ['general.alignment', gv.u32(alignment)],
      ['general.name', gv.str(label)],
    ]);
    writeGguf(p, kv, [
      { name: 'q', shape: [2, 32], type: 'Q8_0', data: q8 },
      { name: 'b', shape: [32], dtype: 'BF16', data: bf16 },
      { name: 'f', shape: [4, 16], dtype: 'F32', data: f32 },
    ]);
    return p;
  };
  const aligned = write('mapped.gguf', 32);
  const size = readFileSync(aligned).length;

  for (const backend of ['native', 'js'] as const) {
    test(`${backend}: F32, BF16 and Q8_0 views equal the copies; refused types are copies`, () => {
      if (backend === 'native' && !loadNative().mapFile) return; // addon without mapFile: js covers it
      const before = kernels().name;
      useBackend(backend);
      try {
        const copy = openGguf(aligned);
        const f = openGguf(aligned, { map: (type) => type !== 'BF16' });
        assert.equal(copy.mapped, null);
        assert.equal(f.mapped, backend === 'native' ? 'mmap' : 'read');
        const got = { f: f.read('f'), b: f.read('b'), q: f.readQuantized('q') };
        f.close();
        // after close the views still read the file's bytes
        assert.deepEqual(got.f, copy.read('f'));
        assert.deepEqual(got.b, copy.read('b'));
        assert.deepEqual(got.q, copy.readQuantized('q'));
        copy.close();
        assert.deepEqual(got.f.data, f32);
        assert.deepEqual(got.q.data, q8);
        assert.equal(got.f.data.buffer.byteLength, size);
        assert.equal(got.q.data.buffer.byteLength, size);
        assert.equal(got.b.data.buffer.byteLength, bf16.byteLength);
      } finally {
        useBackend(before);
      }
    });
  }

  test('alignment 1: an F32 tensor at an unaligned offset is copied', () => {
    // Unpadded, f starts right after the header and q, b: a name of the right length makes that odd.
    let f = openGguf(write('align1.gguf', 1));
    for (let n = 1; f.tensors.get('f')!.start % 4 === 0; n++) {
      f.close();
      f = openGguf(write('align1.gguf', 1, 'x'.repeat(n)));
    }
    f.close();
    f = openGguf(join(dir, 'align1.gguf'), { map: true });
    const t = f.read('f');
    const q = f.readQuantized('q');
    f.close();
    assert.deepEqual(t.data, f32);
    assert.deepEqual(q.data, q8);
    assert.equal(t.data.buffer.byteLength, f32.byteLength);
    assert.equal(q.data.buffer.byteLength, readFileSync(join(dir, 'align1.gguf')).length);
  });
});
