/**
 * `npm run bench -- decode [--steps N] [--prefill N] [--budget S] [--only xfmr|llama] [--no-f16]
 * [--no-bf16] [--no-quant] [--no-qwen] [--no-startup | --startup-only] [--startup-runs N]`: batch-1
 * generation speed of xfmr against llama.cpp (node-llama-cpp 3.21.1) on the same random-weight
 * Llama-style model: d_model 768, 12 layers, 12 heads, 4 KV heads, vocab 32000, SwiGLU FFN 2048,
 * untied head, f32 weights (~125M parameters, ~500 MB).
 *
 *   decode   tokens/s of greedy decoding after a 16-token prompt and 4 warm-up tokens: one model step
 *            + argmax per token. xfmr: DecoderLM.extend with its KV cache, 2 threads; llama.cpp: the
 *            same weights as GGUF (written by src/io/gguf_export.ts to a temp dir, removed after), f32
 *            KV cache, flash attention off, 2 threads and 1 thread (its evaluate() generator).
 *   prefill  tokens/s of one 512-token prompt into an empty cache (one extend call; llama.cpp with
 *            batch size 512), 2 threads, and the GFLOPS that makes (2 FLOPs per weight of the 12
 *            layers per token, plus causal attention; the head is not counted).
 *   f16      llama.cpp again on the same weights stored f16 (decode and prefill, 2 threads): f32 is
 *            not the format llama.cpp is tuned for (its prefill was measured at ~20 GFLOPS in f32
 *            on a loaded machine), so its f16 path is measured beside it rather than assumed
 *            slower. `--no-f16` skips this engine.
 *   bf16     xfmr again with the same model's matrices rounded to bf16 and kept bf16 in memory
 *            (Module.castMatrices; norms f32, KV cache f32), decode and prefill through the
 *            linearBf16 kernel: the row issue 15 compares with llama.cpp's f16 weights (the same
 *            bytes per weight). The weights' memory in f32 and in bf16 is printed and in the JSON.
 *            Until the addon implements linearBf16 it runs on the js twin (said in the row), which
 *            is slow: use a small --prefill then. `--no-bf16` skips this engine.
 *   q8_0, q4_k_m  the same weights quantized by xfmr's GGUF writer (llama-quantize's reference
 *            quantizers, byte-exact): llama.cpp loads each file, and xfmr loads the same file with
 *            dtype auto, its matrices kept quantized in memory and computed with by linearQuant
 *            (activations quantized to 8 bits per block, as llama.cpp does). Each row's bandwidth
 *            limit is printed beside it (its bytes per token). `--no-quant` skips them.
 *   startup  time to first token and peak RSS of a fresh process (issue 16), xfmr's CLI against a
 *            node-llama-cpp child, on the f32 model (xfmr: a Hugging Face directory; llama.cpp: the
 *            f32 GGUF) and the Q8_0 GGUF (both), with a 16-id and an 1800-id prompt; the ratios and
 *            the goals (<= 1.5x the time, <= 1.2x the RSS) are printed and in the JSON (`startup`).
 *            See startupSection. `--no-startup` skips it, `--startup-only` runs it alone.
 *   qwen05   a Qwen2.5-0.5B-shaped random model (d 896, 24 layers, 14 heads, 2 KV heads, SwiGLU FFN
 *            4864, vocab 151936, qkv bias, tied embeddings; ~494M parameters) at Q4_K_M, xfmr and
 *            llama.cpp decoding the same file with 2 threads (no prefill: decode is the figure). It
 *            is built after the rows above are done, quantized by the native quantizer straight from
 *            the f32 weights (~2 GB, the only f32 copy, dropped before the file is loaded), and its
 *            bandwidth limit counts the tied head: the output projection reads the whole token
 *            embedding matrix every token (Q8_0: its rows of 896 are not whole 256-blocks, so
 *            llama-quantize's fallback replaces the mix's Q6_K). `--no-qwen` skips it.
 *   limit    decode is memory-bound: every weight but the embedding table is read once per token, so
 *            tokens/s <= bandwidth / weight bytes. The bandwidth is the figure stated in
 *            /work/shared/PEERS.md for this machine (18 GB/s one thread, 23 GB/s two), not measured.
 *
 * The machine is shared, so the engines take turns: two prefills each, then STEPS tokens each in 4
 * rounds (xfmr, xfmr bf16, llama.cpp f32 2 threads, f32 1 thread, f16 2 threads, repeat); each figure is the
 * engine's best round, and only the ratios mean much. No round starts after --budget seconds
 * (default 60) of decoding. xfmr and llama.cpp f32 both compute in f32, so their greedy tokens
 * should agree (reported as a check; with 0.02-std random weights a near-tie can make them part).
 * Prints the figures, then one JSON line.
 * Needs the native addon (the js backend would take many minutes).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Token } from 'node-llama-cpp';
import { argmax } from '../src/generate/index.ts';
import { exportGguf, type GgufTokenizer } from '../src/io/gguf_export.ts';
import { tokenizerFromGguf } from '../src/io/gguf_tokenizer_import.ts';
import type { NamedTensor } from '../src/io/tensors.ts';
import { kernels } from '../src/kernels/index.ts';
import { nativeKernelNames } from '../src/kernels/native.ts';
import { DecoderLM } from '../src/models/decoder.ts';
import { describeWeights, saveModel } from '../src/models/load.ts';
import { loadGgufDecoder } from '../src/models/load_gguf.ts';
import { llamaConfig, qwen2Config } from '../src/models/presets.ts';
import { BYTE_TO_CHAR } from '../src/tokenizers/byte_level.ts';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const STEPS = Number(flag('steps', '64'));
const PREFILL = Number(flag('prefill', '512'));
const ONLY = flag('only', 'both');
const F16 = !argv.includes('--no-f16');
const BF16 = !argv.includes('--no-bf16');
const QUANT = !argv.includes('--no-quant');
/** The start-up rows (startupSection); --startup-only skips the decode and prefill rows. */
const STARTUP = !argv.includes('--no-startup');
const STARTUP_ONLY = argv.includes('--startup-only');
const QWEN = !argv.includes('--no-qwen');
/** The quantized rows: GGUF file type, label, JSON key suffix. */
const QUANT_ROWS = [
  ['Q8_0', 'q8_0'],
  ['Q4_K_M', 'q4_k_m'],
] as const;
const THREADS = 2;
const PROMPT_LEN = 16;
const WARMUP = 4;
/** Decoding rounds (each engine decodes STEPS / ROUNDS tokens per round, the engines taking turns). */
const ROUNDS = 4;
/** No new round starts after this many seconds of decoding (a loaded machine can make a run crawl). */
const DECODE_BUDGET_S = Number(flag('budget', '60'));
const STATED_BW_GBS = { 1: 18, 2: 23 } as const;

