import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { ModelUsageRow, StoredRequest, UsageStore } from "./port.js";
import { isError, usageModel } from "./rows.js";

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
  errorType: string;
}

function toRow(e: RequestEvent): Row {
  return {
    requestId: e.requestId,
    timeUnixMs: Number(e.timeUnixMs),
    tenantId: e.tenantId,
    keyId: e.keyId,
    modelRequested: e.modelRequested,
    modelServed: e.modelServed,
    provider: e.provider,
    deployment: e.deployment,
    statusCode: e.statusCode,
    promptTokens: e.promptTokens,
    completionTokens: e.completionTokens,
    stream: e.stream,
    errorType: e.errorType,
  };
}

/**
 * The usage store of the all-in-one topology: in memory, keyed by request_id (so a
 * redelivered event replaces nothing and counts once), lost on restart.
 */
export function createEmbeddedUsageStore(opts: EmbeddedUsageStoreOptions = {}): UsageStore {
  const maxRows = opts.maxRows ?? 20_000;
  if (!Number.isInteger(maxRows) || maxRows <= 0) {
    throw new Error(`createEmbeddedUsageStore: maxRows must be a positive integer, got ${maxRows}`);
  }
  const rows = new Map<string, Row>();

  return {
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

    async usageByModel(tenantId, fromMs, toMs) {
      const byModel = new Map<string, ModelUsageRow>();
      for (const r of rows.values()) {
        if (r.tenantId !== tenantId || r.timeUnixMs < fromMs || r.timeUnixMs >= toMs) continue;
        const model = usageModel(r);
        let agg = byModel.get(model);
        if (!agg) {
          agg = { model, requests: 0, promptTokens: 0, completionTokens: 0, errors: 0 };
          byModel.set(model, agg);
        }
        agg.requests++;
        agg.promptTokens += r.promptTokens;
        agg.completionTokens += r.completionTokens;
        if (isError(r)) agg.errors++;
      }
      return [...byModel.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
    },

    async findRequest(requestId) {
      const r = rows.get(requestId);
      if (!r) return undefined;
      const { errorType: _e, ...stored } = r;
      return stored;
    },

    async close() {
      rows.clear();
    },
  };
}
