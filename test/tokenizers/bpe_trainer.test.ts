// The BPE trainer merge for merge against a naive reference trainer (recount every pair after every
// merge) on small corpora, and against Hugging Face tokenizers' BpeTrainer; its tokenizer.json loads
// in HF tokenizers (and in xfmr's own loader) and encodes exactly like the trained model.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BpeTrainer, bpeTokenizer, type TrainedBpe, trainBpe } from '../../src/tokenizers/bpe_trainer.ts';
import { BYTE_TO_CHAR } from '../../src/tokenizers/byte_level.ts';
import type { SplitPatternName } from '../../src/tokenizers/patterns.ts';
import { type Scanner, scanCl100k, scanGpt2, scanO200k } from '../../src/tokenizers/splitters.ts';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.ts';
import { toTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { englishText, mixedText, TextGen } from './corpus.ts';

const require = createRequire(import.meta.url);
const SCANNERS: Record<SplitPatternName, Scanner> = {
  gpt2: scanGpt2,
  cl100k_base: scanCl100k,
  o200k_base: scanO200k,
};

interface NaiveOptions {
  vocabSize: number;
  minFrequency: number;
  specialTokens: string[];
  pattern: SplitPatternName;
  alphabet: 'bytes' | 'seen';
}

/**
 * The reference: minbpe's loop on deduplicated words. After every merge all pairs are recounted;
 * the best pair has the highest count, ties going to the smallest (left id, right id).
 */
function naiveTrain(texts: string[], o: NaiveOptions): { merges: [number, number][]; vocab: string[] } {
  const counts = new Map<string, number>();
  const specialRe = o.specialTokens.length
    ? new RegExp(o.specialTokens.map((s) => s.replace(/[|<>]/g, '\\$&')).join('|'), 'g')
    : undefined;
  for (const text of texts) {
    for (const part of specialRe ? text.split(specialRe) : [text]) {
      for (let i = 0; i < part.length; ) {
        const e = SCANNERS[o.pattern](part, i, part.length);
        const piece = part.slice(i, e);
        counts.set(piece, (counts.get(piece) ?? 0) + 1);
        i = e;
      }
    }
  }
  const enc = new TextEncoder();
  const wordBytes = [...counts.keys()].map((w) => enc.encode(w));
  const seen = new Set<number>();
  for (const w of wordBytes) for (const b of w) seen.add(b);
  const alphabet = [...Array(256).keys()]
    .filter((b) => o.alphabet === 'bytes' || seen.has(b))
    .sort((x, y) => BYTE_TO_CHAR[x].charCodeAt(0) - BYTE_TO_CHAR[y].charCodeAt(0));
  const vocab: string[] = [...o.specialTokens.map(() => ''), ...alphabet.map((b) => BYTE_TO_CHAR[b])];
  const idOf = new Map<string, number>();
  vocab.forEach((t, id) => {
    if (id >= o.specialTokens.length) idOf.set(t, id);
  });
  const words = wordBytes.map((w) => Array.from(w, (b) => idOf.get(BYTE_TO_CHAR[b])!));
  const freqs = [...counts.values()];
  const merges: [number, number][] = [];
  while (vocab.length < o.vocabSize) {
    const pairCounts = new Map<number, number>();
    for (const [k, w] of words.entries())
      for (let i = 0; i + 1 < w.length; i++) {
        const key = w[i] * 1_000_000 + w[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + freqs[k]);
      }
    let best = -1;
    let bestCount = 0;
    for (const [key, c] of pairCounts)
      if (c > bestCount || (c === bestCount && key < best)) [best, bestCount] = [key, c];
    if (best < 0 || bestCount < Math.max(1, o.minFrequency)) break;
    const a = Math.floor(best / 1_000_000);
    const b = best % 1_000_000;
    const str = vocab[a] + vocab[b];
    let x = idOf.get(str);
    if (x === undefined) {
      x = vocab.length;
      vocab.push(str);
      idOf.set(str, x);
    }
    merges.push([a, b]);
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) w.splice(i, 2, x);
    }
  }
  return { merges, vocab };
}