const config = llamaConfig({
  vocabSize: 32000,
  contextLength: 2048,
  dModel: 768,
  nLayers: 12,
  nHeads: 12,
  nKvHeads: 4,
  ffnDim: 2048,
});

/** Qwen2.5-0.5B's shape (its config.json), random weights. */
const qwenConfig = qwen2Config({
  vocabSize: 151936,
  contextLength: 2048,
  dModel: 896,
  nLayers: 24,
  nHeads: 14,
  nKvHeads: 2,
  ffnDim: 4864,
});

/**
 * Bytes of weights a decode step reads: every parameter but the embedding table, of which one row;
 * with tied embeddings the head reads the whole table as well (once per token).
 */
function readPerToken(m: DecoderLM): number {
  const emb = m.tokEmbeddings.weight.nbytes;
  return m.parameterBytes() - (m.config.tiedEmbeddings ? 0 : emb) + emb / m.config.vocabSize;
}

function rngInts(n: number, max: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % max;
  });
}

/** A 32000-token byte-level BPE vocabulary: 256 bytes, letter n-grams with their merges, <|endoftext|>. */
function syntheticTokenizer(V: number): GgufTokenizer {
  const tokens = [...BYTE_TO_CHAR];
  const merges: string[] = [];
  const seen = new Set(tokens);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let frontier = letters.split('');
  while (tokens.length < V - 1) {
    const next: string[] = [];
    for (const a of frontier) {
      for (const b of letters) {
        if (tokens.length >= V - 1) break;
        const t = a + b;
        if (seen.has(t)) continue;
        seen.add(t);
        tokens.push(t);
        merges.push(`${a} ${b}`);
        next.push(t);
      }
    }
    frontier = next;
  }
  tokens.push('<|endoftext|>');
  const eos = V - 1;
  return {
    tokens,
    tokenTypes: tokens.map((_, i) => (i === eos ? 3 : 1)),
    merges,
    bosId: eos,
    eosId: eos,
    model: 'gpt2',
    pre: 'gpt-2',
  };
}

/** One engine under test: prefill timing, then decoding in chunks (so engines can take turns). */
interface Engine {
  name: string;
  /** Seconds for one PREFILL-token prompt from an empty cache (null: not measured for this engine). */
  prefill: (() => Promise<number>) | null;
  /** Feeds the 16-token prompt and decodes WARMUP tokens (untimed). */
  start(): Promise<void>;
  /** Seconds to decode n more greedy tokens. */
  decode(n: number): Promise<number>;
  stop(): Promise<void>;
  greedy: number[];
  prefillTokS: number;
  decodeTokS: number;
  decodeRates: number[];
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const prompt = rngInts(PROMPT_LEN, config.vocabSize - 1, 1);
const longPrompt = rngInts(PREFILL, config.vocabSize - 1, 2);

function newEngine(
  name: string,
  e: Pick<Engine, 'prefill' | 'start' | 'decode' | 'greedy'> & { stop?: () => Promise<void> },
): Engine {
  return { name, stop: async () => {}, prefillTokS: 0, decodeTokS: 0, decodeRates: [], ...e };
}

function xfmrEngine(model: DecoderLM, label: string): Engine {
  let cache = model.createCache(1, PROMPT_LEN + WARMUP + STEPS + 1);
  let logits: Float32Array = new Float32Array(0);
  const greedy: number[] = [];
  const step = (): void => {
    const id = argmax(logits);
    greedy.push(id);
    logits = model.extend([Int32Array.of(id)], cache)[0] as Float32Array;
  };
  return newEngine(`${label} (${THREADS} threads)`, {
    greedy,
    prefill: async () => {
      kernels().setThreads(THREADS);
      const c = model.createCache(1, PREFILL);
      const t0 = performance.now();
      model.extend([Int32Array.from(longPrompt)], c);
      return (performance.now() - t0) / 1000;
    },
    start: async () => {
      kernels().setThreads(THREADS);
      cache = model.createCache(1, PROMPT_LEN + WARMUP + STEPS + 1);
      logits = model.extend([Int32Array.from(prompt)], cache)[0] as Float32Array;
      for (let i = 0; i < WARMUP; i++) step();
    },
    decode: async (n) => {
      kernels().setThreads(THREADS);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) step();
      return (performance.now() - t0) / 1000;
    },
  });
}

