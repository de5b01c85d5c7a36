// The WordPiece and Unigram trainers against HF `tokenizers`. The npm binding (0.23.x) has no
// trainer constructors, but `Tokenizer.train(files)` trains with the model's default trainer
// (WordPiece: vocab_size 30000; Unigram: vocab_size 8000, SentencePiece settings). We train HF that
// way, take the vocabulary size it reached, train ours to the same size on the same corpus, and
// compare token counts on held-out text: ours must need no more than 2% more tokens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tk from 'tokenizers';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { trainUnigram } from '../../src/tokenizers/unigram_trainer.ts';
import { trainWordPiece } from '../../src/tokenizers/wordpiece_trainer.ts';
import { assertParity, hfFromJson } from './hf_helpers.ts';
import { syntheticAlphabetLine, syntheticCorpus } from './hf_text.ts';

const TRAIN = [syntheticAlphabetLine(), ...syntheticCorpus(1, 5000)]; // ~540 KB
const HELD_OUT = syntheticCorpus(2, 3000); // ~320 KB, same language, other sentences
const dir = mkdtempSync(join(tmpdir(), 'xfmr-train-'));
const corpusFile = join(dir, 'train.txt');
writeFileSync(corpusFile, TRAIN.join('\n'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function hfCount(t: tk.Tokenizer, lines: string[]): Promise<number> {
  let n = 0;
  for (const l of lines) n += (await t.encode(l, null, { addSpecialTokens: false })).getLength();
  return n;
}

describe('WordPiece trainer', () => {
  test('held-out text takes no more tokens than with HF WordPieceTrainer at the same vocabulary size (2%)', async (t) => {
    const hf = new tk.Tokenizer(tk.WordPiece.empty());
    hf.setNormalizer(tk.bertNormalizer());
    hf.setPreTokenizer(tk.bertPreTokenizer());
    hf.train([corpusFile]);
    const size = hf.getVocabSize();
    const json = trainWordPiece(TRAIN, { vocabSize: size, specialTokens: ['[UNK]'] });
    const ours = loadTokenizerJson(json);
    assert.equal(ours.vocabSize, size);
    const theirs = await hfCount(hf, HELD_OUT);
    let mine = 0;
    for (const l of HELD_OUT) mine += ours.encode(l, { addSpecialTokens: false }).length;
    t.diagnostic(
      `WordPiece, vocabulary ${size}: held-out tokens xfmr ${mine}, HF ${theirs} (ratio ${(mine / theirs).toFixed(4)})`,
    );
    assert.ok(mine <= theirs * 1.02, `xfmr ${mine} tokens vs HF ${theirs}`);
    // The file we write is one HF reads and encodes exactly as we do.
    await assertParity(ours, hfFromJson(json), HELD_OUT.slice(0, 300));
  });

  test('specials first, BERT pipeline, exact size, deterministic', () => {
    const small = TRAIN.slice(0, 400);
    const a = trainWordPiece(small, { vocabSize: 800 });
    const b = trainWordPiece(small, { vocabSize: 800 });
    assert.deepEqual(a, b);
    const tok = loadTokenizerJson(a);
    assert.equal(tok.vocabSize, 800);
    assert.deepEqual(
      ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((s) => tok.tokenToId(s)),
      [0, 1, 2, 3, 4],
    );
    const ids = tok.encode('Hello');
    assert.equal(ids[0], 2);
    assert.equal(ids[ids.length - 1], 3);
    assert.equal(
      tok.decode(tok.encode(small[5].toLowerCase()), { skipSpecialTokens: true }).length > 0,
      true,
    );
    // lowercase: false keeps case; minFrequency stops early.
    const cased = loadTokenizerJson(trainWordPiece(small, { vocabSize: 800, lowercase: false }));
    assert.ok(cased.tokenToId('A') !== undefined);
    const rare = loadTokenizerJson(trainWordPiece(small, { vocabSize: 5000, minFrequency: 50 }));
    assert.ok(rare.vocabSize < 5000);
  });
});

describe('Unigram trainer', () => {
  test('held-out text takes no more tokens than with HF UnigramTrainer at the same vocabulary size (2%)', async (t) => {
    const hf = new tk.Tokenizer(tk.Unigram.empty());
    hf.setPreTokenizer(tk.metaspacePreTokenizer());
    hf.train([corpusFile]);
    const size = hf.getVocabSize();
    const json = trainUnigram(TRAIN, { vocabSize: size, specialTokens: ['<unk>'] });
    const ours = loadTokenizerJson(json);
    assert.equal(ours.vocabSize, size);
    const theirs = await hfCount(hf, HELD_OUT);
    let mine = 0;
    for (const l of HELD_OUT) mine += ours.encode(l).length;
    t.diagnostic(
      `Unigram, vocabulary ${size}: held-out tokens xfmr ${mine}, HF ${theirs} (ratio ${(mine / theirs).toFixed(4)})`,
    );
    assert.ok(mine <= theirs * 1.02, `xfmr ${mine} tokens vs HF ${theirs}`);
    await assertParity(ours, hfFromJson(json), HELD_OUT.slice(0, 300));
    for (const l of HELD_OUT.slice(0, 200)) assert.equal(ours.decode(ours.encode(l)), l);
  });

  test('characters all kept, specials first, exact size, deterministic', () => {
    const small = TRAIN.slice(0, 300);
    const a = trainUnigram(small, { vocabSize: 600, specialTokens: ['<unk>', '<s>', '</s>'] });
    assert.deepEqual(a, trainUnigram(small, { vocabSize: 600, specialTokens: ['<unk>', '<s>', '</s>'] }));
    const tok = loadTokenizerJson(a);
    assert.equal(tok.vocabSize, 600);
    assert.deepEqual(
      ['<unk>', '<s>', '</s>'].map((s) => tok.tokenToId(s)),
      [0, 1, 2],
    );
    for (const ch of new Set(Array.from(small.join('').replaceAll(' ', '▁')))) {
      assert.ok(tok.tokenToId(ch) !== undefined, `character ${ch} in the vocabulary`);
    }
    assert.deepEqual(tok.encode('\u{1F600}'), [tok.tokenToId('▁')!, 0]); // unseen: <unk>
  });
});