function vocabStrings(model: TrainedBpe): string[] {
  return model.vocab.map((t) => (t ? Array.from(t, (b) => BYTE_TO_CHAR[b]).join('') : ''));
}

function checkAgainstNaive(texts: string[], o: NaiveOptions): TrainedBpe {
  const model = trainBpe(texts, o);
  const want = naiveTrain(texts, o);
  for (let i = 0; i < Math.max(want.merges.length, model.merges.length); i++) {
    const w = want.merges[i];
    const g = model.merges[i];
    if (!w || !g || w[0] !== g[0] || w[1] !== g[1]) {
      const s = (m: [number, number] | undefined, v: string[]) => (m ? `${v[m[0]]} + ${v[m[1]]}` : 'none');
      assert.fail(`merge ${i} differs: naive ${s(w, want.vocab)}, trainer ${s(g, vocabStrings(model))}`);
    }
  }
  assert.deepEqual(vocabStrings(model), want.vocab);
  return model;
}

const base: NaiveOptions = {
  vocabSize: 600,
  minFrequency: 2,
  specialTokens: [],
  pattern: 'gpt2',
  alphabet: 'bytes',
};

test('trainer = naive reference, merge for merge: English-like text', () => {
  checkAgainstNaive(englishText(30_000, 3).split(/(?<=\n)/), base);
});

test('trainer = naive reference: mixed scripts, emoji, whitespace, each split pattern', () => {
  const texts = mixedText(15_000, 4).split(/(?<=\n)/);
  for (const pattern of ['gpt2', 'cl100k_base', 'o200k_base'] as const)
    checkAgainstNaive(texts, { ...base, pattern, vocabSize: 700, minFrequency: 1 });
});

test('trainer = naive reference: overlapping pairs, repeated tokens, ties', () => {
  const texts = [
    'aaaaaaa aaaa aaa aa a',
    'abababab baba ab ba',
    'aaabbb ab aabb',
    'xyzxyz zyx xzy',
    '1111 11 111111',
  ];
  const model = checkAgainstNaive(texts, { ...base, vocabSize: 300, minFrequency: 1, alphabet: 'seen' });
  // "a a a" merges left to right: "aa a", never "a aa".
  assert.deepEqual(bpeTokenizer(model).split('aaa'), ['aaa']);
  assert.ok(model.merges.length > 10);
});

test('trainer = naive reference: special tokens are cut out and get the first ids; min frequency stops', () => {
  const g = new TextGen(9);
  const texts = Array.from({ length: 300 }, () => `${g.sentence()}<|endoftext|>${g.sentence()}<|pad|>`);
  const model = checkAgainstNaive(texts, {
    ...base,
    specialTokens: ['<|endoftext|>', '<|pad|>'],
    vocabSize: 5000,
    minFrequency: 5,
  });
  assert.deepEqual(model.specialTokens, { '<|endoftext|>': 0, '<|pad|>': 1 });
  assert.ok(model.vocab.length < 5000, 'min frequency stopped training early');
  const tok = bpeTokenizer(model);
  assert.deepEqual(tok.encode('x<|pad|>', { allowedSpecial: 'all' }).at(-1), 1);
  assert.ok(!vocabStrings(model).some((t) => t.includes('endoftext')), 'special tokens are not learned from');
});

test('options are checked', () => {
  assert.throws(() => new BpeTrainer({ vocabSize: 0 }), /vocabSize/);
  assert.throws(
    () => trainBpe(['abc'], { vocabSize: 100 }),
    /smaller than the special tokens plus the alphabet \(256\)/,
  );
  assert.throws(() => new BpeTrainer({ vocabSize: 300, pattern: 'p50k' as SplitPatternName }), /pattern/);
});

