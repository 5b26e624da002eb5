import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { Dimension, LatencyRow, StoredRequest, UsageQuery, UsageRow, UsageStore } from "./port.js";
import { bucketStartSeconds, compareGroups, exactPercentiles, metricOf, NUMERIC_DIMENSIONS, usageByModelVia } from "./query.js";
import { isError, surfaceName, usageModel } from "./rows.js";

/** Options for {@link createEmbeddedUsageStore}. */
export interface EmbeddedUsageStoreOptions {
  /**
   * Requests kept; beyond this the oldest inserted are forgotten, which bounds the memory of
   * an all-in-one process that runs for long. Default 20 000 (a few MB; the benchmark showed
   * 200 000 pushing the all-in-one past its memory budget under sustained load).
   */
  maxRows?: number;
}

/** What the embedded store keeps per request: what its reads need, nothing more. */
interface Row extends StoredRequest {
  error: boolean;
  cacheHit: boolean;
  cachedTokens: number;
  reasoningTokens: number;
  teamId: string;
  surface: string;
  latencyTotalMs: number;
  latencyTtftMs: number;
  /** The value of each dimension, as the ClickHouse store groups it. */
  dims: Record<Dimension, string>;
}

const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : 0);

function toRow(e: RequestEvent): Row {
  const c = e.cost;
  const surface = surfaceName(e.surface);
  return {
    requestId: e.requestId,
    timeUnixMs: Number(e.timeUnixMs),
    tenantId: e.tenantId,
    teamId: e.teamId,
    keyId: e.keyId,
    modelRequested: e.modelRequested,
    modelServed: e.modelServed,
    provider: e.provider,
    deployment: e.deployment,
    statusCode: e.statusCode,
    promptTokens: e.promptTokens,
    completionTokens: e.completionTokens,
    cachedTokens: e.cachedTokens,
    reasoningTokens: e.reasoningTokens,
    stream: e.stream,
    promptName: e.promptName,
    promptVersion: e.promptVersion,
    fallbacks: e.fallbacks,
    cost: { input: c?.inputPicoUsd ?? 0n, output: c?.outputPicoUsd ?? 0n, cached: c?.cachedPicoUsd ?? 0n, reasoning: c?.reasoningPicoUsd ?? 0n },
    error: isError(e),
    cacheHit: e.cacheHit,
    surface,
    latencyTotalMs: finite(e.latency?.totalMs),
    latencyTtftMs: finite(e.latency?.ttftMs),
    dims: {
      tenant: e.tenantId,
      team: e.teamId,
      key: e.keyId,
      model: usageModel(e),
      provider: e.provider,
      prompt_name: e.promptName,
      prompt_version: String(e.promptVersion),
      surface,
      status: String(e.statusCode),
    },
  };
}

/** The stored fields of a row, as findRequest answers. */
function stored(r: Row): StoredRequest {
  const { requestId, timeUnixMs, tenantId, keyId, modelRequested, modelServed, provider, deployment, statusCode, promptTokens, completionTokens, stream, promptName, promptVersion, fallbacks, cost } = r;
  return { requestId, timeUnixMs, tenantId, keyId, modelRequested, modelServed, provider, deployment, statusCode, promptTokens, completionTokens, stream, promptName, promptVersion, fallbacks, cost: { ...cost } };
}

/**
 * The usage store of the all-in-one topology: in memory, keyed by request_id (so a
 * redelivered event replaces nothing and counts once), lost on restart. Queries are answered
 * from the rows with the ClickHouse store's semantics (the contract suite holds both to it).
 */
