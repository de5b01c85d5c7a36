/**
 * `npm run experiment -- lora [--out DIR] [--name lora] [--steps N] [--pretrain-steps N] [--seed S]
 *   [--lora SPEC] [--lora-lr LR]`
 *
 * What does LoRA cost and save against full fine-tuning on a CPU? One base model is fine-tuned on
 * the same data three ways, each in its own child process so that its peak resident memory is its
 * own:
 *
 *   full   every parameter trained: f32 weights + gradients + AdamW's two moments
 *   lora   the base frozen in f32, adapters r 16, alpha 32 on q, k, v, o (the `--lora` defaults)
 *   qlora  the same adapters on the base frozen in Q8_0: its GGUF export (xfmr quantize --type q8_0),
 *          loaded with the matrices quantized as QLoRA keeps them
 *
 *   base   Llama-style (RoPE, RMSNorm, SwiGLU, GQA): d 512, 8 layers, 8 heads (4 KV), ffn 1408,
 *          context 128, an output head of its own; 25.7M parameters, so that weights, gradients and AdamW
 *          state (16 bytes a parameter, 411 MB) and not Node's own ~90 MB set the peak. The
 *          experiment pretrains it itself (a random base would make LoRA's low-rank update the
 *          whole model, which is not what LoRA is for): the King James Bible (Debian's bible-kjv,
 *          written by `bible` as scripts/corpus/kjv.sh does), tokenized with the shipped
 *          models/xfmr-rag-tiny byte-level BPE (2,048 ids), 100 steps of 8 x 128 tokens, AdamW lr
 *          3e-3 cosine to 3e-4, two kernel threads (about 17 minutes on the loaded machine). Cached
 *          in tmp/lora-experiment/base with its Q8_0 GGUF (delete it to pretrain again). A short
 *          pretraining: the base is weak (KJV loss 4.9), so adapting it to a new domain is mostly
 *          learning the new token distribution, which full fine-tuning does through the
 *          embeddings and the output head, and adapters on q, k, v, o do not reach.
 *   data   17 pages of SQLite's documentation (test/rag/fixtures/sqlite-docs, public domain), the
 *          same tokenizer; the last 10% of the tokens held out. A new domain for the base: prose
 *          about SQL, not scripture.
 *   train  the same for all three: 50 steps of 4 x 128 tokens (4 micro-batches of 1 x 128, as
 *          QLoRA's recipes run: activations small beside the optimizer state), 5 warmup
 *          steps, cosine to 10% of lr, no weight decay, no dropout, global-norm clip 1, the same
 *          batches in the same order. lr: 1e-3 for full; 5e-3 for the adapters, which start at
 *          zero and take a higher rate (PEFT's recipes use 5-10x the full fine-tuning rate).
 *
 * Reported per mode: eval_loss (held-out split, 32 windows of 128 tokens, after training; the
 * base's before), peak_rss_mb, trainable_params, tok_s (training tokens over the training loop's
 * wall time, evaluation excluded). peak_rss_mb is VmHWM from just before the optimizer is made to
 * the end (the peak is reset then through /proc/self/clear_refs, after a full GC): the fine-tune's
 * own footprint, resident weights (mmapped from the f32 file, or the Q8_0 GGUF), gradients,
 * optimizer state and activations. load_peak_rss_mb is the peak before that (loading and the
 * base's evaluation). Writes
 * OUT/NAME.json (OUT defaults to experiments/results, where one run is committed). Goals (issue 20):
 * LoRA's eval loss within 5% of full, at most 60% of its peak memory and 2% of its trainable
 * parameters; QLoRA below LoRA in memory. The last line is one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { writeJsonFile } from '../src/io/files.ts';
import { exportGgufFile } from '../src/io/model_export.ts';
import { kernels } from '../src/kernels/index.ts';
import { DecoderLM } from '../src/models/decoder.ts';
import { describeWeights, loadDecoder } from '../src/models/load.ts';
import { applyLora, parseLoraSpec } from '../src/models/lora.ts';
import { llamaConfig } from '../src/models/presets.ts';
import { loadTokenizerJson } from '../src/tokenizers/tokenizer_json.ts';
import { AdamW } from '../src/train/adamw.ts';
import { BatchLoader, TokenShard, writeShards } from '../src/train/data.ts';
import { type BatchSource, evaluate, lmTask, trainLoop } from '../src/train/loop.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const OUT = arg('out', 'experiments/results');
const STEPS = Number(arg('steps', '50'));
const PRETRAIN_STEPS = Number(arg('pretrain-steps', '100'));
const SEED = Number(arg('seed', '1'));
const CHILD = arg('child', '');
const WORK = join('tmp', 'lora-experiment');
const BASE = join(WORK, 'base');
/** The base exported as llama.cpp's Q8_0 (xfmr quantize --type q8_0), for QLoRA. */
const BASE_Q8 = join(WORK, 'base-q8_0.gguf');
const TOKENIZER = join('models', 'xfmr-rag-tiny', 'tokenizer.json');
const T = 128;
/** Fine-tuning: micro-batches of MICRO x T, GRAD_ACCUM of them a step. */
const [MICRO, GRAD_ACCUM] = [1, 4];
/**
 * Kernel threads of each run. One: on the shared 2-core machine (load 10-13 from other jobs) the
 * two threads of a 128-row micro-batch's GEMMs kept waiting for each other, 4x slower than one.
 */