/**
 * llama.cpp engines on each GGUF file: `threads` of them each (the first with prefill), or why
 * they cannot run.
 */
async function llamaCppEngines(
  files: { path: string; label: string; threads: number[] }[],
): Promise<{ engines: Engine[]; close: () => Promise<void> } | string> {
  let mod: typeof import('node-llama-cpp');
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    return `node-llama-cpp is not installed: ${(e as Error).message.split('\n')[0]}`;
  }
  let llama: Awaited<ReturnType<typeof mod.getLlama>>;
  try {
    llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error });
  } catch (e) {
    return `node-llama-cpp's native binary cannot load: ${(e as Error).message.split('\n')[0]}`;
  }
  const engines: Engine[] = [];
  for (const file of files) {
    const model = await llama.loadModel({ modelPath: file.path });
    for (const threads of file.threads) {
      const ctx = await model.createContext({
        contextSize: Math.max(1024, PREFILL + 64),
        batchSize: PREFILL,
        flashAttention: false,
        threads,
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
      });
      const seq = ctx.getSequence();
      const greedy: number[] = [];
      let it: AsyncIterator<Token> | null = null;
      const pull = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const r = await (it as AsyncIterator<Token>).next();
          if (r.done) throw new Error('llama.cpp stopped generating');
          greedy.push(r.value);
        }
      };
      engines.push(
        newEngine(`llama.cpp ${file.label} (${threads} thread${threads > 1 ? 's' : ''})`, {
          greedy,
          prefill:
            threads === THREADS
              ? async () => {
                  await seq.clearHistory();
                  const t0 = performance.now();
                  await seq.evaluateWithoutGeneratingNewTokens(longPrompt as Token[]);
                  const dt = (performance.now() - t0) / 1000;
                  await seq.clearHistory();
                  return dt;
                }
              : null,
          // The first token comes after the prompt; WARMUP tokens in all, as for xfmr.
          start: async () => {
            it = seq.evaluate(prompt as Token[], { temperature: 0 })[Symbol.asyncIterator]();
            await pull(WARMUP);
          },
          decode: async (n) => {
            const t0 = performance.now();
            await pull(n);
            return (performance.now() - t0) / 1000;
          },
          stop: async () => {
            await it?.return?.();
          },
        }),
      );
    }
  }
  return { engines, close: () => llama.dispose() };
}

/**
 * Prefill twice and decode STEPS tokens in ROUNDS chunks, the engines taking turns, so that a change
 * in the machine's load hits them alike. Each figure is the engine's best round.
 */
async function measure(engines: Engine[]): Promise<void> {
  for (let r = 0; r < 2; r++) {
    for (const e of engines) {
      if (!e.prefill) continue;
      e.prefillTokS = Math.max(e.prefillTokS, PREFILL / (await e.prefill()));
    }
  }
  for (const e of engines) await e.start();
  const chunk = Math.max(1, Math.floor(STEPS / ROUNDS));
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of engines) {
      const rate = chunk / (await e.decode(chunk));
      e.decodeRates.push(rate);
      e.decodeTokS = Math.max(e.decodeTokS, rate);
    }
    if ((performance.now() - t0) / 1000 > DECODE_BUDGET_S) break;
  }
  for (const e of engines) await e.stop();
}

// ---------------------------------------------------------------------------------------------
// Start-up: time to first token and peak RSS of a fresh process (issue 16)

/** Prompt lengths of the start-up rows: a short prompt and a long one (prefill-bound). */
const STARTUP_PROMPTS = [
  ['short', PROMPT_LEN],
  ['long', 1800],
] as const;
/** Fresh processes per engine, row and prompt; each figure is the best (least) of them. */
const STARTUP_RUNS = Number(flag('startup-runs', '2'));
/** issue 16's goals: xfmr at most 1.5x llama.cpp's time to first token and 1.2x its peak RSS. */
const STARTUP_GOALS = { time: 1.5, rss: 1.2 } as const;
/**
 * Preloaded into both children: their peak RSS (VmHWM: anonymous and file-mapped pages, so mapped
 * weights count once they are touched) on stderr as the process exits. Not getrusage's ru_maxrss:
 * Linux carries the RSS of the image before exec into it, i.e. this bench's own (a model or two).
 */
const RSS_HOOK = `data:text/javascript,${encodeURIComponent(
  "import{readFileSync}from'node:fs';process.on('exit',()=>{const m=/VmHWM:\\s*(\\d+)/.exec(" +
    "readFileSync('/proc/self/status','utf8'));process.stderr.write('\\nstartup-maxrss-kb '+(m?m[1]:-1)+'\\n')})",
)}`;

