/** Shared helpers for the CLI tests: running `bin/xfmr.js`, temp dirs, a tiny byte-level BPE tokenizer.json. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { specialTokenJson } from '../../src/tokenizers/added_tokens.ts';
import { BYTE_TO_CHAR } from '../../src/tokenizers/byte_level.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'xfmr.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/xfmr.js ...args` (in the repository root unless `cwd` is given) and collects its
 * output (never throws on a non-zero exit).
 */
export function xfmr(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, XFMR_DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

/** Runs several `xfmr` commands, a few at a time; results in the order given. */
export async function xfmrAll(runs: string[][], concurrency = 4): Promise<CliResult[]> {
  const results: CliResult[] = new Array(runs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < runs.length) {
      const i = next++;
      results[i] = await xfmr(runs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, runs.length) }, worker));
  return results;
}

/** A fresh temporary directory, removed when the test file finishes. */
/**
 * Runs each command (in parallel) and checks that it fails with nothing on stdout and one line on
 * stderr matching its pattern.
 */
export async function expectOneLineErrors(cases: readonly (readonly [string[], RegExp])[]): Promise<void> {
  const results = await xfmrAll(cases.map(([args]) => args));
  for (const [i, [args, pattern]] of cases.entries()) {
    const r = results[i];
    assert.notEqual(r.code, 0, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], pattern, args.join(' '));
  }
}

export function tempDir(prefix = 'xfmr-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A GPT-2-style byte-level BPE tokenizer.json: the 256 byte tokens (ids 0..255, in byte order), then
 * `nMerges` merges of frequent English pairs, then (when `eos`) the special token <|endoftext|>.
 */
export function byteLevelTokenizerJson(nMerges = 40, eos = true): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => {
    vocab[c] = b;
  });
  const G = BYTE_TO_CHAR[0x20]; // 'Ġ', the space
  const candidates = [
    ['t', 'h'],
    [G, 't'],
    ['h', 'e'],
    [G, 'a'],
    ['i', 'n'],
    [G, 'th'],
    ['e', 'r'],
    ['o', 'n'],
    [G, 's'],
    ['r', 'e'],
    ['a', 'n'],
    ['e', 'n'],
    [G, 'w'],
    ['o', 'u'],
    ['i', 's'],
    ['a', 't'],
    ['e', 'd'],
    ['i', 't'],
    [G, 'o'],
    ['o', 'r'],
  ];
  const merges: [string, string][] = [];
  let next = 256;
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; merges.length < nMerges; i++) {
    const pair: [string, string] =
      i < candidates.length
        ? (candidates[i] as [string, string])
        : [letters[(i * 7) % 26], letters[(i * 11 + 3) % 26]];
    const tok = pair[0] + pair[1];
    if (vocab[tok] !== undefined || vocab[pair[0]] === undefined || vocab[pair[1]] === undefined) continue;
    vocab[tok] = next++;
    merges.push(pair);
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: eos
      ? [
          {
            id: next,
            content: '<|endoftext|>',
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: true,
          },
        ]
      : [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** byteLevelTokenizerJson (no EOS) with ChatML's specials after its merges: <|endoftext|>, <|im_start|>, <|im_end|>. */
export function chatmlTokenizerJson(): Record<string, unknown> {
  const json = byteLevelTokenizerJson(40, false) as { model: { vocab: Record<string, number> } };
  const next = Math.max(...Object.values(json.model.vocab)) + 1;
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  return { ...json, added_tokens: specials.map((s, i) => specialTokenJson(s, next + i)) };
}

/** A ChatML chat template (Qwen's turns, without its tool and reasoning parts). */
export const CHATML =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Writes `value` as JSON to dir/name and returns the path. */
export function writeJson(dir: string, name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
}

/** A small Llama-style config file (GQA, RoPE, SwiGLU) with larger init so greedy picks are clear. */
export const TINY_LLAMA = {
  arch: 'llama',
  contextLength: 128,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  ffnDim: 128,
  initStd: 0.2,
};