const THREADS = 1;
const LORA_SPEC = arg('lora', 'r=16,alpha=32,dropout=0,targets=q,k,v,o');
const LORA_LR = Number(arg('lora-lr', '5e-3'));
const LR = { full: 1e-3, lora: LORA_LR, qlora: LORA_LR } as const;
/** The results file: OUT/NAME.json. */
const NAME = arg('name', 'lora');
type Mode = keyof typeof LR;
const MODES: Mode[] = ['full', 'lora', 'qlora'];
/** The goals. */
const GOAL = { loss: 0.05, memory: 0.6, params: 0.02 };

const config = llamaConfig({
  vocabSize: 2048,
  contextLength: T,
  dModel: 512,
  nLayers: 8,
  nHeads: 8,
  nKvHeads: 4,
  ffnDim: 1408,
});

const t0 = performance.now();
const say = (s: string) =>
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

interface ModeResult {
  eval_loss: number;
  base_eval_loss: number;
  /** Peak resident set while fine-tuning (from after loading to the end of the evaluation). */
  peak_rss_mb: number;
  /** Peak while loading the base (the f32 file, its tensors, the Q8_0 cast), before the reset. */
  load_peak_rss_mb: number;
  trainable_params: number;
  /** The base's weights as held (dtypes and size). */
  weights: string;
  tok_s: number;
  train_seconds: number;
  last_loss: number;
}

// ---- children: each run alone in its process, its result as one JSON line on stdout ----

/** VmHWM, the peak resident set since the process began or since resetPeakRss(), in MB. */
function peakRssMb(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('lora experiment: no VmHWM in /proc/self/status (Linux only)');
  return Number(m[1]) / 1024;
}

/**
 * Starts the peak over from the current resident set (Linux: "5" into /proc/self/clear_refs),
 * after a full GC, so the training peak leaves out what loading the base allocated and freed.
 */
function resetPeakRss(): void {
  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
}

/** The training batches of `loader` (evaluation is done outside the loop). */
function source(loader: BatchLoader): BatchSource {
  return {
    next: () => loader.next(),
    evalBatches: () => [],
    state: () => loader.state(),
    setState: (s) => loader.setState(s),
  };
}

async function pretrainChild(): Promise<void> {
  const model = new DecoderLM(config, SEED);
  const shard = new TokenShard(join(WORK, 'kjv', 'train.bin'), 'uint16');
  const valShard = new TokenShard(join(WORK, 'kjv', 'val.bin'), 'uint16');
  const loader = new BatchLoader(shard, 8, T, SEED);
  const evalBatches = new BatchLoader(valShard, 8, T, 0).evalBatches(8);
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.1, beta2: 0.95 });
  const start = performance.now();
  const r = await trainLoop(lmTask(model, source(loader)), opt, {
    out: join(WORK, 'pretrain-run'),
    steps: PRETRAIN_STEPS,
    gradAccum: 1,
    schedule: { lr: 3e-3, minLr: 3e-4, warmupSteps: 20, totalSteps: PRETRAIN_STEPS },
    maxGradNorm: 1,
    evalEvery: 0,
    checkpointEvery: 0,
    maxSkipped: 10,
    resume: false,
    label: 'pretrain',
    progress: false,
    tokenizerJson: JSON.parse(readFileSync(TOKENIZER, 'utf8')),
    onStep: (m) => {
      if (m.step % 25 === 0)
        say(`pretrain step ${m.step}: loss ${m.loss.toFixed(3)}, ${m.tok_s.toFixed(0)} tok/s`);
    },
  });
  const seconds = (performance.now() - start) / 1000;
  const valLoss = evaluate(model, evalBatches);
  mkdirSync(BASE, { recursive: true });
  const { saveModel } = await import('../src/models/load.ts');
  saveModel(BASE, model, { tokenizerJson: JSON.parse(readFileSync(TOKENIZER, 'utf8')) });
  writeJsonFile(join(BASE, 'pretrain.json'), {
    config,
    steps: PRETRAIN_STEPS,
    batch: [8, T],
    last_loss: r.losses.at(-1),
    kjv_val_loss: valLoss,
    seconds,
  });
  shard.close();
  valShard.close();
}

