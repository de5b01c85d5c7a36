/**
 * Value pools for the synthetic documents: generated names (people, places, companies, tools) and
 * typed values (years, numbers, ports, versions...). Generated names are split between training
 * and evaluation by a hash (`nameSplit`), so held-out documents are about entities never seen in
 * training. Everything comes from the caller's seeded Rng.
 */
import type { Rng } from '../tensor/random.ts';

export type Split = 'train' | 'eval';

const SYLLABLES = [
  'ka',
  'lo',
  'ren',
  'mi',
  'tas',
  'vel',
  'dor',
  'an',
  'su',
  'bri',
  'gan',
  'tel',
  'ol',
  'ma',
  'ris',
  'fen',
  'cor',
  'da',
  'nu',
  'pel',
  'sar',
  'vi',
  'thor',
  'el',
  'qui',
  'bo',
  'lin',
  'ter',
  'ha',
  'mos',
  'ze',
  'ral',
  'ny',
  'go',
  'wen',
  'ar',
  'fi',
  'stan',
  'ku',
  'lem',
];
const JOBS = [
  'baker',
  'teacher',
  'pilot',
  'nurse',
  'carpenter',
  'lawyer',
  'painter',
  'farmer',
  'librarian',
  'chemist',
  'architect',
  'fisherman',
  'engineer',
  'tailor',
  'musician',
  'doctor',
  'gardener',
  'journalist',
  'mechanic',
  'translator',
];
const COLOURS = [
  'red',
  'blue',
  'green',
  'yellow',
  'purple',
  'orange',
  'grey',
  'white',
  'black',
  'brown',
  'pink',
  'silver',
];
const ANIMALS = ['dog', 'cat', 'parrot', 'horse', 'rabbit', 'goat', 'tortoise', 'hamster'];
const PRODUCTS = [
  'cheese',
  'wool',
  'glass',
  'pottery',
  'apples',
  'wine',
  'honey',
  'paper',
  'bicycles',
  'clocks',
  'shoes',
  'salt',
  'rope',
  'candles',
  'lamps',
  'tea',
  'carpets',
  'boats',
  'bells',
  'maps',
];
const LANGUAGES = [
  'TypeScript',
  'Rust',
  'Python',
  'Go',
  'C++',
  'Java',
  'Haskell',
  'Zig',
  'Kotlin',
  'OCaml',
  'C',
  'Ruby',
];
const LICENSES = ['MIT', 'Apache 2.0', 'BSD', 'GPL', 'MPL', 'ISC'];
const FORMATS = ['JSON', 'YAML', 'CSV', 'TOML', 'SQLite', 'Parquet', 'XML', 'binary', 'GGUF', 'safetensors'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
export const SETTINGS = [
  ['timeout', ' seconds'],
  ['batch size', ''],
  ['cache size', ' megabytes'],
  ['number of threads', ''],
  ['retry limit', ''],
  ['page size', ' rows'],
  ['log level', ''],
] as const;
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'];
const SUBCOMMANDS = ['serve', 'start', 'run', 'index', 'build', 'sync', 'up', 'launch'];
const TOOL_KINDS = [
  'a small database for time series',
  'a command-line tool for renaming files',
  'a web server for static sites',
  'a library for parsing dates',
  'a compiler for a tiny language',
  'a scheduler for background jobs',
  'a search engine for local notes',
  'a game engine for text adventures',
  'a proxy for HTTP requests',
  'a tool for backing up photos',
  'a framework for testing APIs',
  'a editor for Markdown files',
];
const ORG_SUFFIX = ['Works', 'Labs', 'Company', 'Industries', 'Group', 'Foundry', 'Systems', 'Trading'];
const REGIONS_SUFFIX = ['shire', 'land', 'vale', 'mark', 'moor'];

/** 32-bit FNV-1a of a string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Which split a generated name belongs to: a quarter of all names are evaluation-only. */
export function nameSplit(name: string): Split {
  return fnv1a(name.toLowerCase()) % 4 === 0 ? 'eval' : 'train';
}

export type ValueType =
  | 'person'
  | 'place'
  | 'year'
  | 'number'
  | 'job'
  | 'colour'
  | 'animal'
  | 'product'
  | 'org'
  | 'language'
  | 'license'
  | 'format'
  | 'port'
  | 'version'
  | 'env'
  | 'command'
  | 'date'
  | 'river'
  | 'region'
  | 'distance'
  | 'setting'
  | 'description';

export const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Draws values of each type, restricted to one split for generated names. */
export class Values {
  constructor(
    readonly rng: Rng,
    readonly split: Split,
  ) {}

  pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)];
  }

  int(lo: number, hi: number): number {
    return lo + this.rng.int(hi - lo + 1);
  }

  /** A generated word of 2-3 syllables from this split. */
  word(minSyl = 2, maxSyl = 3): string {
    for (;;) {
      const n = this.int(minSyl, maxSyl);
      let w = '';
      for (let i = 0; i < n; i++) w += this.pick(SYLLABLES);
      if (w.length >= 4 && nameSplit(w) === this.split) return w;
    }
  }

  person(): string {
    return `${cap(this.word(2, 2))} ${cap(this.word(2, 3))}`;
  }
  place(): string {
    return cap(this.word(2, 3));
  }
  org(): string {
    return `${cap(this.word(2, 3))} ${this.pick(ORG_SUFFIX)}`;
  }
  tool(): string {
    return this.word(2, 3);
  }

  /** A value of the given type (the shape used in sentences). */
  of(type: ValueType): string {
    switch (type) {
      case 'person':
        return this.person();
      case 'place':
        return this.place();
      case 'river':
        return cap(this.word(2, 2));
      case 'region':
        return cap(this.word(1, 2)) + this.pick(REGIONS_SUFFIX);
      case 'year':
        return String(this.int(1650, 2024));
      case 'number':
        return String(this.int(2, 9) * 10 ** this.int(0, 3) + this.int(0, 9));
      case 'job':
        return this.pick(JOBS);
      case 'colour':
        return this.pick(COLOURS);
      case 'animal':
        return this.pick(ANIMALS);
      case 'product':
        return this.pick(PRODUCTS);
      case 'org':
        return this.org();
      case 'language':
        return this.pick(LANGUAGES);
      case 'license':
        return this.pick(LICENSES);
      case 'format':
        return this.pick(FORMATS);
      case 'port':
        return String(
          this.pick([80, 3000, 5000, 8000, 8080, 8443, 9000]) + this.int(0, 99) * (this.int(0, 1) ? 1 : 0),
        );
      case 'version':
        return `${this.int(0, 9)}.${this.int(0, 20)}.${this.int(0, 9)}`;
      case 'env':
        return `${this.word(2, 2).toUpperCase()}_${this.pick(['PORT', 'HOME', 'THREADS', 'CACHE', 'HOST', 'MODE'])}`;
      case 'command':
        return `${this.tool()} ${this.pick(SUBCOMMANDS)}`;
      case 'date':
        return `${this.pick(MONTHS)} ${this.of('year')}`;
      case 'distance':
        return `${this.int(3, 480)} kilometres`;
      case 'setting':
        return String(this.int(1, 64));
      case 'description':
        return this.pick(TOOL_KINDS);
    }
  }
}
