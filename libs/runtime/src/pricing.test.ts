import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "./config.js";
import { createPriceTable, formatPicoUsd, parseEffectiveFrom, parseUsdToPico } from "./pricing.js";

const table = createPriceTable([
  { model: "gpt-4o", provider: "azure", input: 5, output: 15 },
  { model: "gpt-4o", input: 2.5, output: 10, cached_input: 1.25 },
  { model: "o3", input: 2, output: 8, reasoning: 4 },
]);

const tokens = (promptTokens: number, completionTokens: number, cachedTokens = 0, reasoningTokens = 0) => ({ promptTokens, completionTokens, cachedTokens, reasoningTokens });

test("a provider's own price wins over the any-provider one", () => {
  assert.equal(table.price("azure", "gpt-4o")?.input, 5);
  assert.equal(table.price("openai", "gpt-4o")?.input, 2.5);
  assert.equal(table.price("openai", "unknown"), undefined);
});

test("cached and reasoning tokens are priced separately, defaulting to input and output", () => {
  // 1M prompt of which 400k cached, 1M completion: 0.6*2.5 + 0.4*1.25 + 1*10
  assert.equal(table.cost("openai", "gpt-4o", tokens(1e6, 1e6, 4e5)), 1.5 + 0.5 + 10);
  // reasoning 500k of 1M completion at 4, the rest at 8; no cached price → input price
  assert.equal(table.cost("openai", "o3", tokens(1e6, 1e6, 1e6, 5e5)), 2 + 4 + 2);
  assert.equal(table.cost("openai", "unknown", tokens(10, 10)), 0);
});

test("the breakdown is exact in pico-dollars, with prices of six decimals", () => {
  const t = createPriceTable([{ model: "flash", input: 0.075, output: 0.3, cached_input: 0.01875, reasoning: 0.000001 }]);
  const c = t.breakdown("google", "flash", tokens(1_000_003, 7, 3, 5), 0);
  assert.deepEqual(c, { input: 1_000_000n * 75_000n, cached: 3n * 18_750n, output: 2n * 300_000n, reasoning: 5n * 1n, priced: true });
  assert.equal(formatPicoUsd(c.input + c.cached + c.output + c.reasoning), "0.075000656255");
  assert.deepEqual(t.breakdown("google", "other", tokens(1, 1), 0), { input: 0n, output: 0n, cached: 0n, reasoning: 0n, priced: false });
});

const JAN = Date.UTC(2026, 0, 1);
const MAR = Date.UTC(2026, 2, 1);
const versions = createPriceTable([
  { model: "m", input: 1, output: 2 },
  { model: "m", input: 3, output: 4, effective_from: "2026-03-01" },
  { model: "m", input: 5, output: 6, effective_from: "2026-01-01T00:00:00Z" },
  { model: "m", provider: "p", input: 7, output: 8, effective_from: "2026-02-01T00:00:00+01:00" },
]);

test("price versions: each applies from its effective_from, to the millisecond, until the next", () => {
  assert.equal(versions.price("x", "m", JAN - 1)?.input, 1, "before every dated version: the undated one");
  assert.equal(versions.price("x", "m", JAN)?.input, 5, "the first millisecond of a version");
  assert.equal(versions.price("x", "m", MAR - 1)?.input, 5, "the last millisecond before the next");
  assert.equal(versions.price("x", "m", MAR)?.input, 3);
  assert.equal(versions.price("x", "m", Date.UTC(2030, 0, 1))?.input, 3, "the newest stays in force");
  assert.equal(versions.breakdown("x", "m", tokens(1, 0), MAR - 1).input, 5_000_000n);
  assert.equal(versions.breakdown("x", "m", tokens(1, 0), MAR).input, 3_000_000n);
});

test("price versions: a provider's history applies once it starts, the any-provider one before", () => {
  const feb = Date.UTC(2026, 1, 1) - 3_600_000; // 2026-02-01T00:00+01:00
  assert.equal(versions.price("p", "m", feb - 1)?.input, 5);
  assert.equal(versions.price("p", "m", feb)?.input, 7);
  assert.equal(versions.price("p", "m", MAR)?.input, 7, "the provider's own price wins over a newer any-provider one");
});

test("price versions: authz's default lookup takes the price in force now", () => {
  const t = createPriceTable([
    { model: "m", input: 1, output: 1, effective_from: "2000-01-01" },
    { model: "m", input: 9, output: 9, effective_from: "2999-01-01" },
  ]);
  assert.equal(t.price("x", "m")?.input, 1);
  assert.equal(t.cost("x", "m", tokens(1e6, 0)), 1);
});

test("effective_from takes a date or a date-time with a zone, nothing else", () => {
  assert.equal(parseEffectiveFrom("2026-03-01"), MAR);
  assert.equal(parseEffectiveFrom("2026-03-01T01:30:00+01:30"), MAR);
  assert.equal(parseEffectiveFrom("2026-03-01T00:00:00.250Z"), MAR + 250);
  for (const bad of ["2026-03-01T00:00:00", "March 1", "2026-13-01", "", "1740787200000"]) assert.equal(parseEffectiveFrom(bad), undefined, bad);
});

test("configuration: bad effective_from, too many decimals and duplicate versions are named", () => {
  const cfg = (prices: string) => () => parseConfig(`prices: ${prices}`, "t.yaml", {});
  assert.throws(cfg(`[{ model: m, input: 1, output: 1, effective_from: "yesterday" }]`), (e: unknown) => e instanceof ConfigError && /prices\.0\.effective_from: must be an ISO date/.test(e.message));
  assert.throws(cfg(`[{ model: m, input: 0.0000001, output: 1 }]`), /prices\.0\.input: at most 6 decimal places/);
  assert.throws(
    cfg(`[{ model: m, input: 1, output: 1, effective_from: "2026-01-01" }, { model: m, input: 2, output: 2, effective_from: "2026-01-01T00:00:00Z" }]`),
    /prices\.1: same model, provider and effective_from as prices\.0/,
  );
  const ok = parseConfig(`prices: [{ model: m, input: 1, output: 1 }, { model: m, input: 2, output: 2, effective_from: "2026-01-01" }]`, "t.yaml", {});
  assert.equal(createPriceTable(ok.prices).price("x", "m", JAN)?.input, 2);
});

test("USD text and pico-dollars convert both ways exactly", () => {
  for (const [text, pico] of [["0", 0n], ["12", 12_000_000_000_000n], ["0.000000000001", 1n], ["9223372.036854775807", 9_223_372_036_854_775_807n], ["-3.5", -3_500_000_000_000n]] as const) {
    assert.equal(formatPicoUsd(pico), text);
    assert.equal(parseUsdToPico(text), pico);
  }
  assert.equal(parseUsdToPico("0.100000000000"), 100_000_000_000n);
  assert.throws(() => parseUsdToPico("1e3"), /not a USD amount/);
});
