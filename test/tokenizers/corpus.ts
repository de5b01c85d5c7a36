/**
 * Deterministic test text for the tokenizer tests and benchmarks, generated from a seeded RNG and
 * the small word list below (no external corpus, no other project's test text).
 *
 * - englishText: English-like prose, words drawn with a Zipf distribution over a list of common
 *   English words followed by a long tail of made-up words (so a piece cache sees a realistic mix
 *   of repeats and rare pieces).
 * - mixedText: the same prose interleaved with code, whitespace runs, digits, punctuation, emoji
 *   (skin tones, ZWJ sequences, flags, keycaps), CJK, Arabic, Devanagari, Korean, Cyrillic, Greek,
 *   Thai, Hebrew, accented and mixed-case Latin: the cases where split patterns and byte merges
 *   differ between implementations. Only characters assigned since Unicode 7 or earlier are used,
 *   so engines with different Unicode tables agree on their categories.
 */

/** Mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMON =
  `the of and to a in is it you that he was for on are with as I his they be at one have this from
or had by hot word but what some we can out other were all there when up use your how said an each she which
do their time if will way about many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know water than call first who may down
side been now find any new work part take get place made live where after back little only round man year came
show every good me give our under name very through just form sentence great think say help low line differ
turn cause much mean before move right boy old too same tell does set three want air well also play small end
put home read hand port large spell add even land here must big high such follow act why ask men change went
light kind off need house picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant cover food sun four between
state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late
run don't while press close night real life few north open seem together next white children begin got walk
example ease paper group always music those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color face
wood main enough plain girl usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question happen complete ship area
half rock order fire south problem piece told knew pass since top whole king space heard best hour better true
during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
less morning ten simple several vowel toward war lay against pattern slow center love person money serve appear
road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine
note wait plan figure star box noun field rest correct able pound done beauty drive stood contain front teach
week final gave green oh quick develop ocean warm free minute strong special mind behind clear tail produce
fact street inch multiply nothing course stay wheel full force blue object decide surface deep moon island
foot system busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game
shape equate miss brought heat snow tire bring yes distant fill east paint language among it's I'm we're they've
you'll she'd isn't can't won't`.split(/\s+/);

const SYLLABLES =
  'ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ha he hi ho ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo wa we wi xa ya yo za zo str ing ion ent ous ble ght'.split(
    ' ',
  );

export class TextGen {
  readonly r: () => number;
  private readonly words: string[];

  constructor(seed: number, tailWords = 30000) {
    this.r = rng(seed);
    const tail = new Set<string>();
    while (tail.size < tailWords) {
      const n = 2 + Math.floor(this.r() * 3);
      let w = '';
      for (let k = 0; k < n; k++) w += this.pick(SYLLABLES);
      tail.add(w);
    }
    this.words = [...COMMON, ...tail];
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** A character from [lo, hi] (code points). */
  char(lo: number, hi: number): string {
    return String.fromCodePoint(lo + this.int(hi - lo + 1));
  }

  /** A word with Zipf's law (exponent ~1) over the word list: rank k has weight 1 / (k + 2.7). */
  word(): string {
    // Inverse CDF of the continuous approximation: rank = (N + c)^u * c^(1-u) - c.
    const c = 2.7;
    const n = this.words.length;
    const k = Math.floor(Math.exp(Math.log(c) + this.r() * (Math.log(n + c) - Math.log(c))) - c);
    return this.words[Math.min(n - 1, Math.max(0, k))];
  }

  sentence(): string {
    const n = 4 + this.int(18);
    const ws: string[] = [];
    for (let k = 0; k < n; k++) {
      let w = this.word();
      const x = this.r();
      if (x < 0.04) w = w.toUpperCase();
      else if (x < 0.12) w = w[0].toUpperCase() + w.slice(1);
      if (this.r() < 0.03) w = String(this.int(this.r() < 0.5 ? 100 : 100000));
      if (k < n - 1 && this.r() < 0.08) w += this.pick([',', ',', ';', ':', ' -', "'s"]);
      if (this.r() < 0.015) w = `"${w}"`;
      if (this.r() < 0.01) w = `(${w})`;
      ws.push(w);
    }
    ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
    return ws.join(' ') + this.pick(['.', '.', '.', '.', '?', '!', '...']);
  }

  paragraph(): string {
    const n = 2 + this.int(7);
    const ss: string[] = [];
    for (let k = 0; k < n; k++) ss.push(this.sentence());
    return ss.join(' ');
  }

  code(): string {
    const lines: string[] = [];
    const indent = this.pick(['    ', '  ', '\t']);
    const nl = this.r() < 0.2 ? '\r\n' : '\n';
    const id = () => {
      const a = this.word().replace(/\W/g, '');
      const b = this.word().replace(/\W/g, '');
      return this.pick([
        `${a}${b[0]?.toUpperCase() ?? ''}${b.slice(1)}`,
        `${a}_${b}`,
        `${a.toUpperCase()}_${b.toUpperCase()}`,
        a,
      ]);
    };
    const n = 3 + this.int(15);
    for (let k = 0; k < n; k++) {
      const depth = this.int(4);
      const pad = indent.repeat(depth);
      const line = this.pick([
        () => `const ${id()} = ${id()}(${id()}, ${this.int(1000)});`,
        () => `if (${id()} === ${id()} && ${id()}.length > ${this.int(10)}) {`,
        () => `}`,
        () => `return ${id()}.map((x) => x * ${this.r().toFixed(3)}) ?? [];`,
        () => `def ${id()}(self, ${id()}: int = ${this.int(99)}) -> dict[str, ${id()}]:`,
        () => `# ${this.sentence()}`,
        () => `// TODO(${id()}): ${this.sentence()}`,
        () =>
          `for (let i = 0; i < ${id()}.size(); i++) ${id()}[i] += 0x${this.int(65536).toString(16).toUpperCase()};`,
        () => `printf("%s: %d\\n", "${this.word()}", ${id()}->${id()});`,
        () =>
          `${id()} = {"${this.word()}": [${this.int(10)}, ${this.int(10)}.${this.int(100)}e-${this.int(20)}], '${this.word()}': None}`,
        () => `#include <${this.word().replace(/\W/g, '')}.h>`,
        () => `  ${id()}::${id()}<${id()}> *${id()} = &${id()}[${this.int(8)}];  `,
        () => ``,
      ])();
      lines.push(pad + line);
    }
    return lines.join(nl);
  }

  whitespace(): string {
    const units = [
      ' ',
      ' ',
      ' ',
      '\t',
      '\n',
      '\r\n',
      '\r',
      '\u00a0',
      '\u3000',
      '\u0085',
      '\u2028',
      '\ufeff',
      '\u000b',
      '\u000c',
      '\u2003',
      '\u200b',
    ];
    const n = this.r() < 0.2 ? 1 + this.int(300) : 1 + this.int(12);
    let s = '';
    for (let k = 0; k < n; k++) s += this.r() < 0.6 ? ' ' : this.pick(units);
    return this.word() + s + this.pick([this.word(), '', '!', '1', 'x', '\n', ' ']);
  }

  digits(): string {
    const parts: string[] = [];
    const n = 1 + this.int(6);
    for (let k = 0; k < n; k++) {
      parts.push(
        this.pick([
          () => String(this.int(10 ** (1 + this.int(9)))),
          () => Array.from({ length: 1 + this.int(60) }, () => this.int(10)).join(''),
          () =>
            `${this.int(1000)},${String(this.int(1000)).padStart(3, '0')},${String(this.int(1000)).padStart(3, '0')}.${this.int(100)}`,
          () => `${1900 + this.int(200)}-${1 + this.int(12)}-${1 + this.int(28)}`,
          () => `+1 (${this.int(1000)}) ${this.int(1000)}-${this.int(10000)}`,
          () => Array.from({ length: 1 + this.int(8) }, () => this.char(0x0660, 0x0669)).join(''),
          () => Array.from({ length: 1 + this.int(8) }, () => this.char(0x0966, 0x096f)).join(''),
          () => Array.from({ length: 1 + this.int(8) }, () => this.char(0xff10, 0xff19)).join(''),
          () => `x² + y³ = ½ Ⅻ ${this.int(100)}%`,
          () => `$${this.int(1e6)}.${this.int(100)}`,
        ])(),
      );
    }
    return parts.join(this.pick([' ', ', ', '/', '', '\n']));
  }

  punctuation(): string {
    const units = [
      '!',
      '?',
      '.',
      ',',
      ';',
      ':',
      '...',
      '!!!',
      '?!',
      '--',
      '—',
      '–',
      '…',
      '«',
      '»',
      '“',
      '”',
      '‘',
      '’',
      '¡',
      '¿',
      '·',
      '•',
      '/',
      '//',
      '\\',
      '@',
      '#',
      '$',
      '%',
      '^',
      '&',
      '*',
      '(',
      ')',
      '[',
      ']',
      '{',
      '}',
      '<',
      '>',
      '|',
      '~',
      '`',
      '"',
      "'",
      "'s",
      "'S",
      "'ll",
      "'LL",
      "'ve",
      "'Re",
      "'d",
      "'M",
      "'t",
      "'ſ",
      '\n',
      '\r\n',
      ' ',
    ];
    let s = '';
    const n = 1 + this.int(20);
    for (let k = 0; k < n; k++) {
      s += this.pick(units);
      if (this.r() < 0.3) s += this.word();
    }
    return s;
  }

  emoji(): string {
    const base = () =>
      this.pick([
        () => this.char(0x1f600, 0x1f64f),
        () => this.char(0x1f300, 0x1f5ff),
        () => this.char(0x1f680, 0x1f6c5),
        () => this.char(0x1f910, 0x1f93e),
        () => this.char(0x2600, 0x26ff),
      ])();
    const one = () =>
      this.pick([
        base,
        () => this.pick(['👍', '👋', '🙏', '💪', '🤝', '👩', '👨', '🧑']) + this.char(0x1f3fb, 0x1f3ff),
        () =>
          Array.from({ length: 2 + this.int(3) }, () =>
            this.pick(['👨', '👩', '👧', '👦', '❤️', '🔥', '💋', '🧑', '🦰']),
          ).join('\u200d'),
        () => '👩\u200d💻',
        () => '🏳️\u200d🌈',
        () => this.char(0x1f1e6, 0x1f1ff) + this.char(0x1f1e6, 0x1f1ff),
        () => `${this.int(10)}\ufe0f\u20e3`,
        () => '❤️',
        () => `${base()}\ufe0f`,
      ])();
    let s = '';
    const n = 1 + this.int(8);
    for (let k = 0; k < n; k++)
      s += one() + (this.r() < 0.4 ? ' ' : this.r() < 0.2 ? ` ${this.word()} ` : '');
    return s;
  }

  cjk(): string {
    let s = '';
    const n = 5 + this.int(60);
    for (let k = 0; k < n; k++) {
      const x = this.r();
      if (x < 0.6) s += this.char(0x4e00, 0x9fa5);
      else if (x < 0.75) s += this.char(0x3041, 0x3096);
      else if (x < 0.85) s += this.char(0x30a1, 0x30fa) + (this.r() < 0.2 ? 'ー' : '');
      else if (x < 0.95) s += this.pick(['，', '。', '、', '「', '」', '！', '？', '：', '（', '）', '　']);
      else s += this.pick(['ＡＢＣ', 'ｘｙｚ', 'GPU', '3D', ' ', '2024年']);
    }
    return s;
  }

  arabic(): string {
    const words: string[] = [];
    const n = 2 + this.int(12);
    for (let k = 0; k < n; k++) {
      let w = this.r() < 0.15 ? 'ال' : '';
      const len = 2 + this.int(6);
      for (let q = 0; q < len; q++) {
        w +=
          this.r() < 0.85
            ? this.char(0x0628, 0x063a)
            : this.pick(['ف', 'ق', 'ك', 'ل', 'م', 'ن', 'ه', 'و', 'ي', 'پ', 'چ', 'ژ', 'گ']);
        if (this.r() < 0.2) w += this.char(0x064b, 0x0652); // harakat: combining marks
      }
      words.push(w);
    }
    return words.join(' ') + this.pick(['.', '،', '؟', ' ٢٠٢٤', '!', '']);
  }

  devanagari(): string {
    const words: string[] = [];
    const n = 2 + this.int(12);
    for (let k = 0; k < n; k++) {
      let w = '';
      const len = 1 + this.int(4);
      for (let q = 0; q < len; q++) {
        w += this.char(0x0915, 0x0939);
        const x = this.r();
        if (x < 0.4) w += this.char(0x093e, 0x094c);
        else if (x < 0.55) w += `\u094d${this.char(0x0915, 0x0939)}`;
        if (this.r() < 0.1) w += this.pick(['\u0902', '\u0901', '\u0903']);
      }
      words.push(w);
    }
    return words.join(' ') + this.pick(['।', '॥', '?', ' १२३', '']);
  }

  korean(): string {
    const words: string[] = [];
    const n = 2 + this.int(12);
    for (let k = 0; k < n; k++)
      words.push(Array.from({ length: 1 + this.int(5) }, () => this.char(0xac00, 0xd7a3)).join(''));
    return words.join(' ') + this.pick(['.', '?', '!', '요.', '']);
  }

  otherScripts(): string {
    return this.pick([
      () =>
        Array.from(
          { length: 2 + this.int(8) },
          () =>
            (this.r() < 0.2 ? this.char(0x0410, 0x042f) : '') +
            Array.from({ length: 2 + this.int(8) }, () => this.char(0x0430, 0x044f)).join(''),
        ).join(' '),
      () =>
        Array.from(
          { length: 2 + this.int(8) },
          () =>
            (this.r() < 0.2 ? this.char(0x0391, 0x03a9) : '') +
            Array.from({ length: 2 + this.int(8) }, () => this.char(0x03b1, 0x03c9)).join(''),
        ).join(' '),
      () =>
        Array.from(
          { length: 3 + this.int(20) },
          () => this.char(0x0e01, 0x0e2e) + (this.r() < 0.3 ? this.char(0x0e31, 0x0e3a) : ''),
        ).join(''),
      () =>
        Array.from({ length: 2 + this.int(6) }, () =>
          Array.from({ length: 2 + this.int(5) }, () => this.char(0x05d0, 0x05ea)).join(''),
        ).join(' '),
      () =>
        this.pick([
          'café',
          'naïve',
          'Übermaß',
          'façade',
          'smørrebrød',
          'Ångström',
          'crème brûlée',
          'São Paulo',
          'ŁÓDŹ',
          'straße',
        ]),
      () => `cafe\u0301 re\u0301sume\u0301 n\u0303 A\u030a`,
      () =>
        this.pick([
          'iPhone',
          'McDonald',
          'HTTPServer',
          'camelCaseWord',
          'XMLHttpRequest',
          'eBay',
          'ǅemal',
          'ǈubljana',
          'ʰʲʷ',
          'ᵃᵇᶜ',
          "DON'T",
          "IT'S",
          "WE'LL",
          "y'all",
          'ﬁnance',
          'Ａｂｃ',
        ]),
    ])();
  }
}

/** English-like prose of about `chars` UTF-16 units. */
export function englishText(chars: number, seed = 1): string {
  const g = new TextGen(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const p = g.paragraph();
    parts.push(p);
    n += p.length + 2;
  }
  return parts.join('\n\n');
}

/** Mixed text (see the header) of about `chars` UTF-16 units. */
export function mixedText(chars: number, seed = 2): string {
  const g = new TextGen(seed);
  const kinds: [number, () => string][] = [
    [20, () => g.paragraph()],
    [10, () => g.code()],
    [6, () => g.whitespace()],
    [6, () => g.digits()],
    [6, () => g.punctuation()],
    [6, () => g.emoji()],
    [6, () => g.cjk()],
    [5, () => g.arabic()],
    [5, () => g.devanagari()],
    [5, () => g.korean()],
    [6, () => g.otherScripts()],
  ];
  const total = kinds.reduce((s, [w]) => s + w, 0);
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    let x = g.r() * total;
    let k = 0;
    while (x >= kinds[k][0]) x -= kinds[k++][0];
    const p = kinds[k][1]() + g.pick([' ', ' ', '\n', '\n\n', '', '\t', '  ']);
    parts.push(p);
    n += p.length;
  }
  return parts.join('');
}
