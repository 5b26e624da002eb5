import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";

/** Totals for one model over a time range. */
export interface ModelUsageRow {
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  errors: number;
}

/** A stored request, as read back (the subset tests and the usage API need). */
export interface StoredRequest {
  requestId: string;
  timeUnixMs: number;
  tenantId: string;
  keyId: string;
  modelRequested: string;
  modelServed: string;
  provider: string;
  deployment: string;
  statusCode: number;
  promptTokens: number;
  completionTokens: number;
  stream: boolean;
}

/**
 * The store refused rows for good: a schema or data error (a value the column cannot hold, a
 * column that changed type), not an outage or a timeout, so sending the same rows again cannot
 * succeed. Metering dead-letters such rows; any other error from `insert` is transient and
 * retried.
 */
export class RowsRejectedError extends Error {
  override readonly name = "RowsRejectedError";
}

/**
 * Where metering keeps request events: ClickHouse in the mesh, an embedded store all-in-one.
 * Both pass the same contract suite.
 *
 * `insert` is idempotent per request_id: inserting an event twice (redelivery after a crash)
 * must not count it twice in any read.
 */
export interface UsageStore {
  /** Create or upgrade the schema; safe to call at every start. */
  migrate(): Promise<void>;
  /**
   * Stores the events not stored yet; resolves with how many that was (the rest were
   * duplicates). Throws {@link RowsRejectedError} when the rows can never be stored.
   */
  insert(events: RequestEvent[]): Promise<number>;
  /** Per-model totals for a tenant in [fromMs, toMs). */
  usageByModel(tenantId: string, fromMs: number, toMs: number): Promise<ModelUsageRow[]>;
  /** One request by id, or undefined. */
  findRequest(requestId: string): Promise<StoredRequest | undefined>;
  close(): Promise<void>;
}
