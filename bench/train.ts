/**
 * `npm run bench -- train [STEPS]`: training throughput (forward + backward + clip + AdamW) of a
 * GPT-2-style model (6 layers, 6 heads, d 384, block 256, batch 16, char vocabulary 65) in xfmr
 * and in PyTorch (bench/peers/train_torch.py, Debian's python3-torch) on the same model and batch,
 * 2 threads each, plus peak RSS of each, in f32 and in bf16 mixed precision (xfmr --dtype bf16;
 * PyTorch's torch.autocast("cpu", dtype=torch.bfloat16)). Each side runs in its own process; a
 * step's time is the best of STEPS after a warm-up. PyTorch's f32 figure is its best over 1 and 2
 * threads of its own and 1 and 2 of OpenBLAS's (PEERS.md: its thread pools fight over 2 cores);
 * its bf16 figure the best of 1 and 2 threads (autocast's bf16 matmuls run in oneDNN on torch's
 * own threads, not OpenBLAS). Its environment and BLAS kernel: bench/peers/python.ts.
 *
 * The ceiling: the model's training FLOPs per token (6 per matmul weight, forward and backward,
 * plus 12 L d T for attention's QK^T and PV, counted unmasked as is usual), and the tok/s that
 * would give at the nominal AMX peak (1.8 TFLOPS, measured by an AMX probe on 2 cores of an AMX
 * Sapphire Rapids; this VM exposes no AMX) and at the bf16 GEMM rate measured here, in the bf16
 * worker, on one of the model's training GEMMs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Kernels } from '../src/kernels/kernels.ts';
import { describeBlas, PEER_PYTHON, peerEnv, torchThreadSettings } from './peers/python.ts';

const steps = Number(process.argv[2] ?? 5);
const here = import.meta.dirname;

const [B, T, V, C, L] = [16, 256, 65, 384, 6];
/** Nominal AMX bf16 peak on 2 cores (issue 15's probe: 1.7-1.8 TFLOPS), not measured on this VM. */
const AMX_NOMINAL_FLOPS = 1.8e12;

/**
 * Training FLOPs per token: 6 per weight that enters a matmul (2 forward, 4 backward), plus
 * attention's QK^T and PV, 2 x 2 T d per layer forward and twice that backward (unmasked).
 */
function flopsPerToken(): number {
  const perLayer = 3 * C * C + C * C + 2 * 4 * C * C; // c_attn, c_proj, MLP up and down
  const head = V * C; // tied LM head
  return 6 * (L * perLayer + head) + 12 * L * C * T;
}

/** GFLOPS of one of the model's training GEMMs: the MLP down projection, y[B*T, C] = h[B*T, 4C] @ W[C, 4C]^T. */
function gemmRate(dtype: 'f32' | 'bf16', kern: Kernels): number {
  const [M, N, K] = [B * T, C, 4 * C];
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i) * 0.5);
  const b = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i) * 0.5);
  const c = new Float32Array(M * N);
  const gemm = dtype === 'bf16' ? kern.gemmBf16 : kern.gemm;
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    gemm(a, b, c, 1, M, N, K, false, true, 0, 0, 0, 1, 0);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * M * N * K) / (best / 1000) / 1e9;
}

async function worker(dtype: 'f32' | 'bf16'): Promise<void> {
  const { kernels } = await import('../src/kernels/index.ts');
  const { DecoderLM } = await import('../src/models/decoder.ts');
  const { gpt2Config } = await import('../src/models/presets.ts');
  const { AdamW } = await import('../src/train/adamw.ts');
  const { backward, Rng, tidy, withComputeDtype } = await import('../src/tensor/index.ts');
  const model = new DecoderLM(
    gpt2Config({ vocabSize: V, contextLength: T, dModel: C, nLayers: L, nHeads: 6 }),
    0,
  );
  const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
  const rng = new Rng(1);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(V));
  // As the training loop runs a step: forward and backward inside the dtype's scope, AdamW in f32.
  const step = () => {
    withComputeDtype(dtype, () =>
      tidy(() => {
        backward(model.loss(ids, targets, B, T));
      }),
    );
    opt.update({ maxGradNorm: 1 });
    opt.zeroGrad();
  };
  step();
  let best = Infinity;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  const gemm_gflops = gemmRate(dtype, kernels());
  process.stdout.write(
    `${JSON.stringify({ tok_s: (B * T) / best, peak_rss_mb: peak, threads: kernels().threads(), backend: kernels().name, dtype, gemm_gflops })}\n`,
  );
}

