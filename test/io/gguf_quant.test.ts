/**
 * GGUF with quantized tensors: raw blocks of every codec type round trip through writeGguf /
 * openGguf with ggml's sizes and the file's alignment; the writer and the reader refuse partial
 * blocks, unknown types, wrong data sizes and (reader) absurd dims and truncated data, naming
 * the file, the tensor and the field, before allocating; exportGguf writes each file type with
 * llama.cpp's per-tensor choices, and importGguf gives back exactly the dequantized weights.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type GgufTensorSpec, gv, openGguf, writeGguf } from '../../src/io/gguf.ts';
import { exportGguf, type GgufTokenizer, importGguf, permuteQkForGguf } from '../../src/io/gguf_export.ts';
import { GGUF_FILE_TYPES, ggufTensorType } from '../../src/io/gguf_file_types.ts';
import { dequantizeTensor, quantizeTensor } from '../../src/io/quantized.ts';
import type { NamedTensor } from '../../src/io/tensors.ts';
import { QUANT_CODECS } from '../../src/kernels/js/quant/index.ts';
import { QUANT_TYPES, type QuantType } from '../../src/kernels/quant_types.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { llamaGgufName, randomCanonical, randomF32, rng, tempDir, tinyLlama } from './helpers.ts';

const dir = tempDir();

/** Byte position of tensor `name`'s info fields (after its name) in a GGUF file. */
function infoAt(b: Buffer, name: string): { nDims: number; dims: number; type: number; offset: number } {
  const at = b.indexOf(Buffer.from(name, 'utf8'), 24) + name.length;
  const nDims = b.readUInt32LE(at);
  return { nDims: at, dims: at + 4, type: at + 4 + 8 * nDims, offset: at + 8 + 8 * nDims };
}

function tokenizerFor(c: ModelConfig): GgufTokenizer {
  const tokens = Array.from({ length: c.vocabSize }, (_, i) => `t${i}`);
  return {
    tokens,
    tokenTypes: tokens.map(() => 1),
    merges: [],
    bosId: 0,
    eosId: 1,
    model: 'gpt2',
    pre: 'gpt-2',
  };
}

