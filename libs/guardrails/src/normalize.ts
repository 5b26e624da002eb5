/**
 * Normalisation before detection: undoes the cheap tricks people use to slip an entity past a
 * pattern (zero-width characters inside an address, fullwidth digits in a card number, a Cyrillic
 * 'а' in an email) while keeping a map back to the original text, so a finding in the normalised
 * text can be reported (and masked) in the text the caller holds.
 *
 * What is folded:
 *  - invisible formatting characters are removed: zero-width space/joiners and direction marks
 *    (U+200B–U+200F), word joiner and invisible operators (U+2060–U+2064), bidi embeddings and
 *    isolates, U+FEFF, soft hyphen, variation selectors, tag characters, Hangul fillers;
 *  - compatibility forms are folded per code point with NFKC: fullwidth ASCII, no-break and
 *    typographic spaces, super/subscripts, circled and parenthesised alphanumerics, ligatures,
 *    mathematical alphanumerics, the one-dot leader and ellipsis, small form variants (﹫);
 *  - a small explicit table of Cyrillic/Greek (and a few IPA) letters that look like Latin ones,
 *    only inside a whitespace-delimited token that also holds an ASCII letter, digit or '@' (a
 *    mixed-script token): genuine Russian or Greek text is left alone.
 *
 * Canonical composition across characters (e + combining accent) is not done: it is not needed
 * for the formats detected here and would blur the offset map.
 */

/** A normalised text and the way back to the original's UTF-16 offsets. */
export interface Normalized {
  /** The normalised text (the original string itself when nothing was folded). */
  text: string;
  /**
   * The original offset of normalised offset `i` (0 ≤ i ≤ text.length), as the start of a range:
   * where the original character that produced normalised character `i` begins. Use it for a
   * finding's start (and, for ranges, `toOriginalEnd` for its end).
   */
  toOriginal(i: number): number;
  /**
   * The original offset of normalised offset `i` as the end of a range: just after the original
   * character that produced normalised character `i - 1` (so removed invisible characters after
   * the range are not included, and a range ending inside an expansion such as "ﬁ" → "fi" covers
   * the whole original character).
   */
  toOriginalEnd(i: number): number;
  /** Whether anything was folded (false: `text` is the original and both maps are identity). */
  changed: boolean;
}

type Range = readonly [number, number];

/** Removed outright: zero-width and direction marks, joiners, BOM, soft hyphen, variation selectors, fillers. */
const INVISIBLE: readonly Range[] = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x061c, 0x061c], [0x115f, 0x1160], [0x17b4, 0x17b5], [0x180b, 0x180f],
  [0x200b, 0x200f], [0x202a, 0x202e], [0x2060, 0x206f], [0x3164, 0x3164], [0xfe00, 0xfe0f], [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
];
/** Astral invisibles: tag characters U+E0000–U+E007F, variation selectors U+E0100–U+E01EF. */
const INVISIBLE_ASTRAL: readonly Range[] = [[0xe0000, 0xe007f], [0xe0100, 0xe01ef]];

/** BMP ranges whose characters may change under NFKC and matter for detection. */
const COMPAT: readonly Range[] = [
  [0x00a0, 0x00a0], [0x00aa, 0x00aa], [0x00b2, 0x00b3], [0x00b9, 0x00ba], [0x00bc, 0x00be], [0x2000, 0x200a],
  [0x2024, 0x2026], [0x202f, 0x202f], [0x205f, 0x205f], [0x2070, 0x209f], [0x2100, 0x218f], [0x2460, 0x24ff],
  [0x3000, 0x3000], [0xfb00, 0xfb06], [0xfe50, 0xfe6b], [0xff01, 0xff5e],
];
/** Astral: mathematical alphanumerics, enclosed alphanumeric supplement, segmented digits. */
const COMPAT_ASTRAL: readonly Range[] = [[0x1d400, 0x1d7ff], [0x1f100, 0x1f1ff], [0x1fbf0, 0x1fbf9]];

