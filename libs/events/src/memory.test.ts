import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { eventBusContract, sampleEvent, sleep, waitFor } from "./contract.js";
import type { PortLogger as Logger } from "@tessera/runtime";
import { createMemoryEventBus } from "./memory.js";

/** A logger that keeps lines for assertions. */
function captureLog() {
  const lines: { level: string; msg: string | undefined; fields: object }[] = [];
  const at = (level: string) => (fields: object, msg?: string) => void lines.push({ level, msg, fields });
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

eventBusContract("memory", async () => {
  const bus = createMemoryEventBus({ maxBatch: 50, maxWaitMs: 10, retryInitialMs: 10, log: captureLog().log });
  return {
    publisher: bus,
    consumer: bus,
    flushMeansHandled: true,
    deadLetters: async () => bus.deadLetters().map((d) => ({ requestId: d.event.requestId, reason: d.reason })),
    cleanup: async () => {
      await bus.stop();
      await bus.close();
    },
  };
});

describe("memory event bus", () => {
  it("hands the handler batches no larger than maxBatch, in publish order", async () => {
    const bus = createMemoryEventBus({ maxBatch: 10, maxWaitMs: 5 });
    const sizes: number[] = [];
    const order: string[] = [];
    await bus.start(async (batch) => {
      sizes.push(batch.length);
      order.push(...batch.map((e) => e.requestId));
    });
    const sent = Array.from({ length: 35 }, (_, i) => sampleEvent(i));
    for (const e of sent) bus.publish(e);
    await bus.flush();
    assert.deepEqual(order, sent.map((e) => e.requestId));
    assert.ok(sizes.every((n) => n <= 10), `batch sizes ${sizes.join(",")}`);
    assert.deepEqual(sizes.slice(0, 3), [10, 10, 10]);
    await bus.stop();
  });

  it("delivers a lone event within about maxWaitMs", async () => {
    const bus = createMemoryEventBus({ maxWaitMs: 30 });
    let deliveredAt = 0;
    await bus.start(async () => {
      deliveredAt = Date.now();
    });
    const t0 = Date.now();
    bus.publish(sampleEvent(1));
    await waitFor(() => deliveredAt > 0, 2_000, "delivery");
    const waited = deliveredAt - t0;
    assert.ok(waited >= 25 && waited < 500, `waited ${waited} ms`);
    await bus.stop();
  });

  it("drops the oldest events beyond maxQueued and counts them", async () => {
    const { log, lines } = captureLog();
    const bus = createMemoryEventBus({ maxQueued: 5, log });
    const sent = Array.from({ length: 8 }, (_, i) => sampleEvent(i));
    for (const e of sent) bus.publish(e);
    assert.equal(bus.dropped(), 3);
    assert.equal(bus.pending(), 5);
    assert.equal(lines.filter((l) => l.level === "warn").length, 1, "one warning per overflow, not per event");
    const got: RequestEvent[] = [];
    await bus.start(async (batch) => void got.push(...batch));
    await bus.flush();
    assert.deepEqual(got.map((e) => e.requestId), sent.slice(3).map((e) => e.requestId));
    await bus.stop();
  });

  it("keeps retrying a failing handler with growing delays, logging only some failures", async () => {
    const { log, lines } = captureLog();
    const bus = createMemoryEventBus({ retryInitialMs: 5, retryMaxMs: 40, log });
    const times: number[] = [];
    await bus.start(async () => {
      times.push(Date.now());
      if (times.length < 8) throw new Error("down");
    });
    bus.publish(sampleEvent(1));
    await bus.flush();
    assert.equal(times.length, 8);
    const warns = lines.filter((l) => l.level === "warn");
    assert.deepEqual(warns.map((l) => (l.fields as { attempt: number }).attempt), [1, 2, 4]);
    assert.ok(lines.some((l) => l.level === "info" && l.msg === "event handler recovered"));
    assert.ok(times.at(-1)! - times[0]! >= 60, "backoff adds up");
    await bus.stop();
  });

  it("stop waits for the batch in hand and keeps the rest for the next start", async () => {
    const bus = createMemoryEventBus({ maxBatch: 2, maxWaitMs: 1 });
    const first: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await bus.start(async (batch) => {
      await gate;
      first.push(...batch.map((e) => e.requestId));
    });
    const sent = Array.from({ length: 6 }, (_, i) => sampleEvent(i));
    for (const e of sent) bus.publish(e);
    await sleep(20);
    const stopped = bus.stop();
    let stoppedYet = false;
    void stopped.then(() => (stoppedYet = true));
    await sleep(20);
    assert.equal(stoppedYet, false, "stop waits for the handler in progress");
    release();
    await stopped;
    assert.deepEqual(first, sent.slice(0, 2).map((e) => e.requestId));
    assert.equal(bus.pending(), 4);
    const rest: string[] = [];
    await bus.start(async (batch) => void rest.push(...batch.map((e) => e.requestId)));
    await bus.flush();
    assert.deepEqual(rest, sent.slice(2).map((e) => e.requestId));
    await bus.stop();
  });

  it("close gives up after closeTimeoutMs when nothing consumes, and drops later publishes", async () => {
    const { log, lines } = captureLog();
    const bus = createMemoryEventBus({ closeTimeoutMs: 50, log });
    bus.publish(sampleEvent(1));
    const t0 = Date.now();
    await bus.close();
    assert.ok(Date.now() - t0 < 1_000);
    assert.ok(lines.some((l) => l.level === "error" && (l.fields as { pending: number }).pending === 1));
    bus.publish(sampleEvent(2));
    bus.publish(sampleEvent(3));
    assert.equal(bus.dropped(), 2);
  });

  it("refuses a second concurrent consumer and bad options", async () => {
    const bus = createMemoryEventBus();
    await bus.start(async () => {});
    await assert.rejects(bus.start(async () => {}), /already started/);
    await bus.stop();
    assert.throws(() => createMemoryEventBus({ maxBatch: 0 }), /maxBatch must be a positive integer/);
  });
});
