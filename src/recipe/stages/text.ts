/**
 * The recipe's first two stages: the text the model learns from, and its tokenizer.
 *
 *   corpus     the KJV (Debian's bible-kjv, dumped by scripts/corpus/kjv.sh unless a file is given)
 *              + synthetic entity documents; WORK/kjv.txt and WORK/synthetic.txt
 *              + real prose (src/recipe/prose.ts): Debian's package records (scripts/corpus/debian.sh,
 *              WORK/debian.txt), installed packages' long descriptions (/var/lib/dpkg/status) and
 *              /usr/share/doc paragraphs; WORK/prose.txt is the part pretraining reads, with lookup
 *              and copy exercises (reading.ts)
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
import { Rng } from '../../tensor/random.ts';
import { BpeTrainer } from '../../tokenizers/bpe_trainer.ts';
import { resolveEos } from '../../tokenizers/eos.ts';
import type { Tokenizer } from '../../tokenizers/tokenizer.ts';
import { loadTokenizerJson, toTokenizerJson } from '../../tokenizers/tokenizer_json.ts';
import { assertTrainingPath, assertTrainingText, heldOutIndex } from '../../train/held_out.ts';
import { docParagraphs, packageDocument, parseDumpavail } from '../prose.ts';
import { entityDocuments, type ProsePools, parseKjv, type Verse } from '../qa_data.ts';
import { copyText, lookupText } from '../reading.ts';
import type { StageContext } from '../recipe.ts';

export interface Corpus {
  /** The KJV text (cut to cfg.kjvBytes when that is set). */
  kjv: string;
  verses: Verse[];
  /** Synthetic entity documents (seed + 11). */
  docs: string[];
  /** Real prose for questions (SFT) ... */
  prose: ProsePools;
  /** ... and its pretraining text: documents separated by EOS later (cfg.prose.pretrainBytes). */
  proseDocs: string[];
}

/** Debian's package records: WORK/debian.txt, dumped once. */
function debianRecords(work: string): string {
  const path = join(work, 'debian.txt');
  if (!existsSync(path)) {
    const script = new URL('../../../scripts/corpus/debian.sh', import.meta.url).pathname;
    try {
      execFileSync('bash', [script, path], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      return '';
    }
  }
  return readFileSync(path, 'utf8');
}

/** The real-prose pools and pretraining documents (seeded sample, at most `bytes` of text). */
function proseCorpus(
  work: string,
  seed: number,
  bytes: number,
  maxParagraphs: number,
): { pools: ProsePools; docs: string[] } {
  const catalog = parseDumpavail(debianRecords(work)).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  let status = '';
  try {
    status = readFileSync('/var/lib/dpkg/status', 'utf8');
  } catch {
    // not a Debian system: no long descriptions
  }
  const held = heldOutIndex();
  const installed = parseDumpavail(status)
    .filter((p) => p.description && !held.find(p.description))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const paragraphs = docParagraphs({ maxParagraphs }).paragraphs;
  const pools: ProsePools = { paragraphs, installed, catalog };
  // Pretraining text: installed packages and doc paragraphs in full (as far as `bytes` allows),
  // catalog records, lookup tables and copy exercises, in a seeded order.
  const rng = new Rng(seed);
  const words = [...new Set(paragraphs.slice(0, 2000).flatMap((p) => p.text.split(/\s+/)))].filter((w) =>
    /^[A-Za-z]{3,12}$/.test(w),
  );
  const docs: string[] = [];
  let n = 0;
  const add = (d: string) => {
    if (held.find(d)) return;
    docs.push(d);
    n += d.length;
  };
  const order = [...paragraphs.keys()];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const p of installed) if (n < bytes) add(packageDocument(p));
  let c = 0;
  for (let i = 0; n < bytes && (i < order.length || c < catalog.length); i++) {
    const r = rng.random();
    if (r < 0.55 && i < order.length) add(paragraphs[order[i]].text);
    else if (r < 0.8 && catalog.length > 0) {
      add(packageDocument(catalog[rng.int(catalog.length)]));
      c++;
    } else if (r < 0.9 && words.length > 16) add(lookupText(words, rng));
    else if (paragraphs.length > 0) add(copyText(paragraphs[rng.int(paragraphs.length)].text, rng));
  }
  return { pools, docs };
}

export interface RecipeTokenizer {
  tok: Tokenizer;
  /** tokenizer.json as written into every model directory. */
  tokenizerJson: JsonValue;
  /** The id of <|endoftext|>: document separator, end of every answer, generation's stop. */
  eos: number;
}

export function corpusStage({ cfg, paths }: StageContext): Corpus & {
  report: {
    kjv_bytes: number;
    verses: number;
    synthetic_docs: number;
    packages: number;
    installed_packages: number;
    doc_paragraphs: number;
    prose_bytes: number;
  };
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
  const prose = proseCorpus(work, cfg.seed + 13, cfg.prose.pretrainBytes, cfg.prose.maxParagraphs);
  const proseText = prose.docs.join('\n\n');
  assertTrainingText(proseText, 'the real-prose corpus', 'the recipe corpus');
  writeFileSync(join(work, 'prose.txt'), proseText);
  return {
    kjv,
    verses,
    docs,
    prose: prose.pools,
    proseDocs: prose.docs,
    report: {
      kjv_bytes: kjv.length,
      verses: verses.length,
      synthetic_docs: docs.length,
      packages: prose.pools.catalog.length,
      installed_packages: prose.pools.installed.length,
      doc_paragraphs: prose.pools.paragraphs.length,
      prose_bytes: proseText.length,
    },
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
  // The tokenizer sees the first cfg.prose.tokenizerBytes of the prose (enough for its statistics).
  let fed = 0;
  for (const d of corpus.proseDocs) {
    if (fed > cfg.prose.tokenizerBytes) break;
    for (const line of d.split('\n')) trainer.feed(line);
    fed += d.length;
  }
  const json = toTokenizerJson(trainer.train()) as unknown as JsonValue;
  writeFileSync(join(paths.work, 'tokenizer.json'), JSON.stringify(json));
  const t = loadTokenizerJson(json as object);
  return { tok: t, tokenizerJson: json, eos: eosOf(t), report: { vocab_size: t.vocabSize } };
}
