/**
 * Deterministic mixed text for the tokenizer.json parity tests: English prose, code, whitespace
 * runs, digits, punctuation, emoji (with ZWJ sequences, skin tones, flags), CJK, Korean, Arabic,
 * Devanagari, accented Latin (precomposed and decomposed), Greek and Cyrillic, and strings that look
 * like special tokens. Everything is generated here from a seeded RNG (no external text).
 */

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
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

const ENGLISH = (
  'the of and to in is was that for it with as his on be at by had this not are but from or have an they ' +
  'which one you were all her she there would their we him been has when who will no more if out so said ' +
  'what up its about into than them can only other time new some could these two may first then do any like ' +
  'my now over such our man me even most made after also did many before must through back years where much ' +
  'your way well down should because each just those people how too little state good very make world still ' +
  "own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three don't I'm we'll they've she'd it's you're " +
  'tokenizer transformer attention gradient embedding vocabulary encyclopaedia internationalization ' +
  'Hello World Python JavaScript TypeScript Llama Qwen Gemma Mistral BERT London Paris Monday January'
).split(' ');

const CODE = [
  'function add(a, b) {\n  return a + b;\n}\n',
  'for (let i = 0; i < n; i++) {\n\tsum += x[i] * w[i];\n}\n',
  'def forward(self, x):\n    h = self.ln_1(x)\n    return x + self.attn(h)\n',
  'const re = /[a-z]+\\d{2,}/gu; // match\n',
  'if (x != null && y >= 0x1F) { z = x ?? y; }\n',
  '    #include <stdio.h>\nint main(void) { printf("%d\\n", 42); }\n',
  'SELECT id, name FROM users WHERE age > 30 ORDER BY name;\n',
  '<div class="row"><span>text</span></div>\n',
  '{"key": [1, 2.5, -3e10], "ok": true, "s": "a\\"b"}\n',
  '$ npm install --save-exact tokenizers@0.23.2 && echo $?\n',
  'x = [i**2 for i in range(10) if i % 3 == 0]  # squares\n',
  'fn main() -> Result<(), Box<dyn Error>> { Ok(()) }\n',
];

const EMOJI = [
  '😀',
  '😂',
  '👍',
  '👍🏽',
  '🎉',
  '❤️',
  '👨‍👩‍👧‍👦',
  '🇯🇵',
  '🇺🇸',
  '1️⃣',
  '🚀',
  '🤖',
  '🧠',
  '✨',
  '🔥',
  '🙏🏿',
  '👩🏻‍💻',
  '🐍',
  '☕',
  '⚡',
];
const CJK = [
  '你好世界',
  '机器学习',
  '自然语言处理',
  '東京都',
  'ひらがな',
  'カタカナ',
  '日本語の文章です。',
  '中文，标点！',
  '汉字',
];
const KOREAN = ['안녕하세요', '한국어', '토크나이저', '세계'];
const ARABIC = ['مرحبا بالعالم', 'اللغة العربية', 'مُحَمَّد', 'كِتَابٌ', '١٢٣٤٥'];
const DEVANAGARI = ['नमस्ते दुनिया', 'हिन्दी भाषा', 'संस्कृतम्', 'क्षत्रिय', '१२३'];
const OTHER = [
  'café',
  'naïve',
  'Ångström',
  'cafe\u0301',
  'n\u0303o',
  'Ωμέγα',
  'Привет мир',
  'straße',
  'ﬁle',
  'Ⅻ',
  'İstanbul',
  'ΣΊΣΥΦΟΣ',
];
const SPECIALISH = [
  '<s>',
  '</s>',
  '<unk>',
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '[CLS]',
  '[SEP]',
  '<0x41>',
  '▁',
  '<bos>',
  '<pad>',
  '<start_of_turn>',
  '<|begin_of_text|>',
  '<b>',
  '</td>',
];
const PUNCT = [
  '!',
  '?',
  '...',
  '!!!',
  '?!',
  ';',
  ':',
  '—',
  '–',
  '"',
  "'",
  '(',
  ')',
  '[',
  ']',
  '«',
  '»',
  '“',
  '”',
  '¿',
  '¡',
  '&',
  '@',
  '#',
  '%',
  '*',
  '/',
  '\\',
  '|',
  '~',
  '^',
  '`',
];
const SPACES = [
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\n\n',
  '\n\n\n',
  ' \n',
  '\r\n',
  '    ',
  '\t\t',
  '\u00a0',
  '\u3000',
  '        ',
  ' \t ',
];

/**
 * `n` pieces of mixed text joined into one string of about `n * 12` characters.
 * `withSpecial`: include strings that look like special tokens.
 */
