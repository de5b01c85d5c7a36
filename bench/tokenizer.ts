/**
 * `npm run bench -- tokenizer [--mb 5.2] [--train-mb 10] [--runs 4]`
 *
 * 1. Encode throughput (MB/s of UTF-8) of the gpt2 and cl100k_base encodings on English-like text,
 *    for xfmr and its peers: tiktoken (WASM), js-tiktoken, gpt-tokenizer, HF tokenizers (native
 *    binding, loading a tokenizer.json that xfmr writes from the same ranks; given the text as a
 *    batch of 64 KB chunks, which it encodes on both cores, since one 5 MB call is much slower).
 *    Warm: best of `--runs` runs each (contestants slower than 4 s in all get fewer), all in one
 *    process after each contestant has encoded the text once, ids checked equal. Cold: each
 *    contestant in a fresh process, loaded from scratch (xfmr through its public `loadTokenizer`,
 *    so an empty piece cache and unoptimised JIT code), then one encode of the same text; its load
 *    time is reported apart. Ratios are xfmr / the fastest peer, warm and cold.
 * 2. BPE training time on `--train-mb` of the same kind of text: HF tokenizers' node binding can
 *    only train with BpeTrainer's defaults (vocab 30000, min frequency 0, alphabet = bytes seen), so
 *    xfmr is timed with those same settings (it then learns the very same merges) for the ratio,
 *    and also at a 32k vocabulary with its own defaults. Both times include reading the file.
 *
 * The text is generated (test/tokenizers/corpus.ts): words drawn with a Zipf law from a list of
 * common English words plus a long tail of made-up ones; this machine has no public-domain text
 * installed (/usr/share/dict is empty). Last line: one JSON object with all figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpeTrainer } from '../src/tokenizers/bpe_trainer.ts';
import { loadTokenizer } from '../src/tokenizers/load.ts';
import { type EncodingName, getEncoding, recoverMerges } from '../src/tokenizers/tiktoken.ts';
import { toTokenizerJson } from '../src/tokenizers/tokenizer_json.ts';
import { englishText } from '../test/tokenizers/corpus.ts';

const require = createRequire(import.meta.url);
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MB = arg('mb', 5.2);
const TRAIN_MB = arg('train-mb', 10);
const RUNS = arg('runs', 4);

type Encode = (text: string) => ArrayLike<number> | Promise<ArrayLike<number>>;

interface HfModule {
  Tokenizer: {
    new (model: unknown): HfTok;
    fromFile(path: string): HfTok;
  };
  BPE: { empty(): unknown };
  byteLevelPreTokenizer(addPrefixSpace: boolean, useRegex: boolean): unknown;
}
interface HfTok {
  encodeBatch(s: string[], o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }[]>;
  setPreTokenizer(p: unknown): void;
  train(files: string[]): void;
  getVocabSize(): number;
}

const log = (s: string) => process.stdout.write(`${s}\n`);

function sameIds(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** FNV-1a over the ids: a child process reports it so the parent can check the cold ids. */
function hashIds(ids: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i], 0x01000193) >>> 0;
  return `${ids.length}:${h.toString(16)}`;
}

/**
 * A fresh encoder of each contestant. HF tokenizers reads `hfJson`, a tokenizer.json made from the
 * same ranks (merges recovered from the ranks; written by writeHfJson).
 */
const CONTESTANTS: Record<string, (name: EncodingName, hfJson: string) => Promise<Encode>> = {
  xfmr: async (name) => {
    const tok = loadTokenizer(name);
    return (s) => tok.encode(s);
  },
  tiktoken: async (name) => {
    const tiktoken = require('tiktoken') as {
      get_encoding(n: string): { encode_ordinary(s: string): Uint32Array };
    };
    const tt = tiktoken.get_encoding(name);
    return (s) => tt.encode_ordinary(s);
  },
  'js-tiktoken': async (name) => {
    const jst = require('js-tiktoken') as { getEncoding(n: string): { encode(s: string): number[] } };
    const js = jst.getEncoding(name);
    return (s) => js.encode(s);
  },
  'gpt-tokenizer': async (name) => {
    const gt = (await import(`gpt-tokenizer/encoding/${name === 'gpt2' ? 'r50k_base' : name}`)) as {
      encode(s: string): number[];
    };
    return (s) => gt.encode(s);
  },
  // One call on 5 MB is far slower in the binding than a batch, which also runs on both cores.
  hf_tokenizers: async (_name, hfJson) => {
    const hf = (require('tokenizers') as HfModule).Tokenizer.fromFile(hfJson);
    return async (s) => {
      const encodings = await hf.encodeBatch(chunksAtWordStarts(s, 64 * 1024), { addSpecialTokens: false });
      return encodings.flatMap((e) => e.getIds());
    };
  },
};

