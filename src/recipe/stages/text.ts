/**
 * The recipe's first two stages: the text the model learns from, and its tokenizer.
 *
 *   corpus     the KJV (Debian's bible-kjv, dumped by scripts/corpus/kjv.sh unless a file is given)
 *              + synthetic entity documents; WORK/kjv.txt and WORK/synthetic.txt
 *   tokenizer  byte-level BPE (GPT-2 split pattern, <|endoftext|> as the one special token)
 *              trained on both; WORK/tokenizer.json
 *
 * Every source and text of the corpus passes the held-out check (src/train/held_out.ts): no manual
 * page, Python docstring, license text or evaluation document may become training data. Later
 * stages (tokenizer, pretraining, SFT, DPO) use only what this stage returns.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonValue } from '../../io/checkpoint.ts';
import { BpeTrainer } from '../../tokenizers/bpe_trainer.ts';
import { resolveEos } from '../../tokenizers/eos.ts';
import type { Tokenizer } from '../../tokenizers/tokenizer.ts';
import { loadTokenizerJson, toTokenizerJson } from '../../tokenizers/tokenizer_json.ts';
import { assertTrainingPath, assertTrainingText } from '../../train/held_out.ts';
import { entityDocuments, parseKjv, type Verse } from '../qa_data.ts';
import type { StageContext } from '../recipe.ts';

export interface Corpus {
  /** The KJV text (cut to cfg.kjvBytes when that is set). */
  kjv: string;
  verses: Verse[];
  /** Synthetic entity documents (seed + 11). */
  docs: string[];
}

export interface RecipeTokenizer {
  tok: Tokenizer;
  /** tokenizer.json as written into every model directory. */
  tokenizerJson: JsonValue;
  /** The id of <|endoftext|>: document separator, end of every answer, generation's stop. */
  eos: number;
}

export function corpusStage({ cfg, paths }: StageContext): Corpus & {
  report: { kjv_bytes: number; verses: number; synthetic_docs: number };
} {
  const { work } = paths;
  const kjvPath = join(work, 'kjv.txt');
  if (paths.kjv) {
    assertTrainingPath(paths.kjv, 'the recipe corpus');
    copyFileSync(paths.kjv, kjvPath);
  } else if (!existsSync(kjvPath) || statSync(kjvPath).size < 1_000_000) {
    const script = new URL('../../../scripts/corpus/kjv.sh', import.meta.url).pathname;
    execFileSync('bash', [script, kjvPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  let kjv = readFileSync(kjvPath, 'utf8');
  if (cfg.kjvBytes > 0) kjv = kjv.slice(0, cfg.kjvBytes);
  const verses = parseKjv(kjv);
  const docs = entityDocuments(cfg.pretrainDocs, cfg.seed + 11);
  assertTrainingText(kjv, paths.kjv ?? kjvPath, 'the recipe corpus');
  assertTrainingText(docs.join('\n\n'), 'the synthetic entity documents', 'the recipe corpus');
  writeFileSync(join(work, 'synthetic.txt'), docs.join('\n\n'));
  return {
    kjv,
    verses,
    docs,
    report: { kjv_bytes: kjv.length, verses: verses.length, synthetic_docs: docs.length },
  };
}

function eosOf(tok: Tokenizer): number {
  const [id] = resolveEos({ tokenizer: tok });
  if (id === undefined) throw new Error('tokenizer: no end-of-text special token');
  return id;
}

export function tokenizerStage(
  { cfg, paths }: StageContext,
  corpus: Corpus,
): RecipeTokenizer & { report: { vocab_size: number } } {
  const trainer = new BpeTrainer({
    vocabSize: cfg.vocabSize,
    specialTokens: ['<|endoftext|>'],
    pattern: 'gpt2',
  });
  for (const line of corpus.kjv.split('\n')) trainer.feed(line);
  for (const d of corpus.docs) for (const line of d.split('\n')) trainer.feed(line);
  const json = toTokenizerJson(trainer.train()) as unknown as JsonValue;
  writeFileSync(join(paths.work, 'tokenizer.json'), JSON.stringify(json));
  const t = loadTokenizerJson(json as object);
  return { tok: t, tokenizerJson: json, eos: eosOf(t), report: { vocab_size: t.vocabSize } };
}
