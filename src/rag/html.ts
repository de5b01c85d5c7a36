/**
 * HTML -> plain text for indexing: what a reader sees, with the document structure kept as blank
 * lines and Markdown-style headings so the chunker can prefer those boundaries.
 *
 *   <h2>Locking</h2><p>SQLite uses <b>file</b> locks.</p>   ->   "## Locking\n\nSQLite uses file locks."
 *
 * A small streaming tag scanner, not a full HTML5 parser: it handles comments, CDATA, doctype,
 * raw-text elements (script, style, textarea, title), void elements, unclosed <p>/<li>, entities
 * (named, decimal and hex) and <pre> whitespace. Skipped whole: script, style, template, svg, math,
 * head (except the title), nav, header, footer, aside, form, and any element whose class or id
 * names it as navigation or boilerplate (nav, menu, sidebar, footer, breadcrumb, nosearch), so that
 * site menus repeated on every page do not become chunks.
 *
 * Not handled: text positions in the result do not map back to byte offsets of the HTML (chunk
 * positions of an HTML document refer to this extracted text); tables become one line per row.
 */

const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp']);
const VOID = new Set([
  'area',
  'base',
  'br',
  'col',
  'embed',
  'hr',
  'img',
  'input',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);
/** Elements whose whole content is not text a reader would search for. */
const SKIP = new Set([
  'script',
  'style',
  'template',
  'svg',
  'math',
  'head',
  'nav',
  'header',
  'footer',
  'aside',
  'form',
  'select',
  'button',
  'noscript',
  'iframe',
  'object',
  'canvas',
]);
/** class/id words that mark site chrome. */
const CHROME =
  /(?:^|[\s_-])(nav|navbar|navigation|menu|mainmenu|submenu|sidebar|footer|breadcrumbs?|nosearch)(?:$|[\s_-])/i;
/** Elements that end a line of text. */
const BLOCK = new Set([
  'address',
  'article',
  'blockquote',
  'caption',
  'dd',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'li',
  'main',
  'ol',
  'section',
  'table',
  'tbody',
  'thead',
  'tfoot',
  'tr',
  'ul',
  'br',
  'hr',
]);
/** Elements that end a paragraph (a blank line). */
const PARAGRAPH = new Set(['p', 'pre', 'blockquote', 'table', 'ul', 'ol', 'dl', 'section', 'article', 'hr']);

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  ensp: '\u2002',
  emsp: '\u2003',
  thinsp: '\u2009',
  ndash: '\u2013',
  mdash: '\u2014',
  lsquo: '\u2018',
  rsquo: '\u2019',
  sbquo: '\u201a',
  ldquo: '\u201c',
  rdquo: '\u201d',
  bdquo: '\u201e',
  hellip: '\u2026',
  bull: '\u2022',
  middot: '\u00b7',
  copy: '\u00a9',
  reg: '\u00ae',
  trade: '\u2122',
  deg: '\u00b0',
  plusmn: '\u00b1',
  times: '\u00d7',
  divide: '\u00f7',
  micro: '\u00b5',
  para: '\u00b6',
  sect: '\u00a7',
  laquo: '\u00ab',
  raquo: '\u00bb',
  larr: '\u2190',
  rarr: '\u2192',
  uarr: '\u2191',
  darr: '\u2193',
  harr: '\u2194',
  rArr: '\u21d2',
  lArr: '\u21d0',
  le: '\u2264',
  ge: '\u2265',
  ne: '\u2260',
  asymp: '\u2248',
  infin: '\u221e',
  minus: '\u2212',
  euro: '\u20ac',
  pound: '\u00a3',
  yen: '\u00a5',
  cent: '\u00a2',
  sup1: '\u00b9',
  sup2: '\u00b2',
  sup3: '\u00b3',
  frac14: '\u00bc',
  frac12: '\u00bd',
  frac34: '\u00be',
  not: '\u00ac',
  shy: '',
  zwj: '\u200d',
  zwnj: '\u200c',
};

