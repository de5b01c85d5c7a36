/**
 * The corpus of the sentiment experiment: short movie-review sentences from a seeded template
 * grammar, in the spirit of IMDb fragments. Sentiment words are drawn evenly from positive and
 * negative lists (with some neutral ones and some negations), so a model trained on the corpus
 * writes reviews whose mean sentiment is near zero: the room that alignment has to move.
 *
 *   "the acting was really wonderful but the plot was dull ."
 *   "i would not recommend this movie to anyone ."
 *
 * The ground-truth reward is the AFINN-165 score of the npm package `sentiment` (negation-aware:
 * "not good" counts as -3), applied to the whole review (prompt prefix + continuation).
 */
import { createRequire } from 'node:module';
import { Rng } from '../src/tensor/random.ts';
import { type HfTokenizer, loadTokenizerJson } from '../src/tokenizers/tokenizer_json.ts';

const POSITIVE = [
  'great',
  'good',
  'wonderful',
  'excellent',
  'amazing',
  'brilliant',
  'beautiful',
  'fun',
  'perfect',
  'enjoyable',
  'fantastic',
  'superb',
  'lovely',
  'charming',
  'clever',
  'solid',
  'gripping',
  'interesting',
  'funny',
  'fine',
];
const NEGATIVE = [
  'bad',
  'terrible',
  'awful',
  'boring',
  'poor',
  'horrible',
  'dull',
  'stupid',
  'weak',
  'disappointing',
  'ugly',
  'annoying',
  'painful',
  'confusing',
  'pointless',
  'lame',
  'dumb',
  'silly',
  'mediocre',
  'tired',
];
const NEUTRAL = [
  'long',
  'short',
  'slow',
  'simple',
  'quiet',
  'dark',
  'loud',
  'predictable',
  'original',
  'familiar',
];
const NOUNS = [
  'acting',
  'story',
  'plot',
  'cast',
  'script',
  'ending',
  'music',
  'dialogue',
  'director',
  'pacing',
  'soundtrack',
  'camera work',
  'writing',
  'effects',
  'humor',
];
const FILMS = ['movie', 'film', 'show', 'sequel', 'thriller', 'comedy', 'drama'];
const ADVERBS = ['very', 'really', 'quite', 'so', 'rather', 'truly', 'somewhat', 'too', 'extremely'];
const LIKE_POS = ['loved', 'liked', 'enjoyed', 'adored'];
const LIKE_NEG = ['hated', 'disliked'];
const LIKE_NEUTRAL = ['watched', 'saw', 'remember', 'expected'];
const THINGS_POS = ['masterpiece', 'gem', 'treat', 'joy', 'delight', 'pleasure'];
const THINGS_NEG = ['mess', 'disaster', 'failure', 'waste of time', 'letdown'];
const WHO = ['anyone', 'my friends', 'my family', 'fans of the genre', 'kids'];

/** A grammar that draws from seeded randomness. */
class Grammar {
  constructor(readonly rng: Rng) {}

  pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)];
  }

  chance(p: number): boolean {
    return this.rng.random() < p;
  }

  /** An adjective: 40% positive, 40% negative, 20% neutral; sometimes with an adverb. */
  adj(): string {
    const u = this.rng.random();
    const a = this.pick(u < 0.4 ? POSITIVE : u < 0.8 ? NEGATIVE : NEUTRAL);
    return this.chance(0.3) ? `${this.pick(ADVERBS)} ${a}` : a;
  }

  verb(): string {
    const u = this.rng.random();
    return this.pick(u < 0.4 ? LIKE_POS : u < 0.8 ? LIKE_NEG : LIKE_NEUTRAL);
  }

  thing(): string {
    return this.pick(this.chance(0.5) ? THINGS_POS : THINGS_NEG);
  }

  sentence(): string {
    const n = () => this.pick(NOUNS);
    const f = () => this.pick(FILMS);
    switch (this.rng.int(10)) {
      case 0:
        return `the ${n()} was ${this.adj()} .`;
      case 1:
        return `the ${n()} was ${this.adj()} and the ${n()} was ${this.adj()} .`;
      case 2:
        return `the ${n()} was ${this.adj()} but the ${n()} was ${this.adj()} .`;
      case 3:
        return `i ${this.verb()} the ${n()} .`;
      case 4:
        return `i ${this.verb()} the ${n()} and the ${n()} was ${this.adj()} .`;
      case 5:
        return `this ${f()} is a ${this.adj()} ${f()} .`;
      case 6:
        return `it was a ${this.thing()} from start to end .`;
      case 7:
        return `overall , a ${this.adj()} ${f()} with ${this.adj()} ${n()} .`;
      case 8:
        return `the ${n()} is ${this.chance(0.5) ? 'not ' : ''}${this.adj()} .`;
      default:
        return `i would ${this.chance(0.5) ? 'not ' : ''}recommend this ${f()} to ${this.pick(WHO)} .`;
    }
  }
}

/** n review sentences from the grammar, reproducible from the seed. */
export function makeCorpus(n: number, seed: number): string[] {
  const g = new Grammar(new Rng(seed));
  return Array.from({ length: n }, () => g.sentence());
}

/** The prompt prefix of a sentence: its first 2 or 3 words (always leaving 2 or more). */
export function promptOf(sentence: string, rng: Rng): string {
  const words = sentence.split(' ');
  const k = Math.min(2 + rng.int(2), words.length - 2);
  return words.slice(0, k).join(' ');
}

interface SentimentAnalyzer {
  analyze(text: string): { score: number };
}

let analyzer: SentimentAnalyzer | null = null;

/** The review text of a prompt prefix and a decoded continuation (words joined by spaces). */
export function review(prompt: string, continuation: string): string {
  return continuation ? `${prompt} ${continuation}` : prompt;
}

/** The ground-truth reward: the AFINN score of the text (npm package `sentiment`). */
export function groundTruth(text: string): number {
  if (!analyzer) {
    const Sentiment = createRequire(import.meta.url)('sentiment') as new () => SentimentAnalyzer;
    analyzer = new Sentiment();
  }
  return analyzer.analyze(text).score;
}

/**
 * A word-level tokenizer of the corpus (Hugging Face WordLevel model, whitespace pre-tokenizer,
 * tokens joined by spaces on decode): id 0 is <|endoftext|>, the BOS and EOS of every sequence.
 * Word-level rather than BPE: a small BPE vocabulary is mostly partial words that never occur in
 * the encoded corpus, and an aligned policy drifting onto such never-trained tokens is noise in the
 * KL measurement, not a finding.
 */
export function wordTokenizer(sentences: readonly string[]): HfTokenizer {
  const words = [...new Set(sentences.flatMap((s) => s.split(' ')))].sort();
  const specials = ['<|endoftext|>', '<unk>'];
  const vocab: Record<string, number> = {};
  [...specials, ...words].forEach((w, i) => {
    vocab[w] = i;
  });
  return loadTokenizerJson({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  });
}
