/** Shared helpers for the RAG tests: temp dirs, files, running `bin/xfmr.js`. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DecoderLM } from '../../src/models/decoder.ts';
import { saveModel } from '../../src/models/load.ts';
import { llamaConfig } from '../../src/models/presets.ts';
import { byteLevelTokenizerJson } from '../cli/helpers.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'xfmr.js');
export const FIXTURES = join(ROOT, 'test', 'rag', 'fixtures');

/** A fresh temporary directory, removed when the test file finishes. */
export function tempDir(prefix = 'xfmr-rag-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes files (path relative to dir -> content), creating folders. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `node bin/xfmr.js ...args` in `cwd` (default the repository root). */
export function spawnXfmr(args: string[], cwd = ROOT, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, XFMR_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `xfmr ...args` and collects its output (never throws on a non-zero exit). */
export function xfmr(args: string[], cwd = ROOT, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnXfmr(args, cwd, env);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
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

/** Some ordinary English paragraphs on distinct topics, for small collections. */
export const TOPICS: Record<string, string> = {
  bees: 'Honey bees live in colonies ruled by a single queen. Worker bees gather nectar and pollen from flowers and turn the nectar into honey inside the hive.',
  volcano:
    'A volcano erupts when molten rock called magma rises through the crust. Lava flows and ash clouds can bury towns near the mountain.',
  bread:
    'To bake bread, mix flour, water, salt and yeast into a dough, knead it, let it rise for an hour, and bake it in a hot oven until the crust is brown.',
  chess:
    'In chess the bishop moves diagonally and the rook moves along ranks and files. Castling moves the king two squares toward a rook.',
  tides:
    'Ocean tides are caused by the gravitational pull of the moon and the sun on the seas. Most coasts see two high tides every day.',
  violin:
    'A violin has four strings tuned in fifths. The player draws a bow of horsehair across the strings to make them vibrate.',
};

/**
 * Saves a tiny random Llama (one layer, d_model 32) over the byte-level test tokenizer, with its
 * <|endoftext|> (id 296: 256 bytes, 40 merges) as EOS, so that grounded quotes can end and have a
 * confidence. Random weights: the quote is arbitrary, but a span of a chunk all the same.
 */
export function saveQuotingModel(dir: string, seed: number, contextLength = 256): void {
  const cfg = llamaConfig({
    vocabSize: 297,
    contextLength,
    dModel: 32,
    nLayers: 1,
    nHeads: 2,
    nKvHeads: 1,
    ffnDim: 64,
  });
  saveModel(dir, new DecoderLM(cfg, seed), {
    tokenizerJson: byteLevelTokenizerJson(40, true) as never,
    generationConfig: { eos_token_id: 296 },
  });
}

/** The source of `xfmr rag query`'s first result for a question (the CLI must succeed). */
export async function topSource(db: string, question: string, extra: string[] = []): Promise<string> {
  const q = await xfmr(['rag', 'query', '--db', db, question, '--json', '--k', '1', ...extra]);
  if (q.code !== 0) throw new Error(`rag query failed: ${q.stderr}`);
  return (JSON.parse(q.stdout) as { results: { source: string }[] }).results[0].source;
}