/** Decodes character references: `&amp;` `&#39;` `&#x27;`; unknown names stay as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z][a-zA-Z0-9]{1,31});?/g, (m, body: string) => {
    if (body[0] === '#') {
      const cp =
        body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      if (!Number.isFinite(cp) || cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(cp);
    }
    const v = NAMED_ENTITIES[body];
    return v === undefined ? m : v;
  });
}

function attr(attrs: string, name: string): string {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs);
  return m ? (m[1] ?? m[2] ?? m[3] ?? '') : '';
}

export interface HtmlText {
  /** The visible text: paragraphs separated by blank lines, headings as `#`..`######` lines. */
  text: string;
  /** The <title>, or the first <h1>, if any. */
  title?: string;
}

/** Extracts the readable text of an HTML document (see the file comment for what is skipped). */
export function htmlToText(html: string): HtmlText {
  const out: string[] = [];
  let title: string | undefined;
  let firstH1: string | undefined;
  let h1Text: string[] | null = null;
  /** Open element being skipped (its name) and the nesting depth of that name inside it. */
  let skipName: string | null = null;
  let skipDepth = 0;
  let preDepth = 0;
  let pos = 0;

  const emitText = (raw: string): void => {
    if (skipName !== null || raw === '') return;
    let t = decodeEntities(raw);
    if (preDepth === 0) {
      t = t.replace(/[\s\u00a0]+/g, ' ');
      const prev = out.length > 0 ? out[out.length - 1] : '\n';
      if (t[0] === ' ' && /[ \n]$/.test(prev)) t = t.slice(1);
    } else t = t.replace(/\u00a0/g, ' ');
    out.push(t);
    if (h1Text) h1Text.push(t);
  };
  const emitBreak = (blank: boolean): void => {
    if (skipName === null) out.push(blank ? '\n\n' : '\n');
  };

  for (let m = nextTag(html, 0); m !== null; m = nextTag(html, pos)) {
    emitText(html.slice(pos, m.index));
    pos = m.end;
    if (m.cdata !== undefined) {
      emitText(m.cdata);
      continue;
    }
    const name = m.name;
    if (!name) continue; // comment, doctype, processing instruction
    const closing = m.closing;
    const attrs = m.attrs;

    if (name === 'title' && !closing && title === undefined) {
      const start = pos;
      pos = skipRawText(html, name, pos);
      const end = html.slice(start, pos).search(/<\/title/i);
      title = decodeEntities(html.slice(start, end >= 0 ? start + end : pos))
        .replace(/\s+/g, ' ')
        .trim();
      continue;
    }
    if (skipName !== null) {
      if (name === skipName) {
        if (closing) skipDepth--;
        else if (!attrs.trimEnd().endsWith('/')) skipDepth++;
        if (skipDepth === 0) skipName = null;
      }
      if (!closing && RAW_TEXT.has(name)) pos = skipRawText(html, name, pos);
      continue;
    }
    if (closing) {
      if (name === 'pre') preDepth = Math.max(0, preDepth - 1);
      if (/^h[1-6]$/.test(name)) {
        if (name === 'h1' && h1Text && firstH1 === undefined) firstH1 = h1Text.join('').trim() || undefined;
        h1Text = null;
        emitBreak(true);
      } else if (PARAGRAPH.has(name)) emitBreak(true);
      else if (BLOCK.has(name) && name !== 'li') emitBreak(false); // the next <li> starts its own line
      continue;
    }
    if (RAW_TEXT.has(name)) {
      const start = pos;
      pos = skipRawText(html, name, pos);
      if (name === 'textarea' || name === 'xmp') emitText(html.slice(start, pos).replace(/<\/\w+\s*>$/, ''));
      continue;
    }
    const selfClosing = attrs.trimEnd().endsWith('/') || VOID.has(name);
    if (SKIP.has(name) || CHROME.test(attr(attrs, 'class')) || CHROME.test(attr(attrs, 'id'))) {
      if (!selfClosing) {
        skipName = name;
        skipDepth = 1;
      }
      continue;
    }
    const h = /^h([1-6])$/.exec(name);
    if (h) {
      out.push(`\n\n${'#'.repeat(Number(h[1]))} `);
      if (name === 'h1') h1Text = [];
    } else if (name === 'pre') {
      preDepth++;
      emitBreak(true);
    } else if (PARAGRAPH.has(name) || name === 'p') emitBreak(true);
    else if (name === 'li') out.push('\n- ');
    else if (BLOCK.has(name)) emitBreak(false);
    else if (name === 'td' || name === 'th') out.push(' ');
    else if (name === 'sup')
      out.push('^'); // 2<sup>48</sup> -> 2^48
    else if (name === 'img') {
      const alt = attr(attrs, 'alt').trim();
      if (alt) emitText(` ${alt} `);
    }
  }
  emitText(html.slice(pos));
  return { text: tidyText(out.join('')), title: title || firstH1 };
}

