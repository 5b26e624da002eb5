import type { Dimension, Metric, UsageQuery, UsageSource } from "./port.js";
import { NUMERIC_DIMENSIONS } from "./query.js";
import { identifier, type SqlValues } from "./sql.js";

/**
 * SQL for usage and latency questions. Dimensions and metrics are enums mapped here to fixed
 * column expressions; only values (filters, time bounds) come from the caller, and they go
 * through {@link SqlValues}.
 */

const RAW_MODEL = "if(model_served = '', model_requested, model_served)";

/** The column (or expression) of each dimension in the raw table and in the rollups. */
const DIMENSION_SQL: Record<Dimension, { raw: string; rollup?: string }> = {
  tenant: { raw: "tenant_id", rollup: "tenant_id" },
  team: { raw: "team_id", rollup: "team_id" },
  key: { raw: "key_id", rollup: "key_id" },
  model: { raw: RAW_MODEL, rollup: "model" },
  provider: { raw: "provider", rollup: "provider" },
  prompt_name: { raw: "prompt_name", rollup: "prompt_name" },
  prompt_version: { raw: "prompt_version", rollup: "prompt_version" },
  surface: { raw: "surface" },
  status: { raw: "status_code" },
};

/** An expression that reads the same over the raw table and a rollup. */
const both = (sql: string) => ({ raw: sql, rollup: sql });

/**
 * Each usage sum over the raw table and over a rollup, by output name (selected as `s_<name>`:
 * an alias equal to a column name would be substituted into ORDER BY's aggregates).
 */
const USAGE_SUMS: Record<string, { raw: string; rollup: string }> = {
  requests: { raw: "count()", rollup: "sum(requests)" },
  errors: { raw: "countIf(status_code >= 400 OR error_type != '')", rollup: "sum(errors)" },
  prompt_tokens: both("sum(prompt_tokens)"),
  completion_tokens: both("sum(completion_tokens)"),
  cached_tokens: both("sum(cached_tokens)"),
  reasoning_tokens: both("sum(reasoning_tokens)"),
  cache_hits: { raw: "sum(cache_hit)", rollup: "sum(cache_hits)" },
  // Decimals as text: JSON numbers would lose digits.
  cost_input: both("toString(sum(cost_input_usd))"),
  cost_output: both("toString(sum(cost_output_usd))"),
  cost_cached: both("toString(sum(cost_cached_usd))"),
  cost_reasoning: both("toString(sum(cost_reasoning_usd))"),
  latency_sum: { raw: "sum(latency_total_ms)", rollup: "sum(latency_total_ms_sum)" },
};

/** What top-N ranks by, over the raw table and over a rollup. */
const METRIC_SQL: Record<Metric, { raw: string; rollup: string }> = {
  cost: both("sum(cost_usd)"),
  requests: USAGE_SUMS["requests"]!,
  errors: USAGE_SUMS["errors"]!,
  tokens: both("sum(prompt_tokens) + sum(completion_tokens)"),
  cache_hits: USAGE_SUMS["cache_hits"]!,
};

/** Seconds since the epoch of the UTC bucket start, from a DateTime expression. */
function bucketSql(bucket: UsageQuery["bucket"], t: string): string | undefined {
  const every = (s: number, offset = 0) =>
    offset ? `(intDiv(toInt64(toUInt32(${t})) - ${offset}, ${s}) * ${s} + ${offset})` : `(intDiv(toUInt32(${t}), ${s}) * ${s})`;
  switch (bucket) {
    case "none":
      return undefined;
    case "minute":
      return every(60);
    case "hour":
      return every(3600);
    case "day":
      return every(86_400);
    case "week":
      return every(604_800, 4 * 86_400); // from Monday 1970-01-05
    case "month":
      return `toUInt32(toDateTime(toStartOfMonth(${t}, 'UTC'), 'UTC'))`;
  }
}

/** Unix seconds for a DateTime column (1970 … 2106), clamped into range. */
export function dateTimeSeconds(ms: number): number {
  return Math.min(4_294_967_295, Math.max(0, Math.floor(ms / 1000)));
}