interface ChildRun {
  /** Seconds from spawn to the line carrying the first token. */
  ttftS: number;
  peakRssMb: number;
  token: number | null;
}

/**
 * Runs `node ARGS` with the RSS hook; the first stdout line that `token` parses (a JSON line with the
 * token) stops the clock. Rejects with the child's stderr when it fails.
 */
function runChild(args: string[], token: (line: string) => number | null | undefined): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', RSS_HOOK, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let ttft: number | null = null;
    let tok: number | null = null;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (ttft !== null) return;
      for (const line of out.split('\n').slice(0, -1)) {
        const t = token(line);
        if (t === undefined) continue;
        ttft = (performance.now() - t0) / 1000;
        tok = t;
        break;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const rss = /startup-maxrss-kb (-?\d+)/.exec(err);
      const tail = err
        .replace(/startup-maxrss-kb -?\d+/, '')
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      if (code !== 0 || ttft === null) reject(new Error(`exit ${code}, no token: ${tail}`));
      else if (!rss || Number(rss[1]) < 0) reject(new Error('no peak RSS (VmHWM needs Linux /proc)'));
      else resolve({ ttftS: ttft, peakRssMb: Number(rss[1]) / 1024, token: tok });
    });
  });
}

/** A JSON line's field, or undefined when the line is not JSON with it. */
const jsonField = (
  line: string,
  read: (o: Record<string, unknown>) => unknown,
): number | null | undefined => {
  try {
    const v = read(JSON.parse(line) as Record<string, unknown>);
    return typeof v === 'number' || v === null ? v : undefined;
  } catch {
    return undefined;
  }
};

interface StartupRow {
  xfmr: { ttft_s: number; peak_rss_mb: number } | null;
  llama_cpp: { ttft_s: number; peak_rss_mb: number } | null;
  ratio: { time: number; rss: number } | null;
  goals_hold: { time: boolean; rss: boolean } | null;
  same_token: boolean | null;
  error?: string;
}

/**
 * Time to first token and peak RSS of fresh processes for the same model as an f32 HF directory
 * (xfmr; llama.cpp reads the f32 GGUF of the same weights) and as a Q8_0 GGUF (both read the file):
 * xfmr is its CLI, `node bin/xfmr.js generate --model M --prompt-ids ... --max-tokens 1 --temperature 0
 * --threads 2 --json` (dtype auto: f32 stays f32, Q8_0 stays quantized; the model directory holds a
 * tokenizer.json, which is loaded as it would be for --prompt); llama.cpp is
 * bench/peers/llama_cpp_first_token.mjs (node-llama-cpp: load, context, evaluate the same ids, one
 * token). The runs alternate between engines, STARTUP_RUNS each. The files were just written, so
 * they are in the page cache: a warm start for both (a cold disk read is not measured).
 */
async function startupSection(
  tmp: string,
  model: DecoderLM,
): Promise<Record<string, Record<string, StartupRow>>> {
  const tokenizer = syntheticTokenizer(config.vocabSize);
  const canonical = new Map<string, NamedTensor>();
  for (const [name, p] of model.namedParameters())
    canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
  const files = { f32: join(tmp, 'llama-768-f32.gguf'), q8_0: join(tmp, 'llama-768-q8_0.gguf') };
  for (const [label, path] of Object.entries(files))
    if (!existsSync(path))
      exportGguf(path, config, canonical, tokenizer, {
        dtype: label === 'f32' ? 'F32' : 'Q8_0',
        name: 'bench',
      });
  const hfDir = join(tmp, 'hf-f32');
  saveModel(hfDir, model, { tokenizerJson: tokenizerFromGguf(files.f32).tokenizerJson });
  const rows = [
    { label: 'f32', xfmrModel: hfDir, llamaModel: files.f32 },
    { label: 'q8_0', xfmrModel: files.q8_0, llamaModel: files.q8_0 },
  ];
  const xfmrArgs = (m: string, ids: number[]) => [
    'bin/xfmr.js',
    'generate',
    '--model',
    m,
    '--prompt-ids',
    ids.join(','),
    '--max-tokens',
    '1',
    '--temperature',
    '0',
    '--threads',
    String(THREADS),
    '--json',
  ];
  const llamaArgs = (m: string, ids: number[]) => [
    'bench/peers/llama_cpp_first_token.mjs',
    m,
    ids.join(','),
    String(THREADS),
  ];
  const out: Record<string, Record<string, StartupRow>> = {};
  for (const row of rows) {
    out[row.label] = {};
    for (const [plabel, n] of STARTUP_PROMPTS) {
      const ids = rngInts(n, config.vocabSize - 1, 3);
      const best = { xfmr: null as ChildRun | null, llama: null as ChildRun | null };
      const keep = (a: ChildRun | null, b: ChildRun): ChildRun =>
        a === null
          ? b
          : {
              ttftS: Math.min(a.ttftS, b.ttftS),
              peakRssMb: Math.min(a.peakRssMb, b.peakRssMb),
              token: b.token,
            };
      const r: StartupRow = { xfmr: null, llama_cpp: null, ratio: null, goals_hold: null, same_token: null };
      try {
        for (let i = 0; i < STARTUP_RUNS; i++) {
          best.xfmr = keep(
            best.xfmr,
            await runChild(xfmrArgs(row.xfmrModel, ids), (l) =>
              jsonField(l, (o) => (Array.isArray(o.ids) ? (o.ids[0] ?? null) : undefined)),
            ),
          );
          best.llama = keep(
            best.llama,
            await runChild(llamaArgs(row.llamaModel, ids), (l) => jsonField(l, (o) => o.token)),
          );
        }
      } catch (e) {
        r.error = (e as Error).message;
      }
      const fig = (c: ChildRun | null) =>
        c ? { ttft_s: round(c.ttftS, 2), peak_rss_mb: Math.round(c.peakRssMb) } : null;
      r.xfmr = fig(best.xfmr);
      r.llama_cpp = fig(best.llama);
      if (best.xfmr && best.llama) {
        r.ratio = {
          time: round(best.xfmr.ttftS / best.llama.ttftS, 2),
          rss: round(best.xfmr.peakRssMb / best.llama.peakRssMb, 2),
        };
        r.goals_hold = { time: r.ratio.time <= STARTUP_GOALS.time, rss: r.ratio.rss <= STARTUP_GOALS.rss };
        r.same_token = best.xfmr.token === best.llama.token;
      }
      out[row.label][plabel] = r;
      const at = (c: ChildRun | null) =>
        c ? `${c.ttftS.toFixed(2)} s, ${Math.round(c.peakRssMb)} MB` : 'n/a';
      console.log(
        `startup ${row.label.padEnd(4)} ${plabel.padEnd(5)} (${String(n).padStart(4)} prompt ids): ` +
          `xfmr ${at(best.xfmr)}; llama.cpp ${at(best.llama)}; ` +
          (r.ratio
            ? `ratio time ${r.ratio.time}x (goal <= ${STARTUP_GOALS.time}), rss ${r.ratio.rss}x (goal <= ${STARTUP_GOALS.rss})` +
              `${r.same_token ? '' : '; first tokens differ'}`
            : `not measured: ${r.error}`),
      );
    }
  }
  return out;
}

