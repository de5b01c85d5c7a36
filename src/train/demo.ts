/**
 * Small training loops on the toy transformer: the `npm start` demo (a character-level model of an
 * embedded paragraph) and the random-data loop that the memory test and benchmark run.
 */
import { kernels } from '../kernels/index.ts';
import { type ToyConfig, ToyTransformer } from '../models/toy.ts';
import { backward, noGrad, Rng, tidy } from '../tensor/index.ts';
import { AdamW } from './adamw.ts';

/**
 * forward+backward+AdamW of a toy transformer on fresh random tokens each iteration; calls
 * onCheckpoint(i, rss) every 100 iterations (after a GC when --expose-gc is on).
 */
export function randomDataLoop(iterations: number, onCheckpoint: (i: number, rss: number) => void): void {
  const config: ToyConfig = { vocabSize: 32, contextLength: 16, dModel: 32, nLayers: 2, nHeads: 4 };
  const model = new ToyTransformer(config, new Rng(1));
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const rng = new Rng(2);
  const B = 2;
  const T = 16;
  for (let i = 1; i <= iterations; i++) {
    const ids = new Int32Array(B * T).map(() => rng.int(config.vocabSize));
    const targets = new Int32Array(B * T).map(() => rng.int(config.vocabSize));
    tidy(() => {
      backward(model.loss(ids, targets, B, T));
    });
    opt.update();
    opt.zeroGrad();
    if (i % 100 === 0) {
      globalThis.gc?.();
      onCheckpoint(i, process.memoryUsage().rss);
    }
  }
}

const TEXT =
  'To be, or not to be, that is the question: whether tis nobler in the mind to suffer the slings ' +
  'and arrows of outrageous fortune, or to take arms against a sea of troubles and by opposing end them. ';

/** Trains a character-level toy model on a paragraph and prints the loss and a greedy sample. */
export async function runDemo(argv: string[]): Promise<void> {
  const steps = Number(argv.find((a) => /^\d+$/.test(a)) ?? 150);
  const chars = [...new Set(TEXT)].sort();
  const stoi = new Map(chars.map((c, i) => [c, i]));
  const data = Int32Array.from(TEXT, (c) => stoi.get(c) ?? 0);
  const T = 32;
  const B = 8;
  const model = new ToyTransformer(
    { vocabSize: chars.length, contextLength: T, dModel: 64, nLayers: 2, nHeads: 4 },
    new Rng(0),
  );
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const rng = new Rng(1);
  process.stderr.write(
    `\ndemo: a 2-layer transformer learns a paragraph of ${TEXT.length} characters (${kernels().name} backend)\n`,
  );
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const at = rng.int(data.length - T - 1);
      ids.set(data.subarray(at, at + T), b * T);
      targets.set(data.subarray(at + 1, at + T + 1), b * T);
    }
    const loss = tidy(() => {
      const l = model.loss(ids, targets, B, T);
      backward(l);
      return l.item();
    });
    opt.update({ maxGradNorm: 1 });
    opt.zeroGrad();
    if (step % 25 === 0 || step === 1) {
      const tokS = (step * B * T) / ((performance.now() - t0) / 1000);
      process.stderr.write(
        `step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}  ${tokS.toFixed(0)} tok/s\n`,
      );
    }
  }
  // Greedy continuation of the first characters, one token at a time (no KV cache here).
  const out = Array.from(data.subarray(0, 8));
  noGrad(() => {
    while (out.length < 100) {
      const ctx = Int32Array.from(out.slice(-T));
      const logits = tidy(() => model.forward(ctx, 1, ctx.length).toArray());
      const V = chars.length;
      const last = logits.slice((ctx.length - 1) * V);
      out.push(last.indexOf(Math.max(...last)));
    }
  });
  process.stdout.write(`sample: ${out.map((i) => chars[i]).join('')}\n`);
}
