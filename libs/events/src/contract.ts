import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { create, equals, type MessageInitShape } from "@bufbuild/protobuf";
import {
  LatencySchema,
  RedactionCountSchema,
  type RequestEvent,
  RequestEventSchema,
  Surface,
} from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { EventConsumer, EventPublisher } from "./port.js";

/** One publisher/consumer pair over a private topic (or queue), made fresh for each test. */
export interface EventBusPair {
  publisher: EventPublisher;
  consumer: EventConsumer;
  /** Stops and closes everything the pair opened. */
  cleanup: () => Promise<void>;
  /**
   * True when `flush()` means "handled by the consumer" (the in-process bus) rather than
   * "accepted by the broker" (Kafka). The contract checks the stronger promise when it holds.
   */
  flushMeansHandled?: boolean;
  /** What the consumer dead-lettered so far: each event's request id and the reason given. */
  deadLetters: () => Promise<{ requestId: string; reason: string }[]>;
}

/** A RequestEvent with every field set to a non-default value, unique per call. */
export function sampleEvent(i: number, overrides: MessageInitShape<typeof RequestEventSchema> = {}): RequestEvent {
  return create(RequestEventSchema, {
    requestId: `01J${randomUUID().replaceAll("-", "").slice(0, 23).toUpperCase()}`,
    timeUnixMs: 1_767_225_600_000n + BigInt(i) * 1_000n + 123n,
    tenantId: `tenant-${i % 3}`,
    teamId: "team-ünïcode-✓",
    keyId: `key-${i % 5}`,
    userId: `user "quoted" \\ ${i}`,
    surface: Surface.ANTHROPIC,
    stream: i % 2 === 0,
    modelRequested: "gpt-4o",
    modelServed: "gpt-4o-2024-08-06",
    provider: "openai",
    deployment: "openai-eu",
    statusCode: 200 + (i % 3),
    errorType: i % 3 === 0 ? "" : "rate_limit_error",
    promptTokens: 10 + i,
    completionTokens: 20 + i,
    cachedTokens: 3,
    reasoningTokens: 4,
    cacheHit: true,
    attempts: 2,
    latency: create(LatencySchema, { totalMs: 12.5, authzMs: 0.25, redactionMs: 0.125, routerMs: 11, ttftMs: 7.75 }),
    redactions: [
      create(RedactionCountSchema, { entityType: "EMAIL", count: 2 }),
      create(RedactionCountSchema, { entityType: "PHONE", count: 1 }),
    ],
    finishReason: "stop",
    ...overrides,
  });
}

/** Polls `cond` every 10 ms until it holds, failing with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects delivered events; `ids` counts deliveries per request_id. */
function collector() {
  const events: RequestEvent[] = [];
  const ids = new Map<string, number>();
  return {
    events,
    ids,
    add(batch: RequestEvent[]) {
      for (const e of batch) {
        events.push(e);
        ids.set(e.requestId, (ids.get(e.requestId) ?? 0) + 1);
      }
    },
    has(all: RequestEvent[]) {
      return all.every((e) => ids.has(e.requestId));
    },
  };
}

/** How long to keep listening after the expected events arrived, to catch extra deliveries. */
const SETTLE_MS = 300;
const DELIVERY_TIMEOUT_MS = 15_000;

/**
 * The behaviour every event bus implementation promises. `makePair` is called once per test
 * and must give a pair on fresh state (its own topic and consumer group).
 */
