import { test } from "node:test";
import assert from "node:assert/strict";
import { createScanner, resolveOverlaps } from "./scan.js";
import { ENTITY_TYPES, type Detector, type EntityType, type Finding } from "./types.js";

const ALL = ENTITY_TYPES;

function spans(text: string, fs: Finding[]): Array<[EntityType, string]> {
  return fs.map((f) => [f.type, text.slice(f.start, f.end)]);
}

/** A detector that reports fixed substrings of the text it is given, as `type`. */
function literal(type: EntityType, needle: string, rule = "test"): Detector {
  return (text) => {
    const out: Finding[] = [];
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) out.push({ type, start: i, end: i + needle.length, score: 0.9, rule });
    return out;
  };
}

test("finds every type in one text, sorted by start, offsets into the text", () => {
  const text =
    "Hi, my name is John Smith, email john.smith@example.com, phone +1 415 555 2671, I live at 123 Main Street, " +
    "Springfield, IL 62704, born 1990-04-12, SSN 123-45-6789, card 4111 1111 1111 1111, " +
    "IBAN DE89 3704 0044 0532 0130 00, IP 192.168.1.10.";
  const fs = createScanner(ALL).scan(text);
  assert.deepEqual(spans(text, fs), [
    ["person", "John Smith"],
    ["email", "john.smith@example.com"],
    ["phone", "+1 415 555 2671"],
    ["address", "123 Main Street, Springfield, IL 62704"],
    ["dob", "1990-04-12"],
    ["ssn", "123-45-6789"],
    ["card", "4111 1111 1111 1111"],
    ["iban", "DE89 3704 0044 0532 0130 00"],
    ["ip", "192.168.1.10"],
  ]);
  for (let i = 1; i < fs.length; i++) assert.ok(fs[i - 1]!.end <= fs[i]!.start);
});

test("only the enabled types are detected; extra detectors run alongside", () => {
  const text = "mail a@example.com, card 4111111111111111, token sk_live_abc";
  assert.deepEqual(spans(text, createScanner(["email"]).scan(text)), [["email", "a@example.com"]]);
  assert.deepEqual(spans(text, createScanner(["card"], [literal("secret", "sk_live_abc")]).scan(text)), [
    ["card", "4111111111111111"],
    ["secret", "sk_live_abc"],
  ]);
  assert.deepEqual(createScanner([]).scan(text), []);
});

test("obfuscated entities are found, reported at their place in the original text", () => {
  const scanner = createScanner(ALL);
  // zero-width characters inside an email
  const zw = "contact: jo\u200Bhn@exam\u200Dple.com\u200B please";
  assert.deepEqual(spans(zw, scanner.scan(zw)), [["email", "jo\u200Bhn@exam\u200Dple.com"]]);
  // fullwidth digits in a card number
  const fw = "card \uFF14\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 thanks";
  const card = scanner.scan(fw);
  assert.deepEqual(spans(fw, card), [["card", "\uFF14\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11"]]);
  assert.equal(card[0]!.rule, "luhn");
  // a Cyrillic 'а' (U+0430) in an email
  const cy = "send to ivan@ex\u0430mple.com today";
  assert.deepEqual(spans(cy, scanner.scan(cy)), [["email", "ivan@ex\u0430mple.com"]]);
  // soft hyphens and word joiners in a phone number; mathematical digits in an IBAN
  const ph = "call +44\u00AD 20\u2060 7946 0958";
  assert.deepEqual(spans(ph, scanner.scan(ph)), [["phone", "+44\u00AD 20\u2060 7946 0958"]]);
  const ib = "IBAN DE\u{1D7D6}\u{1D7E1} 3704 0044 0532 0130 00";
  assert.deepEqual(spans(ib, scanner.scan(ib)), [["iban", "DE\u{1D7D6}\u{1D7E1} 3704 0044 0532 0130 00"]]);
});