/** The parts shared by usage and latency: source table, WHERE, and grouping columns. */
function frame(db: string, q: UsageQuery, source: UsageSource, v: SqlValues) {
  const raw = source === "requests";
  const time = source === "usage_by_hour" ? "hour" : source === "usage_by_minute" ? "minute" : "time";
  const col = (d: Dimension) => {
    const c = raw ? DIMENSION_SQL[d].raw : DIMENSION_SQL[d].rollup;
    if (c === undefined) throw new Error(`dimension ${d} is not in ${source}`);
    return c;
  };
  const from = Math.ceil(q.fromMs);
  const to = Math.ceil(q.toMs);
  const where = [
    `${time} >= toDateTime(${v.integer(dateTimeSeconds(from), "UInt32")})`,
    `${time} <= toDateTime(${v.integer(dateTimeSeconds(to - 1), "UInt32")})`,
  ];
  if (raw) where.push(`time_ms >= ${v.integer(from, "Int64")}`, `time_ms < ${v.integer(to, "Int64")}`);
  for (const [d, values] of Object.entries(q.filters) as [Dimension, readonly string[]][]) {
    if (values.length === 0) continue;
    const numeric = NUMERIC_DIMENSIONS.has(d);
    const list = values.map((x) => {
      if (!numeric) return v.string(x);
      if (!/^\d{1,10}$/.test(x)) throw new Error(`filter ${d}: ${JSON.stringify(x)} is not a whole number`);
      return v.integer(Number(x), "UInt32");
    });
    where.push(`${col(d)} IN (${list.join(", ")})`);
  }
  const bucket = bucketSql(q.bucket, time);
  const keys = [...(bucket ? [bucket] : []), ...q.groupBy.map(col)];
  const select = [
    ...(bucket ? [`${bucket} AS b`] : []),
    ...q.groupBy.map((d, i) => `toString(${col(d)}) AS d${i}`),
  ];
  const table = `${db}.${identifier(source)}${raw ? " FINAL" : ""}`;
  return { raw, table, where: where.join("\n   AND "), keys, select };
}

/** SELECT for {@link UsageQuery}: columns b (bucket seconds), d0…dn, then s_<name> for each of USAGE_SUMS. */
export function usageSql(db: string, q: UsageQuery, source: UsageSource, v: SqlValues): string {
  const f = frame(db, q, source, v);
  const sums = Object.entries(USAGE_SUMS).map(([name, s]) => `${f.raw ? s.raw : s.rollup} AS s_${name}`);
  const order = [...(q.limit > 0 ? [`${f.raw ? METRIC_SQL[q.orderBy].raw : METRIC_SQL[q.orderBy].rollup} DESC`] : []), ...f.keys];
  return `SELECT ${[...f.select, ...sums].join(", ")}
 FROM ${f.table}
 WHERE ${f.where}
 ${f.keys.length ? `GROUP BY ${f.keys.join(", ")}` : ""}
 ${order.length ? `ORDER BY ${order.join(", ")}` : ""}
 ${q.limit > 0 ? `LIMIT ${v.integer(q.limit, "UInt32")}` : ""}`;
}

const LEVELS = "0.5, 0.9, 0.95, 0.99";
const STREAMED = "stream = 1 AND latency_ttft_ms > 0";

/**
 * SELECT for latency percentiles (always the raw table): b, d0…dn, n (requests), total (array),
 * streams, ttft (array; zeros when there were no streams, as older and newer servers disagree
 * on what an empty quantile is).
 */
export function latencySql(db: string, q: UsageQuery, v: SqlValues): string {
  const f = frame(db, q, "requests", v);
  return `SELECT ${[
    ...f.select,
    "count() AS n",
    `quantilesExact(${LEVELS})(latency_total_ms) AS total`,
    `countIf(${STREAMED}) AS streams`,
    `if(countIf(${STREAMED}) = 0, [0., 0., 0., 0.], quantilesExactIf(${LEVELS})(latency_ttft_ms, ${STREAMED})) AS ttft`,
  ].join(", ")}
 FROM ${f.table}
 WHERE ${f.where}
 ${f.keys.length ? `GROUP BY ${f.keys.join(", ")}` : ""}
 ${f.keys.length ? `ORDER BY ${f.keys.join(", ")}` : ""}`;
}
