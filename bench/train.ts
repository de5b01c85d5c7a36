/**
 * `npm run bench -- train [STEPS]`: training throughput (forward + backward + clip + AdamW) of a
 * GPT-2-style model (6 layers, 6 heads, d 384, block 256, batch 16, char vocabulary 65) in xfmr
 * and in PyTorch (bench/peers/train_torch.py, Debian's python3-torch) on the same model and batch,
 * 2 threads each, plus peak RSS of each. Each side runs in its own process; a step's time is the
 * best of STEPS after a warm-up. PyTorch's figure is its best over 1 and 2 threads of its own and 1
 * and 2 of OpenBLAS's (PEERS.md: its thread pools fight over 2 cores); its environment and BLAS
 * kernel: bench/peers/python.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeBlas, PEER_PYTHON, peerEnv, torchThreadSettings } from './peers/python.ts';

const steps = Number(process.argv[2] ?? 5);
const here = import.meta.dirname;

async function worker(): Promise<void> {
  const { kernels } = await import('../src/kernels/index.ts');
  const { DecoderLM } = await import('../src/models/decoder.ts');
  const { gpt2Config } = await import('../src/models/presets.ts');
  const { AdamW } = await import('../src/train/adamw.ts');
  const { backward, Rng, tidy } = await import('../src/tensor/index.ts');
  const [B, T, V] = [16, 256, 65];
  const model = new DecoderLM(
    gpt2Config({ vocabSize: V, contextLength: T, dModel: 384, nLayers: 6, nHeads: 6 }),
    0,
  );
  const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
  const rng = new Rng(1);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(V));
  const step = () => {
    tidy(() => {
      backward(model.loss(ids, targets, B, T));
    });
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
  process.stdout.write(
    `${JSON.stringify({ tok_s: (B * T) / best, peak_rss_mb: peak, threads: kernels().threads(), backend: kernels().name })}\n`,
  );
}

interface Side {
  tok_s: number;
  peak_rss_mb: number;
  threads: number;
}

function lastJson(out: string): Side {
  const line = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Side;
}

if (process.argv.includes('--worker')) {
  await worker();
} else {
  console.log(
    `model: GPT-2 style, L6 H6 D384 T256 B16 V65 (10.8M parameters); best of ${steps} steps after a warm-up`,
  );
  const x = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(here, 'train.ts'), String(steps), '--worker'],
    {
      encoding: 'utf8',
      env: { ...process.env, XFMR_THREADS: process.env.XFMR_THREADS ?? '2' },
    },
  );
  if (x.status !== 0) throw new Error(`xfmr worker failed: ${x.stderr}`);
  const xfmr = lastJson(x.stdout);
  console.log(
    `xfmr (${xfmr.threads} threads): ${xfmr.tok_s.toFixed(0)} tok/s, peak RSS ${xfmr.peak_rss_mb.toFixed(0)} MB`,
  );
  let torch: (Side & { torch?: string; blas_threads?: number }) | null = null;
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
    for (const t of torchThreadSettings(2)) {
      const p = spawnSync(
        PEER_PYTHON,
        [join(here, 'peers', 'train_torch.py'), String(t.torch), String(steps)],
        {
          encoding: 'utf8',
          env: peerEnv('torch', t.blas).env,
        },
      );
      if (p.status !== 0) throw new Error(`pytorch peer failed: ${p.stderr}`);
      const r = { ...lastJson(p.stdout), blas_threads: t.blas };
      console.log(
        `pytorch (${t.torch} thread${t.torch > 1 ? 's' : ''}, OpenBLAS ${t.blas}): ${r.tok_s.toFixed(0)} tok/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`,
      );
      if (!torch || r.tok_s > torch.tok_s) torch = r;
    }
  }
  const ratio = torch ? xfmr.tok_s / torch.tok_s : null;
  if (ratio)
    console.log(
      `xfmr / pytorch (best): ${ratio.toFixed(2)}x throughput, ${(xfmr.peak_rss_mb / (torch?.peak_rss_mb ?? 1)).toFixed(2)}x peak memory`,
    );
  const r1 = (v: number) => Math.round(v * 10) / 10;
  console.log(
    JSON.stringify({
      train_tok_s: { xfmr: r1(xfmr.tok_s), pytorch: torch ? r1(torch.tok_s) : null },
      peak_rss_mb: { xfmr: r1(xfmr.peak_rss_mb), pytorch: torch ? r1(torch.peak_rss_mb) : null },
      ratio: ratio ? Math.round(ratio * 100) / 100 : null,
      threads: {
        xfmr: xfmr.threads,
        pytorch: torch?.threads ?? null,
        pytorch_blas: torch?.blas_threads ?? null,
      },
      steps,
      pytorch_blas: peer.blas,
      pytorch_blas_note: peer.note,
    }),
  );
}