function writeHfJson(name: EncodingName, dir: string): string {
  const enc = getEncoding(name);
  const vocab = enc.vocabBytes();
  const json = toTokenizerJson({
    vocab,
    merges: recoverMerges(vocab),
    specialTokens: Object.fromEntries(enc.specialTokens),
    pattern: name,
  });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(json));
  return path;
}

/**
 * Cuts text into ~size pieces just before a " word" that follows a non-space, where both patterns
 * start a new piece whatever precedes, so the chunks' ids concatenate to the whole text's ids.
 */
function chunksAtWordStarts(text: string, size: number): string[] {
  const out: string[] = [];
  let from = 0;
  while (from < text.length) {
    let at = Math.min(text.length, from + size);
    while (at < text.length && !(text[at] === ' ' && /\S/.test(text[at - 1]) && /\p{L}/u.test(text[at + 1])))
      at++;
    out.push(text.slice(from, at));
    from = at;
  }
  return out;
}

interface Cold {
  load_ms: number;
  mb_s: number;
  ids: string;
}

/** Child mode (`--cold NAME WHO HFJSON`): load one contestant fresh, encode the text once. */
async function coldChild(name: EncodingName, who: string, hfJson: string): Promise<void> {
  const text = englishText(MB * 1e6, 42);
  const mb = Buffer.byteLength(text) / 1e6;
  let t0 = performance.now();
  const encode = await CONTESTANTS[who](name, hfJson);
  const loadMs = performance.now() - t0;
  t0 = performance.now();
  const ids = await encode(text);
  const s = (performance.now() - t0) / 1000;
  log(JSON.stringify({ load_ms: loadMs, mb_s: mb / s, ids: hashIds(ids) } satisfies Cold));
}

function runCold(name: EncodingName, who: string, hfJson: string): Cold | null {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--cold', name, who, hfJson, '--mb', String(MB)],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    log(`  cold ${name}/${who} failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? 'null') as Cold;
}

async function encodeBench(
  text: string,
  dir: string,
): Promise<{
  mbs: Record<string, Record<string, number>>;
  coldMbs: Record<string, Record<string, number>>;
  loadMs: Record<string, Record<string, number>>;
  ratios: Record<string, number>;
  coldRatios: Record<string, number>;
  agree: Record<string, boolean>;
}> {
  const mb = Buffer.byteLength(text) / 1e6;
  const mbs: Record<string, Record<string, number>> = {};
  const coldMbs: Record<string, Record<string, number>> = {};
  const loadMs: Record<string, Record<string, number>> = {};
  const ratios: Record<string, number> = {};
  const coldRatios: Record<string, number> = {};
  const agree: Record<string, boolean> = {};
  const fastestPeer = (r: Record<string, number>) =>
    Math.max(...Object.entries(r).flatMap(([w, v]) => (w === 'xfmr' ? [] : [v])));
  for (const name of ['gpt2', 'cl100k_base'] as const) {
    const hfJson = writeHfJson(name, dir);
    const fns: Record<string, Encode> = {};
    for (const [who, load] of Object.entries(CONTESTANTS)) fns[who] = await load(name, hfJson);
    const want = await fns.xfmr(text);
    const best: Record<string, number> = {};
    const spent: Record<string, number> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const [who, fn] of Object.entries(fns)) {
        if ((spent[who] ?? 0) > 4000) continue; // slow contestants: fewer runs, to keep the bench short
        const t0 = performance.now();
        const ids = await fn(text);
        const ms = performance.now() - t0;
        spent[who] = (spent[who] ?? 0) + ms;
        const rate = mb / (ms / 1000);
        best[who] = Math.max(best[who] ?? 0, rate);
        if (run === 0) agree[`${name}/${who}`] = sameIds(ids, want);
      }
    }
    coldMbs[name] = {};
    loadMs[name] = {};
    for (const who of Object.keys(CONTESTANTS)) {
      const c = runCold(name, who, hfJson);
      if (!c) continue;
      coldMbs[name][who] = c.mb_s;
      loadMs[name][who] = c.load_ms;
      agree[`${name}/${who}/cold`] = c.ids === hashIds(want);
    }
    mbs[name] = best;
    ratios[name] = best.xfmr / fastestPeer(best);
    coldRatios[name] = coldMbs[name].xfmr / fastestPeer(coldMbs[name]);
    log(`encode ${name} (${mb.toFixed(1)} MB): warm = best of ${RUNS}; cold = a fresh process, first encode`);
    log(
      `  ${''.padEnd(14)} ${'warm MB/s'.padStart(9)} ${'vs peer'.padStart(8)} ${'cold MB/s'.padStart(10)} ${'vs peer'.padStart(8)} ${'load ms'.padStart(8)}`,
    );
    for (const who of Object.keys(CONTESTANTS)) {
      const w = best[who];
      const c = coldMbs[name][who];
      const l = loadMs[name][who];
      log(
        `  ${who.padEnd(14)} ${w.toFixed(2).padStart(9)} ${`${(w / fastestPeer(best)).toFixed(2)}x`.padStart(8)} ` +
          `${c === undefined ? '-'.padStart(10) : c.toFixed(2).padStart(10)} ` +
          `${c === undefined ? '-'.padStart(8) : `${(c / fastestPeer(coldMbs[name])).toFixed(2)}x`.padStart(8)} ` +
          `${l === undefined ? '-'.padStart(8) : l.toFixed(0).padStart(8)}`,
      );
    }
  }
  return { mbs, coldMbs, loadMs, ratios, coldRatios, agree };
}