interface HfEncoding {
  getIds(): number[];
}
interface HfTokenizer {
  setPreTokenizer(p: unknown): void;
  train(files: string[]): void;
  save(path: string): void;
  encode(s: string, pair: null, o: object): Promise<HfEncoding>;
}
interface HfModule {
  Tokenizer: { new (model: unknown): HfTokenizer; fromFile(path: string): HfTokenizer };
  BPE: { empty(): unknown };
  byteLevelPreTokenizer(addPrefixSpace: boolean, useRegex: boolean): unknown;
}

test('same merges and vocabulary as HF tokenizers BpeTrainer (its defaults: vocab 30000, seen alphabet)', async () => {
  const hf = require('tokenizers') as HfModule;
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-bpe-train-'));
  const text = englishText(120_000, 8) + mixedText(60_000, 8);
  const file = join(dir, 'corpus.txt');
  writeFileSync(file, text);
  // The node binding trains with BpeTrainer's defaults only: vocab 30000, min frequency 0.
  const ref = new hf.Tokenizer(hf.BPE.empty());
  ref.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  ref.train([file]);
  ref.save(join(dir, 'hf.json'));
  const hfJson = require(join(dir, 'hf.json')) as {
    model: { vocab: Record<string, number>; merges: [string, string][] };
  };

  const model = trainBpe(text.split(/(?<=\n)/), { vocabSize: 30000, minFrequency: 0, alphabet: 'seen' });
  const ours = toTokenizerJson(model);
  assert.ok(ours.model.merges.length > 5000);
  assert.deepEqual(ours.model.merges, hfJson.model.merges);
  assert.deepEqual(ours.model.vocab, hfJson.model.vocab);
});

test('toTokenizerJson: HF tokenizers and xfmr loadTokenizerJson read it back with the same ids', async () => {
  const hf = require('tokenizers') as HfModule;
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-bpe-json-'));
  const heldOut = mixedText(40_000, 77);
  let loader: ((p: string) => Tokenizer) | undefined;
  try {
    const mod = (await import(new URL('../../src/tokenizers/tokenizer_json.ts', import.meta.url).href)) as {
      loadTokenizerJson?: (p: string) => Tokenizer;
    };
    loader = mod.loadTokenizerJson;
  } catch {
    loader = undefined; // the tokenizer.json loader is not in this tree yet
  }
  for (const pattern of ['gpt2', 'cl100k_base', 'o200k_base'] as const) {
    const model = trainBpe(mixedText(60_000, 12).split(/(?<=\n)/), {
      vocabSize: 1500,
      pattern,
      specialTokens: ['<|endoftext|>'],
    });
    const path = join(dir, `${pattern}.json`);
    writeFileSync(path, JSON.stringify(toTokenizerJson(model)));
    const want = bpeTokenizer(model).encode(heldOut);
    const got = await hf.Tokenizer.fromFile(path).encode(heldOut, null, { addSpecialTokens: false });
    assert.deepEqual(got.getIds(), want, `HF tokenizers, ${pattern}`);
    // The special token keeps the trainer's id in both loaders (no hole, no collision).
    const eos = model.specialTokens['<|endoftext|>'];
    const withEos = await hf.Tokenizer.fromFile(path).encode('hi<|endoftext|>', null, {
      addSpecialTokens: false,
    });
    assert.equal(withEos.getIds().at(-1), eos, `HF tokenizers, ${pattern}: <|endoftext|> id`);
    assert.equal(new Set(withEos.getIds()).size, withEos.getIds().length);
    if (loader) {
      assert.deepEqual(
        loader(path).encode('hi<|endoftext|>', { allowedSpecial: 'all' }).at(-1),
        eos,
        `loadTokenizerJson, ${pattern}: <|endoftext|> id`,
      );
      const tok = loader(path);
      assert.deepEqual(
        tok.encode(heldOut, { addSpecialTokens: false }),
        want,
        `loadTokenizerJson, ${pattern}`,
      );
      assert.equal(tok.decode(want), heldOut);
    }
  }
});
