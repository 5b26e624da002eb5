import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileDenyList } from "./moderation.js";

const spans = (text: string, f: { start: number; end: number; rule: string }[]) => f.map((x) => [text.slice(x.start, x.end), x.rule]);

describe("compileDenyList", () => {
  it("matches words whole and case-insensitively", () => {
    const d = compileDenyList({ words: ["acme", "Project Falcon"] });
    const text = "ACME and acme's plans; not acmeCorp or subacme. About project   falcon: secret. PROJECT FALCONS no.";
    assert.deepEqual(spans(text, d(text)), [
      ["ACME", "word"],
      ["acme", "word"],
      ["project   falcon", "word"],
    ]);
  });

  it("escapes regex metacharacters in words", () => {
    const d = compileDenyList({ words: ["c++", "a.b", "(x)", "$100", "1+1=2"] });
    const text = "I like c++ and a.b, (x) costs $100; 1+1=2. But axb and c plus plus are fine.";
    assert.deepEqual(
      spans(text, d(text)).map(([v]) => v),
      ["c++", "a.b", "(x)", "$100", "1+1=2"],
    );
    assert.deepEqual(d("axb cxx aab"), []);
  });

  it("handles non-ASCII words and boundaries", () => {
    const d = compileDenyList({ words: ["café", "Straße", "東京"] });
    const text = "Le CAFÉ est ouvert; cafés non. STRASSE? straße ja. 東京に行く";
    assert.deepEqual(
      spans(text, d(text)).map(([v]) => v),
      ["CAFÉ", "straße"],
    );
    // CJK has no spaces: a whole-word match needs something that is not a letter on both sides.
    assert.deepEqual(spans("「東京」", d("「東京」")), [["東京", "word"]]);
  });

  it("prefers the longest word at a position", () => {
    const d = compileDenyList({ words: ["new", "new york"] });
    const text = "I love New York.";
    assert.deepEqual(spans(text, d(text)), [["New York", "word"]]);
  });

  it("runs patterns as case-insensitive regexes, rule pattern:<index>", () => {
    const d = compileDenyList({ patterns: ["\\bproj-\\d{4}\\b", "internal[-_ ]only"] });
    const text = "See PROJ-1234 and proj-99 (too short); marked Internal_Only.";
    assert.deepEqual(spans(text, d(text)), [
      ["PROJ-1234", "pattern:0"],
      ["Internal_Only", "pattern:1"],
    ]);
  });

  it("throws a clear error naming a bad pattern", () => {
    assert.throws(() => compileDenyList({ patterns: ["ok", "unclosed(group"] }), (e: Error) => {
      assert.match(e.message, /pattern #1 "unclosed\(group" is not a valid regular expression/);
      return true;
    });
    assert.throws(() => compileDenyList({ patterns: ["a*"] }), /pattern #0 "a\*" matches the empty string/);
    assert.throws(() => compileDenyList({ patterns: [""] }), /pattern #0 is empty/);
  });

  it("matches topics as named keyword lists, rule topic:<name>", () => {
    const d = compileDenyList({ topics: { weapons: ["rifle", "ammunition"], competitors: ["Globex", "Initech"] } });
    const text = "Compare us to globex; also ammunition prices. Rifles? no. Initech!";
    const f = d(text);
    assert.deepEqual(spans(text, f), [
      ["globex", "topic:competitors"],
      ["ammunition", "topic:weapons"],
      ["Initech", "topic:competitors"],
    ]);
    assert.ok(f.every((x) => x.type === "denied" && x.score > 0 && x.score <= 1));
  });

  it("combines words, patterns and topics, sorted by position, never carrying the value", () => {
    const d = compileDenyList({ words: ["alpha"], patterns: ["b[e]ta"], topics: { greek: ["gamma"] } });
    const f = d("gamma beta alpha");
    assert.deepEqual(
      f.map((x) => x.rule),
      ["topic:greek", "pattern:0", "word"],
    );
    for (const x of f) assert.deepEqual(Object.keys(x).sort(), ["end", "rule", "score", "start", "type"]);
  });

  it("an empty config finds nothing; blank words are ignored", () => {
    assert.deepEqual(compileDenyList({})("anything at all"), []);
    assert.deepEqual(compileDenyList({ words: ["", "  "], topics: { empty: [] } })("anything"), []);
  });

  it("is safe on odd input and large word lists", () => {
    const words = Array.from({ length: 5000 }, (_, i) => `word${i}x`);
    const d = compileDenyList({ words, patterns: ["(?:ab)+c"] });
    for (const s of ["", "\uD800", "\u0000\u0001", "ab".repeat(50_000)]) assert.doesNotThrow(() => d(s));
    const text = "filler ".repeat(50_000) + "word4999x";
    const t0 = performance.now();
    const f = d(text);
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(f.length, 1);
  });
});
