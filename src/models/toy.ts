/**
 * A minimal decoder-only transformer written directly with tensor ops: the engine's smoke test,
 * the memory benchmark's subject and the `npm start` demo. The configurable model (GPT-2 and
 * Llama families) lives beside it; this one keeps only what every transformer has:
 *   x = wte[ids] + wpe[pos]
 *   per layer: x += attn(ln1(x)); x += mlp(ln2(x))
 *   logits = ln_f(x) @ wte.T  (tied head)
 */
import {
  add,
  attention,
  crossEntropy,
  embedding,
  gelu,
  layerNorm,
  matmul,
  type Rng,
  reshape,
  split,
  Tensor,
} from '../tensor/index.ts';

export interface ToyConfig {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
}

interface ToyLayer {
  ln1w: Tensor;
  ln1b: Tensor;
  wqkv: Tensor; // [3C, C]
  wo: Tensor; // [C, C]
  ln2w: Tensor;
  ln2b: Tensor;
  wfc: Tensor; // [4C, C]
  wproj: Tensor; // [C, 4C]
}

export class ToyTransformer {
  readonly config: ToyConfig;
  readonly wte: Tensor;
  readonly wpe: Tensor;
  readonly layers: ToyLayer[];
  readonly lnfw: Tensor;
  readonly lnfb: Tensor;

  constructor(config: ToyConfig, rng: Rng) {
    this.config = config;
    const { vocabSize: V, contextLength: T, dModel: C, nLayers: L } = config;
    const p = (shape: number[], name: string, std = 0.02) =>
      Tensor.param(Tensor.randn(shape, rng, std), name);
    const ones = (name: string) => Tensor.param(Tensor.ones([C]), name);
    const zeros = (name: string) => Tensor.param(Tensor.zeros([C]), name);
    this.wte = p([V, C], 'wte');
    this.wpe = p([T, C], 'wpe', 0.01);
    // GPT-2 scales the residual projections by 1/sqrt(2L) so the residual stream's variance stays put.
    const projStd = 0.02 / Math.sqrt(2 * L);
    this.layers = Array.from({ length: L }, (_, i) => ({
      ln1w: ones(`h.${i}.ln_1.weight`),
      ln1b: zeros(`h.${i}.ln_1.bias`),
      wqkv: p([3 * C, C], `h.${i}.attn.wqkv`),
      wo: p([C, C], `h.${i}.attn.wo`, projStd),
      ln2w: ones(`h.${i}.ln_2.weight`),
      ln2b: zeros(`h.${i}.ln_2.bias`),
      wfc: p([4 * C, C], `h.${i}.mlp.fc`),
      wproj: p([C, 4 * C], `h.${i}.mlp.proj`, projStd),
    }));
    this.lnfw = ones('ln_f.weight');
    this.lnfb = zeros('ln_f.bias');
  }

  parameters(): Tensor[] {
    return [
      this.wte,
      this.wpe,
      ...this.layers.flatMap((l) => [l.ln1w, l.ln1b, l.wqkv, l.wo, l.ln2w, l.ln2b, l.wfc, l.wproj]),
      this.lnfw,
      this.lnfb,
    ];
  }

  /** ids: [B, T] -> logits [B, T, V]. */
  forward(ids: Int32Array, B: number, T: number): Tensor {
    const { dModel: C, nHeads: H } = this.config;
    const pos = new Int32Array(B * T).map((_, i) => i % T);
    let x = add(embedding(this.wte, ids, [B, T]), embedding(this.wpe, pos, [B, T])); // [B, T, C]
    for (const l of this.layers) {
      const h = layerNorm(x, l.ln1w, l.ln1b);
      const [q, k, v] = split(matmul(h, l.wqkv, { transB: true }), 3, 2); // 3 x [B, T, C]
      const heads = (t: Tensor) => reshape(t, [B, T, H, C / H]);
      const y = reshape(attention(heads(q), heads(k), heads(v)), [B, T, C]);
      x = add(x, matmul(y, l.wo, { transB: true }));
      const m = gelu(matmul(layerNorm(x, l.ln2w, l.ln2b), l.wfc, { transB: true })); // [B, T, 4C]
      x = add(x, matmul(m, l.wproj, { transB: true }));
    }
    return matmul(layerNorm(x, this.lnfw, this.lnfb), this.wte, { transB: true }); // [B, T, V]
  }

  /** Mean next-token cross-entropy of ids [B, T] against targets [B, T]. */
  loss(ids: Int32Array, targets: Int32Array, B: number, T: number): Tensor {
    return crossEntropy(this.forward(ids, B, T), targets);
  }
}
