import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { RequestEventSchema } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { createPriceTable } from "@tessera/runtime";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { createEventPricer } from "./pricer.js";

const prices = createPriceTable([
  { model: "gpt-4o", provider: "azure-eu", input: 5, output: 15, cached_input: 2.5 },
  { model: "gpt-4o", input: 2.5, output: 10 },
  { model: "o3", input: 2, output: 8, reasoning: 4, effective_from: "2026-01-01" },
]);
const T = Date.UTC(2026, 0, 2);
const ev = (deployment: string, over: object = {}) =>
  create(RequestEventSchema, { requestId: deployment, deployment, timeUnixMs: BigInt(T), promptTokens: 1000, completionTokens: 100, ...over });

test("events are priced by the deployment that served them, each kind of token apart", () => {
  const { log } = memoryLogger("pricer");
  const pricer = createEventPricer({ prices, log });
  const events = [ev("azure-eu/gpt-4o", { cachedTokens: 400 }), ev("openai/gpt-4o"), ev("openai/o3", { reasoningTokens: 60 })];
  pricer.price(events);
  const costs = events.map((e) => [e.cost?.inputPicoUsd, e.cost?.cachedPicoUsd, e.cost?.outputPicoUsd, e.cost?.reasoningPicoUsd, e.cost?.priced]);
  assert.deepEqual(costs, [
    [600n * 5_000_000n, 400n * 2_500_000n, 100n * 15_000_000n, 0n, true],
    [1000n * 2_500_000n, 0n, 100n * 10_000_000n, 0n, true],
    [1000n * 2_000_000n, 0n, 40n * 8_000_000n, 60n * 4_000_000n, true],
  ]);
  assert.equal(pricer.unpriced().size, 0);
});

test("an unknown price costs 0, is counted per model, and is logged once per thousand calls", () => {
  const { log, lines } = memoryLogger("pricer");
  const pricer = createEventPricer({ prices, log });
  const before = ev("openai/o3", { timeUnixMs: BigInt(Date.UTC(2025, 11, 31)) }); // before o3's first price
  pricer.price([before, ev("mistral/large"), ev("mistral/large"), ev("mistral/large", { promptTokens: 0, completionTokens: 0 })]);
  assert.deepEqual([before.cost?.inputPicoUsd, before.cost?.priced], [0n, false]);
  assert.deepEqual([...pricer.unpriced()], [["openai/o3", 1], ["mistral/large", 2]], "a call without tokens is not a gap");
  assert.equal(lines.filter((l) => l.includes("no price for a model")).length, 2);
  pricer.price(Array.from({ length: 1000 }, () => ev("mistral/large")));
  assert.equal(pricer.unpriced().get("mistral/large"), 1002);
  assert.equal(lines.filter((l) => l.includes("no price for a model")).length, 3);
});

test("a call that reached no provider is priced by the model it asked for", () => {
  const { log } = memoryLogger("pricer");
  const pricer = createEventPricer({ prices, log });
  const e = ev("", { modelRequested: "gpt-4o", provider: "" });
  pricer.price([e]);
  assert.equal(e.cost?.inputPicoUsd, 1000n * 2_500_000n);
});