describe('GGUF container: quantized tensors', () => {
  test('blocks of every codec type round trip with ggml sizes and alignment', () => {
    const next = rng(2);
    const specs: GgufTensorSpec[] = [];
    const blocks = new Map<string, Uint8Array>();
    for (const type of QUANT_TYPES) {
      const t = randomF32(`w.${type}`, [3, 512], next);
      const q = quantizeTensor(t, type);
      blocks.set(t.name, q.data);
      specs.push({ name: t.name, shape: t.shape, type, data: () => q.data });
    }
    specs.push({ name: 'norm', shape: [7], dtype: 'F32', data: new Float32Array(7).fill(1) });
    const p = join(dir, 'blocks.gguf');
    writeGguf(p, new Map([['general.alignment', gv.u32(64)]]), specs);
    const f = openGguf(p);
    const ids: Record<QuantType, number> = {
      F16: 1,
      BF16: 30,
      Q8_0: 8,
      Q4_0: 2,
      Q4_1: 3,
      Q5_0: 6,
      Q5_1: 7,
      Q4_K: 12,
      Q5_K: 13,
      Q6_K: 14,
    };
    for (const type of QUANT_TYPES) {
      const info = f.tensors.get(`w.${type}`)!;
      assert.equal(info.type, type);
      assert.equal(info.ggmlType, ids[type]);
      assert.deepEqual(info.dims, [512, 3]);
      assert.equal(
        info.bytes,
        (3 * 512 * QUANT_CODECS[type].format.typeSize) / QUANT_CODECS[type].format.blockSize,
      );
      assert.equal(info.start % 64, 0);
      const back = f.readQuantized(`w.${type}`);
      assert.deepEqual(back, { name: `w.${type}`, shape: [3, 512], type, data: blocks.get(`w.${type}`) });
    }
    // the plain dtypes still read as typed arrays; a block type says how to read it
    assert.deepEqual([...f.read('norm').data], [1, 1, 1, 1, 1, 1, 1]);
    assert.equal(f.read('w.F16').dtype, 'F16');
    assert.throws(() => f.read('w.Q4_K'), /tensor w\.Q4_K: Q4_K is not a plain dtype .* readQuantized/);
    assert.equal(f.readQuantized('norm').data.length, 28);
    f.close();
    // the data section: tensors in order, each padded to the alignment, the file ends after the last
    const sizes = specs.map((s) => ('dtype' in s ? 28 : blocks.get(s.name)!.length));
    const last = openGguf(p).tensors.get('norm')!;
    assert.equal(statSync(p).size, last.start + Math.ceil(sizes.at(-1)! / 64) * 64);
  });

  test('the writer refuses partial blocks, unknown types and wrong sizes, naming the tensor', () => {
    const p = join(dir, 'bad-write.gguf');
    const none = new Map();
    assert.throws(
      () => writeGguf(p, none, [{ name: 'w', shape: [3, 100], type: 'Q4_K', data: new Uint8Array(0) }]),
      {
        message: `${p}: tensor w: tensor w [3, 100]: row length 100 is not a multiple of Q4_K's block size 256`,
      },
    );
    assert.throws(
      () => writeGguf(p, none, [{ name: 'w', shape: [256], type: 'Q9_K', data: new Uint8Array(0) }]),
      /tensor w: unknown ggml type "Q9_K"/,
    );
    assert.throws(
      () => writeGguf(p, none, [{ name: 'w', shape: [2, 256], type: 'Q8_0', data: new Uint8Array(100) }]),
      /tensor w: Q8_0 \[2, 256\] needs 544 bytes, data has 100/,
    );
    assert.throws(
      () => writeGguf(p, none, [{ name: 'w', shape: [2, -32], type: 'Q8_0', data: new Uint8Array(0) }]),
      /tensor w: invalid shape \[2, -32\]/,
    );
  });

  test('the reader refuses unknown types, partial blocks, absurd dims and truncated data', () => {
    const p = join(dir, 'bad-read.gguf');
    const q = quantizeTensor(randomF32('blk.0.w', [4, 256], rng(3)), 'Q4_K');
    writeGguf(p, new Map([['general.architecture', gv.str('x')]]), [
      { name: q.name, shape: q.shape, type: 'Q4_K', data: q.data },
    ]);
    const good = readFileSync(p);
    const at = infoAt(good, 'blk.0.w');
    const patched = (edit: (b: Buffer) => void): void => {
      const b = Buffer.from(good);
      edit(b);
      writeFileSync(p, b);
    };
    const named = (re: RegExp) => (e: Error) =>
      e.message.startsWith(`${p}: tensor blk.0.w`) && re.test(e.message);

    patched((b) => b.writeUInt32LE(99, at.type));
    assert.throws(() => openGguf(p), named(/unknown ggml type 99/));
    patched((b) => b.writeUInt32LE(4, at.type)); // a removed type id (Q4_2)
    assert.throws(() => openGguf(p), named(/unknown ggml type 4/));
    patched((b) => b.writeBigUInt64LE(100n, at.dims));
    assert.throws(() => openGguf(p), named(/row length 100 is not a multiple of Q4_K's block size 256/));
    patched((b) => b.writeBigUInt64LE(2n ** 40n, at.dims + 8)); // 2^40 rows
    assert.throws(
      () => openGguf(p),
      named(/dims \[256, 1099511627776\] of Q4_K need more bytes than the file has/),
    );
    patched((b) => b.writeBigUInt64LE(2n ** 52n, at.dims + 8)); // the byte count would overflow 2^53
    assert.throws(() => openGguf(p), named(/need more bytes than the file has/));
    writeFileSync(p, good);
    truncateSync(p, good.length - 1);
    assert.throws(
      () => openGguf(p),
      named(/data ends at byte \d+ past the end of the file \(\d+ bytes; truncated\?\)/),
    );
    writeFileSync(p, good);
    assert.deepEqual(openGguf(p).readQuantized('blk.0.w').data, q.data);
  });

  test('dequantizeTensor refuses types without a codec and sizes that do not match', () => {
    assert.throws(
      () => dequantizeTensor({ name: 'w', shape: [256], type: 'Q3_K', data: new Uint8Array(110) }, 'f.gguf'),
      /f\.gguf: tensor w: ggml type Q3_K cannot be decoded/,
    );
    assert.throws(
      () => dequantizeTensor({ name: 'w', shape: [256], type: 'Q6_K', data: new Uint8Array(200) }),
      /tensor w: Q6_K \[256\] needs 210 bytes, data has 200/,
    );
  });
});

describe('GGUF file types', () => {
  test('pure types quantize every matrix; norms stay F32; fallbacks for rows that are not whole blocks', () => {
    const ctx = { nLayers: 8, tiedEmbeddings: false };
    for (const t of ['Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'F16', 'BF16', 'F32'] as const) {
      assert.equal(ggufTensorType(t, 'output.weight', [1000, 512], ctx), t);
      assert.equal(ggufTensorType(t, 'blk.3.ffn_down.weight', [512, 1024], ctx), t);
      assert.equal(ggufTensorType(t, 'blk.3.attn_norm.weight', [512], ctx), 'F32');
      assert.equal(ggufTensorType(t, 'blk.3.attn_q.bias', [512], ctx), 'F32');
    }
    assert.equal(ggufTensorType('Q4_K', 'position_embd.weight', [1024, 512], ctx), 'F32');
    // llama.cpp (llama-quant.cpp) when rows are not whole 256-blocks: Q4_K -> Q5_0, Q5_K -> Q5_1,
    // Q6_K -> Q8_0; F16 when not whole 32-blocks either
    assert.equal(ggufTensorType('Q6_K', 'blk.0.attn_q.weight', [64, 64], ctx), 'Q8_0');
    assert.equal(ggufTensorType('Q4_K', 'blk.0.attn_q.weight', [64, 64], ctx), 'Q5_0');
    assert.equal(ggufTensorType('Q5_K', 'blk.0.attn_q.weight', [64, 896], ctx), 'Q5_1');
    assert.equal(ggufTensorType('Q4_K', 'blk.0.ffn_down.weight', [64, 48], ctx), 'F16');
    assert.equal(ggufTensorType('Q5_K', 'blk.0.ffn_down.weight', [64, 48], ctx), 'F16');
    assert.equal(ggufTensorType('Q8_0', 'blk.0.ffn_down.weight', [64, 48], ctx), 'F16');
  });

  test("Q4_K_M / Q5_K_M follow llama.cpp's use_more_bits for attn_v and ffn_down, Q6_K output", () => {
    const ctx = { nLayers: 8, tiedEmbeddings: false };
    const six = (ft: 'Q4_K_M' | 'Q5_K_M', name: string): number[] =>
      [...Array(8).keys()].filter(
        (i) => ggufTensorType(ft, `blk.${i}.${name}.weight`, [512, 512], ctx) === 'Q6_K',
      );
    // n = 8: i < 1, i >= 7, or (i - 1) % 3 == 2
    for (const ft of ['Q4_K_M', 'Q5_K_M'] as const) {
      assert.deepEqual(six(ft, 'attn_v'), [0, 3, 6, 7]);
      assert.deepEqual(six(ft, 'ffn_down'), [0, 3, 6, 7]);
      assert.deepEqual(six(ft, 'attn_qkv'), [0, 3, 6, 7]);
      assert.deepEqual(six(ft, 'attn_q'), []);
      assert.equal(ggufTensorType(ft, 'output.weight', [1000, 512], ctx), 'Q6_K');
      assert.equal(ggufTensorType(ft, 'output.weight', [1000, 96], ctx), 'Q8_0');
    }
    assert.equal(ggufTensorType('Q4_K_M', 'blk.1.attn_v.weight', [512, 512], ctx), 'Q4_K');
    assert.equal(ggufTensorType('Q5_K_M', 'blk.1.ffn_up.weight', [512, 512], ctx), 'Q5_K');
    assert.equal(ggufTensorType('Q4_K_M', 'token_embd.weight', [1000, 512], ctx), 'Q4_K');
    // tied embeddings: token_embd is the output matrix
    assert.equal(
      ggufTensorType('Q4_K_M', 'token_embd.weight', [1000, 512], { ...ctx, tiedEmbeddings: true }),
      'Q6_K',
    );
    // 24 layers (Qwen2.5-0.5B): i < 3, i >= 21, (i - 3) % 3 == 2
    const n24 = [...Array(24).keys()].filter(
      (i) =>
        ggufTensorType('Q4_K_M', `blk.${i}.ffn_down.weight`, [896, 4864], {
          nLayers: 24,
          tiedEmbeddings: true,
        }) === 'Q6_K',
    );
    assert.deepEqual(n24, [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]);
    // Qwen2.5-0.5B's 896-long rows: the K-quants fall back, the 4864-long ffn_down rows do not
    const q = { nLayers: 24, tiedEmbeddings: true };
    for (const [ft, base] of [
      ['Q4_K_M', 'Q5_0'],
      ['Q5_K_M', 'Q5_1'],
    ] as const) {
      assert.equal(ggufTensorType(ft, 'blk.1.attn_q.weight', [896, 896], q), base);
      assert.equal(ggufTensorType(ft, 'blk.1.ffn_gate.weight', [4864, 896], q), base);
      assert.equal(ggufTensorType(ft, 'blk.1.attn_v.weight', [128, 896], q), 'Q8_0'); // Q6_K's fallback
      assert.equal(ggufTensorType(ft, 'blk.3.attn_v.weight', [128, 896], q), base);
      assert.equal(
        ggufTensorType(ft, 'blk.3.ffn_down.weight', [896, 4864], q),
        ft === 'Q4_K_M' ? 'Q4_K' : 'Q5_K',
      );
      assert.equal(ggufTensorType(ft, 'token_embd.weight', [151936, 896], q), 'Q8_0'); // tied: output
    }
  });
});

describe('exportGguf / importGguf with quantized matrices', () => {
  const c = tinyLlama({
    dModel: 256,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    ffnDim: 512,
    nLayers: 2,
    vocabSize: 40,
  });
  const canon = randomCanonical(c, 7);
  const dq = (t: NamedTensor, type: QuantType): Float32Array =>
    dequantizeTensor(quantizeTensor(t, type)).data as Float32Array;

  for (const fileType of GGUF_FILE_TYPES) {
    test(`${fileType}: tensor types, file type key, and the dequantized weights back`, () => {
      const p = join(dir, `llama-${fileType}.gguf`);
      exportGguf(p, c, canon, tokenizerFor(c), { dtype: fileType });
      const f = openGguf(p);
      const ftypes: Record<string, number> = {
        F32: 0,
        F16: 1,
        BF16: 32,
        Q8_0: 7,
        Q4_0: 2,
        Q4_K: 14,
        Q5_K: 16,
        Q6_K: 18,
        Q4_K_M: 15,
        Q5_K_M: 17,
      };
      assert.deepEqual(f.kv.get('general.file_type'), gv.u32(ftypes[fileType]!));
      const quantized = !['F32', 'F16', 'BF16'].includes(fileType);
      assert.equal(f.kv.has('general.quantization_version'), quantized);
      for (const [name, info] of f.tensors) {
        const want = ggufTensorType(fileType, name, info.shape, { nLayers: 2, tiedEmbeddings: false });
        assert.equal(info.type, want, name);
      }
      if (fileType === 'Q4_K_M') {
        // 2 layers: use_more_bits holds for both (i >= 7n/8 = 1 for layer 1, i < n/8 = 0 for none)
        assert.equal(f.tensors.get('blk.0.attn_v.weight')!.type, 'Q4_K');
        assert.equal(f.tensors.get('blk.1.attn_v.weight')!.type, 'Q6_K');
        assert.equal(f.tensors.get('output.weight')!.type, 'Q6_K');
      }
      f.close();
      const back = importGguf(p);
      assert.deepEqual(back.config, { ...c, torchDtype: null });
      for (const [name, t] of canon) {
        const got = back.tensors.get(name)!;
        const gguf =
          t.shape.length === 1 ? 'F32' : (f.tensors.get(llamaGgufName(name))?.type as QuantType | 'F32');
        if (gguf === 'F32') {
          assert.deepEqual(got.data, t.data, name);
        } else if (gguf === 'F16' || gguf === 'BF16') {
          assert.equal(got.dtype, gguf, name);
        } else {
          // quantization is row-wise, so the Q/K row permutation commutes with it
          assert.equal(got.dtype, 'F32');
          assert.deepEqual(got.data, dq(t, gguf), name);
        }
      }
    });
  }

  test('Q/K rows are permuted before quantizing (the file holds the permuted rows)', () => {
    const p = join(dir, 'llama-perm.gguf');
    exportGguf(p, c, canon, tokenizerFor(c), { dtype: 'Q8_0' });
    const f = openGguf(p);
    const wq = canon.get('layers.0.attention.wq.weight')!;
    assert.deepEqual(
      f.readQuantized('blk.0.attn_q.weight').data,
      quantizeTensor(permuteQkForGguf(wq, 4), 'Q8_0').data,
    );
    f.close();
  });

  test('an unknown file type is refused', () => {
    assert.throws(
      () => exportGguf(join(dir, 'x.gguf'), c, canon, tokenizerFor(c), { dtype: 'Q3_K' as 'Q4_K' }),
      /unknown GGUF file type "Q3_K"/,
    );
  });
});
