import { test } from "node:test";
import assert from "node:assert/strict";
import { createMemoryEventBus } from "@tessera/events";
import { createEmbeddedUsageStore, RowsRejectedError, type UsageStore } from "@tessera/usage-store";
import { usageEvent } from "../../../../libs/usage-store/src/contract.js";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { createPriceTable } from "@tessera/runtime";
import { createMeteringPipeline } from "./pipeline.js";
import { createEventPricer } from "./pricer.js";

/**
 * The embedded store behind a gate that behaves as ClickHouse does: a batch holding a row the
 * schema refuses is refused whole; `down` makes every insert fail as an unreachable server does.
 */
function gatedStore(refuse: (userId: string) => boolean) {
  const inner = createEmbeddedUsageStore();
  const gate = { down: false, inserts: 0 };
  const store: UsageStore = {
    ...inner,
    async insert(events) {
      gate.inserts++;
      if (gate.down) throw new Error("connect ECONNREFUSED 127.0.0.1:8123");
      if (events.some((e) => refuse(e.userId))) throw new RowsRejectedError("ClickHouse refused the rows (code 27): cannot parse user_id");
      return inner.insert(events);
    },
  };
  return { store, gate, inner };
}

test("a refused row is dead-lettered alone: the batch is bisected and its neighbours stored", async () => {
  const { log } = memoryLogger("metering");
  const bus = createMemoryEventBus({ log, maxBatch: 64, maxWaitMs: 5 });
  const { store, gate, inner } = gatedStore((u) => u.startsWith("poison"));
  const pipeline = createMeteringPipeline({ consumer: bus, store, pricer: createEventPricer({ prices: createPriceTable([]), log }), log });
  await pipeline.start();
  const events = Array.from({ length: 64 }, (_, i) => usageEvent({ userId: i === 9 || i === 40 ? `poison-${i}` : `u${i}` }));
  events.push(usageEvent({ requestId: "" }));
  events.forEach((e) => bus.publish(e));
  await bus.flush();

  const letters = bus.deadLetters();
  assert.deepEqual(letters.map((d) => d.event.userId).sort(), ["poison-40", "poison-9", "user-1"], "the two refused rows and the event without an id");
  assert.match(letters.find((d) => d.event.userId === "poison-9")!.reason, /^rejected by the usage store: ClickHouse refused the rows \(code 27\)/);
  assert.match(letters.find((d) => d.event.requestId === "")!.reason, /request_id is empty/);
  for (const e of events) {
    const refused = e.userId.startsWith("poison") || e.requestId === "";
    assert.equal((await inner.findRequest(e.requestId)) !== undefined, !refused, `${e.userId} stored: ${!refused}`);
  }
  assert.equal(pipeline.counts().stored, 62);
  assert.equal(pipeline.counts().deadLettered, 3);
  assert.ok(gate.inserts <= 1 + 2 * 2 * Math.ceil(Math.log2(64)), `bisection stays logarithmic (${gate.inserts} inserts)`);
  await pipeline.stop();
});

test("a transient failure is retried, never dead-lettered, and redelivered duplicates are counted", async () => {
  const { log } = memoryLogger("metering");
  const bus = createMemoryEventBus({ log, maxWaitMs: 5, retryInitialMs: 10, retryMaxMs: 40 });
  const { store, gate, inner } = gatedStore(() => false);
  const pipeline = createMeteringPipeline({ consumer: bus, store, pricer: createEventPricer({ prices: createPriceTable([]), log }), log });
  await pipeline.start();
  gate.down = true;
  const events = Array.from({ length: 10 }, () => usageEvent());
  events.forEach((e) => bus.publish(e));
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(pipeline.counts().failedBatches >= 2, "retried while the store is down");
  assert.equal(bus.pending(), 10, "nothing acknowledged while the store is down");
  gate.down = false;
  await bus.flush();
  assert.equal(pipeline.counts().stored, 10);
  assert.equal(bus.deadLettered(), 0);
  bus.publish(events[3]!); // a redelivery
  await bus.flush();
  assert.equal(pipeline.counts().duplicates, 1);
  assert.equal((await inner.usageByModel("tenant-a", 0, Date.now() * 2))[0]?.requests, 10);
  await pipeline.stop();
});
