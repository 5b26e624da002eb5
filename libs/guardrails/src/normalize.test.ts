import { test } from "node:test";
import assert from "node:assert/strict";
import { normalize } from "./normalize.js";

/** The original range of normalised [s, e). */
function back(text: string, s: number, e: number): string {
  const n = normalize(text);
  return text.slice(n.toOriginal(s), n.toOriginalEnd(e));
}

test("plain text takes the fast path: same string, identity maps", () => {
  for (const t of ["", "hello world, john@example.com", "Привет, мир", "naïve café — “quotes”", "日本語のテキスト"]) {
    const n = normalize(t);
    assert.equal(n.text, t);
    assert.equal(n.changed, false);
    assert.equal(n.toOriginal(3), Math.min(3, t.length));
    assert.equal(n.toOriginalEnd(t.length + 10), t.length);
  }
});

test("zero-width and invisible formatting characters are removed", () => {
  const t = "jo\u200Bhn\u200C@\u200Dex\u2060am\uFEFFple.c\u00ADom\uFE0F\u200E\u202E";
  const n = normalize(t);
  assert.equal(n.text, "john@example.com");
  assert.equal(n.changed, true);
  // tag characters (U+E0000 block) and supplementary variation selectors too
  assert.equal(normalize("a\u{E0041}\u{E0100}b").text, "ab");
});

test("fullwidth, circled, mathematical and ligature forms fold under NFKC", () => {
  assert.equal(normalize("\uFF14\uFF11\uFF11\uFF11 \uFF41\uFF42\uFF43\uFF20\uFF58.com").text, "4111 abc@x.com");
  assert.equal(normalize("①②③").text, "123");
  assert.equal(normalize("𝟏𝟐𝟑 𝐣𝐨𝐡𝐧").text, "123 john");
  assert.equal(normalize("ﬁle").text, "file");
  assert.equal(normalize("a\u00A0b\u2009c\u3000d").text, "a b c d");
  assert.equal(normalize("john﹫example․com").text, "john@example.com");
});

test("Cyrillic and Greek look-alikes fold inside mixed-script tokens only", () => {
  assert.equal(normalize("p\u0430yp\u0430l.com").text, "paypal.com"); // Cyrillic а
  assert.equal(normalize("\u0391\u039F\u039C 42").text, "\u0391\u039F\u039C 42"); // Greek-only token stays
  assert.equal(normalize("\u0391\u039FM42").text, "AOM42"); // mixed token folds
  assert.equal(normalize("Привет, мир").text, "Привет, мир");
  assert.equal(normalize("j\u043Ehn@\u0435x\u0430mple.com").text, "john@example.com");
  assert.equal(normalize("415\u2011555\u20112671").text, "415-555-2671"); // non-breaking hyphens
});

test("offsets map back to the original, invisible characters inside the range included", () => {
  const t = "mail: jo\u200Bhn@exam\u200Bple.com\u200B, thanks";
  const n = normalize(t);
  const s = n.text.indexOf("john@");
  const e = n.text.indexOf(".com") + 4;
  assert.equal(back(t, s, e), "jo\u200Bhn@exam\u200Bple.com"); // the trailing one is outside
  // a leading invisible character is outside the range too
  const t2 = "\u200B\u200Bjohn";
  assert.equal(back(t2, 0, 4), "john");
});

test("a range ending inside an expansion covers the whole original character", () => {
  const t = "xﬁy"; // "ﬁ" -> "fi"
  const n = normalize(t);
  assert.equal(n.text, "xfiy");
  assert.equal(t.slice(n.toOriginal(1), n.toOriginalEnd(2)), "ﬁ"); // just "f"
  assert.equal(t.slice(n.toOriginal(2), n.toOriginalEnd(3)), "ﬁ"); // just "i"
  // astral characters (two code units) folded to one
  const t3 = "a𝐛c";
  const n3 = normalize(t3);
  assert.equal(n3.text, "abc");
  assert.equal(t3.slice(n3.toOriginal(1), n3.toOriginalEnd(2)), "𝐛");
  assert.equal(n3.toOriginalEnd(3), t3.length);
});

test("maps are monotone, within bounds, and clamp out-of-range arguments", () => {
  const t = "\u200Bａ\u0430b\uFB01\u{1D41C}\u200B\uD800x";
  const n = normalize(t);
  let prev = 0;
  for (let i = 0; i <= n.text.length; i++) {
    const o = n.toOriginal(i);
    assert.ok(o >= prev && o <= t.length);
    assert.ok(n.toOriginalEnd(i) <= t.length);
    prev = o;
  }
  assert.equal(n.toOriginal(-5), n.toOriginal(0));
  assert.equal(n.toOriginal(Number.NaN), n.toOriginal(0));
  assert.equal(n.toOriginalEnd(1e9), t.length);
});

test("invalid UTF-16 and control characters pass through without throwing", () => {
  for (const t of ["\uD800", "\uDC00abc", "a\uD835", "\uD835\u200B\uDC00", "\u0000\u0001\uFFFF", "\uDB40"]) {
    const n = normalize(t);
    assert.equal(typeof n.text, "string");
    assert.ok(n.toOriginalEnd(n.text.length) <= t.length);
  }
  assert.equal(normalize("\uD800\u200B").text, "\uD800");
});

test("a megabyte with folding spread through it normalises quickly", () => {
  const t = "pa\u200Bypal \uFF11\uFF12 p\u0430y ".repeat(60_000);
  const t0 = performance.now();
  const n = normalize(t);
  const ms = performance.now() - t0;
  assert.ok(n.text.length < t.length);
  assert.ok(ms < 2000, `took ${ms} ms`);
});
