import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type RequestEvent,
  RequestEventSchema,
  Surface,
} from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { ModelUsageRow, UsageStore } from "./port.js";

/** A store on fresh state (its own database), made once per test. */
export interface UsageStoreUnderTest {
  store: UsageStore;
  /** Closes the store and removes what the test created. */
  cleanup: () => Promise<void>;
}

/** 2026-01-01T00:00:00Z, a round second, so boundary cases are easy to read. */
export const T0 = 1_767_225_600_000;

/** The fields a test may set on an event (plain values, nested messages as plain objects). */
export type EventInit = Exclude<MessageInitShape<typeof RequestEventSchema>, RequestEvent>;

/** A request event with sensible values; `over` replaces any field. */
export function usageEvent(over: EventInit = {}): RequestEvent {
  const init: EventInit = {
    requestId: `01K${randomUUID().replaceAll("-", "").slice(0, 23).toUpperCase()}`,
    timeUnixMs: BigInt(T0 + 1_234),
    tenantId: "tenant-a",
    teamId: "team-1",
    keyId: "key-1",
    userId: "user-1",
    surface: Surface.OPENAI,
    stream: false,
    modelRequested: "gpt-4o",
    modelServed: "gpt-4o-2024-08-06",
    provider: "openai",
    deployment: "openai-main",
    statusCode: 200,
    errorType: "",
    promptTokens: 100,
    completionTokens: 40,
    cachedTokens: 0,
    reasoningTokens: 0,
    cacheHit: false,
    attempts: 1,
    latency: { totalMs: 250.5, authzMs: 0.5, redactionMs: 0.25, routerMs: 249, ttftMs: 80 },
    redactions: [{ entityType: "EMAIL", count: 1 }],
    finishReason: "stop",
    ...over,
  };
  return create(RequestEventSchema, init);
}

const byModel = (rows: ModelUsageRow[]) => new Map(rows.map((r) => [r.model, r]));

/**
 * The behaviour every usage store promises. `make` is called once per test and must give a
 * migrated store on fresh state.
 */