/** Letters that render like Latin ones (folded in mixed-script tokens only), and hyphen look-alikes. */
const HOMOGLYPHS: Readonly<Record<string, string>> = {
  // Cyrillic lower case
  "\u0430": "a", "\u0435": "e", "\u043E": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
  "\u0455": "s", "\u0456": "i", "\u0458": "j", "\u04BB": "h", "\u0501": "d", "\u051B": "q", "\u051D": "w",
  "\u04CF": "l",
  // Cyrillic upper case
  "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041A": "K", "\u041C": "M", "\u041D": "H", "\u041E": "O",
  "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0423": "Y", "\u04AE": "Y", "\u0405": "S",
  "\u0406": "I", "\u0408": "J", "\u04C0": "I", "\u051A": "Q", "\u051C": "W",
  // Greek upper case
  "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I", "\u039A": "K",
  "\u039C": "M", "\u039D": "N", "\u039F": "O", "\u03A1": "P", "\u03A4": "T", "\u03A5": "Y", "\u03A7": "X",
  // Greek lower case
  "\u03BF": "o", "\u03B1": "a", "\u03B9": "i", "\u03BD": "v", "\u03C1": "p", "\u03C5": "u", "\u03F2": "c",
  "\u03F3": "j", "\u03BA": "k", "\u03C7": "x",
  // IPA / Latin extensions
  "\u0131": "i", "\u0251": "a", "\u0261": "g",
  // hyphen look-alikes (not en/em dashes, which are prose)
  "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
};

// Character classes, one byte per BMP code unit.
const K_INVISIBLE = 1;
const K_HOMOGLYPH = 2;
const K_COMPAT = 3;
const K_SURROGATE = 4; // a high surrogate that may start an astral invisible or compatibility character
const CLASS = new Uint8Array(0x10000);
const HOMOGLYPH_OF: Array<string | undefined> = [];
for (const [lo, hi] of INVISIBLE) CLASS.fill(K_INVISIBLE, lo, hi + 1);
for (const [lo, hi] of COMPAT) CLASS.fill(K_COMPAT, lo, hi + 1);
for (const [ch, to] of Object.entries(HOMOGLYPHS)) {
  CLASS[ch.charCodeAt(0)] = K_HOMOGLYPH;
  HOMOGLYPH_OF[ch.charCodeAt(0)] = to;
}
for (const [lo, hi] of [...INVISIBLE_ASTRAL, ...COMPAT_ASTRAL]) {
  for (let h = 0xd800 + ((lo - 0x10000) >> 10); h <= 0xd800 + ((hi - 0x10000) >> 10); h++) CLASS[h] = K_SURROGATE;
}

/**
 * Precomputed BMP folds: FOLD_UNIT[c] is the single code unit `c` folds to (0: see FOLD_TEXT),
 * FOLD_TEXT the folds that are empty or longer than one unit. Compatibility characters NFKC leaves
 * alone are reclassified as plain.
 */
const FOLD_UNIT = new Uint16Array(0x10000);
const FOLD_TEXT = new Map<number, string>();
for (let c = 0x80; c < 0x10000; c++) {
  const kind = CLASS[c];
  if (kind === K_INVISIBLE) FOLD_TEXT.set(c, "");
  else if (kind === K_HOMOGLYPH) FOLD_UNIT[c] = HOMOGLYPH_OF[c]!.charCodeAt(0);
  else if (kind === K_COMPAT) {
    const ch = String.fromCharCode(c);
    const f = ch.normalize("NFKC");
    if (f === ch) CLASS[c] = 0;
    else if (f.length === 1) FOLD_UNIT[c] = f.charCodeAt(0);
    else FOLD_TEXT.set(c, f);
  }
}

function inRanges(cp: number, ranges: readonly Range[]): boolean {
  for (const [lo, hi] of ranges) if (cp >= lo && cp <= hi) return true;
  return false;
}

