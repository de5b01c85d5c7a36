/**
 * The README's benchmark table, built from a results file (bench/readme.ts runs the set, writes
 * the file and calls renderTable). Every figure comes from the file; each ratio is xfmr against
 * the peer measured in the same run (above 1: xfmr is faster). A benchmark that failed or was not
 * run shows as such, never as an older figure.
 */

export interface BenchEntry {
  command: string;
  exit_code: number;
  ran_at: string;
  seconds: number;
  loadavg_1m: { before: number; after: number };
  machine: Results['machine'];
  /** The benchmark's last output line: one JSON object (null if it died before printing it). */
  json: unknown;
}

export interface Results {
  date: string;
  machine: {
    cpu_model: string | null;
    cpu_family_model: string | null;
    cores: number;
    isa: string | null;
    avx512bf16: boolean | null;
    hypervisor: boolean;
    memory_gb: number;
    node: string;
    kernel: string;
  };
  benches: Record<string, BenchEntry>;
}

/** A field of a parsed JSON value by path (`at(j, 'a', 'b')`), or undefined. */
function at(j: unknown, ...path: string[]): unknown {
  let v = j;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}
function num(j: unknown, ...path: string[]): number | null {
  const v = at(j, ...path);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function str(j: unknown, ...path: string[]): string | null {
  const v = at(j, ...path);
  return typeof v === 'string' ? v : null;
}

/** x with d decimals and thousands separators, or '-'. */
function f(x: number | null, d = 1): string {
  return x === null ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}
/** A ratio a / b as "1.23x", or '-'. */
function r(a: number | null, b: number | null): string {
  return a === null || b === null || b === 0 ? '-' : `${(a / b).toFixed(2)}x`;
}
function range(xs: (number | null)[]): string {
  const v = xs.filter((x): x is number => x !== null);
  if (v.length === 0) return '-';
  const lo = Math.min(...v).toFixed(2);
  const hi = Math.max(...v).toFixed(2);
  return lo === hi ? `${lo}x` : `${lo}-${hi}x`;
}

type Row = [string, string, string, string];

function blasName(b: unknown): string {
  if (!b) return 'numpy';
  return `${str(b, 'module')} ${str(b, 'version')} / OpenBLAS ${str(b, 'blas_version')} (${str(b, 'kernel')} kernel)`;
}

function gemmRows(j: unknown): Row[] {
  const t = num(j, 'threads') ?? 2;
  const x = (k: string) => num(j, 'gflops', k);
  const n = (k: string) => num(j, 'numpy_gflops', k);
  const peak = num(j, 'peak_gflops');
  const main = '4096x768x3072';
  const train = ['4096x3072x768', '768x4096x3072', '2048x768x768', '4096x384x1536'];
  const gemv = ['1x768x3072', '1x3072x768'];
  const blas = at(j, 'numpy', 'blas', `${t}t`);
  const pct =
    peak && x(main)
      ? ` (${Math.round((100 * (x(main) ?? 0)) / peak)}% of the FMA peak, ${f(peak, 0)} in this run)`
      : '';
  const best = (k: string) => num(j, 'ratio_vs_numpy_best', k);
  return [
    [
      `\`npm run bench -- gemm\`, f32 GFLOPS, ${t} threads, (4096,768,3072)`,
      `${f(x(main))}${pct}`,
      `${blasName(blas)}: ${f(n(main))}`,
      r(x(main), n(main)),
    ],
    [
      'same, the other training shapes (4096,3072,768), (768,4096,3072)^T, (2048,768,768), (4096,384,1536)',
      train.map((k) => f(x(k))).join(', '),
      train.map((k) => f(n(k))).join(', '),
      range(train.map((k) => (x(k) && n(k) ? (x(k) ?? 0) / (n(k) ?? 1) : null))),
    ],
    [
      `same, decode GEMV (1,768,3072), (1,3072,768); in brackets each side's best of 1 and ${t} threads`,
      gemv.map((k) => f(x(k))).join(', '),
      gemv.map((k) => f(n(k))).join(', '),
      `${range(gemv.map((k) => (x(k) && n(k) ? (x(k) ?? 0) / (n(k) ?? 1) : null)))} (${range(gemv.map(best))})`,
    ],
    ...bf16GemmRows(j, [main, ...train]),
  ];
}

/** The bf16 GEMM row of `bench -- gemm` (absent from results made before it). */
function bf16GemmRows(j: unknown, shapes: string[]): Row[] {
  const path = str(j, 'bf16', 'path');
  if (path === null) return [];
  const x = (k: string) => num(j, 'bf16', 'gflops', k);
  const p = (k: string) => num(j, 'bf16', 'pytorch_gflops', k);
  return [
    [
      `same, bf16 operands with f32 accumulation, the five training shapes (${path === 'f32' ? 'this VM has no AMX: bf16-rounded operands through the f32 kernel' : `path ${path}`})`,
      shapes.map((k) => f(x(k))).join(', '),
      `PyTorch 1.13 bf16 matmul: ${shapes.map((k) => f(p(k))).join(', ')}`,
      range(shapes.map((k) => (x(k) && p(k) ? (x(k) ?? 0) / (p(k) ?? 1) : null))),
    ],
  ];
}

function attentionRows(j: unknown): Row[] {
  const torch = at(j, 'pytorch');
  const err = str(torch, 'error');
  const peer = (k: 'fwdbwd' | 'fwd') =>
    err
      ? `PyTorch: ${err}`
      : `PyTorch ${str(torch, 'blas', 'version')}, softmax(QK^T)V written out, its best thread setting ` +
        `(torch ${num(torch, 'threads', k)}, OpenBLAS ${num(torch, 'blas_threads', k)}): ${f(num(torch, `${k}_ms`), 2)} ms`;
  return [
    [
      '`npm run bench -- attention`, B8 H6 T256 D64 causal, fwd+bwd',
      `${f(num(j, 'fused', 'fwdbwd_ms'), 2)} ms fused`,
      peer('fwdbwd'),
      r(num(torch, 'fwdbwd_ms'), num(j, 'fused', 'fwdbwd_ms')),
    ],
    [
      'same, forward only (PyTorch under no_grad)',
      `${f(num(j, 'fused', 'fwd_ms'), 2)} ms`,
      peer('fwd'),
      r(num(torch, 'fwd_ms'), num(j, 'fused', 'fwd_ms')),
    ],
    [
      "same, fwd+bwd against the unfused path on xfmr's own kernels",
      `${f(num(j, 'fused', 'fwdbwd_ms'), 2)} ms`,
      `${f(num(j, 'unfused', 'fwdbwd_ms'), 2)} ms (permute + GEMM + softmax)`,
      r(num(j, 'unfused', 'fwdbwd_ms'), num(j, 'fused', 'fwdbwd_ms')),
    ],
  ];
}

function memoryRows(j: unknown): Row[] {
  const g = num(j, 'growth');
  return [
    [
      `\`npm run bench -- memory\`, ${f(num(j, 'iterations'), 0)} train iterations`,
      `RSS ${f(num(j, 'rss_mb_at_100'))} MB after 100, max ${f(num(j, 'rss_mb_max'))} MB`,
      '',
      g === null ? '-' : `+${(100 * g).toFixed(1)}% (limit 10%${at(j, 'ok') === false ? ': over it' : ''})`,
    ],
  ];
}

function tokenizerRows(j: unknown): Row[] {
  const encs = ['gpt2', 'cl100k_base'];
  const fastest = (key: string, e: string): [string, number] | null => {
    const o = at(j, key, e);
    if (!o || typeof o !== 'object') return null;
    const peers = Object.entries(o as Record<string, number>).filter(([w]) => w !== 'xfmr');
    return peers.length ? peers.reduce((a, b) => (b[1] > a[1] ? b : a)) : null;
  };
  const row = (key: string, label: string, what: string): Row => {
    const peers = encs.map((e) => fastest(key, e));
    const names = [...new Set(peers.map((p) => p?.[0] ?? '-'))];
    return [
      label,
      encs.map((e) => f(num(j, key, e, 'xfmr'), 2)).join(' / '),
      `fastest peer (${names.join(' / ')}) ${peers.map((p) => f(p?.[1] ?? null, 2)).join(' / ')}${what}`,
      encs.map((e, i) => r(num(j, key, e, 'xfmr'), peers[i]?.[1] ?? null)).join(' / '),
    ];
  };
  const load = encs.map((e) => f(num(j, 'load_ms', e, 'xfmr'), 0)).join(' / ');
  return [
    row(
      'encode_mb_s',
      '`npm run bench -- tokenizer`, encode MB/s warm (best of 4 in one process), gpt2 / cl100k_base',
      '',
    ),
    row(
      'encode_cold_mb_s',
      `same, cold: a fresh process, a fresh encoder (empty piece cache), one encode; xfmr's load ${load} ms apart`,
      '',
    ),
    [
      "same, BPE training on 10 MB (HF's node binding cannot set the vocab size: its default 30k)",
      `${f(num(j, 'train_s', 'xfmr'))} s`,
      `HF tokenizers ${f(num(j, 'train_s', 'hf'))} s`,
      r(num(j, 'train_s', 'hf'), num(j, 'train_s', 'xfmr')),
    ],
  ];
}

function decodeRows(j: unknown): Row[] {
  const d = (k: string) => num(j, 'decode_tok_s', k);
  const p = (k: string) => num(j, 'prefill_tok_s', k);
  const g = (k: string) => num(j, 'prefill_gflops', k);
  const t = num(j, 'threads') ?? 2;
  const err = str(j, 'llama_cpp_error');
  if (err) return [['`npm run bench -- decode`', f(d('xfmr')), `llama.cpp: ${err}`, '-']];
  return [
    [
      `\`npm run bench -- decode\`, Llama 768d 12L GQA, f32, batch-1 decode tok/s, ${t} threads; in brackets against llama.cpp's 1-thread figure`,
      f(d('xfmr')),
      `llama.cpp (node-llama-cpp 3.21.1) f32: ${f(d('llama_cpp'))} (1 thread: ${f(d('llama_cpp_1_thread'))})`,
      `${r(d('xfmr'), d('llama_cpp'))} (${r(d('xfmr'), d('llama_cpp_1_thread'))})`,
    ],
    [
      'same, llama.cpp on f16 weights (half the bytes per token; xfmr stays f32)',
      f(d('xfmr')),
      `llama.cpp f16: ${f(d('llama_cpp_f16'))}`,
      r(d('xfmr'), d('llama_cpp_f16')),
    ],
    [
      `same, prefill of ${f(num(j, 'prefill_tokens'), 0)} tokens, tok/s (GFLOPS); llama.cpp f32, then f16`,
      `${f(p('xfmr'), 0)} (${f(g('xfmr'), 0)})`,
      `f32 ${f(p('llama_cpp'), 0)} (${f(g('llama_cpp'), 0)}), f16 ${f(p('llama_cpp_f16'), 0)} (${f(g('llama_cpp_f16'), 0)})`,
      `${r(p('xfmr'), p('llama_cpp'))}, ${r(p('xfmr'), p('llama_cpp_f16'))}`,
    ],
    ...decodeLowPrecisionRows(j),
    ...startupRows(j),
  ];
}

/**
 * The start-up rows of `bench -- decode` (absent from results made before them): time to first
 * token and peak RSS of a fresh `xfmr generate` against a fresh node-llama-cpp child.
 */
function startupRows(j: unknown): Row[] {
  const rows: Row[] = [];
  for (const [model, label] of [
    ['f32', 'f32 (xfmr: HF directory; llama.cpp: f32 GGUF)'],
    ['q8_0', 'Q8_0 GGUF (both)'],
  ] as const) {
    for (const [prompt, words] of [
      ['short', '16 ids'],
      ['long', '1,800 ids'],
    ] as const) {
      const side = (who: string) => {
        const t = num(j, 'startup', model, prompt, who, 'ttft_s');
        const m = num(j, 'startup', model, prompt, who, 'peak_rss_mb');
        return t === null ? '-' : `${f(t, 2)} s, ${f(m, 0)} MB`;
      };
      if (num(j, 'startup', model, prompt, 'xfmr', 'ttft_s') === null) continue;
      const rt = num(j, 'startup', model, prompt, 'ratio', 'time');
      const rm = num(j, 'startup', model, prompt, 'ratio', 'rss');
      rows.push([
        `same, start-up: a fresh process to its first token, and its peak RSS; ${label}, prompt of ${words} (goals: <= 1.5x the time, <= 1.2x the RSS)`,
        side('xfmr'),
        `llama.cpp: ${side('llama_cpp')}`,
        rt === null ? '-' : `${f(rt, 2)}x time, ${f(rm, 2)}x RSS`,
      ]);
    }
  }
  return rows;
}

/**
 * The rows of `bench -- decode`'s low-precision engines, each against llama.cpp on the same bytes
 * per weight (absent from results made before they existed): xfmr bf16 against llama.cpp f16,
 * and each quantized GGUF file that both engines load.
 */
function decodeLowPrecisionRows(j: unknown): Row[] {
  const d = (k: string) => num(j, 'decode_tok_s', k);
  const rows: Row[] = [];
  if (d('xfmr_bf16') !== null)
    rows.push([
      'same, xfmr on bf16 weights (`--dtype bf16`) against llama.cpp f16 (both 2 bytes per weight), decode tok/s',
      f(d('xfmr_bf16')),
      `llama.cpp f16: ${f(d('llama_cpp_f16'))}`,
      r(d('xfmr_bf16'), d('llama_cpp_f16')),
    ]);
  for (const [key, label] of [
    ['q8_0', 'Q8_0'],
    ['q4_k_m', 'Q4_K_M'],
    ['qwen05_q4_k_m', 'Q4_K_M of a Qwen2.5-0.5B-shaped model (d896 L24 V151936)'],
  ] as const) {
    const x = d(`xfmr_${key}`);
    if (x === null) continue;
    const limit = num(j, 'quant_bandwidth_limit_tok_s', key);
    const px = num(j, 'quant_prefill_tok_s', `xfmr_${key}`);
    const pl = num(j, 'quant_prefill_tok_s', `llama_cpp_${key}`);
    rows.push([
      `same, the ${label} GGUF file both load, decode tok/s${limit === null ? '' : ` (bandwidth limit ${f(limit, 0)})`}` +
        (px === null ? '' : `; prefill tok/s xfmr ${f(px, 0)}, llama.cpp ${f(pl, 0)}`),
      f(x),
      `llama.cpp ${label.split(' ')[0]}: ${f(d(`llama_cpp_${key}`))}`,
      r(x, d(`llama_cpp_${key}`)) + (px === null ? '' : ` (prefill ${r(px, pl)})`),
    ]);
  }
  return rows;
}

function trainRows(j: unknown): Row[] {
  const x = num(j, 'train_tok_s', 'xfmr');
  const p = num(j, 'train_tok_s', 'pytorch');
  const mx = num(j, 'peak_rss_mb', 'xfmr');
  const mp = num(j, 'peak_rss_mb', 'pytorch');
  const kernel = str(j, 'pytorch_blas', 'kernel');
  return [
    [
      '`npm run bench -- train`, GPT-2 L6 H6 D384 T256 B16 V65, tok/s (peak RSS)',
      `${f(x, 0)} (${f(mx, 0)} MB)`,
      `PyTorch 1.13${kernel ? ` (OpenBLAS ${kernel} kernel)` : ''}, its best thread setting (torch ` +
        `${num(j, 'threads', 'pytorch') ?? '-'}, OpenBLAS ${num(j, 'threads', 'pytorch_blas') ?? '-'}): ${f(p, 0)} (${f(mp, 0)} MB)`,
      `${r(x, p)}; xfmr uses ${r(mx, mp)} the memory`,
    ],
    ...bf16TrainRow(j),
  ];
}

/** The bf16 mixed-precision row of `bench -- train` (absent from results made before it). */
function bf16TrainRow(j: unknown): Row[] {
  const x = num(j, 'train_tok_s', 'xfmr_bf16');
  if (x === null) return [];
  const p = num(j, 'train_tok_s', 'pytorch_bf16');
  const fpt = num(j, 'flops_per_token');
  const amx = num(j, 'ceiling_tok_s', 'amx_nominal');
  const here = num(j, 'ceiling_tok_s', 'measured_bf16_gemm');
  return [
    [
      `same, bf16 mixed precision (--dtype bf16), tok/s; ceiling at ${f(fpt === null ? null : fpt / 1e6)} MFLOP/token: ` +
        `${f(here, 0)} at this machine's bf16 GEMM rate, ${f(amx, 0)} at the nominal AMX peak`,
      f(x, 0),
      `PyTorch 1.13 torch.autocast bf16, its best of 1 and 2 threads (${num(j, 'threads', 'pytorch_bf16') ?? '-'}): ${f(p, 0)}`,
      r(x, p),
    ],
  ];
}

function ragRows(j: unknown): Row[] {
  const m = (k: string) => num(j, 'shipped', 'methods', k, 'mrrAt10');
  return [
    [
      `\`npm run bench -- rag\`, MRR@10 on ${f(num(j, 'shipped', 'questions'), 0)} questions over SQLite docs`,
      `default ${f(m('default (hash)'), 2)}, hybrid ${f(m('hybrid (rrf)'), 2)}`,
      `BM25 (FTS5) ${f(m('bm25 (fts5)'), 2)}; random encoder ${f(m('random encoder'), 2)}`,
      '',
    ],
    [
      `same, top-10 of ${f(num(j, 'store', 'vectors'), 0)} x ${f(num(j, 'store', 'dim'), 0)} vectors, p50`,
      `sqlite-vec ${f(num(j, 'store', 'sqliteVecMsP50'))} ms`,
      `in-memory scan ${f(num(j, 'store', 'memoryScanMsP50'))} ms`,
      '',
    ],
  ];
}

function serveRows(j: unknown): Row[] {
  const b = at(j, 'batched');
  const s = at(j, 'sequential');
  const drift = num(j, 'rssDrift');
  const ttft = (o: unknown) =>
    `TTFT p50 ${f((num(o, 'ttftP50') ?? Number.NaN) / 1000, 2)} s / p99 ${f((num(o, 'ttftP99') ?? Number.NaN) / 1000, 2)} s`;
  return [
    [
      `\`npm run bench -- serve\`, ${num(j, 'streams') ?? '-'} concurrent streaming chats x ${num(j, 'tokens') ?? '-'} tokens (${num(j, 'cancelled') ?? '-'} cancelled), 2.8M-param Llama`,
      `${f(num(b, 'tokensPerS'), 0)} tok/s, ${ttft(b)}, RSS ${drift === null ? '-' : `${drift >= 0 ? '+' : ''}${(100 * drift).toFixed(1)}%`}` +
        (at(j, 'rssWithin10pct') === false ? ' (over its 10% limit)' : ''),
      `the same server with \`--batch 1\`: ${f(num(s, 'tokensPerS'), 0)} tok/s, ${ttft(s)}`,
      r(num(b, 'tokensPerS'), num(s, 'tokensPerS')),
    ],
  ];
}

function peakRows(j: unknown): Row[] {
  return [
    [
      '`npm run bench -- peak`, f32 FMA peak GFLOPS (register-only loop), 1 thread / all',
      `${f(num(j, 'peak_gflops_1t'))} / ${f(num(j, 'peak_gflops'))} (${str(j, 'isa') ?? '-'})`,
      'the hardware: no peer',
      '',
    ],
  ];
}

const ROWS: Record<string, (j: unknown) => Row[]> = {
  peak: peakRows,
  gemm: gemmRows,
  attention: attentionRows,
  memory: memoryRows,
  tokenizer: tokenizerRows,
  decode: decodeRows,
  train: trainRows,
  rag: ragRows,
  serve: serveRows,
};

/** The markdown table and the lines that name the machine, the date and the file. */
export function renderTable(results: Results, file: string): string {
  const m = results.machine;
  const lines = ['| benchmark (command) | xfmr | peer (same run) | ratio |', '|---|---|---|---|'];
  const notes: string[] = [];
  const elsewhere = new Map<string, string[]>(); // "Ran on DAY [on MACHINE]" -> benchmarks
  for (const [name, rows] of Object.entries(ROWS)) {
    const e = results.benches[name];
    if (!e) {
      lines.push(`| \`npm run bench -- ${name}\` | not run | | |`);
      continue;
    }
    if (e.exit_code !== 0) notes.push(`\`${e.command}\` exited with code ${e.exit_code}.`);
    if (e.json === null) {
      lines.push(`| \`${e.command}\` | failed (no JSON line) | | |`);
      continue;
    }
    for (const row of rows(e.json)) lines.push(`| ${row.join(' | ')} |`);
    const other = e.machine.cpu_model !== m.cpu_model || e.machine.cores !== m.cores;
    const day = e.ran_at.slice(0, 10);
    if (other || day !== results.date) {
      const when = `Ran on ${day}${other ? ` on another machine (${e.machine.cpu_model}, ${e.machine.cores} cores)` : ''}`;
      elsewhere.set(when, [...(elsewhere.get(when) ?? []), `\`${name}\``]);
    }
  }
  for (const [when, names] of elsewhere) notes.push(`${when}: ${names.join(', ')}.`);
  const loads = Object.values(results.benches).flatMap((e) => [e.loadavg_1m.before, e.loadavg_1m.after]);
  const machine =
    `${m.cpu_model ?? 'unknown CPU'}${m.cpu_family_model ? ` (family/model ${m.cpu_family_model})` : ''}, ` +
    `${m.cores} cores${m.hypervisor ? ' (a VM)' : ''}, ${m.memory_gb} GB, ISA ${m.isa ?? '-'}, Node ${m.node}, Linux ${m.kernel}`;
  const load = loads.length
    ? `; the 1-minute load average around the benchmarks was ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (a benchmark on 2 threads alone makes about 2)`
    : '';
  return [
    `Measured on ${results.date} on ${machine}${load} (\`${file}\`).`,
    '',
    ...lines,
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}