function* lines(text: string): Generator<string> {
  for (let i = 0; i < text.length; ) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? text.length : nl + 1;
    yield text.slice(i, end);
    i = end;
  }
}

function trainXfmr(
  file: string,
  opts: ConstructorParameters<typeof BpeTrainer>[0],
): { s: number; vocab: number } {
  const t0 = performance.now();
  const trainer = new BpeTrainer(opts);
  for (const line of lines(readFileSync(file, 'utf8'))) trainer.feed(line);
  const model = trainer.train();
  return { s: (performance.now() - t0) / 1000, vocab: model.vocab.length };
}

/** Every number in a JSON-like value rounded to 2 decimals (3 for values below 1). */
function round2<T>(v: T): T {
  if (typeof v === 'number') return Number(v.toFixed(Math.abs(v) < 1 ? 3 : 2)) as T;
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, round2(x)])) as T;
  return v;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-bench-tok-'));
  try {
    const text = englishText(MB * 1e6, 42);
    const enc = await encodeBench(text, dir);

    const trainText = englishText(TRAIN_MB * 1e6, 7);
    const file = join(dir, 'train.txt');
    writeFileSync(file, trainText);
    const trainMb = Buffer.byteLength(trainText) / 1e6;
    const hfMod = require('tokenizers') as HfModule;
    const hf = new hfMod.Tokenizer(hfMod.BPE.empty());
    hf.setPreTokenizer(hfMod.byteLevelPreTokenizer(false, true));
    const t0 = performance.now();
    hf.train([file]);
    const hfS = (performance.now() - t0) / 1000;
    const same = trainXfmr(file, { vocabSize: 30000, minFrequency: 0, alphabet: 'seen' });
    const own = trainXfmr(file, { vocabSize: 32000 });
    log(`train BPE on ${trainMb.toFixed(1)} MB:`);
    log(`  hf_tokenizers  ${hfS.toFixed(2)} s  (vocab ${hf.getVocabSize()}, BpeTrainer defaults)`);
    log(
      `  xfmr           ${same.s.toFixed(2)} s  (vocab ${same.vocab}, the same settings)  ${(same.s / hfS).toFixed(2)}x HF's time`,
    );
    log(
      `  xfmr 32k       ${own.s.toFixed(2)} s  (vocab ${own.vocab}, xfmr defaults: 256-byte alphabet, min frequency 2)`,
    );

    log(
      JSON.stringify(
        round2({
          text_mb: Number((Buffer.byteLength(text) / 1e6).toFixed(2)),
          encode_mb_s: enc.mbs,
          encode_ratio_vs_fastest_peer: enc.ratios,
          encode_cold_mb_s: enc.coldMbs,
          encode_cold_ratio_vs_fastest_peer: enc.coldRatios,
          load_ms: enc.loadMs,
          ids_agree: enc.agree,
          train_mb: Number(trainMb.toFixed(2)),
          train_s: { xfmr: same.s, hf: hfS, xfmr_32k: own.s },
          train_ratio_xfmr_over_hf: same.s / hfS,
        }),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cold = process.argv.indexOf('--cold');
if (cold >= 0) {
  const [name, who, hfJson] = process.argv.slice(cold + 1, cold + 4);
  await coldChild(name as EncodingName, who, hfJson);
} else await main();