/** Regex source of a set of ranges (UTF-16 code units; astral ranges as surrogate pairs). */
function rangeSource(ranges: readonly Range[]): string {
  const hex = (c: number) => "\\u" + c.toString(16).padStart(4, "0");
  const bmp: string[] = [];
  const astral: string[] = [];
  for (const [lo, hi] of ranges) {
    if (hi < 0x10000) bmp.push(lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`);
    else {
      // ranges here stay within one high surrogate's block or span whole blocks; enumerate per high surrogate
      for (let cp = lo; cp <= hi; ) {
        const h = 0xd800 + ((cp - 0x10000) >> 10);
        const blockEnd = Math.min(hi, 0x10000 + ((h - 0xd800 + 1) << 10) - 1);
        const l1 = 0xdc00 + ((cp - 0x10000) & 0x3ff);
        const l2 = 0xdc00 + ((blockEnd - 0x10000) & 0x3ff);
        astral.push(`${hex(h)}[${hex(l1)}-${hex(l2)}]`);
        cp = blockEnd + 1;
      }
    }
  }
  return [bmp.length ? `[${bmp.join("")}]` : "", ...astral].filter(Boolean).join("|");
}

/** Anything that might be folded. One test of this decides the fast path. */
const TRIGGER = new RegExp(
  [
    rangeSource([...INVISIBLE, ...COMPAT, ...INVISIBLE_ASTRAL, ...COMPAT_ASTRAL]),
    `[${Object.keys(HOMOGLYPHS).map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")).join("")}]`,
  ].join("|"),
);

/** Per code point NFKC, memoised (a handful of distinct characters in practice). */
const nfkcCache = new Map<string, string>();
function nfkc(ch: string): string {
  let r = nfkcCache.get(ch);
  if (r === undefined) {
    try {
      r = ch.normalize("NFKC");
    } catch {
      r = ch;
    }
    if (nfkcCache.size < 4096) nfkcCache.set(ch, r);
  }
  return r;
}

function isSpace(c: number): boolean {
  return (
    c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}
/** What makes a token "mixed script": an ASCII letter, digit or '@', or their fullwidth forms. */
function isLatinAnchor(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x40 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    (c >= 0xff10 && c <= 0xff19) || (c >= 0xff20 && c <= 0xff3a) || (c >= 0xff41 && c <= 0xff5a)
  );
}

function clamp(i: number, max: number): number {
  if (!(i > 0)) return 0; // also NaN
  return i > max ? max : Math.floor(i);
}

function identity(text: string): Normalized {
  const n = text.length;
  const map = (i: number) => clamp(i, n);
  return { text, toOriginal: map, toOriginalEnd: map, changed: false };
}

/** Length in UTF-16 units of the code point starting at `i` (1 for lone surrogates). */
function cpLen(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

const EMPTY_UNITS = new Uint16Array(0);
const EMPTY_MAP = new Int32Array(0);

/**
 * Whether the whitespace-delimited token around `i` holds a Latin anchor; returns the token's end,
 * negated when it does not (so one call answers for every character of the token).
 */
function scanToken(text: string, i: number): number {
  const n = text.length;
  let mixed = false;
  let a = i;
  while (a > 0 && !isSpace(text.charCodeAt(a - 1))) {
    a--;
    if (!mixed && isLatinAnchor(text.charCodeAt(a))) mixed = true;
  }
  let b = i;
  while (b < n && !isSpace(text.charCodeAt(b))) {
    if (!mixed && isLatinAnchor(text.charCodeAt(b))) mixed = true;
    b++;
  }
  return mixed ? b : -b;
}

/** The folding of the astral character at `i` (a valid surrogate pair), or null to keep it. */
function foldAstral(text: string, i: number): string | null {
  const cp = text.codePointAt(i)!;
  if (inRanges(cp, INVISIBLE_ASTRAL)) return "";
  if (inRanges(cp, COMPAT_ASTRAL)) {
    const ch = text.slice(i, i + 2);
    const f = nfkc(ch);
    return f === ch ? null : f;
  }
  return null;
}

/** Grows the output arrays (normalised code units, original offsets + sentinel slot). */
function grown(buf: Uint16Array, map: Int32Array, len: number, need: number): [Uint16Array, Int32Array] {
  const cap = Math.max(buf.length * 2, need + 16);
  const nb = new Uint16Array(cap);
  nb.set(buf.subarray(0, len));
  const nm = new Int32Array(cap + 1);
  nm.set(map.subarray(0, len));
  return [nb, nm];
}

/** Normalises `text` for detection; see the module comment. Linear, never throws. */
export function normalize(text: string): Normalized {
  if (typeof text !== "string") return identity("");
  if (!TRIGGER.test(text)) return identity(text);

  const n = text.length;
  // Allocated at the first change only: text whose look-alikes all stay (Russian prose) costs one pass.
  let buf: Uint16Array = EMPTY_UNITS;
  let map: Int32Array = EMPTY_MAP;
  let started = false;
  let len = 0;
  let tokenEnd = -1; // end of the token whose mixed-script verdict is cached
  let tokenMixed = false;

  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    const kind = c < 0x80 ? 0 : CLASS[c]!;
    let width = 1;
    let unit = 0; // a one-unit fold
    let str: string | null = null; // any other fold ("" removes)
    if (kind === K_HOMOGLYPH) {
      if (i >= tokenEnd) {
        const t = scanToken(text, i);
        tokenMixed = t > 0;
        tokenEnd = Math.abs(t);
      }
      if (tokenMixed) unit = FOLD_UNIT[c]!;
    } else if (kind === K_INVISIBLE || kind === K_COMPAT) {
      unit = FOLD_UNIT[c]!;
      if (unit === 0) str = FOLD_TEXT.get(c) ?? null;
    } else if (kind === K_SURROGATE) {
      width = cpLen(text, i);
      if (width === 2) str = foldAstral(text, i);
    }
    if (unit === 0 && str === null) {
      // kept as is
      if (started) {
        if (len + 2 > buf.length) [buf, map] = grown(buf, map, len, len + 2);
        buf[len] = c;
        map[len++] = i;
        if (width === 2) {
          buf[len] = text.charCodeAt(i + 1);
          map[len++] = i + 1;
        }
      }
      i += width;
      continue;
    }
    if (!started) {
      // first change: everything before it is copied as is
      started = true;
      buf = new Uint16Array(n + 16);
      map = new Int32Array(n + 17);
      for (let k = 0; k < i; k++) {
        buf[k] = text.charCodeAt(k);
        map[k] = k;
      }
      len = i;
    }
    if (unit !== 0) {
      if (len + 1 > buf.length) [buf, map] = grown(buf, map, len, len + 1);
      buf[len] = unit;
      map[len++] = i;
    } else if (str !== null && str.length > 0) {
      if (len + str.length > buf.length) [buf, map] = grown(buf, map, len, len + str.length);
      for (let k = 0; k < str.length; k++) {
        buf[len] = str.charCodeAt(k);
        map[len++] = i;
      }
    }
    i += width;
  }
  if (!started) return identity(text);
  map[len] = n; // sentinel: the end of the text (map has cap + 1 slots)

  const chunks: string[] = [];
  // apply() takes the typed array as is (a spread would iterate it element by element)
  for (let a = 0; a < len; a += 8192) chunks.push(String.fromCharCode.apply(null, buf.subarray(a, Math.min(len, a + 8192)) as unknown as number[]));
  const out = chunks.join("");
  const total = len;
  const finalMap = map;
  return {
    text: out,
    changed: true,
    toOriginal(i: number): number {
      return finalMap[clamp(i, total)]!;
    },
    toOriginalEnd(i: number): number {
      const k = clamp(i, total);
      if (k === 0) return finalMap[0]!;
      const o = finalMap[k - 1]!;
      return o + cpLen(text, o);
    },
  };
}
