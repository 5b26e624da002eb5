import type { Bucket, Dimension, Metric, ModelUsageRow, UsageQuery, UsageRow, UsageSource, UsageStore } from "./port.js";

/** Dimensions kept as numbers (sorted and filtered numerically). */
export const NUMERIC_DIMENSIONS: ReadonlySet<Dimension> = new Set(["prompt_version", "status"]);

/** Dimensions the rollups keep (tenant × team × key × model × provider × prompt name × version). */
const ROLLUP_DIMENSIONS: ReadonlySet<Dimension> = new Set(["tenant", "team", "key", "model", "provider", "prompt_name", "prompt_version"]);

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** 1970-01-05, the first Monday after the epoch: weeks are counted from it. */
const MONDAY_S = 4 * 86_400;

/**
 * The table that can answer `q` exactly: the hourly rollup when every grouped and filtered
 * dimension is in it, the bucket is at least an hour wide and the range starts and ends on
 * whole hours; else the per-minute rollup on the same terms for minutes; else the raw table.
 */
export function planSource(q: UsageQuery): UsageSource {
  const dims = [...q.groupBy, ...Object.keys(q.filters)] as Dimension[];
  if (!dims.every((d) => ROLLUP_DIMENSIONS.has(d))) return "requests";
  const aligned = (ms: number) => q.fromMs % ms === 0 && q.toMs % ms === 0;
  if (q.bucket !== "minute" && aligned(HOUR_MS)) return "usage_by_hour";
  if (aligned(MINUTE_MS)) return "usage_by_minute";
  return "requests";
}

/** The start (Unix seconds) of the UTC bucket holding second `s`; `none` has no bucket. */
export function bucketStartSeconds(s: number, bucket: Exclude<Bucket, "none">): number {
  switch (bucket) {
    case "minute":
      return Math.floor(s / 60) * 60;
    case "hour":
      return Math.floor(s / 3600) * 3600;
    case "day":
      return Math.floor(s / 86_400) * 86_400;
    case "week":
      return Math.floor((s - MONDAY_S) / 604_800) * 604_800 + MONDAY_S;
    case "month": {
      const d = new Date(s * 1000);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
    }
  }
}

/** Bytewise UTF-8 order, as ClickHouse sorts strings (JavaScript's `<` compares UTF-16 units). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Order by bucket, then each grouped dimension (numbers as numbers). */
export function compareGroups(groupBy: readonly Dimension[]) {
  return (a: { bucketStartMs: number; dims: Partial<Record<Dimension, string>> }, b: typeof a): number => {
    if (a.bucketStartMs !== b.bucketStartMs) return a.bucketStartMs - b.bucketStartMs;
    for (const d of groupBy) {
      const x = a.dims[d] ?? "";
      const y = b.dims[d] ?? "";
      const c = NUMERIC_DIMENSIONS.has(d) ? Number(x) - Number(y) : compareUtf8(x, y);
      if (c !== 0) return c;
    }
    return 0;
  };
}

/** A row's value of a ranking metric; cost is exact (bigint). */
export function metricOf(r: UsageRow, m: Metric): bigint {
  switch (m) {
    case "cost":
      return r.cost.input + r.cost.output + r.cost.cached + r.cost.reasoning;
    case "requests":
      return BigInt(r.requests);
    case "errors":
      return BigInt(r.errors);
    case "tokens":
      return BigInt(r.promptTokens + r.completionTokens);
    case "cache_hits":
      return BigInt(r.cacheHits);
  }
}

/** The levels of {@link Percentiles}. */
export const PERCENTILE_LEVELS = [0.5, 0.9, 0.95, 0.99] as const;

/** ClickHouse's quantileExact on sorted samples: the sample at floor(level × n), 0 when none. */
export function exactPercentiles(sorted: readonly number[]): [number, number, number, number] {
  const n = sorted.length;
  const at = (level: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(level * n))]!);
  return [at(0.5), at(0.9), at(0.95), at(0.99)];
}

/** Per-model totals of one tenant (the GetUsage answer), as a usage query. */
export async function usageByModelVia(store: Pick<UsageStore, "queryUsage">, tenantId: string, fromMs: number, toMs: number): Promise<ModelUsageRow[]> {
  const { rows } = await store.queryUsage({ fromMs, toMs, groupBy: ["model"], bucket: "none", filters: { tenant: [tenantId] }, orderBy: "cost", limit: 0 });
  return rows.map((r) => ({ model: r.dims.model ?? "", requests: r.requests, promptTokens: r.promptTokens, completionTokens: r.completionTokens, errors: r.errors }));
}