/** The position just past the end tag of a raw-text element whose content starts at `from`. */
function skipRawText(html: string, name: string, from: number): number {
  const re = new RegExp(`</${name}\\s*>`, 'ig');
  re.lastIndex = from;
  return re.exec(html) ? re.lastIndex : html.length;
}

interface Tag {
  /** [index, end) in the HTML. */
  index: number;
  end: number;
  /** Lowercase element name; undefined for comments, doctype, processing instructions, CDATA. */
  name?: string;
  closing: boolean;
  attrs: string;
  cdata?: string;
}

const TAG_START = /<(\/?)([a-zA-Z][\w:.-]*)/y;

/**
 * The next tag at or after `from`. Attributes are scanned as browsers do: a quote opens a value
 * only after `=` (so a stray quote, as in `href="#x""`, does not swallow the page), and a `<`
 * that starts no tag is text.
 */
function nextTag(html: string, from: number): Tag | null {
  const n = html.length;
  for (let i = html.indexOf('<', from); i >= 0; i = html.indexOf('<', i + 1)) {
    if (html.startsWith('<!--', i)) {
      const e = html.indexOf('-->', i + 4);
      return { index: i, end: e < 0 ? n : e + 3, closing: false, attrs: '' };
    }
    if (html.startsWith('<![CDATA[', i)) {
      const e = html.indexOf(']]>', i + 9);
      return {
        index: i,
        end: e < 0 ? n : e + 3,
        closing: false,
        attrs: '',
        cdata: html.slice(i + 9, e < 0 ? n : e),
      };
    }
    const c = html[i + 1];
    if (c === '!' || c === '?') {
      const e = html.indexOf('>', i + 2);
      return { index: i, end: e < 0 ? n : e + 1, closing: false, attrs: '' };
    }
    TAG_START.lastIndex = i;
    const m = TAG_START.exec(html);
    if (!m) continue;
    let j = TAG_START.lastIndex;
    const attrStart = j;
    let attrEnd = n;
    while (j < n) {
      const ch = html[j];
      if (ch === '>') {
        attrEnd = j;
        j++;
        break;
      }
      j++;
      if (ch === '=') {
        while (j < n && (html[j] === ' ' || html[j] === '\t' || html[j] === '\n' || html[j] === '\r')) j++;
        const q = html[j];
        if (q === '"' || q === "'") {
          const e = html.indexOf(q, j + 1);
          j = e < 0 ? n : e + 1;
        }
      }
    }
    return {
      index: i,
      end: j,
      name: m[2].toLowerCase(),
      closing: m[1] === '/',
      attrs: html.slice(attrStart, attrEnd),
    };
  }
  return null;
}

/** Trims spaces at line ends, drops empty headings and list markers, and squeezes blank lines. */
function tidyText(s: string): string {
  return s
    .split('\n')
    .map((l) => l.replace(/[ \t]+$/g, '').replace(/^ (?=\S)/, ''))
    .filter((l) => !/^(#{1,6}|-)\s*$/.test(l))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