async function fineTuneChild(mode: Mode): Promise<void> {
  // QLoRA loads the base's Q8_0 GGUF, whose matrices stay quantized (as `xfmr sft --lora` on a
  // .gguf does): its f32 weights are never resident.
  const { model } =
    mode === 'qlora' ? loadDecoder(BASE_Q8, { dtype: 'auto' }) : loadDecoder(BASE, { dtype: 'f32' });
  const adapters = mode === 'full' ? null : applyLora(model, parseLoraSpec(LORA_SPEC), SEED);
  const params = adapters ? adapters.parameters() : model.parameters();
  const trainable = params.reduce((a, p) => a + p.size, 0);
  const shard = new TokenShard(join(WORK, 'sqlite', 'train.bin'), 'uint16');
  const valShard = new TokenShard(join(WORK, 'sqlite', 'val.bin'), 'uint16');
  const loader = new BatchLoader(shard, MICRO, T, SEED + 7);
  // Held-out windows in the training micro-batch's shape: the tensor pool (src/tensor/storage.ts)
  // keys buffers by length, so evaluating in another shape would leave a second set resident.
  const evalBatches = new BatchLoader(valShard, MICRO, T, 0).evalBatches(32);
  const baseEval = evaluate(model, evalBatches);
  const loadPeak = peakRssMb();
  resetPeakRss();
  const opt = new AdamW(params, { lr: LR[mode], weightDecay: 0 });
  const task = lmTask(model, source(loader));
  const start = performance.now();
  const r = await trainLoop(
    // No save: the fine-tuned weights are not kept (and writing them would add to the peak).
    { ...task, modules: adapters ? { lora: adapters } : task.modules, save: undefined },
    opt,
    {
      out: join(WORK, `run-${mode}`),
      steps: STEPS,
      gradAccum: GRAD_ACCUM,
      schedule: { lr: LR[mode], minLr: LR[mode] / 10, warmupSteps: 5, totalSteps: STEPS },
      maxGradNorm: 1,
      evalEvery: 0,
      checkpointEvery: 0,
      maxSkipped: 10,
      resume: false,
      label: mode,
      progress: false,
      onStep: (m) => {
        if (process.env.LORA_DEBUG)
          say(
            `rss ${/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]} hwm ${peakRssMb()}`,
          );
        if (m.step % 20 === 0)
          say(`${mode} step ${m.step}: loss ${m.loss.toFixed(3)}, ${m.tok_s.toFixed(0)} tok/s`);
      },
    },
  );
  const seconds = (performance.now() - start) / 1000;
  const result: ModeResult = {
    eval_loss: evaluate(model, evalBatches),
    base_eval_loss: baseEval,
    peak_rss_mb: peakRssMb(),
    load_peak_rss_mb: loadPeak,
    trainable_params: trainable,
    weights: describeWeights(model),
    tok_s: (STEPS * GRAD_ACCUM * MICRO * T) / seconds,
    train_seconds: seconds,
    last_loss: r.losses.at(-1) ?? Number.NaN,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- parent: data, the base, the three runs, the table ----

function runChild(which: string): string {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'experiments/lora.ts', '--child', which, ...argv],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      env: { ...process.env, XFMR_THREADS: process.env.XFMR_THREADS ?? String(THREADS) },
    },
  );
  if (r.status !== 0) throw new Error(`lora experiment: the ${which} run failed (exit ${r.status})`);
  return r.stdout;
}

