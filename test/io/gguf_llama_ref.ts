/**
 * A reference of what llama.cpp's CPU backend computes for a `llama`-architecture GGUF, one token
 * at a time, in float64 JS, with its quantized matmuls replayed by the js twins of
 * `kernels/js/quant/`: before every matmul the activations (float32, as in llama.cpp) are
 * quantized to the weight type's dot type (`quantizeActivations`: Q8_0 blocks of 32 for
 * Q8_0/Q4_0 weights, Q8_K blocks of 256 for the K-quants, f16/bf16 for F16/BF16), and each output
 * is the codec's `vecDot` of the weight row's blocks with them. Everything else (RMSNorm, RoPE on
 * adjacent pairs, attention with an f32-like cache, SwiGLU) is plain float64, as llama.cpp runs it
 * in float32 with the KV cache in F32 and flash attention off.
 *
 * With `quantizeActivations: false` the matmuls are float64 dots of the dequantized weights with
 * the unquantized activations instead: the same file computed without llama.cpp's 8-bit
 * activations, which is what xfmr computes on the dequantized weights. The difference between the
 * two modes is the effect of activation quantization alone.
 *
 * It reads the GGUF's own bytes (Q/K rows permuted for llama.cpp's RoPE), so it checks the file
 * and llama.cpp's algorithm rather than xfmr's model code. Only what the llama.cpp test needs:
 * llama arch, no biases, RoPE without scaling.
 */

import { GgufKv, openGguf } from '../../src/io/gguf.ts';
import { QUANT_CODECS, quantizeActivations } from '../../src/kernels/js/quant/index.ts';
import { isQuantType } from '../../src/kernels/quant_types.ts';

interface Matrix {
  rows: number;
  cols: number;
  /** y = W x for float32 activations x: [cols] -> [rows]. */
  apply(x: Float32Array): Float64Array;
  /** Row r as float32 (the embedding lookup: llama.cpp's get_rows dequantizes). */
  row(r: number): Float32Array;
}

/** An F32 matrix w: [rows, cols]: float64 dots, no activation quantization (ggml's F32 vec_dot_type). */
function matrixF32(rows: number, cols: number, w: Float32Array): Matrix {
  return {
    rows,
    cols,
    apply: (x) => {
      const y = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
        y[r] = s;
      }
      return y;
    },
    row: (r) => w.slice(r * cols, (r + 1) * cols),
  };
}

function matrix(f: ReturnType<typeof openGguf>, name: string, quantize: boolean): Matrix {
  const info = f.tensors.get(name);
  if (info === undefined) throw new Error(`${f.path}: no tensor ${name}`);
  const [rows, cols] = info.shape as [number, number];
  if (info.type === 'F32') return matrixF32(rows, cols, f.read(name).data as Float32Array);
  if (!isQuantType(info.type)) throw new Error(`${name}: no codec for ${info.type}`);
  const codec = QUANT_CODECS[info.type];
  const blocks = f.readQuantized(name).data;
  const rowBytes = (cols / codec.format.blockSize) * codec.format.typeSize;
  if (!quantize) return matrixF32(rows, cols, codec.dequantize(blocks, rows * cols));
  return {
    rows,
    cols,
    apply: (x) => {
      const a = quantizeActivations(codec.dotType, x, cols);
      const y = new Float64Array(rows);
      for (let r = 0; r < rows; r++)
        y[r] = codec.vecDot(blocks.subarray(r * rowBytes, (r + 1) * rowBytes), a, cols);
      return y;
    },
    row: (r) => codec.dequantize(blocks.subarray(r * rowBytes, (r + 1) * rowBytes), cols),
  };
}

interface Layer {
  attnNorm: Float32Array;
  wq: Matrix;
  wk: Matrix;
  wv: Matrix;
  wo: Matrix;
  ffnNorm: Float32Array;
  gate: Matrix;
  up: Matrix;
  down: Matrix;
  /** Cached keys and values per position: [pos][nKv * headDim]. */
  k: Float64Array[];
  v: Float64Array[];
}

export class GgufLlamaRef {
  private readonly layers: Layer[] = [];
  private readonly embd: Matrix;
  private readonly out: Matrix;
  private readonly outNorm: Float32Array;
  private readonly nHeads: number;
  private readonly nKv: number;
  private readonly headDim: number;
  private readonly eps: number;
  private readonly theta: number;
  private pos = 0;