export function eventBusContract(name: string, makePair: () => Promise<EventBusPair>): void {
  describe(`event bus contract: ${name}`, () => {
    it("delivers exactly the published events, every field intact", async () => {
      const pair = await makePair();
      try {
        const got = collector();
        await pair.consumer.start(async (batch) => got.add(batch));
        const sent = Array.from({ length: 120 }, (_, i) => sampleEvent(i));
        for (const e of sent) pair.publisher.publish(e);
        await pair.publisher.flush();
        await waitFor(() => got.has(sent), DELIVERY_TIMEOUT_MS, "all events delivered");
        await sleep(SETTLE_MS);
        assert.equal(got.events.length, sent.length, "each event delivered once in a clean run");
        const byId = new Map(got.events.map((e) => [e.requestId, e]));
        for (const e of sent) {
          const back = byId.get(e.requestId);
          assert.ok(back, `event ${e.requestId} delivered`);
          assert.ok(equals(RequestEventSchema, back, e), `event ${e.requestId} equal field by field`);
        }
        assert.equal(byId.get(sent[7]!.requestId)?.userId, 'user "quoted" \\ 7');
        assert.equal(byId.get(sent[7]!.requestId)?.redactions[1]?.count, 1);
      } finally {
        await pair.cleanup();
      }
    });

    it("redelivers a batch whose handler threw, losing nothing", async () => {
      const pair = await makePair();
      try {
        const got = collector();
        const failed: RequestEvent[] = [];
        let calls = 0;
        await pair.consumer.start(async (batch) => {
          calls++;
          if (calls === 1) {
            failed.push(...batch);
            throw new Error("handler fails once");
          }
          got.add(batch);
        });
        const sent = Array.from({ length: 20 }, (_, i) => sampleEvent(i));
        for (const e of sent) pair.publisher.publish(e);
        await waitFor(() => got.has(sent), DELIVERY_TIMEOUT_MS, "all events delivered after the failure");
        assert.ok(calls >= 2, "handler called again after throwing");
        assert.ok(failed.length > 0, "the first batch reached the handler");
        for (const e of failed) assert.ok(got.ids.has(e.requestId), `failed event ${e.requestId} redelivered`);
      } finally {
        await pair.cleanup();
      }
    });

    it("flush resolves only after everything published has been handed over", async () => {
      const pair = await makePair();
      try {
        const got = collector();
        await pair.consumer.start(async (batch) => {
          await sleep(20); // a slow handler: flush must not run ahead of it
          got.add(batch);
        });
        const sent = Array.from({ length: 60 }, (_, i) => sampleEvent(i));
        for (const e of sent) pair.publisher.publish(e);
        assert.ok(pair.publisher.pending() > 0, "events pending before flush");
        await pair.publisher.flush();
        assert.equal(pair.publisher.pending(), 0, "nothing pending once flush resolved");
        if (pair.flushMeansHandled) assert.ok(got.has(sent), "every event handled once flush resolved");
        await waitFor(() => got.has(sent), DELIVERY_TIMEOUT_MS, "all events delivered");
        // A flush with nothing pending resolves at once.
        await pair.publisher.flush();
      } finally {
        await pair.cleanup();
      }
    });

    it("a restarted consumer resumes after the acknowledged events without redelivering them", async () => {
      const pair = await makePair();
      try {
        const first = collector();
        await pair.consumer.start(async (batch) => first.add(batch));
        const before = Array.from({ length: 15 }, (_, i) => sampleEvent(i));
        for (const e of before) pair.publisher.publish(e);
        await waitFor(() => first.has(before), DELIVERY_TIMEOUT_MS, "first events delivered");
        await pair.consumer.stop();

        const after = Array.from({ length: 15 }, (_, i) => sampleEvent(100 + i));
        for (const e of after) pair.publisher.publish(e);
        const second = collector();
        await pair.consumer.start(async (batch) => second.add(batch));
        await waitFor(() => second.has(after), DELIVERY_TIMEOUT_MS, "later events delivered after restart");
        await sleep(SETTLE_MS);
        for (const e of before) {
          assert.ok(!second.ids.has(e.requestId), `acknowledged event ${e.requestId} not redelivered`);
        }
        assert.equal(second.events.length, after.length);
      } finally {
        await pair.cleanup();
      }
    });

    it("a consumer stopped before acknowledging gets the same events again on restart", async () => {
      const pair = await makePair();
      try {
        const seen = collector();
        await pair.consumer.start(async (batch) => {
          seen.add(batch);
          throw new Error("dies before acknowledging");
        });
        const sent = Array.from({ length: 10 }, (_, i) => sampleEvent(i));
        for (const e of sent) pair.publisher.publish(e);
        await waitFor(() => seen.events.length > 0, DELIVERY_TIMEOUT_MS, "a batch reached the failing handler");
        await pair.consumer.stop();

        const again = collector();
        await pair.consumer.start(async (batch) => again.add(batch));
        await waitFor(() => again.has(sent), DELIVERY_TIMEOUT_MS, "all events delivered after restart");
        for (const id of seen.ids.keys()) assert.ok(again.ids.has(id), `unacknowledged ${id} redelivered`);
      } finally {
        await pair.cleanup();
      }
    });

    it("events the handler rejects are dead-lettered with the reason and not redelivered; their neighbours are handled", async () => {
      const pair = await makePair();
      try {
        const got = collector();
        const sent = Array.from({ length: 12 }, (_, i) => sampleEvent(i, { userId: i % 4 === 1 ? "poison" : `user-${i}` }));
        const poison = sent.filter((e) => e.userId === "poison");
        await pair.consumer.start(async (batch) => {
          got.add(batch);
          return batch.flatMap((e, index) => (e.userId === "poison" ? [{ index, reason: `user_id ${e.userId} refused` }] : []));
        });
        for (const e of sent) pair.publisher.publish(e);
        await pair.publisher.flush();
        await waitFor(() => got.has(sent), DELIVERY_TIMEOUT_MS, "every event handed to the handler");
        let letters: { requestId: string; reason: string }[] = [];
        const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
        while (letters.length < poison.length && Date.now() < deadline) {
          await sleep(50);
          letters = await pair.deadLetters();
        }
        assert.deepEqual(
          letters.map((l) => l.requestId).sort(),
          poison.map((e) => e.requestId).sort(),
          "exactly the rejected events are dead-lettered",
        );
        for (const l of letters) assert.equal(l.reason, "user_id poison refused");
        assert.equal(pair.consumer.deadLettered(), poison.length);
        await sleep(SETTLE_MS);
        for (const e of sent) assert.equal(got.ids.get(e.requestId), 1, `${e.requestId} handled once, not redelivered`);
      } finally {
        await pair.cleanup();
      }
    });

    it("publish never throws and pending counts what is not yet handed over", async () => {
      const pair = await makePair();
      try {
        assert.equal(pair.publisher.pending(), 0);
        for (let i = 0; i < 5; i++) pair.publisher.publish(sampleEvent(i));
        assert.equal(pair.publisher.pending(), 5, "publish is synchronous: all five pending at once");
        const got = collector();
        await pair.consumer.start(async (batch) => got.add(batch));
        await waitFor(() => got.events.length >= 5, DELIVERY_TIMEOUT_MS, "events delivered");
        await pair.publisher.flush();
        assert.equal(pair.publisher.pending(), 0);
      } finally {
        await pair.cleanup();
      }
    });
  });
}