interface Side {
  tok_s: number;
  peak_rss_mb: number;
  threads: number;
  gemm_gflops?: number;
}

function lastJson(out: string): Side {
  const line = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Side;
}

const DTYPES = ['f32', 'bf16'] as const;
type Dtype = (typeof DTYPES)[number];

function xfmrSide(dtype: Dtype): Side {
  const x = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(here, 'train.ts'), String(steps), '--worker', dtype],
    {
      encoding: 'utf8',
      env: { ...process.env, XFMR_THREADS: process.env.XFMR_THREADS ?? '2' },
    },
  );
  if (x.status !== 0) throw new Error(`xfmr ${dtype} worker failed: ${x.stderr}`);
  return lastJson(x.stdout);
}

if (process.argv.includes('--worker')) {
  const dtype = process.argv[process.argv.indexOf('--worker') + 1] ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'bf16') throw new Error(`--worker DTYPE: f32 or bf16, got ${dtype}`);
  await worker(dtype);
} else {
  const fpt = flopsPerToken();
  console.log(
    `model: GPT-2 style, L6 H6 D384 T256 B16 V65 (10.8M parameters), ${(fpt / 1e6).toFixed(1)} MFLOP/token to train; best of ${steps} steps after a warm-up`,
  );
  const xs = {} as Record<Dtype, Side>;
  for (const dtype of DTYPES) {
    xs[dtype] = xfmrSide(dtype);
    console.log(
      `xfmr ${dtype} (${xs[dtype].threads} threads): ${xs[dtype].tok_s.toFixed(0)} tok/s, peak RSS ${xs[dtype].peak_rss_mb.toFixed(0)} MB` +
        ` (${((xs[dtype].tok_s * fpt) / 1e9).toFixed(0)} GFLOPS; its ${dtype} GEMM alone: ${xs[dtype].gemm_gflops?.toFixed(0)} GFLOPS)`,
    );
  }
  const xfmr = xs.f32;
  const torchBest = {} as Record<Dtype, (Side & { torch?: string; blas_threads?: number }) | null>;
  // No inherited OpenBLAS settings, and the OpenBLAS kernel named by the bench where OpenBLAS
  // would fall back to a generic one (bench/peers/python.ts).
  const peer = peerEnv('torch', 1);
  if (!peer.blas) {
    console.log(
      `pytorch: not installed for ${PEER_PYTHON} (apt-get install python3-torch to compare); peer skipped`,
    );
  } else {
    console.log(`pytorch: ${describeBlas(peer.blas, peer.note)}`);
    // Debian's torch calls whatever libblas.so.3 points to; the reference (netlib) BLAS is ~40x
    // slower than OpenBLAS, which would make the comparison meaningless.
    const blas = spawnSync(
      PEER_PYTHON,
      [
        '-c',
        'import torch,time;a=torch.randn(512,512);t=time.perf_counter();[a@a for _ in range(20)];print(20*2*512**3/(time.perf_counter()-t)/1e9)',
      ],
      { encoding: 'utf8', env: peer.env },
    );
    const gf = Number(blas.stdout.trim());
    if (gf < 20)
      console.log(
        `WARNING: torch matmul runs at ${gf.toFixed(1)} GFLOPS: it is on the reference BLAS; apt-get install libopenblas0-pthread for a fair peer`,
      );
    for (const dtype of DTYPES) {
      torchBest[dtype] = null;
      // bf16: OpenBLAS does no bf16 work, so its thread count follows torch's.
      const settings = torchThreadSettings(2).filter((t) => dtype === 'f32' || t.blas === t.torch);
      for (const t of settings) {
        const p = spawnSync(
          PEER_PYTHON,
          [join(here, 'peers', 'train_torch.py'), String(t.torch), String(steps), dtype],
          {
            encoding: 'utf8',
            env: peerEnv('torch', t.blas).env,
          },
        );
        if (p.status !== 0) throw new Error(`pytorch ${dtype} peer failed: ${p.stderr}`);
        const r = { ...lastJson(p.stdout), blas_threads: t.blas };
        console.log(
          `pytorch ${dtype === 'bf16' ? 'bf16 autocast' : 'f32'} (${t.torch} thread${t.torch > 1 ? 's' : ''}, OpenBLAS ${t.blas}): ${r.tok_s.toFixed(0)} tok/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`,
        );
        const best = torchBest[dtype];
        if (!best || r.tok_s > best.tok_s) torchBest[dtype] = r;
      }
    }
  }
  const torch = torchBest.f32 ?? null;
  const torchBf16 = torchBest.bf16 ?? null;
  const ratio = torch ? xfmr.tok_s / torch.tok_s : null;
  if (ratio)
    console.log(
      `xfmr / pytorch f32 (best): ${ratio.toFixed(2)}x throughput, ${(xfmr.peak_rss_mb / (torch?.peak_rss_mb ?? 1)).toFixed(2)}x peak memory`,
    );
  const ratioBf16 = torchBf16 ? xs.bf16.tok_s / torchBf16.tok_s : null;
  if (torchBf16 && ratioBf16 && torch)
    console.log(
      `xfmr bf16 / pytorch bf16 autocast (best): ${ratioBf16.toFixed(2)}x throughput (goal 1.5x); ` +
        `xfmr bf16 / pytorch f32: ${(xs.bf16.tok_s / torch.tok_s).toFixed(2)}x; ` +
        `pytorch bf16 / pytorch f32: ${(torchBf16.tok_s / torch.tok_s).toFixed(2)}x`,
    );
  console.log(`xfmr bf16 / xfmr f32: ${(xs.bf16.tok_s / xfmr.tok_s).toFixed(2)}x`);
  const ceilingAmx = AMX_NOMINAL_FLOPS / fpt;
  const measured = (xs.bf16.gemm_gflops ?? 0) * 1e9;
  const ceilingHere = measured / fpt;
  console.log(
    `ceiling: ${(fpt / 1e6).toFixed(1)} MFLOP/token; at the nominal AMX peak (${AMX_NOMINAL_FLOPS / 1e12} TFLOPS, not this VM) ` +
      `${ceilingAmx.toFixed(0)} tok/s; at this machine's measured bf16 GEMM rate (${(measured / 1e9).toFixed(0)} GFLOPS) ` +
      `${ceilingHere.toFixed(0)} tok/s (xfmr bf16 reaches ${((100 * xs.bf16.tok_s) / ceilingHere).toFixed(0)}% of it)`,
  );
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const r2 = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  console.log(
    JSON.stringify({
      train_tok_s: {
        xfmr: r1(xfmr.tok_s),
        pytorch: torch ? r1(torch.tok_s) : null,
        xfmr_bf16: r1(xs.bf16.tok_s),
        pytorch_bf16: torchBf16 ? r1(torchBf16.tok_s) : null,
      },
      peak_rss_mb: {
        xfmr: r1(xfmr.peak_rss_mb),
        pytorch: torch ? r1(torch.peak_rss_mb) : null,
        xfmr_bf16: r1(xs.bf16.peak_rss_mb),
        pytorch_bf16: torchBf16 ? r1(torchBf16.peak_rss_mb) : null,
      },
      ratio: r2(ratio),
      ratio_bf16: r2(ratioBf16),
      threads: {
        xfmr: xfmr.threads,
        pytorch: torch?.threads ?? null,
        pytorch_blas: torch?.blas_threads ?? null,
        pytorch_bf16: torchBf16?.threads ?? null,
      },
      flops_per_token: fpt,
      gemm_gflops: { f32: r1(xfmr.gemm_gflops ?? 0), bf16: r1(xs.bf16.gemm_gflops ?? 0) },
      ceiling_tok_s: { amx_nominal: Math.round(ceilingAmx), measured_bf16_gemm: Math.round(ceilingHere) },
      steps,
      pytorch_blas: peer.blas,
      pytorch_blas_note: peer.note,
    }),
  );
}
