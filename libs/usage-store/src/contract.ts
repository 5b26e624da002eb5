import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type RequestEvent,
  RequestEventSchema,
  Surface,
} from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { ModelUsageRow, UsageQuery, UsageRow, UsageStore } from "./port.js";

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
    promptName: "",
    promptVersion: 0,
    fallbacks: 0,
    ...over,
  };
  return create(RequestEventSchema, init);
}

const byModel = (rows: ModelUsageRow[]) => new Map(rows.map((r) => [r.model, r]));

/** A cost in pico-dollars for an event (input, output, cached, reasoning). */
export function picoCost(input: bigint, output = 0n, cached = 0n, reasoning = 0n): EventInit["cost"] {
  return { inputPicoUsd: input, outputPicoUsd: output, cachedPicoUsd: cached, reasoningPicoUsd: reasoning, priced: true };
}

/** A usage query over [from, to) with defaults: no grouping, no bucket, no filter, no limit. */
export function usageQuery(fromMs: number, toMs: number, over: Partial<UsageQuery> = {}): UsageQuery {
  return { fromMs, toMs, groupBy: [], bucket: "none", filters: {}, orderBy: "cost", limit: 0, ...over };
}

/** A usage row as plain comparable values: bucket, dims, counts, cost total. */
function brief(r: UsageRow) {
  return {
    at: r.bucketStartMs,
    ...r.dims,
    requests: r.requests,
    errors: r.errors,
    tokens: [r.promptTokens, r.completionTokens, r.cachedTokens, r.reasoningTokens],
    hits: r.cacheHits,
    cost: [r.cost.input, r.cost.output, r.cost.cached, r.cost.reasoning],
  };
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

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
          promptName: "summarise",
          promptVersion: 7,
          fallbacks: 2,
          cost: { inputPicoUsd: 1n, outputPicoUsd: 9_223_372_036_854_775_807n, cachedPicoUsd: 0n, reasoningPicoUsd: 18_750n, priced: true },
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
          promptName: "summarise",
          promptVersion: 7,
          fallbacks: 2,
          cost: { input: 1n, output: 9_223_372_036_854_775_807n, cached: 0n, reasoning: 18_750n },
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

    it("groups usage and exact spend by any dimensions, with every sum", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ teamId: "t1", modelServed: "m1", provider: "openai", promptTokens: 10, completionTokens: 1, cachedTokens: 4, reasoningTokens: 0, cacheHit: true, cost: picoCost(18_750n, 1n, 3n, 0n) }),
          usageEvent({ teamId: "t1", modelServed: "m1", provider: "openai", promptTokens: 20, completionTokens: 2, reasoningTokens: 1, statusCode: 500, cost: picoCost(999_999_999_999n, 0n, 0n, 7n) }),
          usageEvent({ teamId: "t1", modelServed: "m2", provider: "azure", promptTokens: 5, completionTokens: 5 }),
          usageEvent({ teamId: "t2", modelServed: "m1", provider: "openai", promptTokens: 1, completionTokens: 1, cost: picoCost(1n) }),
          usageEvent({ tenantId: "tenant-b", teamId: "t1", modelServed: "m1", promptTokens: 1000 }),
        ]);
        const { rows } = await store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["team", "model"], filters: { tenant: ["tenant-a"] } }));
        assert.deepEqual(rows.map(brief), [
          { at: T0, team: "t1", model: "m1", requests: 2, errors: 1, tokens: [30, 3, 4, 1], hits: 1, cost: [1_000_000_018_749n, 1n, 3n, 7n] },
          { at: T0, team: "t1", model: "m2", requests: 1, errors: 0, tokens: [5, 5, 0, 0], hits: 0, cost: [0n, 0n, 0n, 0n] },
          { at: T0, team: "t2", model: "m1", requests: 1, errors: 0, tokens: [1, 1, 0, 0], hits: 0, cost: [1n, 0n, 0n, 0n] },
        ]);
        assert.equal(rows[0]?.latencySumMs, 501);
        const all = await store.queryUsage(usageQuery(T0, T0 + 60_000));
        assert.deepEqual(all.rows.map((r) => [r.dims, r.requests, r.promptTokens]), [[{}, 5, 1036]]);
        const byProvider = await store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["tenant", "provider"] }));
        assert.deepEqual(byProvider.rows.map((r) => [r.dims.tenant, r.dims.provider, r.requests]), [
          ["tenant-a", "azure", 1],
          ["tenant-a", "openai", 3],
          ["tenant-b", "openai", 1],
        ]);
      }));

    it("groups by prompt name and version, key, surface and status, numbers in numeric order", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ promptName: "faq", promptVersion: 10, keyId: "k1", surface: Surface.PROMPT }),
          usageEvent({ promptName: "faq", promptVersion: 9, keyId: "k1", surface: Surface.PROMPT, statusCode: 502 }),
          usageEvent({ promptName: "faq", promptVersion: 9, keyId: "k2", surface: Surface.GRPC }),
          usageEvent({ keyId: "k2", surface: Surface.ANTHROPIC, statusCode: 429 }),
        ]);
        const prompts = await store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["prompt_name", "prompt_version"] }));
        assert.deepEqual(prompts.rows.map((r) => [r.dims.prompt_name, r.dims.prompt_version, r.requests, r.errors]), [
          ["", "0", 1, 1],
          ["faq", "9", 2, 1],
          ["faq", "10", 1, 0],
        ]);
        const surfaces = await store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["surface", "status"] }));
        assert.deepEqual(surfaces.rows.map((r) => [r.dims.surface, r.dims.status, r.requests]), [
          ["anthropic", "429", 1],
          ["grpc", "200", 1],
          ["prompt", "200", 1],
          ["prompt", "502", 1],
        ]);
        const keys = await store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["key"], filters: { prompt_version: ["9", "10"], status: ["200"] } }));
        assert.deepEqual(keys.rows.map((r) => [r.dims.key, r.requests]), [["k1", 1], ["k2", 1]]);
      }));

    it("filters: values of one dimension are alternatives, dimensions all apply, empty lists are ignored", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ teamId: "t1", modelServed: "m1" }),
          usageEvent({ teamId: "t2", modelServed: "m1" }),
          usageEvent({ teamId: "t3", modelServed: "m1" }),
          usageEvent({ teamId: "t1", modelServed: "m2" }),
        ]);
        const q = (filters: UsageQuery["filters"]) => store.queryUsage(usageQuery(T0, T0 + 60_000, { filters })).then((r) => r.rows[0]?.requests ?? 0);
        assert.equal(await q({ team: ["t1", "t2"] }), 3);
        assert.equal(await q({ team: ["t1", "t2"], model: ["m1"] }), 2);
        assert.equal(await q({ team: ["t1"], model: ["m2", "nope"] }), 1);
        assert.equal(await q({ team: [], model: ["m1"] }), 3);
        assert.equal(await q({ team: ["nope"] }), 0);
      }));

    it("buckets by minute, hour, day, week (from Monday) and month, in UTC, ordered by time", () =>
      withStore(async (store) => {
        // T0 is Thursday 2026-01-01 00:00 UTC.
        const at = (ms: number) => usageEvent({ timeUnixMs: BigInt(ms) });
        await store.insert([at(T0 + 59_999), at(T0 + 60_000), at(T0 + HOUR - 1), at(T0 + HOUR), at(T0 + DAY + 5), at(T0 + 4 * DAY), at(T0 + 31 * DAY)]);
        const buckets = async (bucket: UsageQuery["bucket"]) =>
          (await store.queryUsage(usageQuery(T0 - 7 * DAY, T0 + 40 * DAY, { bucket }))).rows.map((r) => [(r.bucketStartMs - T0) / 60_000, r.requests]);
        assert.deepEqual(await buckets("minute"), [[0, 1], [1, 1], [59, 1], [60, 1], [1440, 1], [5760, 1], [44640, 1]]);
        assert.deepEqual(await buckets("hour"), [[0, 3], [60, 1], [1440, 1], [5760, 1], [44640, 1]]);
        assert.deepEqual(await buckets("day"), [[0, 4], [1440, 1], [5760, 1], [44640, 1]]);
        // Monday 2025-12-29 and Monday 2026-01-05 (T0 + 4 days), 2026-02-01 is in the week of Monday 2026-01-26.
        assert.deepEqual(await buckets("week"), [[-3 * 1440, 5], [4 * 1440, 1], [25 * 1440, 1]]);
        assert.deepEqual(await buckets("month"), [[0, 6], [44640, 1]]);
        const none = await store.queryUsage(usageQuery(T0 - 7 * DAY, T0 + 40 * DAY));
        assert.deepEqual(none.rows.map((r) => [r.bucketStartMs, r.requests]), [[T0 - 7 * DAY, 7]], "without a bucket, one row at the range's start");
      }));

    it("answers the same on whole hours, whole minutes and odd milliseconds", () =>
      withStore(async (store) => {
        const events = Array.from({ length: 40 }, (_, i) =>
          usageEvent({ timeUnixMs: BigInt(T0 + i * 7 * 60_000 + i), teamId: `t${i % 3}`, promptTokens: i, latency: { totalMs: 0.5 * i }, cost: picoCost(BigInt(i) * 1_000_001n) }),
        );
        await store.insert(events);
        const ask = (from: number, to: number) =>
          store.queryUsage(usageQuery(from, to, { groupBy: ["team"], bucket: "hour" })).then((r) => r.rows.map(brief));
        const hours = await ask(T0, T0 + 5 * HOUR);
        assert.equal(hours.reduce((n, r) => n + r.requests, 0), 40);
        assert.deepEqual(await ask(T0 - 60_000, T0 + 5 * HOUR + 60_000), hours);
        const odd = await ask(T0 + 7 * 60_000 + 1, T0 + 5 * HOUR);
        assert.equal(odd.reduce((n, r) => n + r.requests, 0), 39, "the first event (at T0) and nothing else is before the range");
        const minutes = await ask(T0 + 7 * 60_000, T0 + 5 * HOUR);
        assert.deepEqual(minutes, odd, "the second event sits at +1 ms: the whole-minute range keeps it too");
      }));

    it("top-N ranks rows by the chosen metric, ties broken by bucket then group", () =>
      withStore(async (store) => {
        await store.insert([
          usageEvent({ keyId: "k1", cost: picoCost(5n), promptTokens: 1, completionTokens: 0 }),
          usageEvent({ keyId: "k2", cost: picoCost(9n), promptTokens: 1, completionTokens: 0 }),
          usageEvent({ keyId: "k3", cost: picoCost(5n), promptTokens: 50, completionTokens: 0 }),
          usageEvent({ keyId: "k4", cost: picoCost(1n), promptTokens: 2, completionTokens: 0, statusCode: 500 }),
          usageEvent({ keyId: "k4", cost: picoCost(1n), promptTokens: 2, completionTokens: 0, statusCode: 500 }),
        ]);
        const top = (orderBy: UsageQuery["orderBy"], limit: number) =>
          store.queryUsage(usageQuery(T0, T0 + 60_000, { groupBy: ["key"], orderBy, limit })).then((r) => r.rows.map((x) => x.dims.key));
        assert.deepEqual(await top("cost", 3), ["k2", "k1", "k3"]);
        assert.deepEqual(await top("tokens", 2), ["k3", "k4"]);
        assert.deepEqual(await top("requests", 1), ["k4"]);
        assert.deepEqual(await top("errors", 2), ["k4", "k1"]);
        assert.deepEqual(await top("cost", 10), ["k2", "k1", "k3", "k4"]);
      }));

    it("latency percentiles of total time and of time to first token (streams only), grouped", () =>
      withStore(async (store) => {
        const lat = (modelServed: string, totalMs: number, stream = false, ttftMs = 0) =>
          usageEvent({ modelServed, stream, latency: { totalMs, ttftMs } });
        await store.insert([
          ...Array.from({ length: 100 }, (_, i) => lat("m1", 100 - i, i % 2 === 0, i % 2 === 0 ? 1 + i / 2 : 0)),
          lat("m2", 7.25),
          lat("m2", 3.5, true, 0), // a stream that failed before its first token
        ]);
        const rows = await store.queryLatency(usageQuery(T0, T0 + 60_000, { groupBy: ["model"] }));
        assert.deepEqual(
          rows.map((r) => [r.dims.model, r.requests, r.total, r.streams, r.ttft]),
          [
            ["m1", 100, [51, 91, 96, 100], 50, [26, 46, 48, 50]],
            ["m2", 2, [7.25, 7.25, 7.25, 7.25], 0, [0, 0, 0, 0]],
          ],
        );
        const hourly = await store.queryLatency(usageQuery(T0, T0 + HOUR, { bucket: "hour", filters: { model: ["m2"] } }));
        assert.deepEqual(hourly.map((r) => [r.bucketStartMs, r.requests, r.total[0]]), [[T0, 2, 7.25]]);
        assert.deepEqual(await store.queryLatency(usageQuery(T0 + 60_000, T0 + 120_000)), []);
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
