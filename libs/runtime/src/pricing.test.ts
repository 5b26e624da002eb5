import { test } from "node:test";
import assert from "node:assert/strict";
import { createPriceTable } from "./pricing.js";

const table = createPriceTable([
  { model: "gpt-4o", provider: "azure", input: 5, output: 15 },
  { model: "gpt-4o", input: 2.5, output: 10, cached_input: 1.25 },
  { model: "o3", input: 2, output: 8, reasoning: 4 },
]);

test("a provider's own price wins over the any-provider one", () => {
  assert.equal(table.price("azure", "gpt-4o")?.input, 5);
  assert.equal(table.price("openai", "gpt-4o")?.input, 2.5);
  assert.equal(table.price("openai", "unknown"), undefined);
});

test("cached and reasoning tokens are priced separately, defaulting to input and output", () => {
  // 1M prompt of which 400k cached, 1M completion: 0.6*2.5 + 0.4*1.25 + 1*10
  assert.equal(table.cost("openai", "gpt-4o", { promptTokens: 1e6, completionTokens: 1e6, cachedTokens: 4e5, reasoningTokens: 0 }), 1.5 + 0.5 + 10);
  // reasoning 500k of 1M completion at 4, the rest at 8; no cached price → input price
  assert.equal(table.cost("openai", "o3", { promptTokens: 1e6, completionTokens: 1e6, cachedTokens: 1e6, reasoningTokens: 5e5 }), 2 + 4 + 2);
  assert.equal(table.cost("openai", "unknown", { promptTokens: 10, completionTokens: 10, cachedTokens: 0, reasoningTokens: 0 }), 0);
});