function prepareData(): void {
  const tok = loadTokenizerJson(TOKENIZER);
  const eos = 0; // <|endoftext|> of the shipped tokenizer (models/xfmr-rag-tiny/RECIPE.md)
  const kjvDir = join(WORK, 'kjv');
  if (!existsSync(join(kjvDir, 'manifest.json'))) {
    const b = spawnSync('bible', ['-p', '/usr/lib', '-m', '8192', 'Gen1:1-Rev22:21'], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (b.status !== 0 || !b.stdout)
      throw new Error(
        'lora experiment: the base is pretrained on the KJV; install it: apt-get install bible-kjv',
      );
    writeShards(
      kjvDir,
      tok.encode(b.stdout),
      { vocabSize: 2048, separatorId: eos, tokenizer: TOKENIZER, sources: [] },
      0.02,
    );
  }
  const docs = join('test', 'rag', 'fixtures', 'sqlite-docs');
  const ids: number[] = [];
  for (const f of readdirSync(docs)
    .filter((f) => f.endsWith('.md'))
    .sort())
    ids.push(...tok.encode(readFileSync(join(docs, f), 'utf8')), eos);
  writeShards(
    join(WORK, 'sqlite'),
    ids,
    { vocabSize: 2048, separatorId: eos, tokenizer: TOKENIZER, sources: [] },
    0.1,
  );
  say(`fine-tuning data: ${ids.length} tokens of SQLite documentation, 10% held out`);
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  prepareData();
  const cached = join(BASE, 'pretrain.json');
  const same =
    existsSync(cached) &&
    JSON.stringify(JSON.parse(readFileSync(cached, 'utf8')).config) === JSON.stringify(config) &&
    JSON.parse(readFileSync(cached, 'utf8')).steps === PRETRAIN_STEPS;
  if (!same) {
    say(`pretraining the base (${PRETRAIN_STEPS} steps of 8 x ${T} KJV tokens)`);
    runChild('pretrain');
  } else say(`base: ${BASE} (cached; delete it to pretrain again)`);
  const pretrain = JSON.parse(readFileSync(join(BASE, 'pretrain.json'), 'utf8'));
  if (!same || !existsSync(BASE_Q8)) exportGgufFile(BASE, BASE_Q8, { dtype: 'Q8_0' });
  const results = {} as Record<Mode, ModeResult>;
  for (const mode of MODES) {
    say(`fine-tuning: ${mode}, lr ${LR[mode]}`);
    const lines = runChild(mode).trim().split('\n');
    results[mode] = JSON.parse(lines[lines.length - 1]) as ModeResult;
  }
  const { full, lora, qlora } = results;
  const ratio = {
    lora_eval_loss: lora.eval_loss / full.eval_loss,
    lora_memory: lora.peak_rss_mb / full.peak_rss_mb,
    lora_params: lora.trainable_params / full.trainable_params,
    lora_tok_s: lora.tok_s / full.tok_s,
    qlora_eval_loss: qlora.eval_loss / full.eval_loss,
    qlora_memory: qlora.peak_rss_mb / full.peak_rss_mb,
    qlora_tok_s: qlora.tok_s / full.tok_s,
  };
  const goals = {
    lora_loss_within_5pct: Math.abs(ratio.lora_eval_loss - 1) <= GOAL.loss,
    lora_memory_at_most_60pct: ratio.lora_memory <= GOAL.memory,
    lora_params_at_most_2pct: ratio.lora_params <= GOAL.params,
    qlora_memory_below_lora: qlora.peak_rss_mb < lora.peak_rss_mb,
  };
  const pad = (s: string, n: number) => s.padStart(n);
  console.log('');
  console.log('mode     eval loss  (base)   peak RSS MB  trainable params   tok/s');
  for (const m of MODES) {
    const r = results[m];
    console.log(
      `${m.padEnd(6)} ${pad(r.eval_loss.toFixed(4), 10)} ${pad(r.base_eval_loss.toFixed(4), 8)} ${pad(r.peak_rss_mb.toFixed(0), 12)} ${pad(String(r.trainable_params), 17)} ${pad(r.tok_s.toFixed(0), 7)}`,
    );
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(
    `LoRA / full: eval loss ${ratio.lora_eval_loss.toFixed(4)}x, memory ${pct(ratio.lora_memory)}, ` +
      `params ${pct(ratio.lora_params)}, speed ${ratio.lora_tok_s.toFixed(2)}x`,
  );
  console.log(
    `QLoRA / full: eval loss ${ratio.qlora_eval_loss.toFixed(4)}x, memory ${pct(ratio.qlora_memory)}, speed ${ratio.qlora_tok_s.toFixed(2)}x`,
  );
  for (const [k, v] of Object.entries(goals)) console.log(`goal ${k}: ${v ? 'holds' : 'DOES NOT hold'}`);

  const round = (r: ModeResult) => ({
    eval_loss: Number(r.eval_loss.toFixed(4)),
    peak_rss_mb: Math.round(r.peak_rss_mb),
    trainable_params: r.trainable_params,
    tok_s: Math.round(r.tok_s),
  });
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${NAME}.json`);
  writeJsonFile(file, {
    experiment: 'lora',
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch} (${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores shared with other jobs), backend ${kernels().name}, ${process.env.XFMR_THREADS ?? THREADS} kernel thread(s) a run`,
    setup: {
      seed: SEED,
      base: { config, parameters: full.trainable_params, pretrain },
      fine_tune: { steps: STEPS, micro_batch: [MICRO, T], grad_accum: GRAD_ACCUM, lr: LR, lora: LORA_SPEC },
    },
    results,
    ratio,
    goals,
  });
  say(`results in ${file}`);
  console.log(JSON.stringify({ full: round(full), lora: round(lora), qlora: round(qlora) }));
}

if (CHILD === 'pretrain') await pretrainChild();
else if (CHILD === 'full' || CHILD === 'lora' || CHILD === 'qlora') await fineTuneChild(CHILD);
else if (CHILD !== '') throw new Error(`--child: unknown run "${CHILD}"`);
else await main();