export function mixedText(seed: number, n: number, withSpecial = true): string {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.45) {
      let w = pick(ENGLISH);
      if (r() < 0.1) w = w[0].toUpperCase() + w.slice(1);
      if (r() < 0.03) w = w.toUpperCase();
      parts.push(w, r() < 0.85 ? ' ' : pick(SPACES));
      if (r() < 0.08) parts.push(pick(['.', ',', '!', '?', ';']), ' ');
    } else if (x < 0.52) {
      parts.push(pick(CODE));
    } else if (x < 0.58) {
      const d = r();
      parts.push(
        d < 0.3
          ? String(Math.floor(r() * 1e6))
          : d < 0.5
            ? (r() * 1000).toFixed(3)
            : d < 0.7
              ? `${1900 + Math.floor(r() * 200)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 10)}`
              : d < 0.85
                ? '1234567890'.slice(0, 1 + Math.floor(r() * 10))
                : `+1 (555) ${100 + Math.floor(r() * 900)}-${1000 + Math.floor(r() * 9000)}`,
        ' ',
      );
    } else if (x < 0.64) {
      parts.push(pick(PUNCT));
      if (r() < 0.5) parts.push(' ');
    } else if (x < 0.68) {
      parts.push(pick(SPACES));
    } else if (x < 0.72) {
      parts.push(pick(EMOJI));
      if (r() < 0.5) parts.push(' ');
    } else if (x < 0.78) {
      parts.push(pick(CJK));
      if (r() < 0.3) parts.push(' ');
    } else if (x < 0.81) {
      parts.push(pick(KOREAN), ' ');
    } else if (x < 0.86) {
      parts.push(pick(ARABIC), ' ');
    } else if (x < 0.91) {
      parts.push(pick(DEVANAGARI), ' ');
    } else if (x < 0.97) {
      parts.push(pick(OTHER), ' ');
    } else if (withSpecial) {
      parts.push(pick(SPECIALISH));
      if (r() < 0.5) parts.push(' ');
    }
  }
  return parts.join('');
}

/** The text cut into documents of varied length (1..2000 characters), never inside a surrogate pair. */
export function documents(text: string, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    let len = 1 + Math.floor(r() ** 3 * 2000);
    if (i + len < text.length && (text.charCodeAt(i + len) & 0xfc00) === 0xdc00) len++;
    out.push(text.slice(i, i + len));
    i += len;
  }
  return out;
}

/** HF reports offsets in code points; ours are UTF-16 code units. cpToUnit[k] = unit index of code point k. */
export function codePointToUnit(s: string): Int32Array {
  const map = new Int32Array(s.length + 1);
  let k = 0;
  for (let i = 0; i < s.length; i++) {
    map[k++] = i;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
  }
  map[k] = s.length;
  return map.slice(0, k + 1);
}

const ONSETS = [
  '',
  'b',
  'c',
  'd',
  'f',
  'g',
  'h',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'w',
  'z',
  'ch',
  'sh',
  'th',
  'st',
  'tr',
  'pl',
  'gr',
  'br',
  'cl',
  'qu',
];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ou', 'io', 'é', 'ö'];
const CODAS = ['', '', 'n', 'r', 's', 't', 'l', 'm', 'nd', 'st', 'ng', 'ck'];
const SUFFIXES = ['', '', '', 's', 'ed', 'ing', 'er', 'ly', 'tion', 'ness', 'able'];
const CJK_SYLLABLES = Array.from(
  '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴落',
);

function zipfSampler(r: () => number, n: number, s = 1.05): () => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let k = 0; k < n; k++) cdf[k] = acc += 1 / (k + 1) ** s;
  return () => {
    const x = r() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * A synthetic language for training tests: a fixed lexicon of `lexiconSize` pseudo-words (from
 * syllables and suffixes, so subwords are shared), drawn by a Zipf law into sentences with
 * punctuation, numbers and some CJK. `seed` varies the sentences, not the lexicon; the alphabet is
 * fixed, so held-out text (another seed) has no unseen characters.
 */
export function syntheticCorpus(seed: number, lines: number, lexiconSize = 40_000): string[] {
  const lr = rng(12345);
  const pick = <T>(r: () => number, a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const lexicon: string[] = [];
  const seen = new Set<string>();
  while (lexicon.length < lexiconSize) {
    let w = '';
    const syl = 1 + Math.floor(lr() * lr() * 4);
    for (let k = 0; k < syl; k++) w += pick(lr, ONSETS) + pick(lr, VOWELS) + pick(lr, CODAS);
    w += pick(lr, SUFFIXES);
    if (lr() < 0.03)
      w = Array.from({ length: 1 + Math.floor(lr() * 3) }, () => pick(lr, CJK_SYLLABLES)).join('');
    if (!seen.has(w)) {
      seen.add(w);
      lexicon.push(w);
    }
  }
  const r = rng(seed);
  const zipf = zipfSampler(r, lexicon.length);
  const out: string[] = [];
  for (let l = 0; l < lines; l++) {
    const parts: string[] = [];
    const n = 4 + Math.floor(r() * 14);
    for (let k = 0; k < n; k++) {
      let w = lexicon[zipf()];
      if (k === 0 || r() < 0.05) w = w[0].toUpperCase() + w.slice(1);
      if (r() < 0.04) w = String(Math.floor(r() * 10 ** (1 + Math.floor(r() * 4))));
      parts.push(w);
      if (r() < 0.08) parts.push(pick(r, [',', ';', ':', '-', '(', ')', '"']));
    }
    out.push(`${parts.join(' ')}${pick(r, ['.', '.', '.', '!', '?'])}`);
  }
  return out;
}

/** One line with every character of syntheticCorpus's alphabet, word-initially and inside words. */
export function syntheticAlphabetLine(): string {
  const letters = new Set<string>();
  for (const s of [...ONSETS, ...VOWELS, ...CODAS, ...SUFFIXES]) for (const ch of s) letters.add(ch);
  const words: string[] = [...CJK_SYLLABLES];
  for (const ch of letters) words.push(ch, `a${ch}`, ch.toUpperCase(), `A${ch.toUpperCase()}`);
  for (const ch of '0123456789.,;:-()"!?') words.push(ch, `0${ch}`);
  return words.join(' ');
}