export function createEmbeddedUsageStore(opts: EmbeddedUsageStoreOptions = {}): UsageStore {
  const maxRows = opts.maxRows ?? 20_000;
  if (!Number.isInteger(maxRows) || maxRows <= 0) {
    throw new Error(`createEmbeddedUsageStore: maxRows must be a positive integer, got ${maxRows}`);
  }
  const rows = new Map<string, Row>();

  /** The rows in [fromMs, toMs) that pass the filters, with their group key. */
  function* selected(q: UsageQuery): Generator<{ row: Row; bucketStartMs: number; dims: Partial<Record<Dimension, string>>; key: string }> {
    const from = Math.ceil(q.fromMs);
    const to = Math.ceil(q.toMs);
    const filters = Object.entries(q.filters).map(([d, values]) => {
      const numeric = NUMERIC_DIMENSIONS.has(d as Dimension);
      return [d as Dimension, new Set(values.map((v) => (numeric ? String(Number(v)) : v)))] as const;
    });
    for (const row of rows.values()) {
      if (row.timeUnixMs < from || row.timeUnixMs >= to) continue;
      if (filters.some(([d, set]) => set.size > 0 && !set.has(row.dims[d]))) continue;
      const bucketStartMs = q.bucket === "none" ? q.fromMs : bucketStartSeconds(Math.floor(row.timeUnixMs / 1000), q.bucket) * 1000;
      const dims: Partial<Record<Dimension, string>> = {};
      for (const d of q.groupBy) dims[d] = row.dims[d];
      yield { row, bucketStartMs, dims, key: JSON.stringify([bucketStartMs, ...q.groupBy.map((d) => row.dims[d])]) };
    }
  }

  const store: UsageStore = {
    async migrate() {},

    async insert(events) {
      let stored = 0;
      for (const e of events) {
        if (rows.has(e.requestId)) continue; // first write wins, as in the ClickHouse store
        rows.set(e.requestId, toRow(e));
        stored++;
        if (rows.size > maxRows) {
          const oldest = rows.keys().next().value;
          if (oldest !== undefined) rows.delete(oldest);
        }
      }
      return stored;
    },

    async queryUsage(q) {
      const groups = new Map<string, UsageRow>();
      for (const { row, bucketStartMs, dims, key } of selected(q)) {
        let g = groups.get(key);
        if (!g) {
          g = { bucketStartMs, dims, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, cacheHits: 0, cost: { input: 0n, output: 0n, cached: 0n, reasoning: 0n }, latencySumMs: 0 };
          groups.set(key, g);
        }
        g.requests++;
        if (row.error) g.errors++;
        g.promptTokens += row.promptTokens;
        g.completionTokens += row.completionTokens;
        g.cachedTokens += row.cachedTokens;
        g.reasoningTokens += row.reasoningTokens;
        if (row.cacheHit) g.cacheHits++;
        g.cost.input += row.cost.input;
        g.cost.output += row.cost.output;
        g.cost.cached += row.cost.cached;
        g.cost.reasoning += row.cost.reasoning;
        g.latencySumMs += row.latencyTotalMs;
      }
      const byGroup = compareGroups(q.groupBy);
      const out = [...groups.values()];
      if (q.limit > 0) {
        out.sort((a, b) => {
          const x = metricOf(a, q.orderBy);
          const y = metricOf(b, q.orderBy);
          return x !== y ? (y > x ? 1 : -1) : byGroup(a, b);
        });
        return { rows: out.slice(0, q.limit), source: "requests" };
      }
      return { rows: out.sort(byGroup), source: "requests" };
    },

    async queryLatency(q) {
      const groups = new Map<string, { bucketStartMs: number; dims: Partial<Record<Dimension, string>>; total: number[]; ttft: number[] }>();
      for (const { row, bucketStartMs, dims, key } of selected(q)) {
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { bucketStartMs, dims, total: [], ttft: [] }));
        g.total.push(row.latencyTotalMs);
        if (row.stream && row.latencyTtftMs > 0) g.ttft.push(row.latencyTtftMs);
      }
      const num = (a: number, b: number) => a - b;
      return [...groups.values()]
        .map(
          (g): LatencyRow => ({
            bucketStartMs: g.bucketStartMs,
            dims: g.dims,
            requests: g.total.length,
            total: exactPercentiles(g.total.sort(num)),
            streams: g.ttft.length,
            ttft: exactPercentiles(g.ttft.sort(num)),
          }),
        )
        .sort(compareGroups(q.groupBy));
    },

    usageByModel: (tenantId, fromMs, toMs) => usageByModelVia(store, tenantId, fromMs, toMs),

    async findRequest(requestId) {
      const r = rows.get(requestId);
      return r && stored(r);
    },

    async close() {
      rows.clear();
    },
  };
  return store;
}