interface QwenRow {
  xfmr: number | null;
  llama: number | null;
  ratio: number | null;
  /** Bytes of weights read per decoded token, and the tied embedding matrix's share of them. */
  bytes: number;
  embBytes: number;
  embType: string;
  limit: number;
  describe: string;
  error: string | null;
}

/**
 * The Qwen2.5-0.5B-shaped row: builds the random f32 model, writes its Q4_K_M GGUF, drops the f32
 * weights, then decodes the file with xfmr (quantized in memory) and llama.cpp, taking turns.
 */
async function qwenRow(tmp: string, phase: (what: string) => void): Promise<QwenRow> {
  const path = join(tmp, 'qwen05-q4_k_m.gguf');
  {
    phase('building the Qwen2.5-0.5B-shaped random model (f32, ~2 GB)');
    const f32 = new DecoderLM(qwenConfig, 4321);
    const canonical = new Map<string, NamedTensor>();
    for (const [name, p] of f32.namedParameters())
      canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
    phase(`writing ${path}`);
    exportGguf(path, qwenConfig, canonical, syntheticTokenizer(qwenConfig.vocabSize), {
      dtype: 'Q4_K_M',
      name: 'bench-qwen05',
    });
  } // the f32 model is unreachable from here on
  const engines: Engine[] = [];
  let qm: DecoderLM | null = null;
  if (ONLY !== 'llama') {
    qm = loadGgufDecoder(path, { dtype: 'auto' }).model;
    phase(`xfmr qwen05 q4_k_m: ${describeWeights(qm)}`);
    engines.push(xfmrEngine(qm, 'xfmr qwen05 q4_k_m'));
  }
  let error: string | null = ONLY === 'xfmr' ? 'not run (--only xfmr)' : null;
  let close = async (): Promise<void> => {};
  if (ONLY !== 'xfmr') {
    const lc = await llamaCppEngines([{ path, label: 'qwen05 q4_k_m', threads: [THREADS] }]);
    if (typeof lc === 'string') error = lc;
    else {
      engines.push(...lc.engines);
      close = lc.close;
    }
  }
  for (const e of engines) e.prefill = null;
  phase(`measuring ${engines.map((e) => e.name).join(', ')}`);
  try {
    await measure(engines);
  } finally {
    await close();
  }
  const ox = engines.find((e) => e.name.startsWith('xfmr'));
  const ol = engines.find((e) => e.name.startsWith('llama.cpp'));
  // Without the xfmr model (--only llama) the bytes come from a load of the file's shapes alone.
  const m = qm ?? loadGgufDecoder(path, { dtype: 'auto' }).model;
  const bytes = readPerToken(m);
  return {
    xfmr: ox ? round(ox.decodeTokS) : null,
    llama: ol ? round(ol.decodeTokS) : null,
    ratio: ox && ol ? round(ox.decodeTokS / ol.decodeTokS, 2) : null,
    bytes,
    embBytes: m.tokEmbeddings.weight.nbytes,
    embType: m.tokEmbeddings.weight.dtype,
    limit: (STATED_BW_GBS[2] * 1e9) / bytes,
    describe: `d896 L24 H14 KV2 V151936 ffn4864, qkv bias, tied; ${describeWeights(m)}`,
    error,
  };
}