  constructor(path: string, options: { quantizeActivations: boolean }) {
    const f = openGguf(path);
    try {
      const k = new GgufKv(f.kv, path);
      const nLayers = k.num('llama.block_count');
      this.nHeads = k.num('llama.attention.head_count');
      this.nKv = k.num('llama.attention.head_count_kv');
      this.headDim = k.num('llama.rope.dimension_count');
      this.eps = k.num('llama.attention.layer_norm_rms_epsilon');
      this.theta = k.num('llama.rope.freq_base');
      const vec = (n: string): Float32Array => f.read(n).data as Float32Array;
      const mat = (n: string): Matrix => matrix(f, n, options.quantizeActivations);
      this.embd = mat('token_embd.weight');
      this.out = f.tensors.has('output.weight') ? mat('output.weight') : this.embd;
      this.outNorm = vec('output_norm.weight');
      for (let i = 0; i < nLayers; i++) {
        const b = `blk.${i}`;
        this.layers.push({
          attnNorm: vec(`${b}.attn_norm.weight`),
          wq: mat(`${b}.attn_q.weight`),
          wk: mat(`${b}.attn_k.weight`),
          wv: mat(`${b}.attn_v.weight`),
          wo: mat(`${b}.attn_output.weight`),
          ffnNorm: vec(`${b}.ffn_norm.weight`),
          gate: mat(`${b}.ffn_gate.weight`),
          up: mat(`${b}.ffn_up.weight`),
          down: mat(`${b}.ffn_down.weight`),
          k: [],
          v: [],
        });
      }
    } finally {
      f.close();
    }
  }

  private rmsNorm(x: Float64Array, w: Float32Array): Float32Array {
    let ss = 0;
    for (const v of x) ss += v * v;
    const s = 1 / Math.sqrt(ss / x.length + this.eps);
    return Float32Array.from(x, (v, i) => v * s * w[i]!);
  }

  /** llama.cpp's NORM RoPE: adjacent pairs (2i, 2i + 1) of each head rotate by pos * theta^(-2i/d). */
  private rope(x: Float64Array, heads: number): void {
    const d = this.headDim;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < d / 2; i++) {
        const a = this.pos * this.theta ** ((-2 * i) / d);
        const [c, s] = [Math.cos(a), Math.sin(a)];
        const o = h * d + 2 * i;
        const [x0, x1] = [x[o]!, x[o + 1]!];
        x[o] = x0 * c - x1 * s;
        x[o + 1] = x0 * s + x1 * c;
      }
    }
  }

  /** Feeds one token at the next position; returns the logits [vocab]. */
  step(token: number): Float64Array {
    const d = this.headDim;
    const x = Float64Array.from(this.embd.row(token));
    for (const L of this.layers) {
      const h = this.rmsNorm(x, L.attnNorm);
      const q = L.wq.apply(h);
      const k = L.wk.apply(h);
      this.rope(q, this.nHeads);
      this.rope(k, this.nKv);
      L.k.push(k);
      L.v.push(L.wv.apply(h));
      const att = new Float32Array(this.nHeads * d);
      for (let hq = 0; hq < this.nHeads; hq++) {
        const hk = Math.floor(hq / (this.nHeads / this.nKv));
        const scores = L.k.map((kp) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += q[hq * d + j]! * kp[hk * d + j]!;
          return s / Math.sqrt(d);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < d; j++) {
          let s = 0;
          for (let p = 0; p < e.length; p++) s += (e[p]! / z) * L.v[p]![hk * d + j]!;
          att[hq * d + j] = s;
        }
      }
      const o = L.wo.apply(att);
      for (let i = 0; i < x.length; i++) x[i] += o[i]!;
      const h2 = this.rmsNorm(x, L.ffnNorm);
      const g = L.gate.apply(h2);
      const u = L.up.apply(h2);
      const a = Float32Array.from(g, (gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
      const dn = L.down.apply(a);
      for (let i = 0; i < x.length; i++) x[i] += dn[i]!;
    }
    this.pos++;
    return this.out.apply(this.rmsNorm(x, this.outNorm));
  }
}