export function usageStoreContract(name: string, make: () => Promise<UsageStoreUnderTest>): void {
  describe(`usage store contract: ${name}`, () => {
    async function withStore(fn: (store: UsageStore) => Promise<void>): Promise<void> {
      const { store, cleanup } = await make();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    }

    it("reads back an inserted request field by field", () =>
      withStore(async (store) => {
        const e = usageEvent({
          timeUnixMs: BigInt(T0 + 42_017),
          tenantId: "tenant-rb",
          keyId: "key-rb",
          modelRequested: "claude-3-5-sonnet",
          modelServed: "claude-3-5-sonnet-20241022",
          provider: "anthropic",
          deployment: "anthropic-eu",
          statusCode: 429,
          promptTokens: 1234,
          completionTokens: 4_000_000_000,
          stream: true,
        });
        await store.insert([e]);
        const got = await store.findRequest(e.requestId);
        assert.deepEqual(got, {
          requestId: e.requestId,
          timeUnixMs: T0 + 42_017,
          tenantId: "tenant-rb",
          keyId: "key-rb",
          modelRequested: "claude-3-5-sonnet",
          modelServed: "claude-3-5-sonnet-20241022",
          provider: "anthropic",
          deployment: "anthropic-eu",
          statusCode: 429,
          promptTokens: 1234,
          completionTokens: 4_000_000_000,
          stream: true,
        });
        assert.equal(await store.findRequest("no-such-request"), undefined);
      }));

    it("migrate can run again on a migrated store, keeping the data", () =>
      withStore(async (store) => {
        const e = usageEvent();
        await store.insert([e]);
        await store.migrate();
        await store.migrate();
        assert.equal((await store.findRequest(e.requestId))?.requestId, e.requestId);
      }));

    it("counts a duplicated event once, within a batch and across batches", () =>
      withStore(async (store) => {
        const a = usageEvent({ promptTokens: 10, completionTokens: 1 });
        const b = usageEvent({ promptTokens: 20, completionTokens: 2 });
        assert.equal(await store.insert([a, a, b]), 2, "two new events stored");
        assert.equal(await store.insert([b, a]), 0, "both already stored");
        assert.equal(await store.insert([a]), 0);
        assert.equal(await store.insert([]), 0);
        const rows = await store.usageByModel("tenant-a", T0, T0 + 60_000);
        assert.deepEqual(rows, [
          { model: "gpt-4o-2024-08-06", requests: 2, promptTokens: 30, completionTokens: 3, errors: 0 },
        ]);
      }));

    it("never shows one tenant's requests to another", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ tenantId: "tenant-a", promptTokens: 1 }),
          usageEvent({ tenantId: "tenant-a", promptTokens: 2 }),
          usageEvent({ tenantId: "tenant-b", promptTokens: 100 }),
          usageEvent({ tenantId: "tenant-a-suffix", promptTokens: 1000 }),
        ]);
        const a = await store.usageByModel("tenant-a", T0, T0 + 60_000);
        const b = await store.usageByModel("tenant-b", T0, T0 + 60_000);
        assert.deepEqual(a.map((r) => [r.requests, r.promptTokens]), [[2, 3]]);
        assert.deepEqual(b.map((r) => [r.requests, r.promptTokens]), [[1, 100]]);
        assert.deepEqual(await store.usageByModel("tenant-c", T0, T0 + 60_000), []);
        assert.deepEqual(await store.usageByModel("", T0, T0 + 60_000), []);
      }));

    it("includes the start of the time range and excludes its end, to the millisecond", () =>
      withStore(async (store) => {
        const from = T0 + 10_000;
        const to = T0 + 70_000;
        const at = (ms: number, promptTokens: number) => usageEvent({ timeUnixMs: BigInt(ms), promptTokens });
        await store.insert([
          at(from - 1, 1), // out: a millisecond early, in the same second as nothing else
          at(from, 10), // in: the first millisecond
          at(from + 999, 100), // in
          at(to - 1, 1_000), // in: the last millisecond
          at(to, 10_000), // out: the end is exclusive
          at(to + 1, 100_000), // out
        ]);
        const rows = await store.usageByModel("tenant-a", from, to);
        assert.deepEqual(rows.map((r) => [r.requests, r.promptTokens]), [[3, 1_110]]);
        // The same second, split at a millisecond that is not a second boundary.
        const split = await store.usageByModel("tenant-a", from + 500, to);
        assert.deepEqual(split.map((r) => [r.requests, r.promptTokens]), [[2, 1_100]]);
        assert.deepEqual(await store.usageByModel("tenant-a", from, from), [], "an empty range");
        assert.deepEqual(await store.usageByModel("tenant-a", to, from), [], "a reversed range");
        const wide = await store.usageByModel("tenant-a", 0, 8_000_000_000_000);
        assert.equal(wide[0]?.requests, 6);
      }));

    it("groups by the served model, falling back to the requested one, and counts errors", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ modelServed: "m-served", promptTokens: 1, completionTokens: 2 }),
          usageEvent({ modelServed: "m-served", statusCode: 502, errorType: "upstream_error" }),
          usageEvent({ modelServed: "", modelRequested: "m-asked", statusCode: 401, errorType: "" }),
          usageEvent({ modelServed: "", modelRequested: "m-asked", statusCode: 200, errorType: "content_filter" }),
          usageEvent({ modelServed: "", modelRequested: "m-asked", statusCode: 200 }),
        ]);
        const rows = byModel(await store.usageByModel("tenant-a", T0, T0 + 60_000));
        assert.deepEqual([...rows.keys()].sort(), ["m-asked", "m-served"]);
        assert.equal(rows.get("m-served")?.requests, 2);
        assert.equal(rows.get("m-served")?.errors, 1);
        assert.equal(rows.get("m-served")?.promptTokens, 101);
        assert.equal(rows.get("m-served")?.completionTokens, 42);
        assert.equal(rows.get("m-asked")?.requests, 3);
        assert.equal(rows.get("m-asked")?.errors, 2);
      }));

    it("keeps quotes, backslashes, control characters and unicode intact", () =>
      withStore(async (store) => {
        const nasty = `o'brien \\' \\\\ "dq" \n\t\r \u0001\u007f ' OR 1=1 -- ü ✓ 漢字 😀`;
        const e = usageEvent({
          requestId: `id'${nasty}`,
          tenantId: `tenant ${nasty}`,
          keyId: `key ${nasty}`,
          modelRequested: `model\\${nasty}`,
          modelServed: `served\\${nasty}`,
          provider: `prov ${nasty}`,
          deployment: `dep ${nasty}`,
        });
        await store.insert([e, usageEvent({ tenantId: "tenant o" })]);
        const got = await store.findRequest(e.requestId);
        assert.equal(got?.requestId, e.requestId);
        assert.equal(got?.tenantId, e.tenantId);
        assert.equal(got?.keyId, e.keyId);
        assert.equal(got?.modelRequested, e.modelRequested);
        assert.equal(got?.modelServed, e.modelServed);
        assert.equal(got?.provider, e.provider);
        assert.equal(got?.deployment, e.deployment);
        const rows = await store.usageByModel(e.tenantId, T0, T0 + 60_000);
        assert.deepEqual(rows.map((r) => [r.model, r.requests]), [[e.modelServed, 1]]);
      }));
  });
}