async function main(): Promise<void> {
  const t00 = performance.now();
  if (ONLY !== 'llama' && kernels().name !== 'native') {
    console.error(
      'bench decode: the native addon is not loaded (run `node scripts/build-native.js`); the js backend ' +
        'would take many minutes here. Use --only llama for llama.cpp alone.',
    );
    process.exitCode = 1;
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'xfmr-bench-decode-'));
  const gguf = join(tmp, 'llama-768-f32.gguf');
  const gguf16 = join(tmp, 'llama-768-f16.gguf');
  try {
    const phase = (what: string) =>
      process.stderr.write(`bench decode: [${round((performance.now() - t00) / 1000)} s] ${what}\n`);
    phase('building the random model');
    const model = new DecoderLM(config, 1234);
    if (STARTUP_ONLY) {
      phase('start-up rows only (--startup-only)');
      const startup = await startupSection(tmp, model);
      console.log(
        JSON.stringify({ startup, threads: THREADS, seconds: round((performance.now() - t00) / 1000) }),
      );
      return;
    }
    const params = model.numParameters();
    const bytesPerToken = readPerToken(model);
    // The same weights (same seed) with the matrices rounded to bf16 and held as bf16.
    let model16: DecoderLM | null = null;
    if (BF16 && ONLY !== 'llama') {
      phase('rounding a copy of the model to bf16');
      model16 = new DecoderLM(config, 1234).castMatrices('bf16');
    }
    const linearBf16Where = nativeKernelNames().includes('linearBf16') ? 'native' : 'js twin';
    // Prefill FLOPs per token: 2 per weight of the layers' matrices (not the embedding or the head,
    // which a prompt needs for one position only) plus causal attention (q k^T and p v over the
    // average PREFILL / 2 earlier positions).
    let layerWeights = 0;
    for (const [, p] of model.namedParameters())
      if (p.shape.length === 2 && !p.shape.includes(config.vocabSize))
        layerWeights += p.shape[0] * p.shape[1];
    const prefillFlopsPerToken =
      2 * layerWeights +
      4 * config.nLayers * config.nHeads * (config.dModel / config.nHeads) * ((PREFILL + 1) / 2);
    const prefillGflops = (tokS: number) => round((tokS * prefillFlopsPerToken) / 1e9);
    const engines: Engine[] = [];
    /** Bytes a decode step reads, per quantized row (xfmr's model of the file). */
    const quantBytes = new Map<string, number>();
    let llamaError: string | null = ONLY === 'xfmr' ? 'not run (--only xfmr)' : null;
    let close = async (): Promise<void> => {};
    if (ONLY !== 'llama') engines.push(xfmrEngine(model, 'xfmr'));
    if (model16) engines.push(xfmrEngine(model16, 'xfmr bf16'));
    if (ONLY !== 'xfmr') {
      const canonical = new Map<string, NamedTensor>();
      for (const [name, p] of model.namedParameters())
        canonical.set(name, { name, shape: [...p.shape], dtype: 'F32', data: p.data });
      phase(`writing ${gguf}`);
      const tokenizer = syntheticTokenizer(config.vocabSize);
      exportGguf(gguf, config, canonical, tokenizer, { dtype: 'F32', name: 'bench' });
      const files = [{ path: gguf, label: 'f32', threads: [THREADS, 1] }];
      if (F16) {
        phase(`writing ${gguf16}`);
        exportGguf(gguf16, config, canonical, tokenizer, { dtype: 'F16', name: 'bench' });
        files.push({ path: gguf16, label: 'f16', threads: [THREADS] });
      }
      if (QUANT)
        for (const [ftype, label] of QUANT_ROWS) {
          const path = join(tmp, `llama-768-${label}.gguf`);
          phase(`writing ${path}`);
          exportGguf(path, config, canonical, tokenizer, { dtype: ftype, name: 'bench' });
          files.push({ path, label, threads: [THREADS] });
          if (ONLY !== 'llama') {
            const qm = loadGgufDecoder(path, { dtype: 'auto' }).model;
            quantBytes.set(label, readPerToken(qm));
            phase(`xfmr ${label}: ${describeWeights(qm)}`);
            engines.push(xfmrEngine(qm, `xfmr ${label}`));
          }
        }
      const lc = await llamaCppEngines(files);
      if (typeof lc === 'string') llamaError = lc;
      else {
        engines.push(...lc.engines);
        close = lc.close;
      }
    }
    phase(`measuring ${engines.map((e) => e.name).join(', ')}`);
    try {
      await measure(engines);
    } finally {
      await close();
    }
    const startup = STARTUP ? await startupSection(tmp, model) : null;
    const qwen = QWEN ? await qwenRow(tmp, phase) : null;
    phase('done');
    const limit2 = (STATED_BW_GBS[2] * 1e9) / bytesPerToken;
    const limit1 = (STATED_BW_GBS[1] * 1e9) / bytesPerToken;
    const ours = engines.find((e) => e.name === `xfmr (${THREADS} threads)`);
    const ours16 = engines.find((e) => e.name === `xfmr bf16 (${THREADS} threads)`);
    const lc2 = engines.find((e) => e.name === `llama.cpp f32 (${THREADS} threads)`);
    const lc1 = engines.find((e) => e.name === 'llama.cpp f32 (1 thread)');
    const lc16 = engines.find((e) => e.name === `llama.cpp f16 (${THREADS} threads)`);
    console.log(
      `model: llama d768 L12 H12 KV4 V32000 ffn2048, ${(params / 1e6).toFixed(1)}M parameters, f32; ` +
        `weights read per decoded token ${(bytesPerToken / 1e6).toFixed(0)} MB`,
    );
    console.log(
      `bandwidth limit (stated in PEERS.md, not measured): ${round(limit2)} tok/s at ${STATED_BW_GBS[2]} GB/s ` +
        `(2 threads), ${round(limit1)} tok/s at ${STATED_BW_GBS[1]} GB/s (1 thread)`,
    );
    const bytesPerToken16 = model16 ? readPerToken(model16) : null;
    if (model16 && bytesPerToken16)
      console.log(
        `weights in memory: f32 ${(model.parameterBytes() / 2 ** 20).toFixed(1)} MiB, bf16 ` +
          `${(model16.parameterBytes() / 2 ** 20).toFixed(1)} MiB (norms stay f32); bf16 reads ` +
          `${(bytesPerToken16 / 1e6).toFixed(0)} MB per decoded token; linearBf16 runs on the ${linearBf16Where}`,
      );
    for (const e of engines) {
      // f16 and bf16 weights are half the bytes (the f32 norms are negligible), so twice the limit.
      const half = e.name.includes('f16');
      const limit = (e.name.includes('(1 thread)') ? limit1 : limit2) * (half ? 2 : 1);
      console.log(
        `${e.name.padEnd(28)} decode ${round(e.decodeTokS).toFixed(1).padStart(6)} tok/s ` +
          `(${Math.round((100 * e.decodeTokS) / limit)}% of the limit; rounds ${e.decodeRates.map((x) => round(x)).join(', ')})` +
          (e.prefill
            ? `   prefill(${PREFILL}) ${round(e.prefillTokS).toFixed(1)} tok/s = ${prefillGflops(e.prefillTokS)} GFLOPS`
            : ''),
      );
    }
    if (llamaError) console.log(`llama.cpp: ${llamaError}`);
    let agree: number | null = null;
    if (ours && lc2) {
      const n = Math.min(ours.greedy.length, lc2.greedy.length);
      agree = ours.greedy.findIndex((id, i) => i < n && lc2.greedy[i] !== id);
      if (agree < 0) agree = n;
      console.log(`greedy tokens agree for the first ${agree} of ${n}`);
      console.log(
        `xfmr / llama.cpp f32 (${THREADS} threads): decode ${round(ours.decodeTokS / lc2.decodeTokS, 2)}x, ` +
          `prefill ${round(ours.prefillTokS / lc2.prefillTokS, 2)}x`,
      );
    }
    if (ours && lc16) {
      console.log(
        `xfmr f32 / llama.cpp f16 weights (${THREADS} threads): decode ${round(ours.decodeTokS / lc16.decodeTokS, 2)}x, ` +
          `prefill ${round(ours.prefillTokS / lc16.prefillTokS, 2)}x (f16 halves the bytes a decode step reads)`,
      );
    }
    if (ours && lc2)
      console.log(
        `prefill GFLOPS: xfmr ${prefillGflops(ours.prefillTokS)}, llama.cpp f32 ${prefillGflops(lc2.prefillTokS)}` +
          (lc16 ? `, f16 ${prefillGflops(lc16.prefillTokS)}` : '') +
          (ours16 ? `, xfmr bf16 ${prefillGflops(ours16.prefillTokS)}` : '') +
          ' (the f32 GEMM rate of this machine: `npm run bench -- gemm`)',
      );
    let agree16: number | null = null;
    if (ours && ours16) {
      const n = Math.min(ours.greedy.length, ours16.greedy.length);
      agree16 = ours16.greedy.findIndex((id, i) => i < n && ours.greedy[i] !== id);
      if (agree16 < 0) agree16 = n;
      console.log(`xfmr bf16 greedy tokens agree with xfmr f32 for the first ${agree16} of ${n}`);
    }
    if (ours16 && lc16)
      console.log(
        `xfmr bf16 / llama.cpp f16 weights (${THREADS} threads): decode ${round(ours16.decodeTokS / lc16.decodeTokS, 2)}x ` +
          `(issue 15 goal: >= 1), prefill ${round(ours16.prefillTokS / lc16.prefillTokS, 2)}x` +
          (linearBf16Where === 'native' ? '' : ' (linearBf16 on the js twin: not a figure to compare)'),
      );
    const v = (e: Engine | undefined, k: 'decodeTokS' | 'prefillTokS') => (e ? round(e[k]) : null);
    // The quantized rows: xfmr and llama.cpp on the same file, the ratio and the bandwidth limit.
    const quantDecode: Record<string, number | null> = {};
    const quantPrefill: Record<string, number | null> = {};
    const quantLimit: Record<string, number | null> = {};
    const quantRatio: Record<string, number | null> = {};
    for (const [, label] of QUANT ? QUANT_ROWS : []) {
      const ox = engines.find((e) => e.name === `xfmr ${label} (${THREADS} threads)`);
      const ol = engines.find((e) => e.name === `llama.cpp ${label} (${THREADS} threads)`);
      const bytes = quantBytes.get(label);
      const limit = bytes ? (STATED_BW_GBS[2] * 1e9) / bytes : null;
      quantDecode[`xfmr_${label}`] = v(ox, 'decodeTokS');
      quantDecode[`llama_cpp_${label}`] = v(ol, 'decodeTokS');
      quantPrefill[`xfmr_${label}`] = v(ox, 'prefillTokS');
      quantPrefill[`llama_cpp_${label}`] = v(ol, 'prefillTokS');
      quantLimit[label] = limit === null ? null : round(limit);
      quantRatio[label] = ox && ol ? round(ox.decodeTokS / ol.decodeTokS, 2) : null;
      console.log(
        `${label}: decode xfmr ${v(ox, 'decodeTokS')} tok/s, llama.cpp ${v(ol, 'decodeTokS')} tok/s ` +
          `(${quantRatio[label] ?? 'n/a'}x; goal >= 1), bandwidth limit ${limit === null ? 'n/a' : round(limit)} tok/s ` +
          `(${bytes ? (bytes / 1e6).toFixed(0) : '?'} MB per token at ${STATED_BW_GBS[2]} GB/s, stated); ` +
          `prefill xfmr ${v(ox, 'prefillTokS')}, llama.cpp ${v(ol, 'prefillTokS')} tok/s`,
      );
    }
    if (qwen) {
      const [x, l] = [qwen.xfmr, qwen.llama];
      console.log(
        `qwen05 q4_k_m (${qwen.describe}): decode xfmr ${x ?? 'n/a'} tok/s, llama.cpp ${l ?? 'n/a'} tok/s ` +
          `(${qwen.ratio ?? 'n/a'}x; goal >= 1), bandwidth limit ${round(qwen.limit)} tok/s ` +
          `(${(qwen.bytes / 1e6).toFixed(0)} MB per token at ${STATED_BW_GBS[2]} GB/s, stated; the tied head ` +
          `reads the ${(qwen.embBytes / 1e6).toFixed(0)} MB ${qwen.embType} token embedding matrix every token)` +
          (qwen.error ? `; llama.cpp: ${qwen.error}` : ''),
      );
      quantDecode.xfmr_qwen05_q4_k_m = x;
      quantDecode.llama_cpp_qwen05_q4_k_m = l;
      quantLimit.qwen05_q4_k_m = round(qwen.limit);
      quantRatio.qwen05_q4_k_m = qwen.ratio;
    }
    console.log(
      JSON.stringify({
        decode_tok_s: {
          xfmr: v(ours, 'decodeTokS'),
          llama_cpp: v(lc2, 'decodeTokS'),
          llama_cpp_1_thread: v(lc1, 'decodeTokS'),
          llama_cpp_f16: v(lc16, 'decodeTokS'),
          xfmr_bf16: v(ours16, 'decodeTokS'),
          ...quantDecode,
        },
        quant_prefill_tok_s: quantPrefill,
        quant_bandwidth_limit_tok_s: quantLimit,
        quant_decode_ratio_vs_llama_cpp: quantRatio,
        prefill_tok_s: {
          xfmr: v(ours, 'prefillTokS'),
          xfmr_bf16: v(ours16, 'prefillTokS'),
          llama_cpp: v(lc2, 'prefillTokS'),
          llama_cpp_f16: v(lc16, 'prefillTokS'),
        },
        prefill_gflops: {
          xfmr: ours ? prefillGflops(ours.prefillTokS) : null,
          llama_cpp: lc2 ? prefillGflops(lc2.prefillTokS) : null,
          llama_cpp_f16: lc16 ? prefillGflops(lc16.prefillTokS) : null,
          xfmr_bf16: ours16 ? prefillGflops(ours16.prefillTokS) : null,
        },
        prefill_flops_per_token: prefillFlopsPerToken,
        bandwidth_limit_tok_s: round(limit2),
        bandwidth_limit_tok_s_1_thread: round(limit1),
        bandwidth_gb_s: STATED_BW_GBS[2],
        bandwidth_source: 'stated (PEERS.md)',
        weight_bytes_per_token: bytesPerToken,
        weight_bytes_per_token_bf16: bytesPerToken16,
        weight_bytes: { f32: model.parameterBytes(), bf16: model16 ? model16.parameterBytes() : null },
        linear_bf16_kernel: model16 ? linearBf16Where : null,
        ratio:
          ours && lc2
            ? {
                decode: round(ours.decodeTokS / lc2.decodeTokS, 2),
                prefill: round(ours.prefillTokS / lc2.prefillTokS, 2),
                decode_vs_f16: lc16 ? round(ours.decodeTokS / lc16.decodeTokS, 2) : null,
                prefill_vs_f16: lc16 ? round(ours.prefillTokS / lc16.prefillTokS, 2) : null,
              }
            : null,
        ratio_bf16:
          ours16 && lc16
            ? {
                decode_vs_f16: round(ours16.decodeTokS / lc16.decodeTokS, 2),
                prefill_vs_f16: round(ours16.prefillTokS / lc16.prefillTokS, 2),
              }
            : null,
        startup,
        greedy_agree_tokens: agree,
        greedy_agree_tokens_bf16_vs_f32: agree16,
        threads: THREADS,
        steps: STEPS,
        prefill_tokens: PREFILL,
        backend: kernels().name,
        llama_cpp_error: llamaError ?? undefined,
        seconds: round((performance.now() - t00) / 1000),
      }),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