test("overlaps keep the higher-priority type, then the longer finding", () => {
  const text = "reach me at john.smith@example.com or Jane Doe";
  const scanner = createScanner(["email", "person"], [literal("secret", "smith@example"), literal("denied", "Jane Doe"), literal("person", "Jane")]);
  assert.deepEqual(spans(text, scanner.scan(text)), [
    ["secret", "smith@example"], // secret beats email
    ["person", "Jane Doe"], // person beats denied; the longer person wins
  ]);

  const f = (type: EntityType, start: number, end: number, score = 0.9): Finding => ({ type, start, end, score, rule: "t" });
  assert.deepEqual(resolveOverlaps([f("person", 0, 10), f("card", 5, 25), f("phone", 20, 30), f("email", 30, 40)]), [f("card", 5, 25), f("email", 30, 40)]);
  assert.deepEqual(resolveOverlaps([f("ip", 0, 5), f("ip", 2, 12), f("ip", 12, 14)]), [f("ip", 2, 12), f("ip", 12, 14)]);
  assert.deepEqual(resolveOverlaps([f("dob", 0, 10, 0.5), f("dob", 0, 10, 0.9)]), [f("dob", 0, 10, 0.9)]);
  // a chain where the best finding frees the ones around it
  assert.deepEqual(resolveOverlaps([f("address", 0, 6), f("ssn", 5, 11), f("address", 10, 16)]), [f("ssn", 5, 11)]);
});

test("a broken extra detector does not break the scan; bad offsets are dropped or clamped", () => {
  const text = "mail a@example.com now";
  const boom: Detector = () => {
    throw new Error("boom");
  };
  const junk: Detector = () =>
    [
      { type: "denied", start: Number.NaN, end: 4, score: 1, rule: "x" },
      { type: "denied", start: 8, end: 3, score: 1, rule: "x" },
      { type: "secret", start: -10, end: 4, score: 7, rule: "clamped" },
      null,
    ] as unknown as Finding[];
  const fs = createScanner(["email"], [boom, junk]).scan(text);
  assert.deepEqual(spans(text, fs), [
    ["secret", "mail"],
    ["email", "a@example.com"],
  ]);
  assert.equal(fs[0]!.score, 1);
});

test("never throws: invalid UTF-16, NULs, control characters, non-strings", () => {
  const scanner = createScanner(ALL);
  const inputs = [
    "",
    "\uD800",
    "\uDC00\uD800 lone surrogates around a@example.com \uD83D",
    "\u0000".repeat(1000) + "4111 1111 1111 1111\u0000",
    "\uD835\u200B\uDC00 \uDB40 \uFFFF\uFFFE",
    Array.from({ length: 5000 }, (_, i) => String.fromCharCode((i * 7919) % 65536)).join(""),
  ];
  for (const t of inputs) assert.doesNotThrow(() => scanner.scan(t));
  const withNul = "x\u0000a@example.com\u0000";
  assert.deepEqual(spans(withNul, scanner.scan(withNul)), [["email", "a@example.com"]]);
  assert.deepEqual(scanner.scan(undefined as unknown as string), []);
});

test("a 1 MB input is scanned in one pass, well under a second (asserted generously)", () => {
  const chunk =
    "Please summarise this thread for the weekly report. The customer wrote to support@example.com from " +
    "203.0.113.42 about invoice 2024-00017731 for $1,234.56; she asked us to call (415) 555-2671. ";
  let text = "";
  while (text.length < 1024 * 1024) text += chunk + "The quick brown fox jumps over the lazy dog while the committee reviews the plan. ".repeat(8);
  const scanner = createScanner(ALL);
  const t0 = performance.now();
  const fs = scanner.scan(text);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `1 MB took ${ms.toFixed(0)} ms`);
  assert.ok(fs.some((f) => f.type === "email") && fs.some((f) => f.type === "phone") && fs.some((f) => f.type === "ip"));
  for (let i = 1; i < fs.length; i++) assert.ok(fs[i - 1]!.end <= fs[i]!.start);
});

test("a 1 MB adversarial input (digits, separators, names, look-alikes) stays fast", () => {
  const units = ["415-555-2671 ", "1 2 3 4 5 6 7 8 9 0 ", "John Smith met Mary Jones. ", "p\u0430yp\u0430l a\u200Bb ", "born 1990-"];
  const scanner = createScanner(ALL);
  for (const u of units) {
    const text = u.repeat(Math.ceil((1024 * 1024) / u.length));
    const t0 = performance.now();
    scanner.scan(text);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `${JSON.stringify(u)} × 1 MB took ${ms.toFixed(0)} ms`);
  }
});
