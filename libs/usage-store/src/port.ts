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
  promptName: string;
  promptVersion: number;
  fallbacks: number;
  cost: CostPico;
}

/** What usage can be grouped and filtered by; `surface` and `status` only the raw table has. */
export const DIMENSIONS = ["tenant", "team", "key", "model", "provider", "prompt_name", "prompt_version", "surface", "status"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Time bucket widths (UTC; weeks start on Monday); `none` is one bucket for the whole range. */
export const BUCKETS = ["none", "minute", "hour", "day", "week", "month"] as const;
export type Bucket = (typeof BUCKETS)[number];

/** What top-N ranks by; `tokens` is prompt plus completion. */
export const METRICS = ["cost", "requests", "errors", "tokens", "cache_hits"] as const;
export type Metric = (typeof METRICS)[number];

/** A usage question, already checked by the caller (metering validates what users send). */
export interface UsageQuery {
  /** Unix ms, inclusive. */
  fromMs: number;
  /** Unix ms, exclusive. */
  toMs: number;
  groupBy: readonly Dimension[];
  bucket: Bucket;
  /** Per dimension, the values to keep (prompt_version and status as decimal text). */
  filters: Partial<Record<Dimension, readonly string[]>>;
  /** With `limit`: rank rows (a group in a bucket) by this, largest first. */
  orderBy: Metric;
  /** Top-N; 0: every row, ordered by bucket then group. */
  limit: number;
}

/** A row's bucket and group: only the grouped dimensions are set. */
export interface UsageGroup {
  /** Start of the bucket, Unix ms (the range's start when the bucket is `none`). */
  bucketStartMs: number;
  dims: Partial<Record<Dimension, string>>;
}

/** Cost by kind of token, in pico-dollars (1e-12 USD): exact integers. */
export interface CostPico {
  input: bigint;
  output: bigint;
  cached: bigint;
  reasoning: bigint;
}

/** Usage and spend of one group in one bucket. */
export interface UsageRow extends UsageGroup {
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  cacheHits: number;
  cost: CostPico;
  latencySumMs: number;
}

/** The table that answered: a rollup when the grouping, filters and range allow. */
export type UsageSource = "usage_by_hour" | "usage_by_minute" | "requests";

/** Rows of a usage query and where they came from. */
export interface UsageResult {
  rows: UsageRow[];
  source: UsageSource;
}

/** p50, p90, p95 and p99 in ms: the sample at rank floor(p × n), as ClickHouse's quantileExact. */
export type Percentiles = [number, number, number, number];

/** Latency of one group in one bucket. */
export interface LatencyRow extends UsageGroup {
  requests: number;
  total: Percentiles;
  /** Streamed calls that produced a first token; TTFT is taken over these. */
  streams: number;
  ttft: Percentiles;
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
  /** Usage and spend grouped, bucketed, filtered and ranked as `q` says. */
  queryUsage(q: UsageQuery): Promise<UsageResult>;
  /** Latency percentiles grouped and bucketed as `q` says (its orderBy and limit are ignored). */
  queryLatency(q: UsageQuery): Promise<LatencyRow[]>;
  /** One request by id, or undefined. */
  findRequest(requestId: string): Promise<StoredRequest | undefined>;
  close(): Promise<void>;
}
