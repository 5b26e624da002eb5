import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { T0, usageEvent, usageStoreContract } from "./contract.js";
import { createEmbeddedUsageStore } from "./embedded.js";

usageStoreContract("embedded", async () => {
  const store = createEmbeddedUsageStore();
  await store.migrate();
  return { store, cleanup: () => store.close() };
});

describe("embedded usage store", () => {
  it("forgets the oldest requests beyond maxRows", async () => {
    const store = createEmbeddedUsageStore({ maxRows: 2 });
    const [a, b, c] = [usageEvent(), usageEvent(), usageEvent()];
    await store.insert([a!, b!, c!]);
    assert.equal(await store.findRequest(a!.requestId), undefined);
    assert.equal((await store.findRequest(c!.requestId))?.requestId, c!.requestId);
    assert.equal((await store.usageByModel("tenant-a", T0, T0 + 60_000))[0]?.requests, 2);
  });

  it("rejects a bad maxRows", () => {
    assert.throws(() => createEmbeddedUsageStore({ maxRows: 0 }), /maxRows must be a positive integer/);
  });
});
